/**
 * Issue 14, "a valid update followed by stray bytes; v2 bytes sent as v1": Yjs stops reading after an update's
 * delete set and ignores the rest, so a valid update with junk after it was applied and acknowledged, and a v2 update
 * sent as v1 read as an empty update and was acknowledged with nothing applied. Both now close the socket with 4400
 * before anything reaches the document: nothing applied, acknowledged or stored. Bytes after a message's body (after
 * the update, the state vector, the token) close it the same way, on `/sync` and on `/y/<name>`.
 */
import * as encoding from 'lib0/encoding';
import { beforeEach, describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { frames, hocuspocusClient, rawSocket, serverDocument } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

let server: TestServer;
let token: string;

beforeEach(async () => {
  server = await startTestServer();
  token = await mintToken({ sub: 'mallory', tenant: 'acme', docs: { '*': 'write' } });
  const keeper = hocuspocusClient(server, 'doc', token);
  await keeper.whenSynced();
  keeper.doc.getText('t').insert(0, 'intact');
  await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === 'intact');
});

function insertion(text: string): Y.Doc {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  return doc;
}

async function authenticatedSocket() {
  const socket = await rawSocket(server.syncUrl);
  socket.send(frames.auth('doc', token));
  await waitFor(() => socket.received.some(frames.isAuthenticated));
  return socket;
}

/** Sends `frame` on a fresh authenticated socket; expects 4400 with `reason`, no acknowledgement, and nothing applied. */
async function expectRefused(frame: Uint8Array, reason = /^Malformed message: .*bytes after/): Promise<void> {
  const socket = await authenticatedSocket();
  const before = socket.received.length;
  socket.send(frame);
  const closed = await socket.closed;
  expect(closed.code).toBe(4400);
  expect(closed.reason).toMatch(reason);
  expect(socket.received.length, 'nothing was acknowledged').toBe(before);
  expect(serverDocument(server, 'acme', 'doc')?.getText('t').toString()).toBe('intact');
}

/** One update of `structs`, all by `client`, from the first one's clock on, with no deletions. */
function encodeStructs(client: number, structs: readonly Y.Item[]): Uint8Array {
  const encoder = new Y.UpdateEncoderV1();
  encoding.writeVarUint(encoder.restEncoder, 1);
  encoding.writeVarUint(encoder.restEncoder, structs.length);
  encoder.writeClient(client);
  encoding.writeVarUint(encoder.restEncoder, structs[0]!.id.clock);
  for (const struct of structs) struct.write(encoder, 0);
  encoding.writeVarUint(encoder.restEncoder, 0);
  return encoder.toUint8Array();
}

async function expectStoredIntact(): Promise<void> {
  await server.restart();
  const fresh = hocuspocusClient(server, 'doc', token);
  await fresh.whenSynced();
  expect(fresh.doc.getText('t').toString()).toBe('intact');
}

