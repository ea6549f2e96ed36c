/**
 * Group commit: every update the server stores goes through here and gets a ticket, a number that grows by one per
 * update; `durableThrough` is the highest ticket whose update (and every earlier one) is durable.
 *
 * One write is in flight at a time; updates that arrive meanwhile gather for the next one, so a burst of keystrokes
 * from many clients costs one fsync (or one transaction) per batch rather than one per keystroke. Writes go out in
 * ticket order, and a failed write keeps its updates at the head of the queue and is retried with backoff, so
 * "durable through N" only ever grows. Tickets keep the hot path free of per-update promises: acknowledgements
 * compare numbers (`onceDurable`), and a promise is made only when someone asks for one (`whenDurable`).
 */
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { StoreClosedError, type AppendEntry, type DocumentStore } from './DocumentStore.js';

/** Caps on one write, so one transaction never grows without bound after an outage. */
export const MAX_BATCH_UPDATES = 5_000;
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** First retry after a failed write; doubles up to the cap. */
export const RETRY_INITIAL_DELAY_MS = 200;
export const RETRY_MAX_DELAY_MS = 10_000;
/**
 * A write still unanswered this long makes storage unhealthy until it completes: a database behind a network that
 * went silent answers nothing, and the driver's query timeout (30 s for PostgreSQL) would otherwise keep `/healthz` at
 * `ok` meanwhile. Local commits take milliseconds; the largest batch well under a second.
 */
export const STALLED_WRITE_MS = 3_000;

interface Queued {
  readonly ticket: number;
  readonly name: string;
  readonly update: Uint8Array;
  readonly queuedAt: number;
}

/** What one durable write stored, per document. */
export type StoredCounts = ReadonlyMap<string, { readonly entries: number; readonly bytes: number }>;

export interface GroupCommitterListener {
  /** A write failed (healthy false) or succeeded after failures (healthy true). */
  health?(healthy: boolean): void;
  /** A write succeeded. */
  stored?(counts: StoredCounts): void;
}

export class GroupCommitter {
  private readonly store: DocumentStore;
  private readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly listeners: GroupCommitterListener[] = [];
  private queue: Queued[] = [];
  private nextTicket = 1;
  private durable = 0;
  /** Updates queued or in flight, per document, and the last ticket of each such document. */
  private readonly pendingByName = new Map<string, { count: number; lastTicket: number }>();
  private writing = false;
  private inFlight = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs = RETRY_INITIAL_DELAY_MS;
  private closed = false;
  private afterWrite: Array<() => void> = [];
  private waiters: Array<{ ticket: number; resolve: () => void; reject: (error: Error) => void }> = [];
  healthy = true;
  lastError: string | null = null;

  constructor(store: DocumentStore, metrics: Metrics, log: Logger) {
    this.store = store;
    this.metrics = metrics;
    this.log = log.child({ component: 'group-commit', store: store.kind });
  }

  listen(listener: GroupCommitterListener): void {
    this.listeners.push(listener);
  }

  /** Queues `update` of document `name`; returns its ticket. */
  append(name: string, update: Uint8Array): number {
    if (this.closed) throw new StoreClosedError(this.store.kind);
    const ticket = this.nextTicket++;
    this.queue.push({ ticket, name, update, queuedAt: performance.now() });
    const pending = this.pendingByName.get(name);
    if (pending) {
      pending.count += 1;
      pending.lastTicket = ticket;
    } else {
      this.pendingByName.set(name, { count: 1, lastTicket: ticket });
    }
    this.kick();
    return ticket;
  }

  /** Every ticket up to this one is durable. */
  get durableThrough(): number {
    return this.durable;
  }

  /** The last ticket of `name` not yet durable, or 0 when all of its updates are durable. */
  lastPendingTicket(name: string): number {
    return this.pendingByName.get(name)?.lastTicket ?? 0;
  }

  /** Updates of `name` not yet durable. */
  pending(name: string): number {
    return this.pendingByName.get(name)?.count ?? 0;
  }

  /** Updates queued or being written. */
  get backlog(): number {
    return this.queue.length + this.inFlight;
  }

  /** Calls back once, after the next successful write (or at once when nothing is pending). */
  onceDurable(callback: () => void): void {
    if (this.backlog === 0) queueMicrotask(callback);
    else this.afterWrite.push(callback);
  }

