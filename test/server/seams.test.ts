/**
 * Seam tests that fail loudly on an upgrade. The server changes internals of three dependencies, each in one file
 * (server/src/seams/), each dependency pinned to an exact version in server/package.json. This file proves the pins
 * hold (the installed versions are the pinned ones, so an upgrade is a deliberate edit that names the seam to
 * re-check), and that what each seam relies on is still there and still behaves as the seam assumes:
 * - Hocuspocus: a Document's update, awareness and stateless messages all go out through its private `broadcast`,
 *   which hands one frame object to every connection; `flushDelay: false` hands each update over synchronously;
 * - Yjs: the store's structs re-encoded since a state vector (`encodeChangesSince`) carry exactly what a window of
 *   random transactions changed, to a replica that had everything before it (seeded; CONCORD_TEST_SEED replays);
 *   roots built from updates are untyped and unseen by a Y.UndoManager until `typeRoots` types them by their items;
 * - ws: the negotiated permessage-deflate window is read, a frame deflated elsewhere goes out through ws' sender and
 *   arrives as the original bytes, and a burst is written to a corked TCP socket.
 */
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { constants, deflateRawSync } from 'node:zlib';
import { Document, Hocuspocus, IncomingMessage as HocuspocusMessage, MessageReceiver, MessageType, OutgoingMessage, type Connection } from '@hocuspocus/server';
import * as encoding from 'lib0/encoding';
import { Awareness } from 'y-protocols/awareness';
import * as prng from 'lib0/prng';
import { describe, expect, test, vi } from 'vitest';
import { WebSocket, WebSocketServer, type PerMessageDeflateOptions } from 'ws';
import * as Y from 'yjs';
// The seams are internals, not the package's API: imported from the server's sources.
import { corked, frameOf, raiseMaxPayload, sendFrame, serverDeflateWindowBits } from '../../server/src/seams/ws.js';
import {
  decodeWholeUpdate,
  deleteRanges,
  encodeBeyondKnown,
  encodeChangesSince,
  encodeRun,
  typeRoots,
  withoutUpdateEvents,
  type DeleteSet,
  type StoredStruct,
} from '../../server/src/seams/yjs.js';
import { ConcordHocuspocus } from '@concord/server';
import { onCleanup } from '../support/cleanup.js';
import { seededRandom } from '../support/random.js';
import { waitFor } from '../support/wait.js';

const SERVER_PACKAGE = new URL('../../server/package.json', import.meta.url);
const SEAMS = [
  { name: '@hocuspocus/server', file: 'server/src/seams/hocuspocus.ts' },
  { name: 'yjs', file: 'server/src/seams/yjs.ts' },
  { name: 'ws', file: 'server/src/seams/ws.ts' },
] as const;

/** The version of `name` the server package actually loads (its package.json, found above its entry point). */
function installedVersion(name: string): string {
  let dir = dirname(createRequire(SERVER_PACKAGE).resolve(name));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const found = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
      if (found.name === name) return found.version;
    }
    if (dirname(dir) === dir) throw new Error(`no package.json found for ${name}`);
    dir = dirname(dir);
  }
}

test.each(SEAMS)('$name is pinned exactly, installed at its pin, and the pin is the version $file was written against', ({ name, file }) => {
  const pinned = (JSON.parse(readFileSync(SERVER_PACKAGE, 'utf8')) as { dependencies: Record<string, string> }).dependencies[name];
  expect(pinned, `server/package.json must pin ${name} exactly (no range): ${file} reaches into its internals`).toMatch(/^\d+\.\d+\.\d+$/);
  const installed = installedVersion(name);
  expect(installed, `${file} reaches into ${name} ${pinned}; ${name} is now ${installed}: re-check the seam, then update the pin`).toBe(pinned);
  const source = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  expect(source.includes(pinned!), `${file} must say which ${name} version it was checked against (${pinned})`).toBe(true);
});

