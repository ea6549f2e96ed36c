/**
 * When to try the server again: at once after a connection that had been up for a while, else after a delay that
 * doubles with every failure in a row, up to a cap, with jitter so many clients that lost the same server do not
 * come back in one wave.
 *
 * The rule ("equal jitter"): the n-th failure in a row waits between half and all of min(cap, first · 2^(n-1)), so a
 * retry is never immediate after a failure and never later than the cap.
 */

/** Delay after the first failure; it doubles with each further failure in a row. */
export const RECONNECT_MIN_DELAY_MS = 1_000;
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 30_000;
/** A connection that stayed open this long was a good one: losing it retries at once and resets the backoff. */
export const STABLE_CONNECTION_MS = 10_000;

export function reconnectDelayMs(failuresInARow: number, maxDelayMs: number, random: () => number = Math.random): number {
  if (failuresInARow <= 0) return 0;
  const ceiling = Math.min(maxDelayMs, RECONNECT_MIN_DELAY_MS * 2 ** Math.min(failuresInARow - 1, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
