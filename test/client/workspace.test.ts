/**
 * C17 workspace presence and C8 presence helpers, against a real server: who is online, idle (after five minutes
 * without input, on a clock the test moves) or offline with when they were last seen (after leaving, and after their
 * socket is cut); tenants never see each other; read-only users are present too; "editing status" and "typing" show
 * on the other side and clear.
 */
import type { Member, SyncClient } from '@concord/client';
import { TYPING_TIMEOUT_MS } from '@concord/client';
import { IDLE_AFTER_MS } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock.js';
import { startTcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

function member(client: SyncClient, id: string): Member | undefined {
  return client.workspace().members().find((entry) => entry.user.id === id);
}

describe('C17 workspace presence', () => {
  it('shows who is online, idle after five minutes without input, and online again at the next input', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const bobClock = new ManualClock();
    const alice = makeClient(server, { token: await token('alice') });
    const bob = makeClient(server, { token: await token('bob'), clock: bobClock });
    alice.workspace().setPage('/board');
    bob.workspace().setDocument('project-1');
    await waitFor(() => member(alice, 'bob')?.status === 'online' && member(bob, 'alice')?.page === '/board');
    expect(member(alice, 'bob')).toMatchObject({ user: { name: 'BOB' }, self: false, document: 'project-1', lastSeenAt: null });
    expect(member(alice, 'alice')?.self).toBe(true);

    bobClock.advance(IDLE_AFTER_MS - 1_000);
    bob.workspace().activity();
    bobClock.advance(IDLE_AFTER_MS - 1_000);
    expect(bob.workspace().status).toBe('online');
    bobClock.advance(1_000);
    expect(bob.workspace().status).toBe('idle');
    await waitFor(() => member(alice, 'bob')?.status === 'idle');
    bob.workspace().activity();
    await waitFor(() => member(alice, 'bob')?.status === 'online');
  });

  it('shows people who left, or whose socket died, as offline with when they were last seen', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const alice = makeClient(server, { token: await token('alice') });
    const bob = makeClient(server, { token: await token('bob') });
    const carol = makeClient({ syncUrl: `ws://127.0.0.1:${proxy.port}/sync` }, { token: await token('carol') });
    for (const client of [alice, bob, carol]) client.workspace();
    await waitFor(() => member(alice, 'bob')?.status === 'online' && member(alice, 'carol')?.status === 'online');

    const beforeLeaving = Date.now();
    await bob.destroy();
    await waitFor(() => member(alice, 'bob')?.status === 'offline');
    expect(member(alice, 'bob')?.lastSeenAt).toBeGreaterThanOrEqual(beforeLeaving);
    expect(member(alice, 'bob')?.user.name).toBe('BOB');

    proxy.cut();
    await waitFor(() => member(alice, 'carol')?.status === 'offline');
    // Back within a second or so: the client republishes its presence on reconnect (the server would ignore a resent
    // state until its 15 s renewal otherwise).
    proxy.restore();
    await waitFor(() => member(alice, 'carol')?.status === 'online', { timeoutMs: 5_000 });
    expect(member(alice, 'carol')?.lastSeenAt).toBeNull();
  });

  it('keeps tenants apart, and shows people with read-only tokens', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice') });
    const reader = makeClient(server, { token: await token('rita', { docs: { 'report-*': 'read' } }) });
    const outsider = makeClient(server, { token: await token('oscar', { tenant: 't2' }) });
    for (const client of [alice, reader, outsider]) client.workspace();
    await waitFor(() => member(alice, 'rita')?.status === 'online' && member(reader, 'alice')?.status === 'online');
    await waitFor(() => member(outsider, 'oscar')?.status === 'online');
    expect(outsider.workspace().members().map(({ user }) => user.id)).toEqual(['oscar']);
    expect(alice.workspace().members().map(({ user }) => user.id).sort()).toEqual(['alice', 'rita']);
  });
});

describe('C8 presence: editing and typing', () => {
  it('shows which field of which record someone edits, and typing until a few quiet seconds pass', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const sarahClock = new ManualClock();
    const sarah = makeClient(server, { token: await token('sarah'), clock: sarahClock });
    const tom = makeClient(server, { token: await token('tom') });
    const mine = sarah.open('project-1');
    const theirs = tom.open('project-1');
    await Promise.all([mine.whenSynced(), theirs.whenSynced()]);
    const sarahSeenByTom = () => theirs.presence.peers().find((peer) => peer.user.id === 'sarah');

    mine.presence.editing('status', 'task-7');
    await waitFor(() => sarahSeenByTom()?.field === 'status' && sarahSeenByTom()?.record === 'task-7');
    mine.presence.stopEditing();
    await waitFor(() => sarahSeenByTom()?.field === null);

    mine.presence.typing('comments');
    await waitFor(() => sarahSeenByTom()?.typing === 'comments');
    sarahClock.advance(TYPING_TIMEOUT_MS - 500);
    mine.presence.typing('comments'); // another keystroke: still typing
    sarahClock.advance(TYPING_TIMEOUT_MS - 500);
    expect(mine.presence.self.typing).toBe('comments');
    sarahClock.advance(500);
    expect(mine.presence.self.typing).toBeNull();
    await waitFor(() => sarahSeenByTom()?.typing === null);
  });
});
