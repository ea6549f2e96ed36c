/**
 * Notices a connection that died without a word: a network that vanished sends no FIN and no RST, so the socket stays
 * "open" while nothing arrives and what is sent goes nowhere. The server sends every connection a heartbeat at least
 * every 2.5 s (`CONCORD_HEARTBEAT_INTERVAL_MS`), so an open connection that hears nothing for
 * `DEAD_CONNECTION_AFTER_MS` is dead; an attempt that has not opened after `CONNECT_TIMEOUT_MS` never will.
 *
 * The watchdog owns only the timing: it is told what it waits for (`watch`) and each sign of life (`heard`, a cheap
 * clock read per frame), and calls back once when a wait runs out. One timer, re-armed when it fires, not per frame.
 * A timer that fires much later than asked was held back (a busy or frozen page, a sleeping laptop): frames may be
 * queued behind it, so it gives them `LATE_TIMER_GRACE_MS` to arrive before it calls the connection dead.
 */

/**
 * Silence after which an open connection is dead: with heartbeats every 2.5 s, two missed in a row and 2 s more (a
 * healthy but slow link is not dropped), and a dead one is noticed within 10 s of the network going away.
 */
export const DEAD_CONNECTION_AFTER_MS = 7_000;
/** Longest wait for a connection attempt to open (a handshake into a silent network would hang for minutes). */
export const CONNECT_TIMEOUT_MS = 10_000;
/** A timer firing this much after its time was held back, not the connection silent. */
const LATE_TIMER_MS = 1_000;
/** How long frames queued behind a late timer get to arrive. */
export const LATE_TIMER_GRACE_MS = 1_000;

/** Monotonic: a wall clock set back or forward must not decide that a connection died. */
const now = (): number => performance.now();

export class Watchdog {
  private readonly onExpired: (silentMs: number) => void;
  /** What the current wait allows, or null while not watching. */
  private limitMs: number | null = null;
  private lastSignAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private dueAt = 0;

  /** `onExpired` runs once per wait that runs out, with how long nothing arrived. */
  constructor(onExpired: (silentMs: number) => void) {
    this.onExpired = onExpired;
  }

  /** Starts a new wait from now: a sign of life must come within `limitMs`, and within `limitMs` of each one after. */
  watch(limitMs: number): void {
    this.limitMs = limitMs;
    this.lastSignAt = now();
    this.arm(limitMs);
  }

  /** A sign of life (a frame arrived). */
  heard(): void {
    this.lastSignAt = now();
  }

  stop(): void {
    this.limitMs = null;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    clearTimeout(this.timer);
    this.dueAt = now() + delayMs;
    this.timer = setTimeout(this.check, delayMs);
  }

  private readonly check = (): void => {
    this.timer = undefined;
    const limitMs = this.limitMs;
    if (limitMs === null) return;
    const at = now();
    const silentMs = at - this.lastSignAt;
    if (silentMs < limitMs) {
      this.arm(limitMs - silentMs);
    } else if (at - this.dueAt > LATE_TIMER_MS) {
      this.arm(LATE_TIMER_GRACE_MS);
    } else {
      this.stop();
      this.onExpired(silentMs);
    }
  };
}
