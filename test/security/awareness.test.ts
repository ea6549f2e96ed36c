/**
 * Issue 14, "awareness under another connection's client id; one awareness message with 100 000 states or a 5 MB
 * state; presence in `@workspace` claiming another user": all were relayed to everyone (cursors overwritten, a fake
 * "bob" online, a last-seen entry for a user who never connected).
 *
 * Now (server/src/sockets/AwarenessGuard.ts): a connection speaks only for the awareness client ids it introduced,
 * at most `CONCORD_MAX_AWARENESS_STATES` of them, each state at most `CONCORD_MAX_AWARENESS_STATE_BYTES`; anything
 * else closes it with 4400 and nothing of the message reaches anyone. The user a state shows is the token's. What
 * stock clients send about others (y-websocket echoes what it receives) still passes.
 *
 * Mallory speaks raw frames; Alice and Sam are stock HocuspocusProviders; Carol watches and records every state she
 * ever sees. "Nothing relayed" is checked after a later change of Sam's reached Carol: the server relays presence in
 * order (coalesced per window), so whatever Mallory's message would have changed reached Carol by then.
 */
import { parseLastSeen, parsePresence } from '@concord/engine';
import * as encoding from 'lib0/encoding';
import { describe, expect, it } from 'vitest';
import { frames, hocuspocusClient, rawSocket, yClient, type HocuspocusClient, type RawSocket } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const TENANT = 'acme';
const MALFORMED = 4400;

function token(sub: string, name = sub.toUpperCase()): Promise<string> {
  return mintToken({ sub, name, tenant: TENANT, docs: { '*': 'write' } });
}

type Entry = [client: number, clock: number, state: unknown];

/** An awareness update (y-protocols' encoding) of these entries. */
function awarenessUpdate(entries: readonly Entry[]): Uint8Array {
  const update = encoding.createEncoder();
  encoding.writeVarUint(update, entries.length);
  for (const [client, clock, state] of entries) {
    encoding.writeVarUint(update, client);
    encoding.writeVarUint(update, clock);
    encoding.writeVarString(update, JSON.stringify(state));
  }
  return encoding.toUint8Array(update);
}

/** A Hocuspocus Awareness frame for `document` (null: a y-websocket frame, no address) carrying `update`. */
function awarenessFrameOf(document: string | null, update: Uint8Array): Uint8Array {
  const e = encoding.createEncoder();
  if (document !== null) encoding.writeVarString(e, document);
  encoding.writeVarUint(e, 1); // Awareness
  encoding.writeVarUint8Array(e, update);
  return encoding.toUint8Array(e);
}

function awarenessFrame(document: string | null, entries: readonly Entry[]): Uint8Array {
  return awarenessFrameOf(document, awarenessUpdate(entries));
}

/** A client that records every awareness state it is sent, by client id. */
function watcher(server: TestServer, document: string, sub: string) {
  return (async () => {
    const client = hocuspocusClient(server, document, await token(sub));
    const seen: Array<{ client: number; state: Record<string, unknown> }> = [];
    const awareness = client.provider.awareness!;
    awareness.on('change', ({ added, updated }: { added: number[]; updated: number[] }) => {
      for (const id of [...added, ...updated]) {
        const state = awareness.getStates().get(id);
        if (state) seen.push({ client: id, state: structuredClone(state) });
      }
    });
    await client.whenSynced();
    return { client, seen, states: () => awareness.getStates() };
  })();
}

async function present(server: TestServer, document: string, sub: string, state: Record<string, unknown>): Promise<HocuspocusClient> {
  const client = hocuspocusClient(server, document, await token(sub));
  await client.whenSynced();
  client.provider.awareness!.setLocalState({ user: { id: sub, name: sub.toUpperCase(), color: '#1971c2' }, ...state });
  return client;
}

async function mallory(server: TestServer, document: string): Promise<RawSocket> {
  const socket = await rawSocket(server.syncUrl);
  socket.send(frames.auth(document, await token('mallory', 'Mallory')));
  await waitFor(() => socket.received.some(frames.isAuthenticated), { message: "Mallory's authentication" });
  return socket;
}

async function metrics(server: TestServer): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

/** Sam changes his state; resolves once Carol has it, so everything relayed before it reached her too. */
async function sentinel(sam: HocuspocusClient, carol: Awaited<ReturnType<typeof watcher>>, value: string): Promise<void> {
  sam.provider.awareness!.setLocalStateField('page', value);
  await waitFor(() => carol.states().get(sam.doc.clientID)?.['page'] === value, { message: `Sam's ${value} to reach Carol` });
}

