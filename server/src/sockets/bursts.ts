/**
 * Bursts: one source (a client's connection, the backend API, ...) changing a document faster than people type.
 *
 * A document's broadcast (seams/hocuspocus.ts `broadcastChangesPerTurn`) and its publish to the other instances
 * (cluster/DocumentRelay.ts) go out at the end of the turn that brought a change, so a keystroke is seen at once. A
 * paste-sized stream of small updates from one client (a script, an editor replaying its history, a fast writer) would
 * then cost a broadcast to every viewer, and a publish, per read of its socket: with many viewers that is most of the
 * server's work (the fan-out rows of `npm run bench`). So a change whose source made another change less than
 * BURST_INTERVAL_MS earlier waits until the document's last broadcast (or publish) is that long ago, and goes out
 * together with everything the document gained meanwhile. Several people typing at once are several sources, each far
 * slower than that: nobody's keystroke is held.
 */
import { isTransactionOrigin } from '@hocuspocus/server';

/** Changes of one source closer together than this make a burst; a burst is sent at most once per this interval. */
export const BURST_INTERVAL_MS = 10;

/** Who made a change: the connection of a client's message, else the origin object itself (null: unknown). */
function sourceOf(origin: unknown): object | null {
  if (isTransactionOrigin(origin) && origin.source === 'connection') return origin.connection;
  return typeof origin === 'object' && origin !== null ? origin : null;
}

/** One document's sources and when each last changed it. */
export class Bursts {
  private readonly lastChange = new WeakMap<object, number>();

  /**
   * Notes a change by `origin` at `now`; returns how long what it changed should wait, given the document last went
   * out at `sentAt`: 0 unless its source is bursting and the interval since `sentAt` has not passed.
   */
  wait(origin: unknown, sentAt: number, now = performance.now()): number {
    const source = sourceOf(origin);
    if (source === null) return 0;
    const previous = this.lastChange.get(source);
    this.lastChange.set(source, now);
    if (previous === undefined || now - previous >= BURST_INTERVAL_MS) return 0;
    return Math.max(0, sentAt + BURST_INTERVAL_MS - now);
  }
}
