/**
 * Factories for client tests, each registering its own teardown with the running test: a Concord server on a
 * temp data dir (restartable on the same dir and port), a fresh fake IndexedDB per test (a "reload" is a new client
 * over the same factory), and clients that are destroyed when the test ends, pass or fail.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSyncClient, type SyncClient, type SyncClientOptions } from '@concord/client';
import { startServer, type ConcordServer } from '@concord/server';
import { IDBFactory } from 'fake-indexeddb';
import 'fake-indexeddb/auto';
import { onTestFinished } from 'vitest';
import { mintToken, TEST_SECRET, type TestClaims } from '../support/tokens.js';

/** Reconnect backoff cap for test clients, so a restarted server is found again within a second or two. */
export const TEST_MAX_RECONNECT_DELAY_MS = 500;

export interface TestServer {
  readonly dataDir: string;
  readonly port: number;
  readonly syncUrl: string;
  readonly running: boolean;
  stop(): Promise<void>;
  /** Starts again on the same data dir and port. */
  restart(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'concord-client-test-'));
  const start = (port: number) =>
    startServer({ port, host: '127.0.0.1', dataDir, authSecret: TEST_SECRET, logLevel: 'silent' });
  let server: ConcordServer | null = await start(0);
  const port = server.port;
  const handle: TestServer = {
    dataDir,
    port,
    syncUrl: server.syncUrl,
    get running() {
      return server !== null;
    },
    async stop() {
      const running = server;
      server = null;
      await running?.stop();
    },
    async restart() {
      if (server) throw new Error('the server is still running');
      server = await start(port);
    },
  };
  onTestFinished(async () => {
    await handle.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return handle;
}

/** A new, empty IndexedDB for this test, installed as `globalThis.indexedDB`. */
export function freshIndexedDB(): IDBFactory {
  const factory = new IDBFactory();
  globalThis.indexedDB = factory;
  return factory;
}

/** A client of `server` that is destroyed when the test ends. */
export function makeClient(server: TestServer, options: Partial<SyncClientOptions> & Pick<SyncClientOptions, 'token'>): SyncClient {
  const client = createSyncClient({ url: server.syncUrl, maxReconnectDelayMs: TEST_MAX_RECONNECT_DELAY_MS, ...options });
  onTestFinished(() => client.destroy());
  return client;
}

/** A token granting write on every document of tenant `t1` unless `claims` says otherwise. */
export function token(sub: string, claims: Partial<TestClaims> = {}): Promise<string> {
  return mintToken({ sub, name: sub.toUpperCase(), tenant: 't1', docs: { '*': 'write' }, ...claims });
}
