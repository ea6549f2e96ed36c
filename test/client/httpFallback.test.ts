/**
 * Issue 18 point 1, the client side of the HTTP fallback (docs/http-fallback-design.md): a client whose WebSockets
 * are refused moves to HTTP on the same port and every feature keeps working with a WebSocket peer (edits both ways,
 * presence, channel events, acknowledgements only once durable); once WebSockets work again, a probe moves it back.
 */
import type { SyncClient, SyncClientOptions, Transport } from '@concord/client';
import { LevelStore } from '@concord/server';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../support/cleanup.js';
import { FaultyStore } from '../support/faultyStore.js';
import { makeTempDir } from '../support/server.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

/** The client's transport. */
const transportOf = (client: SyncClient): Transport => client.transport;

/** A WebSocket constructor whose sockets fail before opening while `blocked.on`, as behind a proxy that refuses upgrades. */
function blockableWebSocket(blocked: { on: boolean; attempts: number }) {
  return function BlockableWebSocket(url: string) {
    blocked.attempts += 1;
    if (!blocked.on) return new WebSocket(url);
    const refused = new EventTarget() as EventTarget & { readyState: number; close(): void; send(): void };
    Object.assign(refused, { readyState: 0, binaryType: 'arraybuffer', close() {}, send() {} });
    setTimeout(() => {
      refused.readyState = 3;
      refused.dispatchEvent(new Event('error'));
      refused.dispatchEvent(new CloseEvent('close', { code: 1006, reason: '' }));
    }, 5);
    return refused;
  };
}

/** Client options the SyncClient passes on to its socket (`transport`, `httpFallback`: client/src/transport.ts). */
function fallbackOptions(blocked: { on: boolean; attempts: number }, retryWebSocketMs = 60_000): Partial<SyncClientOptions> {
  return { WebSocketPolyfill: blockableWebSocket(blocked), httpFallback: { retryWebSocketMs } } as Partial<SyncClientOptions>;
}

describe('HTTP fallback', () => {
  it('a client whose WebSockets are refused syncs, shows presence, gets events and durable acknowledgements over HTTP', async () => {
    freshIndexedDB();
    const store = new FaultyStore(await LevelStore.open(await makeTempDir('concord-faulty-')));
    onCleanup(() => store.close());
    const server = await startTestServer({ store });
    const blocked = { on: true, attempts: 0 };
    const alice = makeClient(server, { token: await token('alice'), ...fallbackOptions(blocked) });
    const bob = makeClient(server, { token: await token('bob') });
    const transports: Transport[] = [];
    alice.on('transport', (t) => transports.push(t));

    const a = alice.open('board-1');
    const b = bob.open('board-1');
    await Promise.all([a.whenSynced(), b.whenSynced()]);
    expect(alice.state).toBe('connected');
    expect(transportOf(alice)).toBe('http');
    expect(transports).toEqual(['http']);
    expect(blocked.attempts).toBe(2); // two refused WebSockets, then HTTP
    expect(transportOf(bob)).toBe('websocket');

    // Edits both ways.
    a.doc.getText('t').insert(0, 'from alice over http');
    await waitFor(() => b.doc.getText('t').toString() === 'from alice over http', { message: 'bob to get alice\'s edit' });
    b.doc.getText('t').insert(0, 'bob: ');
    await waitFor(() => a.doc.getText('t').toString() === 'bob: from alice over http', { message: 'alice to get bob\'s edit' });

    // Presence both ways.
    a.presence.set({ field: 'title' });
    b.presence.set({ field: 'body' });
    await waitFor(() => b.presence.peers().find((peer) => peer.user.id === 'alice' && peer.field === 'title'), { message: 'bob to see alice' });
    await waitFor(() => a.presence.peers().find((peer) => peer.user.id === 'bob' && peer.field === 'body'), { message: 'alice to see bob' });

    // A channel event from the backend.
    const channel = alice.subscribe('account-123');
    const events: unknown[] = [];
    channel.on('payment-recorded', (payload) => events.push(payload));
    await waitFor(() => channel.state === 'subscribed');
    server.current.publish('account-123', 'payment-recorded', { amount: 5 }, { tenant: 't1' });
    await waitFor(() => events.length === 1, { message: 'the event over HTTP' });
    expect(events).toEqual([{ amount: 5 }]);

    // The acknowledgement comes once the edit is stored, not before.
    await waitFor(() => a.status.pendingChanges === 0);
    store.hold();
    a.doc.getText('t').insert(0, '!');
    await waitFor(() => b.doc.getText('t').toString().startsWith('!'), { message: 'bob to see the edit at once' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(a.status.pendingChanges).toBe(1);
    store.release();
    await waitFor(() => a.status.pendingChanges === 0, { message: 'the acknowledgement once durable' });
    expect(transportOf(alice)).toBe('http');
  });

  it('probes WebSockets while on HTTP and moves back once they work', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const blocked = { on: true, attempts: 0 };
    const alice = makeClient(server, { token: await token('alice'), ...fallbackOptions(blocked, 500) });
    const bob = makeClient(server, { token: await token('bob') });
    const a = alice.open('board-1');
    const b = bob.open('board-1');
    await Promise.all([a.whenSynced(), b.whenSynced()]);
    expect(transportOf(alice)).toBe('http');

    // Still refused: probes fail, the client stays on HTTP.
    await waitFor(() => blocked.attempts >= 4, { message: 'a probe', timeoutMs: 5_000 });
    expect(transportOf(alice)).toBe('http');

    blocked.on = false;
    await waitFor(() => transportOf(alice) === 'websocket' && alice.state === 'connected', { message: 'back on WebSocket', timeoutMs: 15_000 });
    a.doc.getText('t').insert(0, 'over a websocket again');
    await waitFor(() => b.doc.getText('t').toString() === 'over a websocket again');
    await waitFor(() => a.status.pendingChanges === 0);
  });
});
