/**
 * C15 channels, against a real server over real sockets: what the app backend publishes reaches every subscriber
 * exactly once and in order; channels the token does not grant are refused; events published while a subscriber was
 * offline are replayed on reconnect (after a server restart too: the logs are stored), and a gap beyond the retention
 * is flagged.
 */
import type { Channel, ChannelEventMeta, ChannelGap } from '@concord/client';
import { describe, expect, it } from 'vitest';
import { startTcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

interface Received {
  readonly event: string;
  readonly payload: unknown;
  readonly meta: ChannelEventMeta;
}

function record(channel: Channel): Received[] {
  const received: Received[] = [];
  channel.on('*', (payload, meta) => received.push({ event: meta.event, payload, meta }));
  return received;
}

/** Bob subscribed to `account-123` through a TCP proxy the test cuts, with what he receives and the gaps he is told of. */
async function subscriberBehindProxy(options: Parameters<typeof startTestServer>[0] = {}) {
  freshIndexedDB();
  const server = await startTestServer(options);
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
  const client = makeClient({ syncUrl: `ws://127.0.0.1:${proxy.port}/sync` }, { token: await token('bob') });
  const channel = client.subscribe('account-123');
  const received = record(channel);
  const gaps: ChannelGap[] = [];
  channel.on('$gap', (gap) => gaps.push(gap));
  await waitFor(() => channel.state === 'subscribed');
  return { server, proxy, client, channel, received, gaps };
}

describe('C15 channels', () => {
  it('delivers every published event to every subscriber exactly once, in order, and only to listeners of its name', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const clients = await Promise.all(['alice', 'bob', 'carol'].map(async (user) => makeClient(server, { token: await token(user) })));
    const channels = clients.map((client) => client.subscribe('account-123'));
    const everything = channels.map(record);
    const payments: unknown[] = [];
    channels[0]?.on('payment-recorded', (payload) => payments.push(payload));
    await waitFor(() => channels.every((channel) => channel.state === 'subscribed'));

    for (let i = 1; i <= 50; i++) {
      server.current.publish('account-123', i % 2 ? 'payment-recorded' : 'status-changed', { n: i }, { tenant: 't1' });
    }
    server.current.publish('account-999', 'payment-recorded', { other: true }, { tenant: 't1' });
    await waitFor(() => everything.every((received) => received.length === 50));
    for (const received of everything) {
      expect(received.map(({ payload }) => (payload as { n: number }).n)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(received.every(({ meta }) => meta.channel === 'account-123' && !meta.replayed)).toBe(true);
    }
    expect(payments).toEqual(Array.from({ length: 25 }, (_, i) => ({ n: 2 * i + 1 })));
    // A second subscribe shares the subscription; unsubscribing once keeps it, twice ends it.
    const again = clients[0]?.subscribe('account-123');
    expect(again).toBe(channels[0]);
    await again?.unsubscribe();
    server.current.publish('account-123', 'status-changed', { n: 51 }, { tenant: 't1' });
    await waitFor(() => everything[0]?.length === 51);
    await channels[0]?.unsubscribe();
    expect(channels[0]?.state).toBe('closed');
    server.current.publish('account-123', 'status-changed', { n: 52 }, { tenant: 't1' });
    await waitFor(() => everything[1]?.length === 52 && everything[2]?.length === 52);
    expect(everything[0]).toHaveLength(51);
  });

  it('refuses a channel the token does not grant, or of another tenant, and never delivers its events', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const limited = makeClient(server, { token: await token('dave', { docs: { 'task-*': 'read' } }) });
    const granted = limited.subscribe('task-7');
    const refused = limited.subscribe('account-123');
    const otherTenant = makeClient(server, { token: await token('eve', { tenant: 't2' }) });
    const foreign = otherTenant.subscribe('account-123');
    const received = [record(granted), record(refused), record(foreign)];
    await waitFor(() => granted.state === 'subscribed' && refused.state === 'refused' && foreign.state === 'subscribed');
    expect(refused.error).toMatch(/Forbidden/);

    server.current.publish('task-7', 'assigned', { to: 'dave' }, { tenant: 't1' });
    server.current.publish('account-123', 'payment-recorded', { amount: 10 }, { tenant: 't1' });
    await waitFor(() => received[0]?.length === 1);
    // t2's account-123 is another channel: t1's event must not reach it. Publish to t2 last and wait for that one.
    server.current.publish('account-123', 'payment-recorded', { amount: 99 }, { tenant: 't2' });
    await waitFor(() => received[2]?.length === 1);
    expect(received[1]).toEqual([]);
    expect(received[2]?.[0]?.payload).toEqual({ amount: 99 });
  });

  it('replays what was published while the subscriber was offline, in order, once, then continues live', async () => {
    const { server, proxy, client, channel, received, gaps } = await subscriberBehindProxy();
    server.current.publish('account-123', 'payment-recorded', { n: 1 }, { tenant: 't1' });
    await waitFor(() => received.length === 1);

    proxy.cut();
    await waitFor(() => client.state === 'offline' && channel.state === 'subscribing');
    for (let n = 2; n <= 11; n++) await server.current.publish('account-123', 'payment-recorded', { n }, { tenant: 't1' });
    expect(received).toHaveLength(1);
    proxy.restore();
    await waitFor(() => received.length === 11, { timeoutMs: 15_000 });
    expect(received.map(({ payload }) => (payload as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(received.slice(1).every(({ meta }) => meta.replayed)).toBe(true);
    expect(gaps).toEqual([]);

    server.current.publish('account-123', 'payment-recorded', { n: 12 }, { tenant: 't1' });
    await waitFor(() => received.length === 12);
    expect(received[11]?.meta.replayed).toBe(false);
    expect(received.map(({ meta }) => meta.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('flags a gap when more was missed than the server keeps, and delivers what it still has', async () => {
    const { server, proxy, client, received, gaps } = await subscriberBehindProxy({ eventRetentionCount: 5 });

    proxy.cut();
    await waitFor(() => client.state === 'offline');
    for (let n = 1; n <= 12; n++) await server.current.publish('account-123', 'tick', { n }, { tenant: 't1' });
    proxy.restore();
    await waitFor(() => gaps.length === 1, { timeoutMs: 15_000 });
    expect(received.map(({ payload }) => (payload as { n: number }).n)).toEqual([8, 9, 10, 11, 12]);
    expect(gaps[0]?.position?.seq).toBe(12);
  });

  it('resumes from a saved position in a new client (a reload), and after a server restart with no gap', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const first = makeClient(server, { token: await token('bob') });
    const channel = first.subscribe('task-7');
    record(channel);
    await waitFor(() => channel.state === 'subscribed');
    await server.current.publish('task-7', 'assigned', { to: 'bob' }, { tenant: 't1' });
    await waitFor(() => channel.lastPosition?.seq === 1);
    const saved = channel.lastPosition;
    await first.destroy();

    await server.current.publish('task-7', 'status-changed', { status: 'done' }, { tenant: 't1' });
    const second = makeClient(server, { token: await token('bob') });
    const resumed = second.subscribe('task-7', { since: saved });
    const received = record(resumed);
    await waitFor(() => received.length === 1);
    expect(received[0]).toMatchObject({ event: 'status-changed', payload: { status: 'done' }, meta: { seq: 2, replayed: true } });

    // The log is stored: after a restart the subscription resumes in the same epoch and is told of no gap.
    const gaps: ChannelGap[] = [];
    resumed.on('$gap', (gap) => gaps.push(gap));
    await server.restart();
    await server.current.publish('task-7', 'status-changed', { status: 'reopened' }, { tenant: 't1' });
    await waitFor(() => received.length === 2, { timeoutMs: 15_000 });
    expect(received[1]).toMatchObject({ payload: { status: 'reopened' }, meta: { seq: 3 } });
    expect(resumed.lastPosition).toEqual({ epoch: saved?.epoch, seq: 3 });
    expect(gaps).toEqual([]);
  });
});
