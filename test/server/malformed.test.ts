/**
 * Hostile and broken input: every malformed frame closes its connection with 4400 (or 1009 when too big), nothing
 * of it is applied, acknowledged or stored, other clients carry on and the server stays up. Stock y-protocols
 * would partially apply a truncated update and Hocuspocus would acknowledge it; these tests pin that we do not.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as prng from 'lib0/prng';
import { beforeEach, describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { frames, hocuspocusClient, rawSocket, serverDocument, yClient } from '../support/clients.js';
import { seededRandom } from '../support/random.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const MAX_MESSAGE_BYTES = 64 * 1024;

/** A real update for "hello world" minus its last bytes: stock Yjs applies part of it before throwing. */
function truncatedUpdate(): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, 'hello world');
  doc.getText('t').delete(0, 1);
  const update = Y.encodeStateAsUpdate(doc);
  return update.slice(0, update.length - 1);
}

function docOf(update: Uint8Array): Y.Doc {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, update);
  return doc;
}

interface DocState {
  readonly snapshot: Y.Snapshot;
  readonly content: string;
}

/** What a half-applied update would change: the state vector and deletions (a snapshot), and the content. */
function stateOf(doc: Y.Doc): DocState {
  return { snapshot: Y.snapshot(doc), content: JSON.stringify({ t: doc.getText('t').toString(), m: doc.getMap('m').toJSON() }) };
}

function sameState(a: DocState, b: DocState): boolean {
  return a.content === b.content && Y.equalSnapshots(a.snapshot, b.snapshot);
}

interface Whole {
  readonly stateVector: Uint8Array;
  readonly deletions: Map<number, Array<{ clock: number; len: number }>>;
}

/** What `before` becomes with the update a frame carries applied whole; null when it is no whole, valid update. */
function appliedWhole(before: Uint8Array, frame: Uint8Array): Whole | null {
  try {
    const decoder = decoding.createDecoder(frame);
    if (decoding.readVarString(decoder) !== 'doc' || ![0, 4].includes(decoding.readVarUint(decoder))) return null; // Sync, SyncReply
    if (![1, 2].includes(decoding.readVarUint(decoder))) return null;
    const update = decoding.readVarUint8Array(decoder);
    if (decoding.hasContent(decoder)) return null;
    const doc = docOf(before);
    Y.applyUpdate(doc, update);
    if (doc.store.pendingStructs !== null || doc.store.pendingDs !== null) return null;
    const deletions = (Y.decodeUpdate(update).ds as unknown as { clients: Whole['deletions'] }).clients;
    return { stateVector: Y.encodeStateVector(doc), deletions };
  } catch {
    return null;
  }
}

/**
 * Whether `doc` holds all of an update: its state vector is that of the update applied whole, and every range the
 * update deletes is deleted. (Its content is not compared: which of two corrupt map entries wins can depend on the
 * order items were integrated in, so a replica rebuilt from an encoding may differ from the live document.)
 */
function holdsWhole(doc: Y.Doc, whole: Whole): boolean {
  if (!equalBytes(Y.encodeStateVector(doc), whole.stateVector)) return false;
  const deleted = Y.createDeleteSetFromStructStore(doc.store);
  for (const [client, ranges] of whole.deletions) {
    for (const { clock, len } of ranges) {
      for (let c = clock; c < clock + len; c++) if (!Y.isDeleted(deleted, Y.createID(client, c))) return false;
    }
  }
  return true;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

let server: TestServer;
let token: string;
let keeper: ReturnType<typeof hocuspocusClient>;

beforeEach(async () => {
  server = await startTestServer({ maxMessageBytes: MAX_MESSAGE_BYTES });
  token = await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });
  // A well-behaved client keeps the document loaded and must be unaffected by what others send.
  keeper = hocuspocusClient(server, 'doc', token);
  await keeper.whenSynced();
  keeper.doc.getText('t').insert(0, 'intact');
  await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === 'intact');
});

async function expectIntact(): Promise<void> {
  expect(serverDocument(server, 'acme', 'doc')?.getText('t').toString()).toBe('intact');
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status).toBe(200);
  keeper.doc.getText('t').insert(6, '!');
  await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === 'intact!');
  await server.restart();
  const fresh = hocuspocusClient(server, 'doc', token);
  await fresh.whenSynced();
  expect(fresh.doc.getText('t').toString()).toBe('intact!');
}

async function authenticatedSocket() {
  const socket = await rawSocket(server.syncUrl);
  socket.send(frames.auth('doc', token));
  await waitFor(() => socket.received.some(frames.isAuthenticated));
  return socket;
}

