/**
 * ChannelStore on LevelDB, for LevelStore (which owns the database and checks that it is open).
 *
 * Layout: a key `c:<encodeURIComponent(<tenant>/#<channel>)>` per channel holds its epoch, head, last append time and
 * held payload bytes as JSON; its events are keys `e:<the same>:<seq as 13 hex digits>` holding
 * `{event, at, bytes, json}`, so a channel's events are one ordered range. An append writes the events, the new head
 * and the deletion of what the retention no longer keeps in one synced batch. Appends and sweeps of one channel take
 * turns; a channel's head is kept in memory once read (LevelDB admits one process at a time, so nobody else appends).
 */
import { randomUUID } from 'node:crypto';
import type { ChannelPosition } from '@concord/engine';
import type { ClassicLevel } from 'classic-level';
import {
  addressOf,
  publicEvent,
  readAfter,
  retained,
  type ChannelAppend,
  type ChannelKey,
  type ChannelRead,
  type ChannelStore,
  type HeldEvent,
  type NewChannelEvent,
  type Retention,
} from './ChannelStore.js';
import type { Turns } from './turns.js';

const SEQ_DIGITS = 13;

/** Channel keys (ChannelStore): one per channel, and the events of each in a range of their own. */
const CHANNEL_PREFIX = 'c:';
const CHANNEL_EVENT_PREFIX = 'e:';

interface ChannelMeta {
  epoch: string;
  head: number;
  activeAt: number;
  /** Payload bytes of the events held. */
  bytes: number;
}

const channelKeyOf = (address: string) => `${CHANNEL_PREFIX}${encodeURIComponent(address)}`;
const channelEventsOf = (address: string) => {
  const prefix = `${CHANNEL_EVENT_PREFIX}${encodeURIComponent(address)}`;
  return { gt: `${prefix}:`, lt: `${prefix};` };
};
const channelEventKey = (address: string, seq: number) =>
  `${CHANNEL_EVENT_PREFIX}${encodeURIComponent(address)}:${seq.toString(16).padStart(SEQ_DIGITS, '0')}`;

function seqOf(key: string): number {
  return Number.parseInt(key.slice(key.lastIndexOf(':') + 1), 16);
}

export class LevelChannels implements ChannelStore {
  private readonly db: ClassicLevel<string, Uint8Array>;
  private readonly turns: Turns;
  /** Called at every write (LevelStore tidies its files once writes pause). */
  private readonly wrote: () => void;
  /** Channels read since the open (the store is their only writer). */
  private readonly channelMetas = new Map<string, ChannelMeta>();

  constructor(db: ClassicLevel<string, Uint8Array>, turns: Turns, wrote: () => void) {
    this.db = db;
    this.turns = turns;
    this.wrote = wrote;
  }

  async appendEvents(key: ChannelKey, events: readonly NewChannelEvent[], retention: Retention, now: number): Promise<ChannelAppend> {
    const address = addressOf(key);
    return this.turns.run(address, async () => {
      const meta = await this.channelMeta(address, now);
      const first = meta.head + 1;
      const head = meta.head + events.length;
      const encoder = new TextEncoder();
      const operations: Array<{ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }> = [];
      const written: HeldEvent[] = events.map(({ event, json, bytes, at }, i) => ({ seq: first + i, event, payload: json, at, bytes }));
      for (const { seq, event, at, bytes, payload: json } of written) {
        operations.push({ type: 'put', key: channelEventKey(address, seq), value: encoder.encode(JSON.stringify({ event, at, bytes, json })) });
      }
      const dropped = await this.channelTrim(address, { ...meta, head, bytes: meta.bytes + written.reduce((sum, e) => sum + e.bytes, 0) }, written, retention, now);
      for (const seq of dropped.seqs) operations.push({ type: 'del', key: channelEventKey(address, seq) });
      const next: ChannelMeta = { epoch: meta.epoch, head, activeAt: now, bytes: dropped.bytes };
      operations.push({ type: 'put', key: channelKeyOf(address), value: encoder.encode(JSON.stringify(next)) });
      this.wrote();
      await this.db.batch(operations, { sync: true });
      this.channelMetas.set(address, next);
      return { epoch: meta.epoch, first };
    });
  }

  async readEvents(key: ChannelKey, position: ChannelPosition | null, retention: Retention, now: number): Promise<ChannelRead> {
    const address = addressOf(key);
    // A channel read for the first time is created in turn (with appends). Once known, reads need no turn: the head
    // known here moves only after the events up to it are written.
    const { epoch, head } = this.channelMetas.get(address) ?? (await this.turns.run(address, () => this.channelMeta(address, now)));
    const after = readAfter(position, epoch, head);
    const events = after >= head ? [] : retained(await this.channelEvents(address, after, head), head, retention, now);
    return { epoch, head, events: events.map((event) => publicEvent({ ...event, payload: JSON.parse(event.payload as string) as unknown })) };
  }

