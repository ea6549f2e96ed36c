/**
 * Group commit: every update the server stores goes through here, and its promise resolves once it is durable.
 *
 * One write is in flight at a time; updates that arrive meanwhile gather for the next one, so a burst of keystrokes
 * from many clients costs one fsync (or one transaction) per batch rather than one per keystroke, and latency
 * stays about one write. A failed write keeps its updates at the head of the queue, marks the store unhealthy and
 * is retried with backoff; nothing after it is written first, and the promises of its updates stay pending until
 * they are durable. Only `close` rejects what is still queued.
 */
import { ObservableV2 } from 'lib0/observable';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { StoreClosedError, type AppendEntry, type DocumentStore } from './DocumentStore.js';

/** Caps on one write, so one transaction never grows without bound after an outage. */
export const MAX_BATCH_UPDATES = 5_000;
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** First retry after a failed write; doubles up to the cap. */
export const RETRY_INITIAL_DELAY_MS = 200;
export const RETRY_MAX_DELAY_MS = 10_000;

interface Queued {
  readonly name: string;
  readonly update: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export type GroupCommitterEvents = {
  /** The store went unhealthy (a write failed) or healthy again (a write succeeded after failures). */
  health: (healthy: boolean) => void;
  /** These documents' updates up to now are durable. */
  stored: (names: ReadonlySet<string>) => void;
};

export class GroupCommitter extends ObservableV2<GroupCommitterEvents> {
  private readonly store: DocumentStore;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private queue: Queued[] = [];
  private readonly pendingByName = new Map<string, number>();
  /** Per document: the promise of its latest queued update (durable in order, so it stands for all of them). */
  private readonly latestByName = new Map<string, Promise<void>>();
  private writing: Promise<void> | null = null;
  /** Updates in the write now in flight. */
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = RETRY_INITIAL_DELAY_MS;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  healthy = true;
  lastError: string | null = null;

  constructor(store: DocumentStore, metrics: Metrics, log: Logger) {
    super();
    this.store = store;
    this.metrics = metrics;
    this.log = log.child({ component: 'group-commit', store: store.kind });
  }

  /** Queues `update` of document `name`; resolves once it is durable. */
  append(name: string, update: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new StoreClosedError(this.store.kind));
    const durable = new Promise<void>((resolve, reject) => {
      this.queue.push({ name, update, resolve, reject });
      this.pendingByName.set(name, (this.pendingByName.get(name) ?? 0) + 1);
    });
    durable.catch(() => undefined);
    this.latestByName.set(name, durable);
    this.kick();
    return durable;
  }

  /** Resolves once every update of `name` queued so far is durable. */
  whenStored(name: string): Promise<void> {
    return this.latestByName.get(name) ?? Promise.resolve();
  }

  /** Updates queued or being written. */
  get backlog(): number {
    return this.queue.length + this.inFlight;
  }

  /** Updates of `name` not yet durable. */
  pending(name: string): number {
    return this.pendingByName.get(name) ?? 0;
  }

  /** Resolves once everything appended so far is durable (waits through retries). */
  drain(): Promise<void> {
    if (this.backlog === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops retrying and rejects whatever is still queued. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const error = new StoreClosedError(this.store.kind);
    for (const queued of this.queue.splice(0)) queued.reject(error);
    this.pendingByName.clear();
    this.latestByName.clear();
    for (const wake of this.idleWaiters.splice(0)) wake();
  }

  private kick(): void {
    if (this.writing || this.retryTimer || this.closed || this.queue.length === 0) return;
    this.writing = this.writeNext().finally(() => {
      this.writing = null;
      this.kick();
      if (this.backlog === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  private takeBatch(): Queued[] {
    let bytes = 0;
    let count = 0;
    while (count < this.queue.length && count < MAX_BATCH_UPDATES) {
      bytes += this.queue[count]!.update.byteLength;
      count += 1;
      if (bytes >= MAX_BATCH_BYTES) break;
    }
    return this.queue.splice(0, count);
  }

  private async writeNext(): Promise<void> {
    const batch = this.takeBatch();
    this.inFlight = batch.length;
    const byName = new Map<string, Uint8Array[]>();
    for (const { name, update } of batch) {
      const updates = byName.get(name);
      if (updates) updates.push(update);
      else byName.set(name, [update]);
    }
    const entries: AppendEntry[] = [...byName].map(([name, updates]) => ({ name, updates }));
    const endTimer = this.metrics.storeDuration.startTimer({ operation: 'append' });
    try {
      await this.store.append(entries);
    } catch (error) {
      endTimer();
      this.metrics.storeErrors.inc({ operation: 'append' });
      this.queue = [...batch, ...this.queue];
      this.failed(error as Error, batch.length);
      return;
    } finally {
      this.inFlight = 0;
    }
    endTimer();
    this.metrics.storeBatchUpdates.observe(batch.length);
    for (const { name, resolve } of batch) {
      const left = (this.pendingByName.get(name) ?? 1) - 1;
      if (left > 0) {
        this.pendingByName.set(name, left);
      } else {
        this.pendingByName.delete(name);
        this.latestByName.delete(name);
      }
      resolve();
    }
    this.retryDelayMs = RETRY_INITIAL_DELAY_MS;
    if (!this.healthy) {
      this.healthy = true;
      this.lastError = null;
      this.log.info('storage is writable again; stored what waited');
      this.emit('health', [true]);
    }
    this.emit('stored', [new Set(byName.keys())]);
  }

  private failed(error: Error, updates: number): void {
    this.lastError = error.message;
    this.log.error({ err: error, updates, retryInMs: this.retryDelayMs, backlog: this.queue.length }, 'store write failed; keeping the updates and retrying');
    if (this.healthy) {
      this.healthy = false;
      this.emit('health', [false]);
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_DELAY_MS);
  }
}
