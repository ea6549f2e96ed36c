/**
 * Presence over awareness: peers see each other's name, colour (from the token by default) and cursor; a peer
 * whose client is destroyed disappears; invalid states from other clients are not listed; a client whose socket comes
 * back sees the peers who stayed at once.
 */
import { colorForUser, type Peer } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

describe('client presence', () => {
  it('C8 shows peers with name, colour and cursor, and drops a peer whose client is destroyed', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice') });
    const bob = makeClient(server, { token: await token('bob'), user: { name: 'Bob B.', color: '#123456' } });
    const a = alice.open('board-1');
    const b = bob.open('board-1');
    await Promise.all([a.whenSynced(), b.whenSynced()]);

    expect(a.presence.self.user).toEqual({ id: 'alice', name: 'ALICE', color: colorForUser('alice') });
    const changes: Peer[][] = [];
    b.presence.on('change', (peers) => changes.push(peers));
    a.presence.set({ cursor: { anchor: { type: 'a', index: 1 }, head: { type: 'a', index: 4 } }, page: '/board', field: 'title' });

    const seenByBob = await waitFor(() => b.presence.peers().find((peer) => peer.field === 'title'));
    expect(seenByBob).toMatchObject({
      clientId: a.doc.clientID,
      user: { id: 'alice', name: 'ALICE', color: colorForUser('alice') },
      cursor: { anchor: { type: 'a', index: 1 }, head: { type: 'a', index: 4 } },
      page: '/board',
      field: 'title',
    });
    expect(changes.length).toBeGreaterThan(0);
    const seenByAlice = await waitFor(() => a.presence.peers()[0]);
    // The colour Bob chose, but the name his token gives: the server shows the token's user (issue 14).
    expect(seenByAlice.user).toEqual({ id: 'bob', name: 'BOB', color: '#123456' });
    expect(a.presence.peers().map((peer) => peer.clientId)).not.toContain(a.doc.clientID);

    await alice.destroy();
    await waitFor(() => b.presence.peers().length === 0, { message: 'alice is still listed' });
  });

  it('C8 a client whose socket comes back sees the peers who stayed at once, though their presence did not change', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const alice = makeClient(server, { token: await token('alice') });
    const carol = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: await token('carol') });
    const a = alice.open('board-4');
    const c = carol.open('board-4');
    await Promise.all([a.whenSynced(), c.whenSynced()]);
    // Alice's last change: her awareness renews it only 15 s later, so nothing she sends brings it back before that.
    a.presence.set({ page: '/inbox' });
    await waitFor(() => c.presence.peers().some((peer) => peer.page === '/inbox'), { message: 'carol to see alice on /inbox' });
    const aliceClock = a.awareness.meta.get(a.doc.clientID)?.clock;

    proxy.cut();
    await waitFor(() => c.status.state !== 'connected', { message: "carol's socket to close" });
    expect(c.presence.peers(), 'the provider drops every peer when the socket closes').toEqual([]);
    proxy.restore();
    await waitFor(() => c.status.state === 'connected', { timeoutMs: 10_000, message: 'carol to reconnect' });
    // The server's snapshot on reconnecting carries Alice's state at the clock Carol saw before; it must apply again.
    await waitFor(() => c.presence.peers().some((peer) => peer.page === '/inbox'), {
      timeoutMs: 5_000,
      message: "carol to see alice again from the server's snapshot (before, only alice's 15 s renewal brought her back)",
    });
    expect(a.awareness.meta.get(a.doc.clientID)?.clock, 'alice sent nothing new meanwhile').toBe(aliceClock);
  });

  it('C8 takes the identity from the token claims, UTF-8 names included', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const client = makeClient(server, { token: await token('zoe', { name: 'Zoë Ångström 山田' }) });
    const handle = client.open('board-3');
    await handle.whenSynced();
    expect(handle.presence.self.user).toEqual({ id: 'zoe', name: 'Zoë Ångström 山田', color: colorForUser('zoe') });
    handle.presence.set({ page: '/x', user: { id: 'someone-else', name: 'X', color: '#000000' } } as never);
    expect(handle.presence.self.user.id).toBe('zoe');
    expect(handle.awareness.getLocalState()?.['user']?.id).toBe('zoe');
  });

  it('C8 does not list peers whose state is not a presence state', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const a = makeClient(server, { token: await token('alice') }).open('board-2');
    const b = makeClient(server, { token: await token('bob') }).open('board-2');
    await Promise.all([a.whenSynced(), b.whenSynced()]);
    a.awareness.setLocalState({ user: { id: 'alice', name: 'ALICE', color: 'red; background: url(x)' } });
    await waitFor(() => b.awareness.getStates().get(a.doc.clientID)?.['user']?.color === 'red; background: url(x)');
    expect(b.presence.peers()).toEqual([]);
  });

  it('C8 set() merges: a cursor an editor binding keeps in awareness survives a page change', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const a = makeClient(server, { token: await token('alice') }).open('board-4');
    const b = makeClient(server, { token: await token('bob') }).open('board-4');
    await Promise.all([a.whenSynced(), b.whenSynced()]);
    const cursor = { anchor: { type: null, tname: 'description', item: null, assoc: 0 }, head: { type: null, tname: 'description', item: null, assoc: 0 } };
    a.awareness.setLocalStateField('cursor', cursor);
    a.presence.set({ page: 'board', field: 'status' });
    await waitFor(() => b.presence.peers()[0]?.field === 'status');
    expect(b.presence.peers()[0]).toMatchObject({ page: 'board', field: 'status', cursor, user: { id: 'alice' } });
    expect(a.presence.self).toMatchObject({ page: 'board', cursor });
  });
});