describe('/sync', () => {
  test('a valid update followed by stray bytes closes with 4400; nothing is applied, acknowledged or stored', async () => {
    const update = Y.encodeStateAsUpdate(insertion('junk-tailed '));
    await expectRefused(frames.update('doc', new Uint8Array([...update, 0x01, 0x02, 0x03])));
    await expectStoredIntact();
  });

  test('v2 bytes sent as a v1 update close with 4400 and are not acknowledged', async () => {
    await expectRefused(frames.update('doc', Y.encodeStateAsUpdateV2(insertion('v2 '))));
    await expectStoredIntact();
  });

  test('bytes after a whole message (after the update, the state vector, the token) close with 4400', async () => {
    const update = frames.update('doc', Y.encodeStateAsUpdate(insertion('tail ')));
    await expectRefused(new Uint8Array([...update, 0x00]));
    const stepOne = encoding.createEncoder();
    encoding.writeVarString(stepOne, 'doc');
    encoding.writeVarUint(stepOne, 0); // Sync
    encoding.writeVarUint(stepOne, 0); // step 1
    encoding.writeVarUint8Array(stepOne, new Uint8Array([...Y.encodeStateVector(new Y.Doc()), 0x05]));
    await expectRefused(encoding.toUint8Array(stepOne));
    const auth = encoding.createEncoder();
    encoding.writeVarString(auth, 'doc');
    encoding.writeVarUint(auth, 2); // Auth
    encoding.writeVarUint(auth, 0); // Token
    encoding.writeVarString(auth, token);
    encoding.writeVarString(auth, '4.0.0'); // the provider version, which a provider sends
    encoding.writeVarString(auth, 'extra');
    await expectRefused(encoding.toUint8Array(auth));
    await expectStoredIntact();
  });

  test('an update whose item refers to a later struct of its own writer closes with 4400; none of it is applied', async () => {
    // Found by the mutation fuzz of server/malformed.test.ts (seed 8). Yjs takes a reference to the writer's own
    // struct as known and throws halfway through applying such an update: the items integrated before the throw stayed
    // in the server's document, Hocuspocus logged the error, and the socket stayed open.
    const writer = 7;
    const forward = new Y.Item(Y.createID(writer, 0), null, Y.createID(writer, 1), null, null, null, null, new Y.ContentString('a'));
    const later = new Y.Item(Y.createID(writer, 1), null, null, null, null, 't' as never, null, new Y.ContentString('b'));
    const half = insertion('half ');
    const encoder = new Y.UpdateEncoderV1();
    encoding.writeVarUint(encoder.restEncoder, 2); // two clients: the valid insertion, which Yjs applies first, then the writer
    const [valid] = Y.decodeUpdate(Y.encodeStateAsUpdate(half)).structs;
    for (const [client, structs] of [[half.clientID, [valid!]], [writer, [forward, later]]] as const) {
      encoding.writeVarUint(encoder.restEncoder, structs.length);
      encoder.writeClient(client);
      encoding.writeVarUint(encoder.restEncoder, 0);
      for (const struct of structs) struct.write(encoder, 0);
    }
    encoding.writeVarUint(encoder.restEncoder, 0); // no deletions
    await expectRefused(frames.update('doc', encoder.toUint8Array()), /^Malformed message: .*refers to a struct of its own/);
    await expectStoredIntact();
  });

  test('an item resent over what the server has is applied as the continuation of what it has, the same in memory and stored', async () => {
    // Found by the mutation fuzz of server/malformed.test.ts (seed 105). The server has client 7's text item (clock 0)
    // and its map entry m.k (clock 1); an update then sends clock 0 to 5 as one deleted item of the text. Yjs applies
    // clocks 2 to 5 with the text as parent but the map entry as left neighbour, a link no update can write: stored and
    // loaded again, those clocks became a later value of m.k, and m.k vanished after a restart while it showed in memory.
    const writer = 7;
    const first = new Y.Item(Y.createID(writer, 0), null, null, null, null, 't' as never, null, new Y.ContentString('x'));
    const entry = new Y.Item(Y.createID(writer, 1), null, null, null, null, 'm' as never, 'k', new Y.ContentAny(['v']));
    const overlapping = new Y.Item(Y.createID(writer, 0), null, null, null, null, 't' as never, null, new Y.ContentDeleted(6));
    const socket = await authenticatedSocket();
    socket.send(frames.update('doc', encodeStructs(writer, [first, entry])));
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getMap('m').get('k') === 'v');
    const acknowledged = socket.received.length;
    socket.send(frames.update('doc', encodeStructs(writer, [overlapping])));
    await waitFor(() => socket.received.length > acknowledged, { message: 'the resent update is acknowledged' });
    const live = serverDocument(server, 'acme', 'doc')!;
    expect(Y.getState(live.store, writer)).toBe(6);
    const inMemory = { t: live.getText('t').toString(), m: live.getMap('m').toJSON() };
    await server.restart();
    const fresh = hocuspocusClient(server, 'doc', token);
    await fresh.whenSynced();
    expect({ t: fresh.doc.getText('t').toString(), m: fresh.doc.getMap('m').toJSON() }).toEqual(inMemory);
  });

  test('an edit resent longer than the server has it (typed on after a reconnect) is applied whole and acknowledged', async () => {
    const alice = new Y.Doc();
    alice.getText('t').insert(0, 'abc');
    const socket = await authenticatedSocket();
    socket.send(frames.update('doc', Y.encodeStateAsUpdate(alice)));
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString().includes('abc'));
    alice.getText('t').insert(3, 'def'); // Alice's store now holds 'abcdef' as one item: resent whole, it overlaps
    const expected = new Y.Doc();
    Y.applyUpdate(expected, Y.encodeStateAsUpdate(serverDocument(server, 'acme', 'doc')!));
    Y.applyUpdate(expected, Y.encodeStateAsUpdate(alice));
    const acknowledged = socket.received.length;
    socket.send(frames.update('doc', Y.encodeStateAsUpdate(alice)));
    await waitFor(() => socket.received.length > acknowledged, { message: 'the resent update is acknowledged' });
    expect(serverDocument(server, 'acme', 'doc')!.getText('t').toString()).toBe(expected.getText('t').toString());
    expect(expected.getText('t').toString()).toContain('abcdef');
    await server.restart();
    const fresh = hocuspocusClient(server, 'doc', token);
    await fresh.whenSynced();
    expect(fresh.doc.getText('t').toString()).toBe(expected.getText('t').toString());
  });

  test('a well-formed update still goes through and is acknowledged', async () => {
    const socket = await authenticatedSocket();
    const before = socket.received.length;
    socket.send(frames.update('doc', Y.encodeStateAsUpdate(insertion('fine '))));
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString().includes('fine'));
    await waitFor(() => socket.received.length > before);
  });
});

