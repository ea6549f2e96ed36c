/**
 * Channels: named streams of events (`account-123`, `task-7`) that the app backend publishes and clients listen to,
 * the way `frappe.publish_realtime` rooms or Pusher channels work.
 *
 * On the wire a channel is a Hocuspocus document whose name is the channel's behind `#` (`#account-123`). `#` never
 * starts a document name, so no document collides with a channel, and the socket, authentication (the token's `docs`
 * globs: a read grant may listen), reconnection and tenant namespacing of documents apply to channels unchanged. A
 * channel document holds no data and is never stored; events travel as stateless messages, tagged JSON:
 *
 * - server → client `{"concord":"event", epoch, seq, event, payload, at}`: one event, live;
 * - client → server `{"concord":"since", epoch, seq}`: sent after each authentication, asking for what came after
 *   the last event the client saw (`seq: null` for a new subscription: nothing is replayed);
 * - server → client `{"concord":"replay", epoch, head, events, gap}`: the answer. `gap` is true when the server no
 *   longer holds some of the events asked for (older than its retention, or its log was started again since: a
 *   new `epoch`), so the app should refetch what depends on them.
 *
 * Sequence numbers count up from 1 within an epoch; an epoch is a channel log's lifetime on the server.
 */
import { z } from 'zod';
import { ConcordError, ErrorKind } from './codes.js';
import { documentNameProblem, TENANT_SEPARATOR } from './names.js';

export const CHANNEL_PREFIX = '#';
export const MAX_EVENT_NAME_LENGTH = 64;

const EVENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** Why `channel` is not a valid channel name (the rules of document names), or undefined when it is. */
export function channelNameProblem(channel: string): string | undefined {
  const problem = documentNameProblem(channel);
  return problem?.replace(/document name/g, 'channel name');
}

/** Why `event` is not a valid event name, or undefined when it is. */
export function eventNameProblem(event: string): string | undefined {
  if (event.length === 0) return 'an event name must not be empty';
  if (event.length > MAX_EVENT_NAME_LENGTH) return `an event name must be at most ${MAX_EVENT_NAME_LENGTH} characters`;
  if (!EVENT_NAME.test(event)) {
    return `event name ${JSON.stringify(event)} may only contain letters, digits and . _ : -, starting with a letter or digit`;
  }
  return undefined;
}

export function assertChannelName(channel: string): void {
  const problem = channelNameProblem(channel);
  if (problem) throw new ConcordError(ErrorKind.InvalidChannel, problem);
}

/** The Hocuspocus document name that carries `channel`. */
export function channelAddress(channel: string): string {
  assertChannelName(channel);
  return `${CHANNEL_PREFIX}${channel}`;
}

/** The channel a tenant-local document name carries, or null for an ordinary document (not validated). */
export function channelOf(name: string): string | null {
  return name.startsWith(CHANNEL_PREFIX) ? name.slice(CHANNEL_PREFIX.length) : null;
}

/** Whether a server-side `<tenant>/<name>` names a channel rather than a stored document. */
export function isChannelDocument(qualified: string): boolean {
  const at = qualified.indexOf(TENANT_SEPARATOR);
  return at >= 0 && qualified.startsWith(CHANNEL_PREFIX, at + 1);
}

/** One published event as clients receive it. */
export interface ChannelEvent {
  readonly seq: number;
  readonly event: string;
  readonly payload: unknown;
  /** When the server published it (ms since the epoch). */
  readonly at: number;
}

/** Where a subscriber is in a channel: the last event it has, in which epoch of the server's log. */
export interface ChannelPosition {
  readonly epoch: string;
  readonly seq: number;
}

const channelEvent = z.object({
  seq: z.number().int().positive(),
  event: z.string(),
  payload: z.unknown(),
  at: z.number(),
});

const eventMessage = channelEvent.extend({ concord: z.literal('event'), epoch: z.string() });
const replayMessage = z.object({
  concord: z.literal('replay'),
  epoch: z.string(),
  head: z.number().int().nonnegative(),
  events: z.array(channelEvent),
  gap: z.boolean(),
});
const sinceRequest = z.object({
  concord: z.literal('since'),
  epoch: z.string().max(100).nullable(),
  seq: z.number().int().nonnegative().nullable(),
});

export type EventMessage = z.output<typeof eventMessage>;
export type ReplayMessage = z.output<typeof replayMessage>;
export type SinceRequest = z.output<typeof sinceRequest>;

function parseJson<T>(schema: z.ZodType<T>, payload: string): T | null {
  try {
    const result = schema.safeParse(JSON.parse(payload));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

/** A stateless payload from the server on a channel: an event, a replay, or null for anything else. */
export function parseChannelMessage(payload: string): EventMessage | ReplayMessage | null {
  return parseJson(z.union([eventMessage, replayMessage]), payload);
}

/** A client's `since` request, or null when the payload is not one (untrusted input). */
export function parseSinceRequest(payload: string): SinceRequest | null {
  return parseJson(sinceRequest, payload);
}

export function sinceRequestPayload(position: ChannelPosition | null): string {
  return JSON.stringify({ concord: 'since', epoch: position?.epoch ?? null, seq: position?.seq ?? null } satisfies SinceRequest);
}
