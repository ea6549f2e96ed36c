/**
 * Merges stored updates into one snapshot on a worker thread (mergeWorker), off the event loop: replaying a
 * 10 000-entry log takes tens of milliseconds, a large document's hundreds, and clients must not wait for it.
 *
 * One worker, started on first use and unreferenced (it never keeps the process alive); jobs run in order. If the
 * worker dies, the jobs in flight fail (the caller keeps its log) and the next job starts a new one.
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

  /** The state of every update applied to one document, encoded as one update. */
  merge(updates: readonly Uint8Array[]): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new Error('the update merger is closed'));
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      const { bytes, ends } = pack(updates);
      worker.postMessage({ id, bytes, ends } satisfies MergeRequest, [bytes.buffer as ArrayBuffer, ends.buffer as ArrayBuffer]);
      worker.ref(); // a job in flight keeps the process alive; an idle worker does not
    });
  }

  /**
   * Starts the worker ahead of its first job (it takes a few hundred milliseconds to boot on a busy machine, which
   * would otherwise delay the first compaction).
   */
  warm(): void {
    if (!this.closed) this.worker ??= this.start();
  }

  /** Fails the jobs in flight and stops the worker. */
  async close(): Promise<void> {
    this.closed = true;
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
      if (this.jobs.size === 0) worker.unref();
      if ('snapshot' in reply) job.resolve(reply.snapshot);
      else job.reject(new Error(`merging stored updates failed: ${reply.error}`));
    });
    const lost = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll(error);
    };
    worker.on('error', (error) => lost(error));
    worker.on('exit', (code) => lost(new Error(`the merge worker exited (code ${code})`)));
    return worker;
  }

  private failAll(error: Error): void {
    const jobs = [...this.jobs.values()];
    this.jobs.clear();
    for (const job of jobs) job.reject(error);
  }
}
