/**
 * Issue 14, "an update with a GC struct under an offline collaborator's client id": the server acknowledged it, and
 * when the victim reconnected its offline edit was lost on the server and in its own copy, while it was told it was
 * synced. A client id belongs to the user who first wrote under it, in storage, across restarts (LevelDB and
 * PostgreSQL): new structs under someone else's client id close the socket with 4400 and nothing of the update is
 * stored, applied or acknowledged. Resending structs the document already has, deleting others' items, a second tab,
 * a reload (a new client id) and the owner's own reconnect with offline edits all still work.
 */
import * as encoding from 'lib0/encoding';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { frames, hocuspocusClient, rawSocket, serverDocument, yClient } from '../support/clients.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

/** An update holding one GC struct of `length` under `client` from `clock` on: it would erase those clocks' edits. */
function gcUpdate(client: number, clock: number, length: number): Uint8Array {
  const encoder = new Y.UpdateEncoderV1();
  encoding.writeVarUint(encoder.restEncoder, 1); // one client
  encoding.writeVarUint(encoder.restEncoder, 1); // one struct
  encoder.writeClient(client);
  encoding.writeVarUint(encoder.restEncoder, clock);
  encoder.writeInfo(0); // GC
  encoder.writeLen(length);
  encoding.writeVarUint(encoder.restEncoder, 0); // no deletions
  return encoder.toUint8Array();
}

async function attackerSocket(server: TestServer, token: string) {
  const socket = await rawSocket(server.syncUrl);
  socket.send(frames.auth('doc', token));
  await waitFor(() => socket.received.some(frames.isAuthenticated));
  return socket;
}

function text(server: TestServer): string | undefined {
  return serverDocument(server, 'acme', 'doc')?.getText('t').toString();
}

function suite(options: () => Promise<TestServerOptions>) {
  test('a GC struct under an offline collaborator’s client id closes with 4400; the victim’s offline edit survives its reconnect', async () => {
    const server = await startTestServer(await options());
    const victimToken = await mintToken({ sub: 'victim', tenant: 'acme', docs: { '*': 'write' } });
    const malloryToken = await mintToken({ sub: 'mallory', tenant: 'acme', docs: { '*': 'write' } });
    const keeper = hocuspocusClient(server, 'doc', malloryToken);
    await keeper.whenSynced();

    const doc = new Y.Doc();
    const victim = hocuspocusClient(server, 'doc', victimToken, { doc });
    await victim.whenSynced();
    doc.getText('t').insert(0, 'online ');
    await waitFor(() => text(server) === 'online ');
    victim.provider.destroy(); // offline
    doc.getText('t').insert(7, 'offline edit');
    const serverClock = Y.getState(serverDocument(server, 'acme', 'doc')!.store, doc.clientID);
    expect(Y.getState(doc.store, doc.clientID)).toBeGreaterThan(serverClock);

    // Ownership is stored: it holds after a restart, with the victim still away.
    await server.restart();
    const warm = hocuspocusClient(server, 'doc', malloryToken);
    await warm.whenSynced();

    const attacker = await attackerSocket(server, malloryToken);
    const before = attacker.received.length;
    attacker.send(frames.update('doc', gcUpdate(doc.clientID, serverClock, 100)));
    const closed = await attacker.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toMatch(/client id \d+, which another user owns/);
    expect(attacker.received.length, 'no acknowledgement').toBe(before);
    expect(Y.getState(serverDocument(server, 'acme', 'doc')!.store, doc.clientID), 'nothing applied').toBe(serverClock);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/concord_rejected_connections_total\{reason="foreign-client-id"\} 1/);

    // The victim comes back with the same Y.Doc: its offline edit reaches the server and stays in its own copy.
    const back = hocuspocusClient(server, 'doc', victimToken, { doc });
    await back.whenSynced();
    await waitFor(() => text(server) === 'online offline edit');
    await waitFor(() => back.provider.unsyncedChanges === 0);
    expect(doc.getText('t').toString()).toBe('online offline edit');
    await server.restart();
    const fresh = hocuspocusClient(server, 'doc', victimToken);
    await fresh.whenSynced();
    expect(fresh.doc.getText('t').toString()).toBe('online offline edit');
  });

  test('resent structs, deletions of others’ items, a second tab, a reload and another user all still work', async () => {
    const server = await startTestServer(await options());
    const alice = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
    const bob = await mintToken({ sub: 'bob', tenant: 'acme', docs: { '*': 'write' } });
    const first = hocuspocusClient(server, 'doc', alice);
    await first.whenSynced();
    first.doc.getText('t').insert(0, 'alice ');
    await waitFor(() => text(server) === 'alice ');

    // Bob resends everything Alice wrote (structs the document has) and deletes one of her characters.
    const socket = await attackerSocket(server, bob);
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(first.doc));
    const beforeDelete = Y.encodeStateVector(copy);
    copy.getText('t').delete(0, 1);
    const acknowledged = socket.received.length;
    socket.send(frames.update('doc', Y.encodeStateAsUpdate(copy)));
    await waitFor(() => text(server) === 'lice ');
    await waitFor(() => socket.received.length > acknowledged);
    expect(Y.encodeStateVector(copy)).toEqual(beforeDelete);

    // A second tab of Alice (a new Y.Doc, a new client id), and Bob on y-websocket.
    const tab = hocuspocusClient(server, 'doc', alice);
    await tab.whenSynced();
    tab.doc.getText('t').insert(0, 'tab ');
    const y = yClient(server, 'doc', bob);
    await y.whenSynced();
    y.doc.getText('t').insert(0, 'y ');
    await waitFor(() => text(server)?.includes('tab ') && text(server)?.includes('y '));

    // A reload: Alice's content kept locally (as IndexedDB would), a new client id, edits made offline under the old one.
    first.provider.destroy();
    first.doc.getText('t').insert(first.doc.getText('t').length, 'offline');
    const reloaded = new Y.Doc();
    Y.applyUpdate(reloaded, Y.encodeStateAsUpdate(first.doc));
    expect(reloaded.clientID).not.toBe(first.doc.clientID);
    const again = hocuspocusClient(server, 'doc', alice, { doc: reloaded });
    await again.whenSynced();
    reloaded.getText('t').insert(0, '>');
    await waitFor(() => text(server)?.startsWith('>') && text(server)?.includes('offline'));
    await waitFor(() => again.provider.unsyncedChanges === 0);
  });
}

describe('LevelDB', () => {
  suite(async () => ({}));
});

describePostgres('PostgreSQL', () => {
  suite(async () => ({ databaseUrl: (await freshSchema()).url }));
});