describe('Hocuspocus: what server/src/seams/hocuspocus.ts replaces', () => {
  interface Internals {
    broadcast(encode: (address: string) => Uint8Array, filter?: (connection: Connection) => boolean): void;
    broadcastUpdate(update: Uint8Array): void;
    broadcastAwarenessUpdate(clients: number[]): void;
  }
  const SEAM = 'server/src/seams/hocuspocus.ts';

  function documentWithConnections(names: string[]) {
    const document = new Document('doc');
    onCleanup(() => document.destroy());
    const sent: Array<{ to: string; frame: Uint8Array }> = [];
    const fakes = names.map((to) => ({ to, messageAddress: 'doc', send: (frame: Uint8Array) => void sent.push({ to, frame }) }));
    for (const fake of fakes) document.addConnection(fake as unknown as Connection);
    return { document, internals: document as unknown as Internals, sent, fakes };
  }

  test('Document keeps the private broadcast methods, a public flush and a flushDelay; Hocuspocus the methods ConcordHocuspocus overrides', () => {
    const prototype = Document.prototype as unknown as Record<string, unknown>;
    for (const name of ['broadcast', 'broadcastUpdate', 'broadcastAwarenessUpdate', 'relayStateless', 'flush']) {
      expect(typeof prototype[name], `${SEAM} replaces or calls Document.${name}`).toBe('function');
    }
    const { document } = documentWithConnections([]);
    expect(Object.hasOwn(document, 'flushDelay'), `${SEAM} sets Document.flushDelay`).toBe(true);
    for (const name of ['hooks', 'storeDocumentHooks', 'configure']) {
      expect(typeof (Hocuspocus.prototype as unknown as Record<string, unknown>)[name], `ConcordHocuspocus overrides Hocuspocus.${name}`).toBe('function');
    }
  });

  test('with flushDelay false, each update is handed to broadcastUpdate as it is applied', () => {
    const { document, internals } = documentWithConnections([]);
    document.flushDelay = false;
    const handed = vi.spyOn(internals, 'broadcastUpdate').mockImplementation(() => {});
    const updates: Uint8Array[] = [];
    document.on('update', (update: Uint8Array) => void updates.push(update));
    document.getText('t').insert(0, 'a');
    document.getText('t').insert(1, 'b');
    expect(handed.mock.calls.map(([update]) => update), `${SEAM}: broadcastChangesPerTurn relies on flushDelay false`).toEqual(updates);
    expect(updates).toHaveLength(2);
  });

  test('updates, awareness and stateless messages all go through broadcast, one frame object for every connection', () => {
    const cases: Array<[string, (internals: Internals, document: Document) => void]> = [
      ['broadcastUpdate', (internals, document) => internals.broadcastUpdate(Y.encodeStateAsUpdate(document))],
      ['broadcastAwarenessUpdate', (internals, document) => internals.broadcastAwarenessUpdate([document.awareness.clientID])],
      ['relayStateless', (_internals, document) => document.relayStateless('ping')],
    ];
    for (const [method, send] of cases) {
      const { document, internals, sent } = documentWithConnections(['a', 'b']);
      const broadcast = vi.spyOn(internals, 'broadcast');
      send(internals, document);
      expect(broadcast, `${SEAM} observes every frame in Document.broadcast; ${method} no longer calls it`).toHaveBeenCalledTimes(1);
      expect(sent.map(({ to }) => to)).toEqual(['a', 'b']);
      expect(sent[0]!.frame, `${method}: the connections no longer share one frame object`).toBe(sent[1]!.frame);
    }
    // The filter of a stateless broadcast still reaches broadcast.
    const { document, sent, fakes } = documentWithConnections(['a', 'b']);
    document.relayStateless('only a', (connection) => connection === (fakes[0] as unknown as Connection));
    expect(sent.map(({ to }) => to)).toEqual(['a']);
  });
});

describe('Hocuspocus: the connection id ConcordHocuspocus flattens', () => {
  test('a connection has its own string socketId, a UUID, which ConcordHocuspocus keeps (the same characters)', () => {
    const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const hocuspocus of [new Hocuspocus({ quiet: true }), new ConcordHocuspocus({ quiet: true })]) {
      const socket = { readyState: 1, send: () => {}, close: () => {} };
      const connection = hocuspocus.handleConnection(socket as never, { url: '/', headers: new Headers() } as Request);
      onCleanup(() => connection.handleClose({ code: 1000, reason: '' }));
      expect(Object.hasOwn(connection, 'socketId'), 'server/src/seams/hocuspocus.ts replaces ClientConnection.socketId').toBe(true);
      expect((connection as unknown as { socketId: unknown }).socketId).toMatch(UUID);
    }
  });
});

