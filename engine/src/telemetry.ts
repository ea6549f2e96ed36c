/**
 * Delivery measured from clients (issue 18, point 4): the stateless messages a Concord client and server exchange to
 * measure what users feel, all JSON objects tagged `concord`, like the server's notices (notices.ts).
 *
 * - `clock?` (client → server, `at`: the client's time) is answered `clock` (`at` echoed, `now`: the server's time),
 *   from which the client corrects its clock by the server's (NTP's midpoint: the server's time is taken as that of
 *   the middle of the round trip).
 * - `stamp` (client → server → the document's other clients): a sampled local edit's time on the server's clock and
 *   where it ends in the sender's document (`client`, `clock`: its Yjs client id and clock after the edit), so a peer
 *   knows when that edit is on its screen however the messages are ordered.
 * - `telemetry` (client → server): what the client measured since its last report, bounded: delivery times of peers'
 *   edits, acknowledgement round trips, connections lost or failed by cause, errors by kind.
 *
 * Every field is checked: a client's report is untrusted input, and one that does not parse is dropped whole.
 */
import { z } from 'zod';

/** Samples of one kind in one report, at most. */
export const MAX_TELEMETRY_SAMPLES = 200;
/** Distinct causes or kinds in one report, at most. */
export const MAX_TELEMETRY_LABELS = 16;
/** A measured time above this (ms) is not a measurement: a clock jumped, a laptop slept. */
export const MAX_TELEMETRY_MS = 10 * 60_000;

/** Why a connection was lost or failed, as the client tells. */
export const ConnectionLoss = {
  /** No frame from the server for the dead-connection time. */
  Dead: 'dead-connection',
  /** The browser said it went offline. */
  Offline: 'offline',
  /** An attempt that never opened (refused, unreachable, timed out). */
  FailedToOpen: 'failed-to-open',
  /** The server closed it (`closed-<code>` says with which code). */
  Closed: 'closed',
} as const;

const label = z.string().regex(/^[a-z0-9-]{1,40}$/);
const times = z.array(z.number().finite().min(0).max(MAX_TELEMETRY_MS)).max(MAX_TELEMETRY_SAMPLES);
const counts = z
  .record(label, z.number().int().min(0).max(1_000_000))
  .refine((value) => Object.keys(value).length <= MAX_TELEMETRY_LABELS, `at most ${MAX_TELEMETRY_LABELS} labels`);

const clockRequest = z.object({ concord: z.literal('clock?'), at: z.number().finite() }).strict();
const clockAnswer = z.object({ concord: z.literal('clock'), at: z.number().finite(), now: z.number().finite() }).strict();
const stamp = z
  .object({ concord: z.literal('stamp'), at: z.number().finite(), client: z.number().int().nonnegative(), clock: z.number().int().nonnegative() })
  .strict();
const report = z
  .object({
    concord: z.literal('telemetry'),
    /** ms from a peer's edit to this client's document. */
    delivery: times,
    /** ms from a local change to the server's (durable) acknowledgement. */
    ack: times,
    reconnects: counts,
    errors: counts,
  })
  .strict();

export type ClockRequest = z.output<typeof clockRequest>;
export type ClockAnswer = z.output<typeof clockAnswer>;
export type EditStamp = z.output<typeof stamp>;
export type TelemetryReport = z.output<typeof report>;
export type TelemetryMessage = ClockRequest | ClockAnswer | EditStamp | TelemetryReport;

const message = z.discriminatedUnion('concord', [clockRequest, clockAnswer, stamp, report]);

/** The telemetry message a stateless payload holds, or null (an app's own message, or one that does not parse). */
export function parseTelemetry(payload: string): TelemetryMessage | null {
  if (!payload.startsWith('{') || !payload.includes('"concord"')) return null;
  try {
    const result = message.safeParse(JSON.parse(payload));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

export function telemetryPayload(value: TelemetryMessage): string {
  return JSON.stringify(value);
}