  /** Resolves once `ticket` is durable; rejects if the committer closes first. */
  whenDurable(ticket: number): Promise<void> {
    if (ticket <= this.durable) return Promise.resolve();
    if (this.closed) return Promise.reject(new StoreClosedError(this.store.kind));
    return new Promise((resolve, reject) => this.waiters.push({ ticket, resolve, reject }));
  }

  /** Resolves once every update queued so far is durable (waits through retries). */
  drain(): Promise<void> {
    return this.whenDurable(this.nextTicket - 1);
  }

  /** Stops retrying and drops whatever is still queued (it was never acknowledged). */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.queue = [];
    this.pendingByName.clear();
    const error = new StoreClosedError(this.store.kind);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  /**
   * Starts the next write, at the end of the current I/O phase: every update read from every socket in this turn of
   * the event loop goes into it (starting at the first update would make a write of one whenever the store is idle).
   */
  private kick(): void {
    if (this.writing || this.retryTimer || this.closed || this.queue.length === 0) return;
    this.writing = true;
    setImmediate(() => {
      void this.writeNext().finally(() => {
        this.writing = false;
        this.kick();
      });
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
    if (this.closed || this.queue.length === 0) return;
    const batch = this.takeBatch();
    this.inFlight = batch.length;
    const byName = new Map<string, Uint8Array[]>();
    for (const { name, update } of batch) {
      const updates = byName.get(name);
      if (updates) updates.push(update);
      else byName.set(name, [update]);
    }
    const entries: AppendEntry[] = [];
    for (const [name, updates] of byName) entries.push({ name, updates });
    const endTimer = this.metrics.storeDuration.startTimer({ operation: 'append' });
    const stall = setTimeout(() => this.stalled(), STALLED_WRITE_MS);
    stall.unref();
    try {
      await this.store.append(entries);
    } catch (error) {
      this.metrics.storeErrors.inc({ operation: 'append' });
      if (!this.closed) this.queue = [...batch, ...this.queue];
      this.failed(error as Error, batch.length);
      return;
    } finally {
      clearTimeout(stall);
      endTimer();
      this.inFlight = 0;
    }
    if (this.closed) return;
    this.succeeded(batch, byName);
  }

  private succeeded(batch: readonly Queued[], byName: ReadonlyMap<string, readonly Uint8Array[]>): void {
    const last = batch[batch.length - 1]!;
    this.durable = last.ticket;
    this.metrics.storeBatchUpdates.observe(batch.length);
    this.metrics.durableDelay.observe((performance.now() - batch[0]!.queuedAt) / 1000);
    const counts = new Map<string, { entries: number; bytes: number }>();
    for (const [name, updates] of byName) {
      let bytes = 0;
      for (const update of updates) bytes += update.byteLength;
      counts.set(name, { entries: updates.length, bytes });
      const pending = this.pendingByName.get(name);
      if (pending && pending.lastTicket <= this.durable) this.pendingByName.delete(name);
      else if (pending) pending.count -= updates.length;
    }
    this.retryDelayMs = RETRY_INITIAL_DELAY_MS;
    if (!this.healthy) {
      this.healthy = true;
      this.lastError = null;
      this.log.info('storage is writable again; stored what waited');
      for (const listener of this.listeners) listener.health?.(true);
    }
    if (this.waiters.length > 0) {
      const due = this.waiters.filter((waiter) => waiter.ticket <= this.durable);
      this.waiters = this.waiters.filter((waiter) => waiter.ticket > this.durable);
      for (const waiter of due) waiter.resolve();
    }
    const callbacks = this.afterWrite;
    this.afterWrite = [];
    for (const callback of callbacks) callback();
    for (const listener of this.listeners) listener.stored?.(counts);
  }

  /** The write in flight has had no answer for STALLED_WRITE_MS: unhealthy until it succeeds (or fails and is retried). */
  private stalled(): void {
    if (!this.healthy || this.closed) return;
    this.healthy = false;
    this.lastError = `a store write has had no answer for ${STALLED_WRITE_MS} ms`;
    this.log.error({ updates: this.inFlight, backlog: this.queue.length }, 'a store write has had no answer for a while; still waiting for it');
    for (const listener of this.listeners) listener.health?.(false);
  }

  private failed(error: Error, updates: number): void {
    this.lastError = error.message;
    this.log.error({ err: error, updates, retryInMs: this.retryDelayMs, backlog: this.queue.length }, 'store write failed; keeping the updates and retrying');
    if (this.healthy) {
      this.healthy = false;
      for (const listener of this.listeners) listener.health?.(false);
    }
    if (this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, this.retryDelayMs);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, RETRY_MAX_DELAY_MS);
  }
}
