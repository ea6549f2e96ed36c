/**
 * Loads documents from the DocumentStore and stores their changes as an append-only log.
 *
 * Every update a loaded document sees (except those loaded from storage) is queued; Hocuspocus' debounced
 * `onStoreDocument` appends the queue in one write. A failed write puts the updates back at the head of the queue
 * and keeps the document in memory (unloading waits for a successful store), and a retry is scheduled. When a
 * document's log grows past a threshold, it is compacted off the hot path: the stored entries are read back,
 * applied to a fresh Y.Doc and replaced by its snapshot, so only what is stored is compacted, whoever wrote it.
 */
import type { beforeUnloadDocumentPayload, Document, Extension, onLoadDocumentPayload, onStoreDocumentPayload } from '@hocuspocus/server';
import { isConcordOrigin, OriginTag, STORAGE_ORIGIN } from '@concord/engine';
import * as Y from 'yjs';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DocumentStore } from '../storage/DocumentStore.js';

/** Compact once a document's log holds this many entries... */
export const COMPACT_AFTER_ENTRIES = 500;
/** ...or this many bytes beyond its last snapshot. */
export const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
/** First retry delay after a failed write; doubles up to the cap. */
const RETRY_INITIAL_MS = 500;
const RETRY_MAX_MS = 30_000;

interface StoredState {
  readonly name: string;
  /** Updates not yet appended, oldest first. */
  queue: Uint8Array[];
  /** Serializes this document's writes and compactions. */
  writing: Promise<void>;
  entries: number;
  bytesSinceSnapshot: number;
  compacting: boolean;
  retryTimer: NodeJS.Timeout | undefined;
  retryDelayMs: number;
}

export class StorageExtension implements Extension {
  readonly extensionName = 'concord-storage';
  private readonly store: DocumentStore;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly states = new Map<Document, StoredState>();
  private readonly background = new Set<Promise<void>>();

  constructor(store: DocumentStore, log: Logger, metrics: Metrics) {
    this.store = store;
    this.log = log.child({ component: 'storage', store: store.kind });
    this.metrics = metrics;
  }

  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    const stored = await this.timed('load', () => this.store.load(documentName));
    let bytes = 0;
    Y.transact(
      document,
      () => {
        for (const [i, update] of stored.updates.entries()) {
          if (i > 0) bytes += update.byteLength; // the first entry may be a snapshot
          try {
            Y.applyUpdate(document, update, STORAGE_ORIGIN);
          } catch (error) {
            this.metrics.storeErrors.inc({ operation: 'decode' });
            this.log.error({ err: error, document: documentName }, 'skipped a stored update that does not decode');
          }
        }
      },
      STORAGE_ORIGIN,
    );
    const state: StoredState = {
      name: documentName,
      queue: [],
      writing: Promise.resolve(),
      entries: stored.updates.length,
      bytesSinceSnapshot: bytes,
      compacting: false,
      retryTimer: undefined,
      retryDelayMs: RETRY_INITIAL_MS,
    };
    this.states.set(document, state);
    document.on('update', (update: Uint8Array, origin: unknown) => {
      if (!isConcordOrigin(origin, OriginTag.Storage)) state.queue.push(update);
    });
    // Unloaded: forget the document, unless updates still wait for a retry (flush forgets it once they are stored).
    document.once('destroy', () => {
      if (state.queue.length > 0) return;
      clearTimeout(state.retryTimer);
      this.states.delete(document);
    });
    this.log.debug({ document: documentName, entries: stored.updates.length, bytes }, 'loaded');
    this.maybeCompact(state);
  }

  async onStoreDocument({ document }: onStoreDocumentPayload): Promise<void> {
    await this.flush(document);
  }

  /** Throwing here keeps the document loaded: Hocuspocus aborts the unload. */
  async beforeUnloadDocument({ document }: beforeUnloadDocumentPayload): Promise<void> {
    await this.flush(document);
  }

  /** Appends everything queued for `document`; rejects (keeping the queue) when the store fails. */
  flush(document: Document): Promise<void> {
    const state = this.states.get(document);
    if (!state) return Promise.resolve();
    const run = state.writing.then(async () => {
      if (state.queue.length === 0) return;
      const batch = state.queue;
      state.queue = [];
      try {
        await this.timed('append', () => this.store.append(state.name, batch));
      } catch (error) {
        state.queue = [...batch, ...state.queue];
        this.scheduleRetry(document, state);
        throw error;
      }
      clearTimeout(state.retryTimer);
      state.retryTimer = undefined;
      state.retryDelayMs = RETRY_INITIAL_MS;
      state.entries += batch.length;
      for (const update of batch) state.bytesSinceSnapshot += update.byteLength;
      if (document.isDestroyed && state.queue.length === 0) this.states.delete(document);
      else this.maybeCompact(state);
    });
    state.writing = run.catch(() => undefined);
    return run;
  }

  /** Stores every loaded document's queue and waits for compactions in flight (graceful shutdown). */
  async flushAll(): Promise<void> {
    const results = await Promise.allSettled([...this.states.keys()].map((document) => this.flush(document)));
    await Promise.allSettled([...this.background]);
    for (const state of this.states.values()) clearTimeout(state.retryTimer);
    const failed = results.filter((result) => result.status === 'rejected');
    if (failed.length > 0) throw new AggregateError(failed.map((f) => (f as PromiseRejectedResult).reason), `${failed.length} documents could not be stored`);
  }

  /** Updates waiting to be stored, across documents (for health reporting). */
  get unstoredUpdates(): number {
    let count = 0;
    for (const state of this.states.values()) count += state.queue.length;
    return count;
  }

  private scheduleRetry(document: Document, state: StoredState): void {
    if (state.retryTimer) return;
    this.log.warn({ document: state.name, queued: state.queue.length, retryInMs: state.retryDelayMs }, 'store failed; will retry');
    state.retryTimer = setTimeout(() => {
      state.retryTimer = undefined;
      state.retryDelayMs = Math.min(state.retryDelayMs * 2, RETRY_MAX_MS);
      this.flush(document).catch(() => undefined);
    }, state.retryDelayMs);
    state.retryTimer.unref();
  }

  private maybeCompact(state: StoredState): void {
    if (state.compacting) return;
    if (state.entries <= COMPACT_AFTER_ENTRIES && state.bytesSinceSnapshot <= COMPACT_AFTER_BYTES) return;
    state.compacting = true;
    const job = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => {
        const run = state.writing.then(() => this.compact(state));
        state.writing = run.catch(() => undefined);
        return run;
      })
      .catch((error: unknown) => this.log.error({ err: error, document: state.name }, 'compaction failed; the log is intact'))
      .finally(() => {
        state.compacting = false;
        this.background.delete(job);
      });
    this.background.add(job);
  }

  private async compact(state: StoredState): Promise<void> {
    const stored = await this.timed('load', () => this.store.load(state.name));
    const doc = new Y.Doc();
    try {
      for (const update of stored.updates) Y.applyUpdate(doc, update);
      const snapshot = Y.encodeStateAsUpdate(doc);
      await this.timed('compact', () => this.store.compact(state.name, snapshot, stored.head));
      this.log.debug({ document: state.name, entries: stored.updates.length, snapshotBytes: snapshot.byteLength }, 'compacted');
      state.entries -= stored.updates.length - 1;
      state.bytesSinceSnapshot = 0;
    } finally {
      doc.destroy();
    }
  }

  private async timed<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const end = this.metrics.storeDuration.startTimer({ operation });
    try {
      return await fn();
    } catch (error) {
      this.metrics.storeErrors.inc({ operation });
      throw error;
    } finally {
      end();
    }
  }
}
