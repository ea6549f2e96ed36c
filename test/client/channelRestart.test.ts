/**
 * Channel logs outlive the server process (issue 15 point 3): a subscriber of a real `concord serve` is cut off, the
 * server is killed (`kill -9`: an event is stored before the HTTP API answers), a new process starts on the same
 * data (LevelDB, and PostgreSQL), events are published to it, and the subscriber, reconnecting at its old address,
 * gets every event it missed in the same epoch with no `$gap`, then live ones. The same holds for a subscriber that
 * reconnects to another instance sharing the PostgreSQL database.
 */
import type { Channel, ChannelEventMeta, ChannelGap } from '@concord/client';
import { describe, expect, it } from 'vitest';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { makeTempDir } from '../support/server.js';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { startTcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, token } from './harness.js';

const API_KEY = 'concord-test-api-key-that-is-long-enough';

interface Received {
  readonly payload: unknown;
  readonly meta: ChannelEventMeta;
}

function record(channel: Channel): Received[] {
  const received: Received[] = [];
  channel.on('*', (payload, meta) => received.push({ payload, meta }));
  return received;
}

async function publish(server: ServerProcess, n: number): Promise<void> {
  const response = await fetch(`${server.url}/api/channels/account-123/events?tenant=t1`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'payment-recorded', payload: { n } }),
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ channel: 'account-123', seq: n });
}

const numbers = (received: readonly Received[]) => received.map(({ payload }) => (payload as { n: number }).n);

/**
 * Bob subscribed through a proxy to a first server gets 1–3 live; cut off, he misses 4–6, published to a second server
 * on the same data (the first killed before it starts: a restart; or left running beside it on PostgreSQL: another
 * instance); he reconnects at his old address, now leading to the second, and gets 4–6 replayed, then 7 live.
 */
async function subscriberResumesElsewhere(storage: { dataDir: string; databaseUrl?: string }, { restart }: { restart: boolean }): Promise<void> {
  freshIndexedDB();
  const options = { ...storage, args: ['--api-key', API_KEY] };
  const first = await spawnServer(options);
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(first.url).port) });
  const client = makeClient({ syncUrl: `ws://127.0.0.1:${proxy.port}/sync` }, { token: await token('bob') });
  const channel = client.subscribe('account-123');
  const received = record(channel);
  const gaps: ChannelGap[] = [];
  channel.on('$gap', (gap) => gaps.push(gap));
  await waitFor(() => channel.state === 'subscribed');

  for (let n = 1; n <= 3; n++) await publish(first, n);
  await waitFor(() => received.length === 3);
  const epoch = channel.lastPosition?.epoch;

  proxy.cut();
  await waitFor(() => client.state === 'offline');
  if (restart) await first.kill('SIGKILL');
  const second = await spawnServer(restart ? options : { ...options, dataDir: await makeTempDir() });
  for (let n = 4; n <= 6; n++) await publish(second, n);
  proxy.retarget({ host: '127.0.0.1', port: Number(new URL(second.url).port) });
  proxy.restore();

  await waitFor(() => received.length === 6, { timeoutMs: 15_000 });
  await publish(second, 7);
  await waitFor(() => received.length === 7);
  expect(numbers(received)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(received.map(({ meta }) => meta.replayed)).toEqual([false, false, false, true, true, true, false]);
  expect(channel.lastPosition).toEqual({ epoch, seq: 7 });
  expect(gaps).toEqual([]);
}

describe('channel logs across a server restart', () => {
  it('LevelDB: the subscriber gets what it missed, in the same epoch, with no $gap', async () => {
    await subscriberResumesElsewhere({ dataDir: await makeTempDir() }, { restart: true });
  });
});

describePostgres('channel logs across a server restart on PostgreSQL', () => {
  it('the subscriber gets what it missed, in the same epoch, with no $gap', async () => {
    const { url } = await freshSchema();
    await subscriberResumesElsewhere({ dataDir: await makeTempDir(), databaseUrl: url }, { restart: true });
  });

  it('a subscriber that reconnects to another instance on the same database resumes there with no $gap', async () => {
    const { url } = await freshSchema();
    await subscriberResumesElsewhere({ dataDir: await makeTempDir(), databaseUrl: url }, { restart: false });
  });
});