describe('/y/<name>', () => {
  function yUpdateFrame(update: Uint8Array): Uint8Array {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, 0); // Sync
    encoding.writeVarUint(encoder, 2); // Update
    encoding.writeVarUint8Array(encoder, update);
    return encoding.toUint8Array(encoder);
  }

  test('an item resent over what the server has goes on as the continuation of what it has, the same in memory and stored', async () => {
    const writer = 9;
    const first = new Y.Item(Y.createID(writer, 0), null, null, null, null, 't' as never, null, new Y.ContentString('y'));
    const entry = new Y.Item(Y.createID(writer, 1), null, null, null, null, 'm' as never, 'k', new Y.ContentAny(['w']));
    const overlapping = new Y.Item(Y.createID(writer, 0), null, null, null, null, 't' as never, null, new Y.ContentDeleted(6));
    const socket = await rawSocket(`${server.yUrl}/doc?token=${token}`);
    socket.send(yUpdateFrame(encodeStructs(writer, [first, entry])));
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getMap('m').get('k') === 'w');
    socket.send(yUpdateFrame(encodeStructs(writer, [overlapping])));
    await waitFor(() => Y.getState(serverDocument(server, 'acme', 'doc')!.store, writer) === 6);
    const live = serverDocument(server, 'acme', 'doc')!;
    const inMemory = { t: live.getText('t').toString(), m: live.getMap('m').toJSON() };
    await server.restart();
    const fresh = hocuspocusClient(server, 'doc', token);
    await fresh.whenSynced();
    expect({ t: fresh.doc.getText('t').toString(), m: fresh.doc.getMap('m').toJSON() }).toEqual(inMemory);
  });

  test('a valid update followed by stray bytes closes with 4400 and is not applied', async () => {
    const socket = await rawSocket(`${server.yUrl}/doc?token=${token}`);
    const update = encoding.createEncoder();
    encoding.writeVarUint(update, 0); // Sync
    encoding.writeVarUint(update, 2); // Update
    encoding.writeVarUint8Array(update, new Uint8Array([...Y.encodeStateAsUpdate(insertion('junk-tailed ')), 9, 9]));
    socket.send(encoding.toUint8Array(update));
    expect((await socket.closed).code).toBe(4400);
    expect(serverDocument(server, 'acme', 'doc')?.getText('t').toString()).toBe('intact');
    await expectStoredIntact();
  });
});
