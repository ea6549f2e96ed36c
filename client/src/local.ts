/**
 * The local copy: one IndexedDB database per document (y-indexeddb), named under the user's namespace.
 *
 * The rule: a database name is `concord/<namespace>/<document>` with the namespace URI-encoded, so one user's
 * prefix never matches another's and wiping a namespace deletes exactly its databases. Loading never blocks the
 * network for good: if IndexedDB fails or takes longer than `LOCAL_LOAD_TIMEOUT_MS`, the document goes on with
 * the network and the problem is reported; a copy that loads late still merges in (CRDT updates commute).
 */
import * as idb from 'lib0/indexeddb';
import type * as Y from 'yjs';
import { LocalCopy } from './localCopy.js';

/** Longest wait for the local copy before the document connects anyway. */
export const LOCAL_LOAD_TIMEOUT_MS = 5_000;
const DATABASE_PREFIX = 'concord';

export function indexedDBAvailable(): boolean {
  return typeof (globalThis as { indexedDB?: unknown }).indexedDB === 'object' && globalThis.indexedDB !== null;
}

function namespacePrefix(namespace: string): string {
  return `${DATABASE_PREFIX}/${encodeURIComponent(namespace)}/`;
}

export function localDatabaseName(namespace: string, document: string): string {
  return `${namespacePrefix(namespace)}${document}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Opens the database once on its own before y-indexeddb does: y-indexeddb leaves a failed open as an unhandled
 * rejection, so it must only ever be given a database that is known to open.
 */
async function probe(name: string): Promise<void> {
  const db = await idb.openDB(name, (created) =>
    idb.createStores(created, [['updates', { autoIncrement: true }], ['custom']]),
  );
  db.close();
}

/**
 * Binds `doc` to its database and applies what is stored; resolves with null once applied, or with why the local
 * copy is missing or incomplete (never rejects). `bound` is called with the binding as soon as it exists — before
 * any stored update is applied, so listeners can recognise its origin, and possibly after a timeout.
 */
export async function loadLocalCopy(
  name: string,
  doc: Y.Doc,
  bound: (persistence: LocalCopy) => void,
  onState: () => void,
): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`the local copy did not load within ${LOCAL_LOAD_TIMEOUT_MS} ms; continuing with the network`),
      LOCAL_LOAD_TIMEOUT_MS,
    );
  });
  const load = async (): Promise<null> => {
    await probe(name);
    const persistence = new LocalCopy(name, doc, onState);
    bound(persistence);
    await persistence.whenSynced;
    return null;
  };
  try {
    return await Promise.race([load(), timeout]);
  } catch (error) {
    return `the local copy could not be opened: ${describe(error)}`;
  } finally {
    clearTimeout(timer);
  }
}

/** Closes the binding; writes already queued still complete, and the stored data stays. */
export async function closeLocalCopy(persistence: LocalCopy): Promise<void> {
  try {
    await persistence.destroy();
  } catch {
    // The database never opened: there is nothing to close.
  }
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = globalThis.indexedDB.deleteDatabase(name);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error ?? new Error(`could not delete IndexedDB database ${name}`));
  });
}

/**
 * The bytes of a document's stored updates (what its copy takes on the device, as stored), or null when the database
 * does not exist — it is never created by asking.
 */
export async function storedBytes(name: string): Promise<number | null> {
  if (!indexedDBAvailable()) return null;
  const db = await new Promise<IDBDatabase | null>((resolve, reject) => {
    const request = globalThis.indexedDB.open(name);
    let created = false;
    request.onupgradeneeded = () => {
      created = true;
      request.transaction?.abort(); // it did not exist: aborting the upgrade leaves nothing behind
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => (created ? resolve(null) : reject(request.error ?? new Error(`could not open ${name}`)));
  });
  if (!db) return null;
  try {
    if (!db.objectStoreNames.contains('updates')) return 0;
    const [updates] = idb.transact(db, ['updates'], 'readonly');
    let bytes = 0;
    await idb.iterate(updates!, null, (value) => {
      bytes += (value as Uint8Array).byteLength;
    });
    return bytes;
  } finally {
    db.close();
  }
}

/** The documents of `namespace` with a database on the device, where the browser can list them (else null). */
export async function storedDocuments(namespace: string): Promise<string[] | null> {
  if (!indexedDBAvailable() || typeof globalThis.indexedDB.databases !== 'function') return null;
  const prefix = namespacePrefix(namespace);
  return (await globalThis.indexedDB.databases()).flatMap((info) => (info.name?.startsWith(prefix) ? [info.name.slice(prefix.length)] : []));
}

/** Deletes one document's database (other tabs holding it open close it: lib0's `onversionchange`). */
export async function deleteLocalDatabase(name: string): Promise<void> {
  if (indexedDBAvailable()) await deleteDatabase(name);
}

/**
 * Deletes every database of `namespace`: those the browser lists (`indexedDB.databases()`, where supported) and
 * those in `known` (what this client opened), so it also works where listing is not available.
 */
export async function deleteNamespace(namespace: string, known: Iterable<string>): Promise<void> {
  if (!indexedDBAvailable()) return;
  const prefix = namespacePrefix(namespace);
  const names = new Set([...known].filter((name) => name.startsWith(prefix)));
  if (typeof globalThis.indexedDB.databases === 'function') {
    for (const info of await globalThis.indexedDB.databases()) {
      if (info.name?.startsWith(prefix)) names.add(info.name);
    }
  }
  await Promise.all([...names].map(deleteDatabase));
}