describe('awareness from a hostile client', () => {
  it("awareness under another connection's client id: closed 4400, the victim's cursor unchanged for everyone", async () => {
    const server = await startTestServer();
    const carol = await watcher(server, 'board', 'carol');
    const alice = await present(server, 'board', 'alice', { cursor: 'A' });
    const sam = await present(server, 'board', 'sam', { page: 'start' });
    const victim = alice.doc.clientID;
    await waitFor(() => carol.states().get(victim)?.['cursor'] === 'A', { message: "Alice's cursor to reach Carol" });
    const clock = carol.client.provider.awareness!.meta.get(victim)!.clock;

    const attacker = await mallory(server, 'board');
    const hijack = { user: { id: 'alice', name: 'ALICE', color: '#1971c2' }, cursor: 'HIJACKED' };
    attacker.send(awarenessFrame('board', [[victim, clock + 5, hijack]]));

    expect((await attacker.closed).code).toBe(MALFORMED);
    await sentinel(sam, carol, 'after');
    expect(carol.states().get(victim)?.['cursor']).toBe('A');
    expect(carol.seen.filter((entry) => entry.state['cursor'] === 'HIJACKED')).toEqual([]);
    // Alice herself is still connected and still shown.
    alice.provider.awareness!.setLocalStateField('cursor', 'B');
    await waitFor(() => carol.states().get(victim)?.['cursor'] === 'B', { message: "Alice's next cursor to reach Carol" });

    // The same on /y/ (y-websocket protocol).
    const overY = await rawSocket(`${server.yUrl}/board?token=${await token('mallory', 'Mallory')}`);
    overY.send(awarenessFrame(null, [[victim, clock + 50, hijack]]));
    expect((await overY.closed).code).toBe(MALFORMED);
    await sentinel(sam, carol, 'after /y/');
    expect(carol.states().get(victim)?.['cursor']).toBe('B');
    expect(await metrics(server)).toMatch(/concord_rejected_connections_total\{reason="awareness-client-id"\} 2/);
  });

  it("the same user's client id on a new socket (back before the old one was noticed dead) is taken over, not refused", async () => {
    const server = await startTestServer();
    const carol = await watcher(server, 'board', 'carol');
    const alice = await present(server, 'board', 'alice', { cursor: 'A' });
    const id = alice.doc.clientID;
    await waitFor(() => carol.states().get(id)?.['cursor'] === 'A');
    const clock = carol.client.provider.awareness!.meta.get(id)!.clock;

    const again = await rawSocket(server.syncUrl);
    again.send(frames.auth('board', await token('alice')));
    await waitFor(() => again.received.some(frames.isAuthenticated));
    again.send(awarenessFrame('board', [[id, clock + 1, { user: { id: 'alice', name: 'ALICE', color: '#1971c2' }, cursor: 'Z' }]]));
    await waitFor(() => carol.states().get(id)?.['cursor'] === 'Z', { message: "Alice's new socket's cursor to reach Carol" });
    expect(again.ws.readyState).toBe(again.ws.OPEN);
  });

  it('one message with 100 000 states: closed 4400, none relayed', async () => {
    const server = await startTestServer();
    const carol = await watcher(server, 'board', 'carol');
    const sam = await present(server, 'board', 'sam', { page: 'start' });
    await waitFor(() => carol.states().has(sam.doc.clientID));
    const attacker = await mallory(server, 'board');
    const entries: Entry[] = [];
    for (let i = 0; i < 100_000; i++) entries.push([1_000_000 + i, 1, { user: { id: 'mallory', name: 'Mallory', color: '#e03131' }, n: i }]);
    attacker.send(awarenessFrame('board', entries));

    expect((await attacker.closed).code).toBe(MALFORMED);
    await sentinel(sam, carol, 'after');
    expect(carol.seen.filter((entry) => entry.client >= 1_000_000 && entry.client < 1_100_000)).toEqual([]);
    expect(carol.states().size).toBeLessThanOrEqual(2); // Carol and Sam
    expect(await metrics(server)).toMatch(/concord_rejected_connections_total\{reason="awareness-states"\} 1/);
  });

  it('one 5 MB state (under a frame limit that lets it through): closed 4400, not relayed', async () => {
    const server = await startTestServer({ maxMessageBytes: 16 * 1024 * 1024 });
    const carol = await watcher(server, 'board', 'carol');
    const sam = await present(server, 'board', 'sam', { page: 'start' });
    await waitFor(() => carol.states().has(sam.doc.clientID));
    const attacker = await mallory(server, 'board');
    attacker.send(awarenessFrame('board', [[4242, 1, { user: { id: 'mallory', name: 'Mallory', color: '#e03131' }, blob: 'x'.repeat(5_000_000) }]]));

    expect((await attacker.closed).code).toBe(MALFORMED);
    await sentinel(sam, carol, 'after');
    expect(carol.seen.filter((entry) => entry.client === 4242)).toEqual([]);
    expect(await metrics(server)).toMatch(/concord_rejected_connections_total\{reason="awareness-state-too-big"\} 1/);
  });

  it('presence in @workspace claiming to be "bob" with Mallory\'s token: nobody sees bob online, no last-seen entry for bob', async () => {
    const server = await startTestServer();
    const carol = await watcher(server, '@workspace', 'carol');
    const sam = await present(server, '@workspace', 'sam', { page: 'start' });
    await waitFor(() => carol.states().has(sam.doc.clientID));
    const attacker = await mallory(server, '@workspace');
    const fakeTable = { bob: { name: 'Bob', color: '#2f9e44', at: Date.now() - 60_000 } };
    attacker.send(awarenessFrame('@workspace', [[7777, 1, { user: { id: 'bob', name: 'Bob', color: '#2f9e44' }, page: '/fake', lastSeen: fakeTable }]]));

    // Shown, but as who the token says.
    const shown = await waitFor(() => parsePresence(carol.states().get(7777)), { message: "Mallory's state to reach Carol" });
    expect(shown.user).toEqual({ id: 'mallory', name: 'Mallory', color: '#2f9e44' });
    expect(shown.page).toBe('/fake');

    attacker.ws.close();
    const lastSeen = await waitFor(
      () => [...carol.states().values()].map(parseLastSeen).find((table) => table?.['mallory'] !== undefined),
      { message: "the server's last-seen table to list Mallory" },
    );
    expect(Object.keys(lastSeen)).toEqual(['mallory']);
    await sentinel(sam, carol, 'after');
    const everSeen = carol.seen.map((entry) => entry.state);
    expect(everSeen.filter((state) => parsePresence(state)?.user.id === 'bob' || parsePresence(state)?.user.name === 'Bob')).toEqual([]);
    expect(everSeen.filter((state) => parseLastSeen(state)?.['bob'] !== undefined)).toEqual([]);
    expect(await metrics(server)).toMatch(/concord_presence_rewritten_total 1/);
  });

  it('an awareness update with bytes after its last state: closed 4400, not relayed', async () => {
    const server = await startTestServer();
    const carol = await watcher(server, 'board', 'carol');
    const sam = await present(server, 'board', 'sam', { page: 'start' });
    await waitFor(() => carol.states().has(sam.doc.clientID));
    const attacker = await mallory(server, 'board');
    const update = awarenessUpdate([[5151, 1, { user: { id: 'mallory', name: 'Mallory', color: '#e03131' } }]]);
    attacker.send(awarenessFrameOf('board', new Uint8Array([...update, 0, 1, 2])));

    expect((await attacker.closed).code).toBe(MALFORMED);
    await sentinel(sam, carol, 'after');
    expect(carol.seen.filter((entry) => entry.client === 5151)).toEqual([]);
  });

  it("still passes what stock clients send about others: y-websocket's echoes, a provider's removals of peers it timed out", async () => {
    const server = await startTestServer();
    const carol = await watcher(server, 'board', 'carol');
    const alice = await present(server, 'board', 'alice', { cursor: 'A' });
    // y-websocket sends back every awareness change it receives (y-websocket 3.1: `_awarenessUpdateHandler`).
    const yjs = yClient(server, 'board', await token('yara'));
    await yjs.whenSynced();
    yjs.provider.awareness.setLocalState({ user: { id: 'yara', name: 'YARA', color: '#0c8599' } });
    for (const cursor of ['B', 'C', 'D']) alice.provider.awareness!.setLocalStateField('cursor', cursor);
    await waitFor(() => yjs.provider.awareness.getStates().get(alice.doc.clientID)?.['cursor'] === 'D');
    await waitFor(() => carol.states().has(yjs.doc.clientID), { message: "Yara's state to reach Carol" });

    // A removal of a peer (a null state), as a provider sends for one it timed out: passes, and removes no one
    // (Hocuspocus 4 applies only states from a client, never removals; checked here before Alice speaks again).
    const sam = await present(server, 'board', 'sam', { page: 'start' });
    const attacker = await mallory(server, 'board');
    const clock = carol.client.provider.awareness!.meta.get(alice.doc.clientID)!.clock;
    attacker.send(awarenessFrame('board', [[alice.doc.clientID, clock + 1, null]]));
    await sentinel(sam, carol, 'after the removal');
    expect(carol.states().get(alice.doc.clientID)?.['cursor']).toBe('D');
    alice.provider.awareness!.setLocalStateField('cursor', 'E');
    await waitFor(() => carol.states().get(alice.doc.clientID)?.['cursor'] === 'E');

    expect(yjs.closes).toEqual([]);
    expect(attacker.ws.readyState).toBe(attacker.ws.OPEN);
  });
});
