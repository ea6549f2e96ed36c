/**
 * The IndexedDB copy of one document: y-indexeddb's layout and loading, with a write path that reports failures and
 * keeps the stored copy small.
 *
 * Why a subclass: y-indexeddb loads a document well and its database layout (an `updates` store of Yjs updates, a
 * `custom` store) is what existing copies have, but its writes are fire-and-forget — a full disk or a quota error
 * becomes an unhandled rejection and the app never learns that an edit is not on the device — and it merges its
 * records only once 500 have piled up. So this binding keeps the loading, the layout and the custom store, and
 * replaces the update writer:
 *
 * - every update is appended and awaited; a failure marks the copy `failed` ("not saved on this device: …") and a
 *   retry with backoff writes the document's whole state, which includes every update whose write failed, until one
 *   succeeds (then it is `saved` again);
 * - the copy is compacted — the records read back and applied, the whole state written, the records it covers
 *   deleted, in one transaction (so another tab's records are never dropped unread) — after loading when more than
 *   `COMPACT_ON_LOAD_AFTER_RECORDS` records are stored, and after every `COMPACT_AFTER_RECORDS` appends;
 * - `unsaved` says whether some local change is only in memory (a write in flight or failed).
 */
import * as idb from 'lib0/indexeddb';
import { fetchUpdates, IndexeddbPersistence } from 'y-indexeddb';
import * as Y from 'yjs';

export const COMPACT_ON_LOAD_AFTER_RECORDS = 16;
export const COMPACT_AFTER_RECORDS = 100;
export const WRITE_RETRY_MIN_DELAY_MS = 1_000;
export const WRITE_RETRY_MAX_DELAY_MS = 30_000;

export type LocalCopyState = 'saved' | 'saving' | 'failed';

/**
 * Resolves once the store's transaction is committed. A request can succeed and its transaction still abort at
 * commit — that is how a browser reports a used-up quota — so a write is done only when this resolves.
 */
function committed(store: IDBObjectStore): Promise<void> {
  const transaction = store.transaction;
  return new Promise((resolve, reject) => {
    transaction.addEventListener('complete', () => resolve());
    transaction.addEventListener('abort', () =>
      reject(transaction.error ?? new DOMException('the write was aborted', 'AbortError')),
    );
  });
}

function describe(error: unknown): string {
  if (error instanceof DOMException && error.name === 'QuotaExceededError') return 'the browser storage quota is used up';
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export class LocalCopy extends IndexeddbPersistence {
  private readonly onState: () => void;
  private writing = 0;
  private failure: string | null = null;
  private appendsSinceCompaction = 0;
  private compaction: Promise<void> | null = null;
  private retryDelayMs = WRITE_RETRY_MIN_DELAY_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(name: string, doc: Y.Doc, onState: () => void) {
    super(name, doc);
    this.onState = onState;
    doc.off('update', this._storeUpdate);
    this._storeUpdate = this.append;
    doc.on('update', this._storeUpdate);
    void this.whenSynced.then(() => this.compactIfLarge()).catch(() => {
      // The records could not even be counted: the copy stays as it is (larger), and later writes report failures.
    });
  }

  get state(): LocalCopyState {
    return this.failure !== null ? 'failed' : this.writing > 0 ? 'saving' : 'saved';
  }

  /** Why the last write failed ("not saved on this device: …"), or null. */
  get problem(): string | null {
    return this.failure;
  }

  /** Some local change is only in memory: its write is in flight, or failed and not yet retried successfully. */
  get unsaved(): boolean {
    return this.writing > 0 || this.failure !== null;
  }

  override destroy(): Promise<void> {
    clearTimeout(this.retryTimer);
    return super.destroy();
  }

  /** Merges the stored records into one now (also used to recover from a failed write). */
  compactNow(): Promise<void> {
    this.compaction ??= this.track(this.compact()).finally(() => {
      this.compaction = null;
    });
    return this.compaction;
  }

  private readonly append = (update: Uint8Array, origin: unknown) => {
    // Before the database is open, y-indexeddb writes the whole document once it is (covering this update).
    if (!this.db || origin === this || this._destroyed || this.failure !== null) return;
    const db = this.db;
    // An async function turns a synchronous throw of the store (closed database, read-only) into a rejection.
    const write = (async () => {
      const [updates] = idb.transact(db, ['updates']);
      const done = committed(updates!);
      await idb.addAutoKey(updates!, update as never);
      await done;
    })();
    void this.track(write.then(() => {
      this._dbsize += 1;
      this.appendsSinceCompaction += 1;
      if (this.appendsSinceCompaction >= COMPACT_AFTER_RECORDS) this.compactInBackground();
    })).catch(() => {
      // track() marked the copy failed and scheduled the retry that writes the whole state.
    });
  };

  /** After loading: merges the records when there are many (y-indexeddb itself adds one per load). */
  private async compactIfLarge(): Promise<void> {
    if (!this.db || this._destroyed) return;
    const [updates] = idb.transact(this.db, ['updates'], 'readonly');
    if ((await idb.count(updates!)) > COMPACT_ON_LOAD_AFTER_RECORDS) this.compactInBackground();
  }

  private compactInBackground(): void {
    this.compactNow().catch(() => {
      // track() marked the copy failed and scheduled a retry; the records stay as they were, nothing is lost.
    });
  }

  /** Reads what other tabs appended, writes the whole state, deletes the records it covers: one transaction. */
  private async compact(): Promise<void> {
    if (this._destroyed) return;
    const updates = await fetchUpdates(this);
    const done = committed(updates);
    await idb.addAutoKey(updates, Y.encodeStateAsUpdate(this.doc) as never);
    await idb.del(updates, idb.createIDBKeyRangeUpperBound(this._dbref, true));
    this._dbsize = await idb.count(updates);
    await done;
    this.appendsSinceCompaction = 0;
  }

  /** Counts a write in flight; its failure marks the copy failed and schedules a retry; rejects like the write. */
  private async track(write: Promise<unknown>): Promise<void> {
    this.writing += 1;
    this.onState();
    try {
      await write;
    } catch (error) {
      this.failed(error);
      throw error;
    } finally {
      this.writing -= 1;
      this.onState();
    }
  }

  private failed(error: unknown): void {
    this.failure = `not saved on this device: ${describe(error)}`;
    if (this.retryTimer !== undefined || this._destroyed) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, WRITE_RETRY_MAX_DELAY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.compactNow().then(
        () => {
          this.failure = null;
          this.retryDelayMs = WRITE_RETRY_MIN_DELAY_MS;
          this.onState();
        },
        () => {}, // failed() scheduled the next attempt
      );
    }, delay);
  }
}