describe('/sync (Hocuspocus protocol)', () => {
  test('a truncated Yjs update closes the connection with 4400 and is neither applied nor stored', async () => {
    const socket = await authenticatedSocket();
    const before = socket.received.length;
    socket.send(frames.update('doc', truncatedUpdate()));
    const closed = await socket.closed;
    expect(closed.code).toBe(4400);
    expect(closed.reason).toMatch(/^Malformed message: /);
    // No SyncStatus (acknowledgement) was sent for it.
    expect(socket.received.length).toBe(before);
    await expectIntact();
  });

  test('undecodable bytes, unknown message types and text frames close with 4400', async () => {
    const unknownType = encoding.createEncoder();
    encoding.writeVarString(unknownType, 'doc');
    encoding.writeVarUint(unknownType, 42);
    const broadcastStateless = encoding.createEncoder();
    encoding.writeVarString(broadcastStateless, 'doc');
    encoding.writeVarUint(broadcastStateless, 6);
    encoding.writeVarString(broadcastStateless, 'spoofed');
    const inputs: Array<Uint8Array | string> = [
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff]),
      encoding.toUint8Array(unknownType),
      encoding.toUint8Array(broadcastStateless),
      'a text frame',
    ];
    for (const input of inputs) {
      const socket = await authenticatedSocket();
      socket.send(input);
      expect((await socket.closed).code).toBe(4400);
    }
    await expectIntact();
  });

  test('a frame larger than CONCORD_MAX_MESSAGE_BYTES closes with 1009', async () => {
    const socket = await authenticatedSocket();
    socket.send(frames.update('doc', new Uint8Array(MAX_MESSAGE_BYTES + 1)));
    expect((await socket.closed).code).toBe(1009);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/concord_rejected_connections_total\{reason="message-too-big"\} 1/);
    await expectIntact();
  });

  test('random bytes never crash the server or reach the document (seeded fuzz)', async () => {
    const { gen } = seededRandom('fuzz-noise');
    for (let i = 0; i < 40; i++) {
      const socket = await authenticatedSocket();
      socket.send(prng.uint8Array(gen, prng.int32(gen, 1, 64)));
      // Noise can happen to be a harmless valid frame; this one is not, so every socket ends closed.
      socket.send(frames.update('doc', truncatedUpdate()));
      expect((await socket.closed).code).toBe(4400);
    }
    await expectIntact();
  });

  test('corrupted copies of a valid update are rejected whole or applied whole (seeded fuzz)', async () => {
    const { gen } = seededRandom('fuzz-mutation');
    const other = new Y.Doc();
    other.getText('t').insert(0, 'mutant ');
    other.getMap('m').set('k', 'v');
    other.getText('t').delete(0, 1);
    const update = Y.encodeStateAsUpdate(other);
    const valid = frames.update('doc', update);
    let applied = 0;
    for (let i = 0; i < 40; i++) {
      const before = Y.encodeStateAsUpdate(serverDocument(server, 'acme', 'doc')!);
      // Every fourth carries the update cut short (stock Yjs applies its items, then fails on its deletions).
      const mutant =
        i % 4 === 0
          ? frames.update('doc', update.slice(0, update.length - (i === 0 ? 1 : prng.int32(gen, 1, 8))))
          : valid.map((byte) => (prng.int32(gen, 0, 15) === 0 ? prng.uint32(gen, 0, 255) : byte));
      const whole = appliedWhole(before, mutant);
      const unchanged = stateOf(serverDocument(server, 'acme', 'doc')!);
      const socket = await authenticatedSocket();
      socket.send(mutant);
      socket.send('a text frame'); // malformed whatever the mutant was: the socket closes once the mutant is handled
      expect((await socket.closed).code).toBe(4400);
      // Whatever the mutant was, the document is as before it, or has all of it applied: every struct (the state vector
      // of the update applied whole) and every deletion it carries. Never half of it.
      const document = serverDocument(server, 'acme', 'doc')!;
      if (sameState(stateOf(document), unchanged)) continue;
      expect(whole !== null && holdsWhole(document, whole), `mutant ${i}: neither rejected whole nor applied whole`).toBe(true);
      applied += 1;
    }
    console.log(`[malformed] ${applied} of 40 mutants were valid updates and applied whole; the rest changed nothing`);
    const current = serverDocument(server, 'acme', 'doc')!;
    await waitFor(() => keeper.doc.getText('t').toString() === current.getText('t').toString());
    const expected = { t: current.getText('t').toString(), m: current.getMap('m').toJSON() };
    expect(expected.t).toContain('intact');
    await server.restart();
    const fresh = hocuspocusClient(server, 'doc', token);
    await fresh.whenSynced();
    expect({ t: fresh.doc.getText('t').toString(), m: fresh.doc.getMap('m').toJSON() }).toEqual(expected);
  });
});

describe('/y/<name> (y-websocket protocol)', () => {
  test('a truncated update from a y-websocket socket closes it with 4400 and is not applied', async () => {
    const y = yClient(server, 'doc', token);
    await y.whenSynced();
    const socket = await rawSocket(`${server.yUrl}/doc?token=${token}`);
    const update = encoding.createEncoder();
    encoding.writeVarUint(update, 0);
    encoding.writeVarUint(update, 2);
    encoding.writeVarUint8Array(update, truncatedUpdate());
    socket.send(encoding.toUint8Array(update));
    expect((await socket.closed).code).toBe(4400);
    // A Hocuspocus-only message type is malformed on this protocol too.
    const other = await rawSocket(`${server.yUrl}/doc?token=${token}`);
    other.send(new Uint8Array([5, 3, 0x61, 0x62, 0x63]));
    expect((await other.closed).code).toBe(4400);
    expect(y.doc.getText('t').toString()).toBe('intact');
    await expectIntact();
  });
});
