/**
 * Factories for client tests, each tearing down what it made when the test ends, pass or fail: a fresh fake
 * IndexedDB per test (a "reload" is a new client over the same factory) and clients of a test server
 * (`../support/server.ts`) that reconnect quickly.
 */
import { createSyncClient, type SyncClient, type SyncClientOptions } from '@concord/client';
import { IDBFactory } from 'fake-indexeddb';
import 'fake-indexeddb/auto';
import { onCleanup } from '../support/cleanup.js';
import type { TestServer } from '../support/server.js';
import { mintToken, type TestClaims } from '../support/tokens.js';

export { startTestServer } from '../support/server.js';

/** Reconnect backoff cap for test clients, so a restarted server is found again within a second. */
export const TEST_MAX_RECONNECT_DELAY_MS = 500;

/** A new, empty IndexedDB for this test, installed as `globalThis.indexedDB`. */
export function freshIndexedDB(): IDBFactory {
  const factory = new IDBFactory();
  globalThis.indexedDB = factory;
  return factory;
}

/** A client of `server` that is destroyed when the test ends. */
export function makeClient(
  server: Pick<TestServer, 'syncUrl'>,
  options: Partial<SyncClientOptions> & Pick<SyncClientOptions, 'token'>,
): SyncClient {
  const client = createSyncClient({ url: server.syncUrl, maxReconnectDelayMs: TEST_MAX_RECONNECT_DELAY_MS, ...options });
  onCleanup(() => client.destroy());
  return client;
}

/** A token of tenant `t1` granting write on every document, unless `claims` says otherwise. */
export function token(sub: string, claims: Partial<TestClaims> = {}): Promise<string> {
  return mintToken({ sub, name: sub.toUpperCase(), tenant: 't1', docs: { '*': 'write' }, ...claims });
}

/**
 * Says whether the "browser" has a network (`navigator.onLine`, which Node lacks; the client reads `false` as
 * offline), until the test ends.
 */
export function setNavigatorOnLine(onLine: boolean): void {
  Object.defineProperty(globalThis.navigator, 'onLine', { value: onLine, configurable: true });
  onCleanup(() => Object.defineProperty(globalThis.navigator, 'onLine', { value: true, configurable: true }));
}

/** Records and bytes in the `updates` store of the IndexedDB database `name` (a document's copy), read directly. */
export async function storedUpdates(name: string): Promise<{ records: number; bytes: number }> {
  const db: IDBDatabase = await new Promise((resolve, reject) => {
    const request = indexedDB.open(name);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const values: Uint8Array[] = await new Promise((resolve, reject) => {
    const request = db.transaction('updates').objectStore('updates').getAll();
    request.onsuccess = () => resolve(request.result as Uint8Array[]);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return { records: values.length, bytes: values.reduce((sum, value) => sum + value.byteLength, 0) };
}
