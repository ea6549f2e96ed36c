/**
 * The storage seam of channel event logs (channels/ChannelHub.ts): each channel's recent events, numbered 1, 2, 3 …
 * within the channel's epoch, kept beside the documents in the same store, so a restart (and every instance sharing a
 * PostgreSQL database) replays what a subscriber missed with the same epoch and numbers: no `$gap` for a restart.
 *
 * Rules every implementation keeps (the contract suite in test/storage/channelContract.ts checks them on each one):
 * - `appendEvents(key, events)` numbers the events head + 1, head + 2 … in the order given, after every earlier
 *   append of the channel, and resolves once they are durable; a failed append numbers nothing. A channel unknown to
 *   the store gets a new epoch (a random id) with its first append or read.
 * - `readEvents(key, position)` answers with the channel's epoch and head and the events a subscriber at `position`
 *   lacks, oldest first: those numbered above `position.seq` in the same epoch, every one held in another epoch, none
 *   for `null` (a new subscriber starts at the head). Only events within the retention are returned (`retained`).
 * - The epoch lasts as long as the channel is known: only `sweepChannels` forgets a channel, once it holds no event
 *   and nothing was appended to it within the retention age, and never one named in `keep`.
 * Payloads are stored as the JSON text given and returned parsed; stores never interpret events.
 */
import type { ChannelEvent, ChannelPosition } from '@concord/engine';

/** How much of each channel's log is kept (the settings CONCORD_EVENT_RETENTION_COUNT / _SECONDS, and a byte budget). */
export interface Retention {
  /** Newest events kept per channel. */
  readonly maxEvents: number;
  /** Events older than this are dropped. */
  readonly maxAgeMs: number;
  /** Payload bytes kept per channel, so a channel of large events cannot hold much. */
  readonly maxBytes: number;
}

/** A channel: `channel` of `tenant` (its document is `<tenant>/#<channel>`). */
export interface ChannelKey {
  readonly tenant: string;
  readonly channel: string;
}

/** An event to append: its name, its payload as JSON text, that text's UTF-8 bytes, and when it was published. */
export interface NewChannelEvent {
  readonly event: string;
  readonly json: string;
  readonly bytes: number;
  readonly at: number;
}

export interface ChannelAppend {
  readonly epoch: string;
  /** The number of the first event appended; the others follow it. */
  readonly first: number;
}

export interface ChannelRead {
  readonly epoch: string;
  /** The last number handed out in this epoch (0: none yet). */
  readonly head: number;
  readonly events: ChannelEvent[];
}

export interface ChannelStore {
  appendEvents(key: ChannelKey, events: readonly NewChannelEvent[], retention: Retention, now: number): Promise<ChannelAppend>;
  readEvents(key: ChannelKey, position: ChannelPosition | null, retention: Retention, now: number): Promise<ChannelRead>;
  /** Drops events beyond the retention and forgets idle channels (see the rules above), except those in `keep`. */
  sweepChannels(retention: Retention, now: number, keep: readonly ChannelKey[]): Promise<void>;
}

/** Whether a store (a DocumentStore given by the embedding app, say) keeps channel logs too. */
export function keepsChannels(store: object): store is ChannelStore {
  const candidate = store as Partial<ChannelStore>;
  return (
    typeof candidate.appendEvents === 'function' &&
    typeof candidate.readEvents === 'function' &&
    typeof candidate.sweepChannels === 'function'
  );
}

/** An event as stored: what subscribers get, plus its payload's bytes. */
export interface HeldEvent extends ChannelEvent {
  readonly bytes: number;
}

/**
 * Of `events` (the channel's, oldest first, every one numbered above some point), those the retention keeps: the
 * newest, as long as each is among the newest `maxEvents` of `head`, within the age limit, and the bytes of it and
 * every newer one fit the budget. What is kept is always a run of the newest, as in a log trimmed from its start.
 */
export function retained<E extends { readonly seq: number; readonly at: number; readonly bytes: number }>(
  events: readonly E[],
  head: number,
  retention: Retention,
  now: number,
): E[] {
  const oldestKept = now - retention.maxAgeMs;
  let bytes = 0;
  let start = events.length;
  while (start > 0) {
    const event = events[start - 1] as E;
    if (event.seq <= head - retention.maxEvents || event.at < oldestKept || bytes + event.bytes > retention.maxBytes) break;
    bytes += event.bytes;
    start -= 1;
  }
  return events.slice(start);
}

/** The number above which a subscriber at `position` lacks events, in a channel at `epoch` and `head`. */
export function readAfter(position: ChannelPosition | null, epoch: string, head: number): number {
  if (position === null) return head;
  return position.epoch === epoch ? position.seq : 0;
}

/** A held event as subscribers get it. */
export function publicEvent({ seq, event, payload, at }: HeldEvent): ChannelEvent {
  return { seq, event, payload, at };
}

/**
 * Channel logs in memory: the reference implementation (MemoryStore's), and what the server uses when the store given
 * by the embedding app keeps no channels (nothing then outlives the process, as before).
 */
export class MemoryChannelStore implements ChannelStore {
  private readonly channels = new Map<string, { epoch: string; head: number; activeAt: number; events: HeldEvent[] }>();

  async appendEvents(key: ChannelKey, events: readonly NewChannelEvent[], retention: Retention, now: number): Promise<ChannelAppend> {
    const channel = this.channelOf(key, now);
    const first = channel.head + 1;
    for (const { event, json, bytes, at } of events) {
      channel.head += 1;
      channel.events.push({ seq: channel.head, event, payload: JSON.parse(json) as unknown, at, bytes });
    }
    channel.activeAt = now;
    channel.events = retained(channel.events, channel.head, retention, now);
    return { epoch: channel.epoch, first };
  }

  async readEvents(key: ChannelKey, position: ChannelPosition | null, retention: Retention, now: number): Promise<ChannelRead> {
    const { epoch, head, events } = this.channelOf(key, now);
    const after = readAfter(position, epoch, head);
    const missed = retained(events, head, retention, now).filter((event) => event.seq > after);
    return { epoch, head, events: structuredClone(missed.map(publicEvent)) };
  }

  async sweepChannels(retention: Retention, now: number, keep: readonly ChannelKey[]): Promise<void> {
    const kept = new Set(keep.map(addressOf));
    for (const [address, channel] of this.channels) {
      channel.events = retained(channel.events, channel.head, retention, now);
      if (channel.events.length === 0 && channel.activeAt < now - retention.maxAgeMs && !kept.has(address)) {
        this.channels.delete(address);
      }
    }
  }

  private channelOf(key: ChannelKey, now: number) {
    const address = addressOf(key);
    let channel = this.channels.get(address);
    if (!channel) {
      channel = { epoch: crypto.randomUUID(), head: 0, activeAt: now, events: [] };
      this.channels.set(address, channel);
    }
    return channel;
  }
}

/** One string per channel, for maps and key ranges. */
export function addressOf({ tenant, channel }: ChannelKey): string {
  return `${tenant}/#${channel}`;
}
