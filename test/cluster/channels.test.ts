/**
 * SPEC §3 Scale-out, channel events (docs/scale-out-design.md §3.7): three real `concord serve` processes on one
 * fresh PostgreSQL schema and a private redis-server. An event POSTed to A reaches a live subscriber on B. A and B
 * publish 100 events each at the same time to one channel: a subscriber on C, and one on each of A and B, gets all
 * 200 live, in sequence order with no number missing and no `$gap`, although each instance sees its own events at
 * once and the other's a Redis hop later (the per-channel sequencer puts them in order).
 */
import type { Channel, ChannelEventMeta, ChannelGap } from '@concord/client';
import { beforeAll, expect, test } from 'vitest';
import { freshIndexedDB, makeClient, token } from '../client/harness.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import { makeTempDir } from '../support/server.js';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'cluster-api-key-that-is-long-enough-0123456789';
/** Events each of A and B publishes in the concurrent case. */
const EVENTS_EACH = 100;
/** Publishes in flight at once per instance. */
const LANES = 10;

interface Received {
  readonly payload: { from: string; n: number };
  readonly meta: ChannelEventMeta;
}

async function publish(server: ServerProcess, channel: string, payload: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${server.url}/api/channels/${channel}/events?tenant=t1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'tick', payload }),
  });
  expect(response.status).toBe(200);
}

/** A live subscriber of `channel` on `server`: what it receives, and the `$gap`s it is told of. */
async function subscriber(server: ServerProcess, channel: string, user: string): Promise<{ received: Received[]; gaps: ChannelGap[]; channel: Channel }> {
  const client = makeClient(server, { token: await token(user), localNamespace: `${user}-${server.pid}` });
  const subscription = client.subscribe(channel);
  const received: Received[] = [];
  const gaps: ChannelGap[] = [];
  subscription.on('*', (payload, meta) => received.push({ payload: payload as Received['payload'], meta }));
  subscription.on('$gap', (gap) => gaps.push(gap));
  await waitFor(() => subscription.state === 'subscribed', { message: `${user} subscribed` });
  return { received, gaps, channel: subscription };
}

describePostgres('scale-out: channel events', () => {
  describeRedis('three instances on one Redis', () => {
    let a: ServerProcess;
    let b: ServerProcess;
    let c: ServerProcess;

    beforeAll(async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const options = { databaseUrl, redisUrl: redis.url, args: ['--api-key', API_KEY] };
      [a, b, c] = await Promise.all([
        spawnServer({ dataDir: await makeTempDir(), ...options }),
        spawnServer({ dataDir: await makeTempDir(), ...options }),
        spawnServer({ dataDir: await makeTempDir(), ...options }),
      ]);
    });

    test('an event POSTed to A reaches a live subscriber on B', async () => {
      freshIndexedDB();
      const onB = await subscriber(b, 'account-1', 'bob');
      await publish(a, 'account-1', { from: 'A', n: 1 });
      await waitFor(() => onB.received.length === 1, { message: 'the event on B' });
      expect(onB.received[0]).toMatchObject({ payload: { from: 'A', n: 1 }, meta: { seq: 1, replayed: false } });
      expect(onB.gaps).toEqual([]);
    });

    test('A and B publish 100 events each at once: subscribers on C, A and B get all 200 live, in order, no $gap', async () => {
      freshIndexedDB();
      const subscribers = [await subscriber(c, 'board', 'carol'), await subscriber(a, 'board', 'alice'), await subscriber(b, 'board', 'bob')];

      const started = Date.now();
      const publishAll = async (server: ServerProcess, from: string) => {
        await Promise.all(
          Array.from({ length: LANES }, async (_, lane) => {
            for (let n = lane; n < EVENTS_EACH; n += LANES) await publish(server, 'board', { from, n });
          }),
        );
      };
      await Promise.all([publishAll(a, 'A'), publishAll(b, 'B')]);
      for (const [i, { received }] of subscribers.entries()) {
        await waitFor(() => received.length >= 2 * EVENTS_EACH, { message: `subscriber ${i} to get all ${2 * EVENTS_EACH}` });
      }
      console.log(`200 events from A and B reached subscribers on C, A and B in ${Date.now() - started} ms`);

      for (const { received, gaps } of subscribers) {
        expect(received).toHaveLength(2 * EVENTS_EACH);
        expect(received.map(({ meta }) => meta.seq)).toEqual(Array.from({ length: 2 * EVENTS_EACH }, (_, i) => i + 1));
        expect(received.every(({ meta }) => !meta.replayed), 'every event live').toBe(true);
        for (const from of ['A', 'B']) {
          const numbers = received.filter(({ payload }) => payload.from === from).map(({ payload }) => payload.n);
          expect(new Set(numbers).size, `all of ${from}'s events`).toBe(EVENTS_EACH);
        }
        expect(gaps).toEqual([]);
      }
      // All three saw the same sequence.
      const order = (i: number) => subscribers[i]!.received.map(({ payload }) => `${payload.from}${payload.n}`);
      expect(order(1)).toEqual(order(0));
      expect(order(2)).toEqual(order(0));
    });
  });
});
