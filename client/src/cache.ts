/**
 * The local cache's bound: which documents keep their copy on this device, and which copies go.
 *
 * The rule: a document's copy stays while it is open (in any tab), pinned (`client.pin`), or has something the server
 * does not (a record in the outbox registry, a queued upload of an attached file). The others are kept by last use,
 * up to `maxDocuments` documents and `maxBytes` stored bytes not counting pinned ones, and the least recently used
 * go first. Eviction runs after a document has closed (its last write committed, its binding closed) and when the
 * client opens its first document; it deletes the copy as revocation does (the document's database, and its claim on
 * the bytes of attached files), so the document loads from the server the next time it is opened.
 *
 * Last use, pins and measured sizes are kept in `concord-cache/<namespace>` (cacheRecords.ts). Across tabs, a tab
 * holds a shared Web Lock named after a document's database while it has the document open; eviction takes that lock
 * exclusively, or skips the document when it cannot. A document opened while its copy is being evicted waits until
 * the eviction is done before it touches its database.
 */
import { CacheRecords, unknownRecord, type CacheRecord } from './cacheRecords.js';
import { localDatabaseName, storedBytes, storedDocuments } from './local.js';

/** Enough for a person's working set — weeks of tasks and projects of a few KB to a few hundred KB each. */
export const DEFAULT_CACHE_MAX_DOCUMENTS = 200;
/** Far below what browsers grant an origin (Chrome, Firefox: a share of the disk), so the cache is never what hits the quota. */
export const DEFAULT_CACHE_MAX_BYTES = 50 * 1024 * 1024;
const LOCK_PREFIX = 'concord-cache';

/** A document whose copy is on this device (`client.cachedDocuments()`). */
export interface CachedDocument {
  readonly name: string;
  /** The bytes of its stored updates, as stored. */
  readonly bytes: number;
  /** When it was last opened or closed on this device (ms since the epoch); 0 when not known (stored before). */
  readonly lastUsedAt: number;
  /** The app pinned it: it is never evicted. */
  readonly pinned: boolean;
  /** It has changes or uploads the server does not have yet: it is not evicted until they are sent. */
  readonly pending: boolean;
}

export interface CacheLimits {
  readonly maxDocuments: number;
  readonly maxBytes: number;
}

/** What the cache asks of the client. */
export interface CacheHost {
  /** The namespace whose copies are cached; null when nothing is kept on the device. */
  namespace(): Promise<string | null>;
  /** The document has something the server does not: a recorded outbox, or a queued upload. */
  pending(document: string): Promise<boolean>;
  /** Deletes the document's copy and its claim on attached files' bytes. */
  erase(document: string): Promise<void>;
}

/** One open of a document: `ready` once it may touch its copy; `end` with when it has closed for good. */
export interface CacheLease {
  readonly ready: Promise<void>;
  end(finished: Promise<unknown>): void;
}

/** The limits of the `cache` option, checked (a wrong one is a clear error, not an unbounded or empty cache). */
export function cacheLimits(options: { maxDocuments?: number; maxBytes?: number } = {}): CacheLimits {
  const limits = { maxDocuments: options.maxDocuments ?? DEFAULT_CACHE_MAX_DOCUMENTS, maxBytes: options.maxBytes ?? DEFAULT_CACHE_MAX_BYTES };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) throw new RangeError(`cache.${name} must be a number ≥ 0 (Infinity for no bound), not ${String(value)}`);
  }
  return limits;
}

function webLocks(): LockManager | undefined {
  return typeof navigator === 'undefined' ? undefined : navigator.locks;
}

/** Holds the lock `name` shared until the returned function is called (nothing to hold without Web Locks). */
async function holdShared(name: string): Promise<() => void> {
  const locks = webLocks();
  if (!locks) return () => {};
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await new Promise<void>((granted) => {
    void locks.request(name, { mode: 'shared' }, () => {
      granted();
      return held;
    });
  });
  return release;
}

/** Runs `task` holding the lock `name` alone; false, without running it, when someone else holds it. */
async function exclusively(name: string, task: () => Promise<boolean>): Promise<boolean> {
  const locks = webLocks();
  if (!locks) return task();
  return locks.request(name, { ifAvailable: true }, (lock) => (lock ? task() : false));
}

export class DocumentCache {
  private readonly limits: CacheLimits;
  private readonly host: CacheHost;
  private recordsOf: Promise<CacheRecords | null> | null = null;
  /** Documents open in this client, with how many handles (one closing while the next opens). */
  private readonly open = new Map<string, number>();
  /** Documents whose copy is being evicted, with whether it was. */
  private readonly evicting = new Map<string, Promise<boolean>>();
  private readonly closing = new Set<Promise<void>>();
  private evictions: Promise<void> | null = null;
  private evictAgain = false;
  private started = false;
  private stopped = false;

  constructor(limits: CacheLimits, host: CacheHost) {
    this.limits = limits;
    this.host = host;
  }

  /** A document is opened: it is in use until its lease ends, and its copy is not evicted meanwhile. */
  opened(document: string): CacheLease {
    this.open.set(document, (this.open.get(document) ?? 0) + 1);
    const lock = this.host
      .namespace()
      .then(async (namespace) => {
        if (namespace === null) return () => {};
        await this.touch(document, {});
        await this.evicting.get(document);
        return holdShared(lockName(namespace, document));
      })
      .catch(() => () => {});
    if (!this.started) {
      this.started = true;
      this.evictSoon();
    }
    return {
      ready: lock.then(() => {}),
      end: (finished) => {
        const closed = finished
          .catch(() => {})
          .then(async () => {
            (await lock)();
            const count = (this.open.get(document) ?? 1) - 1;
            if (count > 0) this.open.set(document, count);
            else this.open.delete(document);
            const namespace = await this.host.namespace();
            if (namespace === null) return;
            await this.touch(document, { bytes: await storedBytes(localDatabaseName(namespace, document)) });
            if (!this.stopped) this.evictSoon();
          })
          .catch(() => {});
        this.closing.add(closed);
        void closed.then(() => this.closing.delete(closed));
      },
    };
  }