describe('Hocuspocus: the awareness hooks ConcordHocuspocus leaves out when nothing implements them', () => {
  const request = { url: '/sync', headers: new Headers() } as unknown as Request;
  const load = (hocuspocus: Hocuspocus) => hocuspocus.loadDocument('doc', request, 'socket', { readOnly: false, isAuthenticated: true }, {});
  const updateListeners = (document: Document) =>
    [...((document.awareness as unknown as { _observers: Map<string, Set<(...args: unknown[]) => unknown>> })._observers.get('update') ?? [])];

  test('a loaded document has two awareness listeners: its own broadcast, then the onAwarenessUpdate relay', async () => {
    const hocuspocus = new Hocuspocus({ quiet: true });
    const document = await load(hocuspocus);
    const listeners = updateListeners(document);
    expect(listeners, 'server/src/seams/hocuspocus.ts drops the last awareness listener loadDocument adds').toHaveLength(2);
    expect(listeners[0]!.name, 'the first is the document\'s own broadcast handler').toContain('handleAwarenessUpdate');
    const hooks = vi.spyOn(hocuspocus, 'hooks');
    listeners[1]!({ added: [], updated: [], removed: [] }, null);
    expect(hooks.mock.calls.map(([name]) => name), 'the last one runs onAwarenessUpdate').toEqual(['onAwarenessUpdate']);
  });

  test('ConcordHocuspocus keeps neither when nothing implements them, both when an extension does', async () => {
    const concord = new ConcordHocuspocus({ quiet: true });
    expect(updateListeners(await load(concord))).toHaveLength(1);

    const seen: string[] = [];
    const withHooks = new ConcordHocuspocus({
      quiet: true,
      extensions: [
        { onAwarenessUpdate: async () => void seen.push('onAwarenessUpdate'), beforeHandleAwareness: async () => void seen.push('beforeHandleAwareness') },
      ],
    });
    const document = await load(withHooks);
    expect(updateListeners(document)).toHaveLength(2);
    document.awareness.setLocalState({ cursor: 1 });
    await document.callbacks.beforeHandleAwareness(document, new Map(), null);
    await waitFor(() => seen.length === 2);
    expect(seen.sort()).toEqual(['beforeHandleAwareness', 'onAwarenessUpdate']);
  });
});

describe('Hocuspocus: awareness messages without the scratch copy (MessageReceiver.apply)', () => {
  const request = { url: '/sync', headers: new Headers() } as unknown as Request;
  const load = (hocuspocus: Hocuspocus) => hocuspocus.loadDocument('doc', request, 'socket', { readOnly: false, isAuthenticated: true }, {});
  /** What a client's awareness sends about `clients`, received as Hocuspocus' `processMessages` hands it on. */
  const receive = async (document: Document, from: Awareness, connection?: Connection, clients = [from.clientID]) => {
    const message = new HocuspocusMessage(new OutgoingMessage('doc').createAwarenessUpdateMessage(from, clients).toUint8Array());
    message.readVarString();
    await new MessageReceiver(message).apply(document, connection);
  };
  const peer = (state: Record<string, unknown> | null = { cursor: 1 }) => {
    const awareness = new Awareness(new Y.Doc());
    onCleanup(() => awareness.destroy());
    awareness.setLocalState(state);
    return awareness;
  };
  /** A connection as a document knows it (`addConnection`): an address to be sent the document's broadcasts at. */
  const connect = (document: Document) => {
    const connection = { messageAddress: 'doc', send: () => {} } as unknown as Connection;
    document.addConnection(connection);
    return connection;
  };

  test('stock applies a state and drops a removal (the scratch copy re-encodes only states)', async () => {
    const document = await load(new Hocuspocus({ quiet: true }));
    const client = peer();
    const connection = connect(document);
    await receive(document, client, connection);
    expect(document.awareness.getStates().get(client.clientID)).toEqual({ cursor: 1 });
    client.setLocalState(null);
    await receive(document, client, connection);
    expect(document.awareness.getStates().get(client.clientID), 'stock Hocuspocus now passes removals: server/src/seams/hocuspocus.ts may not be needed').toEqual({ cursor: 1 });
  });

  test("ConcordHocuspocus, nothing implementing beforeHandleAwareness: a connection's states and own removals apply directly, others' removals do not", async () => {
    const document = await load(new ConcordHocuspocus({ quiet: true }));
    const owners = (document as unknown as { connections: Map<Connection, { clients: Set<number> }> }).connections;
    const alice = peer();
    const bob = peer({ cursor: 2 });
    const aliceConnection = connect(document);
    const bobConnection = connect(document);
    const origins: unknown[] = [];
    document.awareness.on('update', (_changes: unknown, origin: unknown) => origins.push(origin));
    await receive(document, alice, aliceConnection);
    await receive(document, bob, bobConnection);
    expect(document.awareness.getStates().get(alice.clientID)).toEqual({ cursor: 1 });
    expect(origins[0], 'the origin stock gives a connection\'s message').toEqual({ source: 'connection', connection: aliceConnection });
    expect(owners.get(aliceConnection)?.clients, 'Document.connections entries hold the ids each connection set').toEqual(new Set([alice.clientID]));

    // Bob's awareness times Alice out and sends her removal, along with his own move: the move applies, not the removal.
    const clock = (awareness: Awareness) => awareness.meta.get(awareness.clientID)!.clock;
    const message = new OutgoingMessage('doc');
    encoding.writeVarUint(message.encoder, MessageType.Awareness);
    const update = encoding.createEncoder();
    encoding.writeVarUint(update, 2);
    for (const [client, at, state] of [[bob.clientID, clock(bob) + 1, { cursor: 3 }], [alice.clientID, clock(alice) + 1, null]] as const) {
      encoding.writeVarUint(update, client);
      encoding.writeVarUint(update, at);
      encoding.writeVarString(update, JSON.stringify(state));
    }
    encoding.writeVarUint8Array(message.encoder, encoding.toUint8Array(update));
    const incoming = new HocuspocusMessage(message.toUint8Array());
    incoming.readVarString();
    await new MessageReceiver(incoming).apply(document, bobConnection);
    expect(document.awareness.getStates().get(bob.clientID)).toEqual({ cursor: 3 });
    expect(document.awareness.getStates().get(alice.clientID), "another client's removal is dropped").toEqual({ cursor: 1 });

    alice.setLocalState(null);
    await receive(document, alice, aliceConnection);
    expect(document.awareness.getStates().has(alice.clientID), 'her own removal reached the document').toBe(false);
  });

  test('awareness bytes that do not decode: the returned promise rejects, as stock\'s does, and nothing is applied', async () => {
    const truncated = () => {
      const message = new OutgoingMessage('doc');
      encoding.writeVarUint(message.encoder, MessageType.Awareness);
      encoding.writeVarUint(message.encoder, 40); // 40 bytes announced, 2 sent
      encoding.writeUint8(message.encoder, 1);
      encoding.writeUint8(message.encoder, 2);
      const incoming = new HocuspocusMessage(message.toUint8Array());
      incoming.readVarString();
      return incoming;
    };
    for (const hocuspocus of [new Hocuspocus({ quiet: true }), new ConcordHocuspocus({ quiet: true })]) {
      const document = await load(hocuspocus);
      const connection = connect(document);
      let applied: Promise<void> | undefined;
      expect(() => {
        applied = new MessageReceiver(truncated()).apply(document, connection);
      }, `${hocuspocus.constructor.name}: no synchronous throw`).not.toThrow();
      await expect(applied, hocuspocus.constructor.name).rejects.toThrow();
      expect(document.awareness.getStates().size, `${hocuspocus.constructor.name}: only the server's own state`).toBeLessThanOrEqual(1);
    }
  });

  test('with a beforeHandleAwareness hook, ConcordHocuspocus runs the stock path and the hook sees the states', async () => {
    const seen: number[][] = [];
    const hooked = new ConcordHocuspocus({ quiet: true, extensions: [{ beforeHandleAwareness: async ({ states }) => void seen.push([...states.keys()]) }] });
    const document = await load(hooked);
    const client = peer();
    await receive(document, client, connect(document));
    expect(seen, 'one hook call, with the client among the states (stock adds its scratch copy\'s own id)').toHaveLength(1);
    expect(seen[0]).toContain(client.clientID);
    expect(document.awareness.getStates().get(client.clientID)).toEqual({ cursor: 1 });
  });
});

