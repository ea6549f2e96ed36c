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
 *
 * A document with many connections stretches its broadcast interval (`burstIntervalFor`): each broadcast is a socket
 * write per connection (20–40 µs each on the benchmark machine), so at 10 ms a burst to 250 viewers kept the server busy
 * writing half the time, and each viewer applied a frame every 10 ms. At MS_PER_RECIPIENT per connection, up to
 * MAX_BURST_INTERVAL_MS, a burst's broadcasts take about the same share of the server whatever the audience. The
 * interval stays under the gap between two keystrokes of a fast typist (over 60 ms at 15 a second), so people typing
 * are never held; a document with up to 100 connections keeps BURST_INTERVAL_MS. Changes relayed from another instance
 * are a source like any (the relay), so an instance with a large audience spaces a burst that crosses to it too.
 */
import { isTransactionOrigin } from '@hocuspocus/server';

/** Changes of one source closer together than this make a burst; a burst is sent at most once per this interval. */
export const BURST_INTERVAL_MS = 10;
/** The longest interval, whatever the audience: a burst still moves on every screen 20 times a second. */
export const MAX_BURST_INTERVAL_MS = 50;
/** A document's interval per connection: 10 ms (BURST_INTERVAL_MS) up to 100 connections, 25 ms at 250. */
export const MS_PER_RECIPIENT = 0.1;

/** The burst interval of a document with `recipients` connections (see the top of this file). */
export function burstIntervalFor(recipients: number): number {
  return Math.min(MAX_BURST_INTERVAL_MS, Math.max(BURST_INTERVAL_MS, recipients * MS_PER_RECIPIENT));
}

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
   * out at `sentAt` and sends a burst every `intervalMs`: 0 unless its source changed it less than `intervalMs`
   * earlier (it is bursting) and `intervalMs` since `sentAt` has not passed.
   */
  wait(origin: unknown, sentAt: number, now = performance.now(), intervalMs = BURST_INTERVAL_MS): number {
    const source = sourceOf(origin);
    if (source === null) return 0;
    const previous = this.lastChange.get(source);
    this.lastChange.set(source, now);
    if (previous === undefined || now - previous >= intervalMs) return 0;
    return Math.max(0, sentAt + intervalMs - now);
  }
}