  async sweepChannels(retention: Retention, now: number, keep: readonly ChannelKey[]): Promise<void> {
    const kept = new Set(keep.map(addressOf));
    const decoder = new TextDecoder();
    const addresses: string[] = [];
    for await (const key of this.db.keys({ gte: CHANNEL_PREFIX, lt: 'c;' })) addresses.push(decodeURIComponent(key.slice(CHANNEL_PREFIX.length)));
    for (const address of addresses) {
      await this.turns.run(address, async () => {
        const stored = await this.db.get(channelKeyOf(address));
        if (stored === undefined) return;
        const meta = JSON.parse(decoder.decode(stored)) as ChannelMeta;
        const dropped = await this.channelTrim(address, meta, [], retention, now);
        const operations: Array<{ type: 'del'; key: string } | { type: 'put'; key: string; value: Uint8Array }> = dropped.seqs.map(
          (seq) => ({ type: 'del', key: channelEventKey(address, seq) }),
        );
        const forget = dropped.left === 0 && meta.activeAt < now - retention.maxAgeMs && !kept.has(address);
        if (forget) operations.push({ type: 'del', key: channelKeyOf(address) });
        else if (operations.length > 0) {
          const next: ChannelMeta = { ...meta, bytes: dropped.bytes };
          operations.push({ type: 'put', key: channelKeyOf(address), value: new TextEncoder().encode(JSON.stringify(next)) });
          this.channelMetas.set(address, next);
        }
        if (operations.length === 0) return;
        await this.db.batch(operations, { sync: true });
        if (forget) this.channelMetas.delete(address);
      });
    }
  }

  /** A channel's epoch and head; a channel never seen gets a new epoch, stored at once (its subscribers hold it). */
  private async channelMeta(address: string, now: number): Promise<ChannelMeta> {
    const known = this.channelMetas.get(address);
    if (known) return known;
    const stored = await this.db.get(channelKeyOf(address));
    let meta: ChannelMeta;
    if (stored === undefined) {
      meta = { epoch: randomUUID(), head: 0, activeAt: now, bytes: 0 };
      await this.db.put(channelKeyOf(address), new TextEncoder().encode(JSON.stringify(meta)), { sync: true });
    } else {
      meta = JSON.parse(new TextDecoder().decode(stored)) as ChannelMeta;
    }
    this.channelMetas.set(address, meta);
    return meta;
  }

  /**
   * What the retention drops from a channel at `meta` (its head and held bytes counting `written`, not yet stored):
   * the oldest events, up to the first one kept. Reads from the oldest on, so usually one or two keys.
   */
  private async channelTrim(
    address: string,
    meta: ChannelMeta,
    written: readonly HeldEvent[],
    retention: Retention,
    now: number,
  ): Promise<{ seqs: number[]; bytes: number; left: number }> {
    const oldestKept = now - retention.maxAgeMs;
    const seqs: number[] = [];
    let bytes = meta.bytes;
    const drops = (event: { seq: number; at: number }) =>
      event.seq <= meta.head - retention.maxEvents || event.at < oldestKept || bytes > retention.maxBytes;
    const decoder = new TextDecoder();
    let left = written.length;
    let stopped = false;
    for await (const [key, value] of this.db.iterator(channelEventsOf(address))) {
      const { at, bytes: size } = JSON.parse(decoder.decode(value)) as { at: number; bytes: number };
      if (!stopped && drops({ seq: seqOf(key), at })) {
        seqs.push(seqOf(key));
        bytes -= size;
        continue;
      }
      stopped = true;
      left += 1;
      break;
    }
    if (!stopped) {
      for (const event of written) {
        if (!drops(event)) break;
        seqs.push(event.seq);
        bytes -= event.bytes;
        left -= 1;
      }
    }
    return { seqs, bytes, left };
  }

  /** The channel's held events numbered above `after` up to `head`, oldest first, each payload as its JSON text. */
  private async channelEvents(address: string, after: number, head: number): Promise<HeldEvent[]> {
    const decoder = new TextDecoder();
    const events: HeldEvent[] = [];
    const range = channelEventsOf(address);
    for await (const [key, value] of this.db.iterator({ gt: after > 0 ? channelEventKey(address, after) : range.gt, lte: channelEventKey(address, head) })) {
      const { event, at, bytes, json } = JSON.parse(decoder.decode(value)) as { event: string; at: number; bytes: number; json: string };
      events.push({ seq: seqOf(key), event, at, bytes, payload: json });
    }
    return events;
  }
}
