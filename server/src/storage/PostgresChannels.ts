/**
 * ChannelStore on PostgreSQL, for PostgresStore (which owns the pool and checks that it is open): the tables
 * `concord_channels` (a row per channel: its epoch, made in Node; its head; its last append time) and
 * `concord_channel_events` (migration 5).
 *
 * An append is one statement: it bumps the channel's head (creating the row with a new epoch when missing; the row
 * lock orders appends of one channel, so numbers follow commit order, across instances too), inserts the events under
 * the numbers it got, and deletes what the retention drops (count, age, bytes). Reads apply the retention too, so
 * what no append dropped yet (events aged since) is never sent; the sweep deletes events past the age limit and forgets
 * idle channels.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelPosition } from '@concord/engine';
import type pg from 'pg';
import {
  publicEvent,
  readAfter,
  retained,
  type ChannelAppend,
  type ChannelKey,
  type ChannelRead,
  type ChannelStore,
  type NewChannelEvent,
  type Retention,
} from './ChannelStore.js';

/** One statement on a pooled connection, its failure named by `operation` (PostgresStore's). */
export type Query = <R extends pg.QueryResultRow>(operation: string, text: string, values: unknown[]) => Promise<pg.QueryResult<R>>;

/**
 * $1 tenant, $2 channel, $3 epoch if new, $4 count, $5 now; events $6–$9; $10 maxEvents, $11 oldest `at` kept, $12 the
 * new events' bytes, $13 maxBytes. What the trim sees is the channel as it was (one statement, one snapshot): it drops
 * the oldest held events that the count, the age, or the bytes of every newer one (the new ones included) rule out.
 */
const APPEND_EVENTS = `
  WITH channel AS (
    INSERT INTO concord_channels AS c (tenant, channel, epoch, head, active_at) VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (tenant, channel) DO UPDATE SET head = c.head + $4, active_at = $5
    RETURNING epoch, head
  ), added AS (
    INSERT INTO concord_channel_events (tenant, channel, seq, event, payload, bytes, at)
    SELECT $1, $2, channel.head - $4 + e.i, e.event, e.payload, e.bytes, e.at
    FROM channel, unnest($6::text[], $7::text[], $8::integer[], $9::bigint[]) WITH ORDINALITY AS e(event, payload, bytes, at, i)
  ), trimmed AS (
    DELETE FROM concord_channel_events e USING (
      SELECT seq, sum(bytes) OVER (ORDER BY seq DESC) AS newer FROM concord_channel_events WHERE tenant = $1 AND channel = $2
    ) AS held
    WHERE e.tenant = $1 AND e.channel = $2 AND e.seq = held.seq
    AND (e.seq <= (SELECT head FROM channel) - $10 OR e.at < $11 OR held.newer + $12 > $13)
  )
  SELECT epoch, head FROM channel`;
/** The channel's epoch and head, creating it (epoch $3, at $4) when missing. */
const CHANNEL_HEAD = `
  WITH created AS (
    INSERT INTO concord_channels (tenant, channel, epoch, head, active_at) VALUES ($1, $2, $3, 0, $4)
    ON CONFLICT (tenant, channel) DO NOTHING
    RETURNING epoch, head
  )
  SELECT epoch, head FROM created
  UNION ALL SELECT epoch, head FROM concord_channels WHERE tenant = $1 AND channel = $2`;
const SELECT_EVENTS = `
  SELECT seq, event, payload, bytes, at FROM concord_channel_events
  WHERE tenant = $1 AND channel = $2 AND seq > $3 AND seq <= $4 ORDER BY seq`;
/** $1 oldest `at` kept (an index range: the sweep reads only what it drops). */
const SWEEP_EVENTS = 'DELETE FROM concord_channel_events WHERE at < $1';
/** $1 oldest activity kept, $2/$3 the channels to keep (tenants, channels). */
const SWEEP_CHANNELS = `
  DELETE FROM concord_channels c WHERE active_at < $1
  AND NOT EXISTS (SELECT 1 FROM concord_channel_events e WHERE e.tenant = c.tenant AND e.channel = c.channel)
  AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS k(tenant, channel) WHERE k.tenant = c.tenant AND k.channel = c.channel)`;

export class PostgresChannels implements ChannelStore {
  private readonly query: Query;

  constructor(query: Query) {
    this.query = query;
  }

  async appendEvents(key: ChannelKey, events: readonly NewChannelEvent[], retention: Retention, now: number): Promise<ChannelAppend> {
    const { rows } = await this.query<{ epoch: string; head: string }>('channel append', APPEND_EVENTS, [
      key.tenant,
      key.channel,
      randomUUID(),
      events.length,
      now,
      events.map((e) => e.event),
      events.map((e) => e.json),
      events.map((e) => e.bytes),
      events.map((e) => e.at),
      retention.maxEvents,
      now - retention.maxAgeMs,
      events.reduce((sum, e) => sum + e.bytes, 0),
      retention.maxBytes,
    ]);
    const row = rows[0] as { epoch: string; head: string };
    return { epoch: row.epoch, first: Number(row.head) - events.length + 1 };
  }

  async readEvents(key: ChannelKey, position: ChannelPosition | null, retention: Retention, now: number): Promise<ChannelRead> {
    let channel: { epoch: string; head: string } | undefined;
    // Twice at most: a channel created by another connection after this statement's snapshot shows in neither part.
    for (let attempt = 0; attempt < 2 && !channel; attempt++) {
      channel = (await this.query<{ epoch: string; head: string }>('channel read', CHANNEL_HEAD, [key.tenant, key.channel, randomUUID(), now])).rows[0];
    }
    if (!channel) throw new Error('PostgreSQL channel read failed: the channel row was neither found nor created');
    const { epoch } = channel;
    const head = Number(channel.head);
    const after = readAfter(position, epoch, head);
    if (after >= head) return { epoch, head, events: [] };
    const { rows } = await this.query<{ seq: string; event: string; payload: string; bytes: number; at: string }>(
      'channel read',
      SELECT_EVENTS,
      [key.tenant, key.channel, after, head],
    );
    const held = rows.map((row) => ({ seq: Number(row.seq), event: row.event, payload: row.payload, bytes: row.bytes, at: Number(row.at) }));
    const events = retained(held, head, retention, now).map((event) => publicEvent({ ...event, payload: JSON.parse(event.payload) as unknown }));
    return { epoch, head, events };
  }

  async sweepChannels(retention: Retention, now: number, keep: readonly ChannelKey[]): Promise<void> {
    await this.query('channel sweep', SWEEP_EVENTS, [now - retention.maxAgeMs]);
    await this.query('channel sweep', SWEEP_CHANNELS, [now - retention.maxAgeMs, keep.map((k) => k.tenant), keep.map((k) => k.channel)]);
  }
}
