/**
 * Merges stored updates into one snapshot on a worker thread (mergeWorker), off the event loop: replaying a
 * 10 000-entry log takes tens of milliseconds, a large document's hundreds, and clients must not wait for it.
 *
 * One worker, started on first use and unreferenced (it never keeps the process alive); jobs run in order. It stops
 * once it has had nothing to do for `IDLE_STOP_MS`: a worker is a JavaScript engine of its own (~15 MiB resident here),
 * and compactions come in bursts while people type, not at rest. Booting one takes a few hundred milliseconds on a busy
 * machine, which only delays a compaction (nobody waits for one). If the worker dies, the jobs in flight fail (the
 * caller keeps its log) and the next job starts a new one.
 */
import { Worker } from 'node:worker_threads';

/** Updates travel as one buffer and their end offsets: one transfer instead of thousands of cloned views. */
export interface MergeRequest {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly ends: Uint32Array;
}

export type MergeReply = { readonly id: number; readonly snapshot: Uint8Array } | { readonly id: number; readonly error: string };

interface Job {
  resolve(snapshot: Uint8Array): void;
  reject(error: Error): void;
}

/** The worker's file next to this one: `.ts` when running from sources (Node strips the types), `.js` when built. */
const WORKER_URL = new URL(`./mergeWorker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
/** An idle worker stops after this long. */
export const IDLE_STOP_MS = 30_000;

function pack(updates: readonly Uint8Array[]): { bytes: Uint8Array; ends: Uint32Array } {
  let length = 0;
  for (const update of updates) length += update.byteLength;
  const bytes = new Uint8Array(length);
  const ends = new Uint32Array(updates.length);
  let offset = 0;
  updates.forEach((update, i) => {
    bytes.set(update, offset);
    offset += update.byteLength;
    ends[i] = offset;
  });
  return { bytes, ends };
}

export class UpdateMerger {
  private worker: Worker | undefined;
  private readonly jobs = new Map<number, Job>();
  private nextId = 1;
  private closed = false;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly idleStopMs: number;

  constructor(options: { idleStopMs?: number } = {}) {
    this.idleStopMs = options.idleStopMs ?? IDLE_STOP_MS;
  }

  /** Whether a worker is running (tests). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** The state of every update applied to one document, encoded as one update. */
  merge(updates: readonly Uint8Array[]): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error('the update merger is closed'));
    const worker = (this.worker ??= this.start());
    clearTimeout(this.idleTimer);
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      const { bytes, ends } = pack(updates);
      worker.postMessage({ id, bytes, ends } satisfies MergeRequest, [bytes.buffer as ArrayBuffer, ends.buffer as ArrayBuffer]);
      worker.ref(); // a job in flight keeps the process alive; an idle worker does not
    });
  }

  /** Fails the jobs in flight and stops the worker. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(new Error('the update merger is closed'));
    await worker?.terminate();
  }

  private start(): Worker {
    const worker = new Worker(WORKER_URL);
    worker.unref();
    worker.on('message', (reply: MergeReply) => {
      const job = this.jobs.get(reply.id);
      if (!job) return;
      this.jobs.delete(reply.id);
      if (this.jobs.size === 0) {
        worker.unref();
        this.stopWhenIdle(worker);
      }
      if ('snapshot' in reply) job.resolve(reply.snapshot);
      else job.reject(new Error(`merging stored updates failed: ${reply.error}`));
    });
    // Only the current worker holds jobs: a worker stopped when idle (or by close) exits later, maybe after the next
    // job went to its successor, and must not fail that job.
    const lost = (error: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(error);
    };
    worker.on('error', (error) => lost(error));
    worker.on('exit', (code) => lost(new Error(`the merge worker exited (code ${code})`)));
    return worker;
  }

  private stopWhenIdle(worker: Worker): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.worker !== worker || this.jobs.size > 0) return;
      this.worker = undefined;
      void worker.terminate();
    }, this.idleStopMs);
    this.idleTimer.unref();
  }

  private failAll(error: Error): void {
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.reject(error);
  }
}
