/**
 * What the local cache knows of each document on this device: when it was last used, its measured size, whether the
 * app pinned it — one record per document in `concord-cache/<namespace>`, beside the documents' own databases.
 *
 * The rule: uses are noted in memory and written in batches (one transaction every `CACHE_WRITE_DELAY_MS`, or before
 * anything reads the records); each change is written over what is stored, so another tab's pins and later uses stay.
 */
import * as idb from 'lib0/indexeddb';

/** How long a document's last use waits before it is written, with the others of the same moment in one transaction. */
export const CACHE_WRITE_DELAY_MS = 1_000;

const DATABASE_PREFIX = 'concord-cache';
const STORE = 'documents';

export function cacheDatabaseName(namespace: string): string {
  return `${DATABASE_PREFIX}/${encodeURIComponent(namespace)}`;
}

export interface CacheRecord {
  readonly name: string;
  /** When it was last opened or closed on this device (ms since the epoch); 0 when not known. */
  readonly lastUsedAt: number;
  /** The bytes of its stored updates when it last closed; null when not measured yet. */
  readonly bytes: number | null;
  readonly pinned: boolean;
}

export const unknownRecord = (name: string): CacheRecord => ({ name, lastUsedAt: 0, bytes: null, pinned: false });

function isCacheRecord(value: unknown): value is CacheRecord {
  const record = value as Partial<CacheRecord> | null;
  return typeof record?.name === 'string' && typeof record.lastUsedAt === 'number' && typeof record.pinned === 'boolean';
}

export class CacheRecords {
  private readonly namespace: string;
  private db: Promise<IDBDatabase> | null = null;
  /** Changes not written yet, by document. */
  private readonly noted = new Map<string, Partial<CacheRecord>>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private batching = true;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  /** Notes a use of `document` at `at` (0: not a use) and `change`, to be written with the next batch. */
  note(document: string, change: Partial<CacheRecord>, at: number): void {
    const before = this.noted.get(document);
    this.noted.set(document, { ...before, ...change, lastUsedAt: Math.max(at, before?.lastUsedAt ?? 0) });
    if (!this.batching) return;
    this.timer ??= setTimeout(() => {
      this.write().catch(() => {
        // Written with the next batch.
      });
    }, CACHE_WRITE_DELAY_MS);
  }

  /** Writes what is noted now, in one transaction. */
  async write(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.noted.size === 0) return;
    const changes = [...this.noted];
    this.noted.clear();
    try {
      const [store] = idb.transact(await this.open(), [STORE]);
      for (const [name, change] of changes) {
        const stored = await idb.get(store!, name);
        const before = isCacheRecord(stored) ? stored : unknownRecord(name);
        await idb.put(store!, { ...before, ...change, lastUsedAt: Math.max(before.lastUsedAt, change.lastUsedAt ?? 0) } as never, name);
      }
    } catch (error) {
      for (const [name, change] of changes) this.noted.set(name, { ...change, ...this.noted.get(name) });
      throw error;
    }
  }

  /** Every record, with what is noted written first. */
  async all(): Promise<CacheRecord[]> {
    await this.write();
    const [store] = idb.transact(await this.open(), [STORE], 'readonly');
    return (await idb.getAll(store!)).filter(isCacheRecord);
  }

  async get(document: string): Promise<CacheRecord | undefined> {
    await this.write();
    const [store] = idb.transact(await this.open(), [STORE], 'readonly');
    const record = await idb.get(store!, document);
    return isCacheRecord(record) ? record : undefined;
  }

  async delete(document: string): Promise<void> {
    this.noted.delete(document);
    const [store] = idb.transact(await this.open(), [STORE]);
    await idb.del(store!, document);
  }

  /** Writes what is noted and closes; later notes wait for an explicit `write`. */
  async close(): Promise<void> {
    this.batching = false;
    await this.write().catch(() => {});
    const db = this.db;
    this.db = null;
    if (db) (await db.catch(() => null))?.close();
  }

  /** Forgets what is noted and closes (the database is about to be deleted). */
  async discard(): Promise<void> {
    this.noted.clear();
    await this.close();
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= idb.openDB(cacheDatabaseName(this.namespace), (db) => idb.createStores(db, [[STORE]]));
    const db = this.db;
    db.catch(() => {
      if (this.db === db) this.db = null; // try opening again next time
    });
    return db;
  }
}
