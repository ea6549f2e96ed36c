/**
 * Writers: stock HocuspocusProvider clients, one socket and one document each, typing single characters the way
 * an editor sends keystrokes: every edit is its own transaction and its own update message, sent without waiting
 * for earlier acknowledgements.
 *
 * Acknowledgements: the server answers each update with a `SyncStatus` message, which the provider counts down in
 * `unsyncedChanges`. Servers acknowledge a connection's updates in the order they were sent, so each decrement
 * acknowledges the oldest edit still waiting, and its latency is the time since that edit's send.
 */
import { HocuspocusProvider } from '@hocuspocus/provider';
import * as Y from 'yjs';

const CONNECT_TIMEOUT_MS = 60_000;

/** Where a measurement is: samples are taken only for edits sent inside [start, end). */
export interface Recorder {
  start: number;
  end: number;
  /** Acknowledgement latencies, in ms, of edits sent inside the window. */
  readonly latencies: number[];
  /** Acknowledgements received inside the window. */
  acks: number;
}

export class Writer {
  readonly doc = new Y.Doc();
  readonly provider: HocuspocusProvider;
  readonly text = this.doc.getText('text');
  sent = 0;
  acked = 0;
  recorder: Recorder | undefined;
  /** Called after each acknowledgement (the window driver sends the next edit from here). */
  onAck: (() => void) | undefined;
  private sentAt: number[] = [];
  private head = 0;
  private unsynced = 0;

  constructor(url: string, name: string, token: string) {
    this.provider = new HocuspocusProvider({ url, name, document: this.doc, token });
    this.provider.on('unsyncedChanges', ({ number }: { number: number }) => {
      const acks = this.unsynced - number;
      this.unsynced = number;
      for (let i = 0; i < acks; i++) this.acknowledge();
    });
  }

  get outstanding(): number {
    return this.sent - this.acked;
  }

  /** Resolves once the first sync is done and acknowledged. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.provider.configuration.name}: not synced after ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
      const check = () => {
        if (!this.provider.isSynced || this.provider.unsyncedChanges > 0) return;
        clearTimeout(timer);
        this.provider.off('synced', check);
        this.provider.off('unsyncedChanges', check);
        this.sentAt = [];
        this.head = 0;
        resolve();
      };
      this.provider.on('synced', check);
      this.provider.on('unsyncedChanges', check);
      check();
    });
  }

  /** One keystroke at `index` (default: the end), sent at once. */
  type(char = 'x', index = this.text.length): void {
    this.sentAt.push(performance.now());
    this.sent += 1;
    this.text.insert(index, char);
  }

  destroy(): void {
    this.provider.destroy();
    this.doc.destroy();
  }

  private acknowledge(): void {
    const now = performance.now();
    const sentAt = this.sentAt[this.head];
    if (sentAt === undefined) return; // the initial sync's own acknowledgement
    this.head += 1;
    this.acked += 1;
    if (this.head > 65_536) {
      this.sentAt = this.sentAt.slice(this.head);
      this.head = 0;
    }
    const recorder = this.recorder;
    if (recorder) {
      if (sentAt >= recorder.start && sentAt < recorder.end) recorder.latencies.push(now - sentAt);
      if (now >= recorder.start && now < recorder.end) recorder.acks += 1;
    }
    this.onAck?.();
  }
}

/** `count` writers on fresh documents `<prefix>-<i>`, connected and synced. */
export async function connectWriters(url: string, token: string, prefix: string, count: number): Promise<Writer[]> {
  const writers = Array.from({ length: count }, (_, i) => new Writer(url, `${prefix}-${i}`, token));
  try {
    await Promise.all(writers.map((writer) => writer.ready()));
  } catch (error) {
    for (const writer of writers) writer.destroy();
    throw error;
  }
  return writers;
}

/** Resolves once every edit sent has been acknowledged; rejects after `timeoutMs`. */
export async function drain(writers: readonly Writer[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (writers.some((writer) => writer.outstanding > 0)) {
    if (performance.now() > deadline) {
      const left = writers.reduce((sum, writer) => sum + writer.outstanding, 0);
      throw new Error(`${left} edits still unacknowledged after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
