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

/** Sends `frame` on a fresh authenticated socket; expects 4400, no acknowledgement, and nothing stored after a restart. */
async function expectRefused(frame: Uint8Array): Promise<void> {
  const socket = await authenticatedSocket();
  const before = socket.received.length;
  socket.send(frame);
  const closed = await socket.closed;
  expect(closed.code).toBe(4400);
  expect(closed.reason).toMatch(/^Malformed message: .*bytes after/);
  expect(socket.received.length, 'nothing was acknowledged').toBe(before);
  expect(serverDocument(server, 'acme', 'doc')?.getText('t').toString()).toBe('intact');
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

  test('a well-formed update still goes through and is acknowledged', async () => {
    const socket = await authenticatedSocket();
    const before = socket.received.length;
    socket.send(frames.update('doc', Y.encodeStateAsUpdate(insertion('fine '))));
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString().includes('fine'));
    await waitFor(() => socket.received.length > before);
  });
});

describe('/y/<name>', () => {
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