describe('Yjs: what server/src/seams/yjs.ts reads', () => {
  test('roots built from updates are untyped, a Y.UndoManager sees no change to them, and typeRoots types each by its items', () => {
    const writer = new Y.Doc();
    writer.getMap('m').set('k', 1);
    writer.getText('t').insert(0, 'text');
    writer.getArray('a').push([1, { x: 2 }]);
    writer.getXmlFragment('x').insert(0, [new Y.XmlElement('p')]);
    const replica = new Y.Doc();
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(writer));
    for (const root of replica.share.values()) expect(root.constructor, 'yjs now types roots built from updates: typeRoots may not be needed').toBe(Y.AbstractType);
    const untracked = new Y.UndoManager([...replica.share.values()], { trackedOrigins: new Set(['replay']) });
    writer.getText('t').insert(0, 'more ');
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(writer, Y.encodeStateVector(replica)), 'replay');
    expect(untracked.undoStack, 'yjs now reports changes of untyped roots to an UndoManager: typeRoots may not be needed').toHaveLength(0);
    untracked.destroy();
    typeRoots(replica);
    expect(Object.fromEntries([...replica.share].map(([name, root]) => [name, root.constructor]))).toEqual({ m: Y.Map, t: Y.Text, a: Y.Array, x: Y.XmlFragment });
    expect(replica.getText('t').toString()).toBe('more text');
    const tracked = new Y.UndoManager([...replica.share.values()], { trackedOrigins: new Set(['replay']) });
    writer.getText('t').insert(0, 'even ');
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(writer, Y.encodeStateVector(replica)), 'replay');
    expect(tracked.undoStack).toHaveLength(1);
  });

  test('the internals it uses are there; nothing changed gives null', () => {
    expect(typeof Y.findIndexSS).toBe('function');
    const encoder = new Y.UpdateEncoderV1() as unknown as Record<string, unknown>;
    for (const name of ['writeClient', 'writeDsClock', 'writeDsLen', 'resetDsCurVal']) expect(typeof encoder[name], `UpdateEncoderV1.${name}`).toBe('function');
    expect(encoder.restEncoder).toBeDefined();
    const doc = new Y.Doc();
    doc.getText('t').insert(0, 'hello');
    const clients = (doc.store as unknown as { clients: Map<number, Array<{ id: { clock: number }; length: number; write: unknown }>> }).clients;
    expect(clients, 'server/src/seams/yjs.ts reads doc.store.clients').toBeInstanceOf(Map);
    expect(clients.get(doc.clientID)).toEqual([expect.objectContaining({ id: expect.objectContaining({ clock: 0 }), length: 5, write: expect.any(Function) })]);
    expect(encodeChangesSince(doc, Y.decodeStateVector(Y.encodeStateVector(doc)), Y.createDeleteSet()), 'nothing changed: null').toBeNull();
  });

  test('encodeChangesSince carries exactly what a window of transactions changed (seeded random windows)', () => {
    const { gen } = seededRandom('seams/yjs');
    const doc = new Y.Doc();
    const replica = new Y.Doc();
    const others = [new Y.Doc()];
    const text = doc.getText('t');
    const map = doc.getMap('m');
    let since: Map<number, number> | null = null;
    let deletions: DeleteSet[] = [];
    doc.on('update', (_update: Uint8Array, _origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
      since ??= transaction.beforeState;
      deletions.push(transaction.deleteSet);
    });
    const word = () => prng.oneOf(gen, ['lorem ', 'ipsum ', 'dolor ', 'sit ', 'amet ', 'x', 'yz']);
    let typedAt = 0; // where this client last stopped typing (typing on merges its items)
    let typedThisWindow: Array<{ start: Y.RelativePosition; length: number }> = [];

    const edit = () => {
      const at = prng.int32(gen, 0, text.length);
      switch (prng.int32(gen, 0, 6)) {
        case 0: // inside (or next to) anything typed before: structs split
        case 1: {
          const typed = word();
          text.insert(at, typed, prng.bool(gen) ? undefined : { bold: true });
          typedThisWindow.push({ start: Y.createRelativePositionFromTypeIndex(text, at), length: typed.length });
          typedAt = at + typed.length;
          break;
        }
        case 2: { // keep typing where this client stopped
          const from = Math.min(typedAt, text.length);
          const typed = word();
          text.insert(from, typed);
          typedAt = from + typed.length;
          break;
        }
        case 3: {
          const from = Math.min(at, text.length - 1);
          if (from >= 0) text.delete(from, Math.min(prng.int32(gen, 1, 8), text.length - from));
          break;
        }
        case 4: { // take back something typed in this window
          const typed = typedThisWindow.length > 0 ? prng.oneOf(gen, typedThisWindow) : undefined;
          const start = typed && Y.createAbsolutePositionFromRelativePosition(typed.start, doc)?.index;
          if (typed && start !== undefined && start < text.length) text.delete(start, Math.min(prng.int32(gen, 1, typed.length), text.length - start));
          break;
        }
        case 5:
          map.set(`k${prng.int32(gen, 0, 5)}`, prng.bool(gen) ? prng.int32(gen, 0, 99) : { list: [word()], nested: prng.bool(gen) });
          break;
        default:
          map.delete(`k${prng.int32(gen, 0, 5)}`);
      }
    };
    /** Another client's edit arrives, a transaction of its own (now and then from a client new to the document). */
    const remoteEdit = () => {
      if (prng.int32(gen, 0, 5) === 0) others.push(new Y.Doc());
      const other = prng.oneOf(gen, others);
      Y.applyUpdate(other, Y.encodeStateAsUpdate(doc, Y.encodeStateVector(other)));
      const otherText = other.getText('t');
      otherText.insert(prng.int32(gen, 0, otherText.length), word());
      if (otherText.length > 3 && prng.bool(gen)) otherText.delete(prng.int32(gen, 0, otherText.length - 3), 2);
      other.getMap('m').set(`o${prng.int32(gen, 0, 3)}`, word());
      Y.applyUpdate(doc, Y.encodeStateAsUpdate(other, Y.encodeStateVector(doc)), 'remote');
    };

    const content = (d: Y.Doc) => ({ t: d.getText('t').toDelta(), m: d.getMap('m').toJSON() });
    for (let window = 0; window < 300; window++) {
      since = null;
      deletions = [];
      typedThisWindow = [];
      const transactions = prng.int32(gen, 1, 6);
      for (let i = 0; i < transactions; i++) {
        if (prng.int32(gen, 0, 3) === 0) remoteEdit();
        else doc.transact(() => Array.from({ length: prng.int32(gen, 1, 3) }, edit));
      }
      const update = encodeChangesSince(doc, since ?? Y.decodeStateVector(Y.encodeStateVector(doc)), Y.mergeDeleteSets(deletions));
      if (since === null) {
        expect(update, `window ${window}: nothing changed`).toBeNull();
        continue;
      }
      expect(update, `window ${window}: something changed`).not.toBeNull();
      Y.applyUpdate(replica, update!);
      expect(content(replica), `window ${window}: content`).toEqual(content(doc));
      expect(Y.encodeStateVector(replica), `window ${window}: state vector`).toEqual(Y.encodeStateVector(doc));
    }
    expect(text.length).toBeGreaterThan(0);
  });

  test('encodeRun writes the updates one client sent in a row as one update, typed characters as one item (seeded random runs)', () => {
    const { gen } = seededRandom('seams/encodeRun');
    for (let run = 0; run < 200; run++) {
      const writer = new Y.Doc();
      const replica = new Y.Doc();
      // Some history first, from the writer and from someone else, so origins point into older items.
      writer.getText('t').insert(0, 'start of the document ');
      const other = new Y.Doc();
      Y.applyUpdate(other, Y.encodeStateAsUpdate(writer));
      other.getText('t').insert(5, '[other]');
      Y.applyUpdate(writer, Y.encodeStateAsUpdate(other));
      Y.applyUpdate(replica, Y.encodeStateAsUpdate(writer));

      const updates: Uint8Array[] = [];
      writer.on('update', (update: Uint8Array) => void updates.push(update));
      const text = writer.getText('t');
      let cursor = prng.int32(gen, 0, text.length);
      const keystrokes = prng.int32(gen, 1, 60);
      for (let i = 0; i < keystrokes; i++) {
        switch (prng.int32(gen, 0, 9)) {
          case 0: // jump elsewhere
            cursor = prng.int32(gen, 0, text.length);
            break;
          case 1: // a formatted character
            text.insert(cursor++, 'B', { bold: true });
            break;
          case 2: // a field
            writer.getMap('m').set(`k${prng.int32(gen, 0, 3)}`, i);
            break;
          case 3: // a character that takes two UTF-16 units
            text.insert(cursor, '😀');
            cursor += 2;
            break;
          default:
            text.insert(cursor++, prng.oneOf(gen, ['a', 'b', 'c', ' ']));
        }
      }
      // As the server batches: a run of updates without deletions goes as one update; one with deletions goes alone.
      let structs: StoredStruct[] = [];
      const flush = () => {
        if (structs.length === 0) return;
        const merged = encodeRun(writer.clientID, structs);
        expect(Y.decodeUpdate(merged).structs.length, `run ${run}: never more items than were sent`).toBeLessThanOrEqual(structs.length);
        Y.applyUpdate(replica, merged);
        structs = [];
      };
      for (const update of updates) {
        const decoded = Y.decodeUpdate(update);
        if ((decoded.ds as unknown as { clients: Map<number, unknown> }).clients.size > 0) {
          flush();
          Y.applyUpdate(replica, update);
        } else {
          structs.push(...(decoded.structs as unknown as StoredStruct[]));
        }
      }
      flush();
      expect(replica.getText('t').toDelta(), `run ${run}`).toEqual(text.toDelta());
      expect(replica.getMap('m').toJSON(), `run ${run}`).toEqual(writer.getMap('m').toJSON());
      expect(Y.encodeStateVector(replica), `run ${run}`).toEqual(Y.encodeStateVector(writer));
    }
  });

  test('withoutUpdateEvents: no update is encoded or emitted, type observers still run, the listeners come back', () => {
    const doc = new Y.Doc();
    const updates: Uint8Array[] = [];
    const observed: string[] = [];
    doc.on('update', (update: Uint8Array) => void updates.push(update));
    doc.getText('t').observe(() => void observed.push(doc.getText('t').toString()));
    withoutUpdateEvents(doc, () => doc.getText('t').insert(0, 'stored'));
    expect(updates, 'server/src/seams/yjs.ts sets doc._observers "update" aside').toHaveLength(0);
    expect(observed).toEqual(['stored']);
    doc.getText('t').insert(6, '!');
    expect(updates).toHaveLength(1);
  });

  test('decodeWholeUpdate decodes as Y.decodeUpdate and refuses bytes after the update, and v2 bytes read as v1', () => {
    const doc = new Y.Doc();
    doc.getText('t').insert(0, 'hello');
    doc.getText('t').delete(0, 1);
    const update = Y.encodeStateAsUpdate(doc);
    const whole = decodeWholeUpdate(update);
    const stock = Y.decodeUpdate(update);
    expect(whole.structs.map((s) => [s.id.client, s.id.clock, s.length])).toEqual(stock.structs.map((s) => [s.id.client, s.id.clock, s.length]));
    expect([...deleteRanges(whole.ds)]).toEqual([[doc.clientID, [expect.objectContaining({ clock: 0, len: 1 })]]]);
    const junk = new Uint8Array([...update, 7, 7]);
    expect(() => Y.decodeUpdate(junk), 'Yjs itself ignores bytes after an update').not.toThrow();
    expect(() => decodeWholeUpdate(junk)).toThrow(/2 bytes after the update/);
    const v2 = Y.encodeStateAsUpdateV2(doc);
    expect(() => Y.decodeUpdate(v2), 'Yjs reads v2 bytes as a v1 update without an error').not.toThrow();
    expect(() => decodeWholeUpdate(v2)).toThrow(/bytes after the update/);
    expect(decodeWholeUpdate(new Uint8Array([0, 0])).structs).toEqual([]);
  });

  test('encodeBeyondKnown: a replica that has part of an update gets the same document from the rest as from all of it (seeded)', () => {
    const { gen } = seededRandom('seams/encodeBeyondKnown');
    let overlapping = 0;
    for (let run = 0; run < 200; run++) {
      const writer = new Y.Doc();
      const text = writer.getText('t');
      const partial = new Y.Doc();
      let cursor = 0;
      for (let i = 0, steps = prng.int32(gen, 1, 30); i < steps; i++) {
        const choice = prng.int32(gen, 0, 9);
        if (choice === 0 && text.length > 0) text.delete((cursor = prng.int32(gen, 0, text.length - 1)), 1);
        else if (choice === 1) writer.getMap('m').set(`k${prng.int32(gen, 0, 2)}`, i);
        else if (choice === 2) cursor = prng.int32(gen, 0, text.length); // typing elsewhere
        else {
          const word = prng.word(gen, 1, 4); // typing on: merged with what came before into one item
          text.insert(cursor, word);
          cursor += word.length;
        }
        if (prng.int32(gen, 0, 3) === 0) Y.applyUpdate(partial, Y.encodeStateAsUpdate(writer)); // what the replica got so far
      }
      // The writer's whole state: its items are merged, so one of them can start before what the replica has and end after.
      const update = Y.encodeStateAsUpdate(writer);
      const whole = new Y.Doc();
      Y.applyUpdate(whole, Y.encodeStateAsUpdate(partial));
      Y.applyUpdate(whole, update);
      const known = Y.decodeStateVector(Y.encodeStateVector(partial));
      const decoded = decodeWholeUpdate(update);
      const spans = (struct: { id: Y.ID; length: number }) => struct.id.clock < (known.get(struct.id.client) ?? 0) && struct.id.clock + struct.length > (known.get(struct.id.client) ?? 0);
      if (decoded.structs.some(spans)) overlapping += 1;
      const rest = encodeBeyondKnown(decoded, (client) => known.get(client) ?? 0);
      for (const struct of rest === null ? [] : Y.decodeUpdate(rest).structs) {
        expect(struct.id.clock, `run ${run}: nothing the replica has is sent again`).toBeGreaterThanOrEqual(known.get(struct.id.client) ?? 0);
      }
      if (rest !== null) Y.applyUpdate(partial, rest);
      expect(partial.getText('t').toString(), `run ${run}`).toBe(whole.getText('t').toString());
      expect(partial.getMap('m').toJSON(), `run ${run}`).toEqual(whole.getMap('m').toJSON());
      expect(Y.equalSnapshots(Y.snapshot(partial), Y.snapshot(whole)), `run ${run}`).toBe(true);
    }
    expect(overlapping, 'runs where an item started before what the replica had and ended after it').toBeGreaterThan(20);
  });

  test('encodeRun merges a typed word into one item', () => {
    const writer = new Y.Doc();
    const updates: Uint8Array[] = [];
    writer.on('update', (update: Uint8Array) => void updates.push(update));
    for (const char of 'hello world') writer.getText('t').insert(writer.getText('t').length, char);
    const structs = updates.flatMap((update) => Y.decodeUpdate(update).structs as unknown as StoredStruct[]);
    expect(structs).toHaveLength(11);
    const merged = Y.decodeUpdate(encodeRun(writer.clientID, structs)).structs;
    expect(merged).toHaveLength(1);
    const replica = new Y.Doc();
    Y.applyUpdate(replica, encodeRun(writer.clientID, updates.flatMap((update) => Y.decodeUpdate(update).structs as unknown as StoredStruct[])));
    expect(replica.getText('t').toString()).toBe('hello world');
  });
});

