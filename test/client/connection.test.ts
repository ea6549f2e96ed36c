/**
 * Reconnection and the update-frequency preference, against a real server:
 * - C12: while the server is down the client publishes when it tries next, and the wait grows with each failure
 *   (equal jitter under the cap); `syncNow()` skips the rest of the wait; connections that keep dropping right after
 *   they open make the socket `degraded`;
 * - C13: with a slower preference, remote updates are held (counted in `heldUpdates`) and applied at the next tick,
 *   when switching to live, or on `syncNow()`, while local changes still go out and are acknowledged at once.
 */
import { createServer } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { WebSocketServer } from 'ws';
import { onCleanup } from '../support/cleanup.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

describe('C12 reconnection', () => {
  it('publishes the next attempt while the server is down, and syncNow() connects without waiting for it', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const client = makeClient(server, { token: await token('alice'), maxReconnectDelayMs: 60_000 });
    const handle = client.open('notes-1');
    await handle.whenSynced();
    expect(client.nextRetryAt).toBeNull();

    const retries: Array<{ at: number | null; delay: number | null }> = [];
    client.on('retry', (at) => retries.push({ at, delay: at === null ? null : at - Date.now() }));
    await server.stop();
    await waitFor(() => client.state === 'offline');
    // The first attempt after losing a good connection is immediate; after each failure in a row the wait is between
    // half and all of 1 s, 2 s, 4 s, ...
    await waitFor(() => retries.filter(({ delay }) => delay !== null && delay > 0).length >= 3, { timeoutMs: 20_000 });
    const waits = retries.map(({ delay }) => delay).filter((delay): delay is number => delay !== null);
    expect(waits[0]).toBeLessThanOrEqual(5);
    waits.slice(1, 4).forEach((delay, failures) => {
      const ceiling = 1_000 * 2 ** failures;
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2 - 5);
      expect(delay).toBeLessThanOrEqual(ceiling);
    });
    await waitFor(() => client.nextRetryAt !== null && client.nextRetryAt - Date.now() > 1_000, { timeoutMs: 15_000 });

    await server.start();
    const waitUntil = client.nextRetryAt!;
    client.syncNow();
    await waitFor(() => handle.status.state === 'connected', { timeoutMs: 10_000 });
    expect(Date.now()).toBeLessThan(waitUntil);
    expect(client.nextRetryAt).toBeNull();
  });

  it('is degraded while connections keep dropping right after they open', async () => {
    const http = createServer();
    const sockets = new WebSocketServer({ server: http });
    let accepted = 0;
    sockets.on('connection', (socket) => {
      accepted += 1;
      socket.close(1011, 'flaky');
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    onCleanup(async () => {
      for (const socket of sockets.clients) socket.terminate();
      await new Promise((resolve) => sockets.close(resolve));
      await new Promise((resolve) => http.close(resolve));
    });
    const { port } = http.address() as { port: number };
    const client = makeClient({ syncUrl: `ws://127.0.0.1:${port}` }, { token: await token('alice'), persistence: false });
    client.open('notes-2');
    await waitFor(() => client.state === 'degraded', { timeoutMs: 15_000 });
    expect(accepted).toBeGreaterThanOrEqual(3);
  });
});

describe('C13 update frequency', () => {
  it('holds remote updates until the next tick while local changes go out at once', async () => {
    // Only intervals are faked (the preference's clock); sockets and waits keep real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    onCleanup(() => vi.useRealTimers());
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice'), persistence: false }).open('notes-3');
    const calmClient = makeClient(server, { token: await token('bob'), persistence: false, updateFrequency: 'every-minute' });
    const calm = calmClient.open('notes-3');
    await Promise.all([alice.whenSynced(), calm.whenSynced()]);

    alice.doc.getText('t').insert(0, 'from Alice');
    await waitFor(() => calm.status.heldUpdates === 1);
    expect(calm.doc.getText('t').toString()).toBe('');

    calm.doc.getText('t').insert(0, 'from Bob ');
    await waitFor(() => alice.doc.getText('t').toString().includes('from Bob'));
    await waitFor(() => calm.status.pendingChanges === 0); // acknowledged at once, not at the next tick
    expect(calm.status.heldUpdates).toBe(1); // the server's echo of Bob's own update is not held

    // Sync now applies what is held at once, and reconnects.
    const states: string[] = [];
    calmClient.on('state', (state) => states.push(state));
    calmClient.syncNow();
    expect(calm.doc.getText('t').toString()).toBe(alice.doc.getText('t').toString());
    expect(calm.status.heldUpdates).toBe(0);
    await waitFor(() => states.length >= 2 && states.at(-1) === 'connected' && calm.status.synced);

    alice.doc.getText('t').insert(0, '>');
    await waitFor(() => calm.status.heldUpdates === 1);
    calmClient.setUpdateFrequency('every-30s');
    vi.advanceTimersByTime(29_999);
    expect(calm.status.heldUpdates).toBe(1);
    vi.advanceTimersByTime(1); // the 30 s tick
    expect(calm.doc.getText('t').toString().startsWith('>')).toBe(true);
    expect(calm.status.heldUpdates).toBe(0);

    alice.doc.getText('t').insert(0, '#');
    await waitFor(() => calm.status.heldUpdates === 1);
    calmClient.setUpdateFrequency('live');
    expect(calm.doc.getText('t').toString().startsWith('#>')).toBe(true);
    expect(calm.status.heldUpdates).toBe(0);
    alice.doc.getText('t').insert(0, '!');
    await waitFor(() => calm.doc.getText('t').toString().startsWith('!#>'));
    expect(() => calmClient.setUpdateFrequency('hourly' as never)).toThrow(/updateFrequency must be one of live, every-30s, every-minute/);
  });
});