  async pin(document: string, pinned: boolean): Promise<void> {
    const records = await this.store();
    if (!records) return;
    records.note(document, { pinned }, 0); // not a use
    await records.write();
    if (!pinned) this.evictSoon();
  }

  /** The copies on this device, most recently used first, measured now. */
  async list(): Promise<CachedDocument[]> {
    const namespace = await this.host.namespace();
    const records = await this.store();
    if (namespace === null || !records) return [];
    await Promise.all(this.closing); // documents closing now are measured, and what their close evicts is gone
    await this.evictions;
    const documents = await Promise.all(
      (await this.records(namespace, records)).map(async (record): Promise<CachedDocument | null> => {
        const bytes = await storedBytes(localDatabaseName(namespace, record.name));
        if (bytes === null && !this.open.has(record.name)) return null;
        return { name: record.name, bytes: bytes ?? 0, lastUsedAt: record.lastUsedAt, pinned: record.pinned, pending: await this.host.pending(record.name) };
      }),
    );
    return documents.filter((document) => document !== null).sort((a, b) => b.lastUsedAt - a.lastUsedAt);
  }

  /** Stops evicting, waits for what is under way, and writes what is left of last use. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.closing);
    await this.evictions;
    await (await this.store())?.close();
  }

  /** Local data was cleared: nothing recorded is written any more (the database is about to be deleted). */
  async clear(): Promise<void> {
    const records = this.recordsOf;
    this.recordsOf = null; // opened again, empty, when next needed
    await (await records)?.discard();
  }

  /** Runs an eviction pass now, or once more after the one under way. */
  private evictSoon(): void {
    if (this.evictions) {
      this.evictAgain = true;
      return;
    }
    this.evictions = (async () => {
      do {
        this.evictAgain = false;
        await this.evictOverflow().catch(() => {
          // IndexedDB failed: the copies stay (larger), and the next close tries again.
        });
      } while (this.evictAgain && !this.stopped);
      this.evictions = null;
    })();
  }

  /** Evicts the least recently used copies that may go, until the unpinned ones are within the limits. */
  private async evictOverflow(): Promise<void> {
    const namespace = await this.host.namespace();
    const records = await this.store();
    if (namespace === null || !records || this.stopped) return;
    const kept = (await this.records(namespace, records)).filter((record) => !record.pinned);
    const sizes = new Map<string, number>();
    for (const record of kept) {
      let bytes = record.bytes;
      if (bytes === null) {
        bytes = (await storedBytes(localDatabaseName(namespace, record.name))) ?? 0;
        if (!this.open.has(record.name)) records.note(record.name, { bytes }, record.lastUsedAt);
      }
      sizes.set(record.name, bytes);
    }
    let count = kept.length;
    let bytes = [...sizes.values()].reduce((sum, size) => sum + size, 0);
    const over = () => count > this.limits.maxDocuments || bytes > this.limits.maxBytes;
    const candidates = kept.filter((record) => !this.open.has(record.name)).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const { name } of candidates) {
      if (!over() || this.stopped) break;
      if (await this.evict(namespace, records, name)) {
        count -= 1;
        bytes -= sizes.get(name) ?? 0;
      }
    }
  }

  /** Deletes `document`'s copy unless it is open here or in another tab, pinned meanwhile, or has something pending. */
  private evict(namespace: string, records: CacheRecords, document: string): Promise<boolean> {
    if (this.open.has(document)) return Promise.resolve(false);
    const eviction = exclusively(lockName(namespace, document), async () => {
      if ((await this.host.pending(document)) || (await records.get(document))?.pinned) return false;
      await this.host.erase(document);
      await records.delete(document);
      return true;
    })
      .catch(() => false)
      .finally(() => this.evicting.delete(document));
    this.evicting.set(document, eviction);
    return eviction;
  }

  /**
   * Every document with a copy or a record: the records, with the databases the browser lists that have none (stored
   * before, or by an older client: last used at 0). Records whose database is gone are left out unless open.
   */
  private async records(namespace: string, records: CacheRecords): Promise<CacheRecord[]> {
    const known = new Map((await records.all()).map((record) => [record.name, record]));
    const stored = await storedDocuments(namespace);
    if (stored === null) return [...known.values()];
    const present = new Set(stored);
    for (const name of stored) if (!known.has(name)) known.set(name, unknownRecord(name));
    return [...known.values()].filter((record) => present.has(record.name) || this.open.has(record.name));
  }

  /** Notes a use of `document` (now, unless `at` is given; 0 is no use) and `change`. */
  private async touch(document: string, change: Partial<CacheRecord>, at = Date.now()): Promise<void> {
    (await this.store())?.note(document, change, at);
  }

  /** The records of this namespace; null when nothing is kept on the device. */
  private store(): Promise<CacheRecords | null> {
    this.recordsOf ??= this.host.namespace().then((namespace) => (namespace === null ? null : new CacheRecords(namespace)));
    return this.recordsOf;
  }
}

/** The Web Lock a tab holds while it has `document` open. */
function lockName(namespace: string, document: string): string {
  return `${LOCK_PREFIX}/${localDatabaseName(namespace, document)}`;
}