describe('ws: what server/src/seams/ws.ts reaches into', () => {
  /** A ws 8 server and client on loopback; the server's end of the socket and its TCP socket. */
  async function pair(serverDeflate: PerMessageDeflateOptions | false, clientDeflate: PerMessageDeflateOptions | boolean = true, maxPayload?: number) {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: serverDeflate, maxPayload });
    await once(wss, 'listening');
    const accepted = once(wss, 'connection') as Promise<[WebSocket, IncomingMessage]>;
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: clientDeflate });
    onCleanup(async () => {
      client.terminate();
      for (const socket of wss.clients) socket.terminate();
      await new Promise((resolve) => wss.close(resolve));
    });
    const [[server, request]] = await Promise.all([accepted, once(client, 'open')]);
    const received: Buffer[] = [];
    client.on('message', (data: Buffer) => received.push(data));
    return { server, client, tcp: request.socket as Socket, received };
  }

  test('serverDeflateWindowBits reads the negotiated window; null when Concord must not compress', async () => {
    expect(serverDeflateWindowBits((await pair({ serverNoContextTakeover: true })).server), 'the client offers defaults').toBe(15);
    expect(serverDeflateWindowBits((await pair({ serverNoContextTakeover: true }, { serverMaxWindowBits: 10 })).server)).toBe(10);
    expect(serverDeflateWindowBits((await pair({})).server), 'context takeover: a frame depends on the ones before').toBeNull();
    expect(serverDeflateWindowBits((await pair(false)).server), 'no permessage-deflate').toBeNull();
  });

  test('a frame deflated outside ws, sent through its sender, arrives as the original bytes (twice: frames are reusable)', async () => {
    const { server, received } = await pair({ serverNoContextTakeover: true });
    const bytes = Buffer.from('a frame worth compressing, '.repeat(400));
    const deflated = deflateRawSync(bytes, { level: 1, finishFlush: constants.Z_SYNC_FLUSH });
    const frame = frameOf(deflated.subarray(0, deflated.length - 4), true);
    expect(frame, 'ws.Sender.frame is gone').not.toBeNull();
    expect(sendFrame(server, frame!), 'ws sender internals (_sender, _state, sendFrame) changed').toBe(true);
    expect(sendFrame(server, frame!)).toBe(true);
    await waitFor(() => received.length === 2);
    expect(received[0]).toEqual(bytes);
    expect(received[1]).toEqual(bytes);
    // While ws deflates a message of its own, its queue is busy: sendFrame declines rather than overtake it.
    server.send(Buffer.alloc(100_000, 7), { compress: true });
    expect(sendFrame(server, frame!)).toBe(false);
  });

  test('corked writes a burst to a corked TCP socket, in order', async () => {
    const { server, tcp, received } = await pair(false);
    let corkedWhileWriting = 0;
    corked(server, () => {
      corkedWhileWriting = tcp.writableCorked;
      expect(sendFrame(server, frameOf(Buffer.from('one'), false)!)).toBe(true);
      server.send(Buffer.from('two'));
    });
    expect(corkedWhileWriting, 'ws._socket is no longer the TCP socket').toBe(1);
    expect(tcp.writableCorked).toBe(0);
    await waitFor(() => received.length === 2);
    expect(received.map(String)).toEqual(['one', 'two']);
  });

  test('raiseMaxPayload lifts one socket\'s frame limit, plain and inflated; a frame over the old limit closed 1009 before', async () => {
    for (const deflate of [false, { serverNoContextTakeover: true, threshold: 0 }] as const) {
      const limited = await pair(deflate, deflate !== false, 1024);
      const refused = new Promise<string | undefined>((resolve) => limited.server.on('error', (error: Error & { code?: string }) => resolve(error.code)));
      limited.client.send(Buffer.alloc(4096, 1));
      expect(await refused, 'ws maxPayload applies').toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');

      const raised = await pair(deflate, deflate !== false, 1024);
      const got: Buffer[] = [];
      raised.server.on('message', (data: Buffer) => got.push(data));
      expect(raiseMaxPayload(raised.server, 64 * 1024), 'ws internals (_receiver._maxPayload, permessage-deflate _maxPayload) changed').toBe(true);
      raised.client.send(Buffer.alloc(32 * 1024, 2));
      await waitFor(() => got.length === 1);
      expect(got[0]!.length).toBe(32 * 1024);
    }
  });
});
