/**
 * Fan-out over real sockets: one writer, many viewers (stock HocuspocusProviders over Node `ws`, which offers
 * permessage-deflate as browsers do). What an operator would notice, proved with counts and bytes, never with time:
 * - a broadcast is compressed at most once whatever the number of recipients: one large insert seen by 20 viewers
 *   adds exactly 1 to `concord_compressed_messages_total{kind="broadcast"}` (not 21), one per protocol with a
 *   y-websocket viewer too, and the viewers read far fewer bytes than the text times the viewers;
 * - a client that joins a large document gets its first sync compressed (kind "single") and, while it is being
 *   compressed, the changes others keep making: none is lost, none overtakes the first sync;
 * - viewers get every change compactly: 2 000 keystrokes, one transaction each, reach 20 viewers as fewer updates
 *   than keystrokes and under 20 bytes a keystroke per viewer, every viewer ending with the writer's exact text.
 */
import type { Socket } from 'node:net';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import * as decoding from 'lib0/decoding';
import * as prng from 'lib0/prng';
import { expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { onCleanup } from '../support/cleanup.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const VIEWERS = 20;
const LARGE_TEXT = 20_000;
const KEYSTROKES = 2_000;
const WORDS = ['offline', 'first', 'sync', 'engine', 'document', 'viewer', 'writer', 'server', 'merge', 'replica', 'state', 'vector', 'cursor', 'frame', 'socket', 'deflate', 'window', 'update', 'insert', 'delete', 'the', 'a', 'of', 'to', 'and'];
const SYNC = 0; // Hocuspocus message type
const SYNC_STEP_2 = 1; // y-protocols sync message types
const SYNC_UPDATE = 2;

/** `length` characters of varied prose (deterministic; compressible as real text is, not a repeated pattern). */
function prose(length: number, seed: number): string {
  const gen = prng.create(seed);
  let text = '';
  while (text.length < length) text += `${prng.oneOf(gen, WORDS)}${prng.int32(gen, 0, 9) === 0 ? '. ' : ' '}`;
  return text.slice(0, length);
}

async function compressedMessages(server: TestServer, kind: 'broadcast' | 'single'): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = new RegExp(`^concord_compressed_messages_total\\{kind="${kind}"\\} (\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) : 0; // a counter shows a label once it has counted something
}

/** `count` stock HocuspocusProviders on document `name` over `ws`: their texts, updates applied, frames and bytes read. */
function providers(server: TestServer, name: string, token: string, count: number) {
  const sockets: WebSocket[] = [];
  const frames: Uint8Array[] = [];
  class CountingWebSocket extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      sockets.push(this);
      this.on('message', (data: Buffer | ArrayBuffer) => frames.push(new Uint8Array(data)));
    }
  }
  const clients = Array.from({ length: count }, () => {
    const doc = new Y.Doc();
    const websocket = new HocuspocusProviderWebsocket({ url: server.syncUrl, WebSocketPolyfill: CountingWebSocket });
    const provider = new HocuspocusProvider({ websocketProvider: websocket, name, document: doc, token });
    provider.attach();
    onCleanup(() => {
      provider.destroy();
      websocket.destroy();
    });
    const client = { text: doc.getText('t'), provider, updates: 0 };
    doc.on('update', () => void (client.updates += 1));
    return client;
  });
  return {
    clients,
    frames,
    synced: () => waitFor(() => clients.every((client) => client.provider.isSynced), { timeoutMs: 20_000, message: `${name}: providers not synced` }),
    bytesRead: () => sockets.reduce((sum, socket) => sum + ((socket as unknown as { _socket?: Socket })._socket?.bytesRead ?? 0), 0),
  };
}

async function tokens() {
  return {
    write: await mintToken({ sub: 'writer', tenant: 'acme', docs: { '*': 'write' } }),
    read: await mintToken({ sub: 'viewer', tenant: 'acme', docs: { '*': 'read' } }),
  };
}

test('a broadcast is compressed at most once whatever the number of recipients', async () => {
  const server = await startTestServer();
  const { write, read } = await tokens();
  const viewers = providers(server, 'talk', read, VIEWERS);
  const writer = providers(server, 'talk', write, 1).clients[0]!;
  await viewers.synced();
  await waitFor(() => writer.provider.isSynced);
  const viewing = (text: string) => viewers.clients.every((viewer) => viewer.text.toString() === text);

  const broadcastsBefore = await compressedMessages(server, 'broadcast');
  const bytesBefore = viewers.bytesRead();
  writer.text.insert(0, prose(LARGE_TEXT, 1));
  await waitFor(() => viewing(writer.text.toString()), { timeoutMs: 20_000, message: 'the viewers never got the text' });
  const bytes = viewers.bytesRead() - bytesBefore;
  console.log(`[fanout] ${LARGE_TEXT} characters to ${VIEWERS} viewers: ${bytes} bytes read in all`);
  expect(await compressedMessages(server, 'broadcast'), `deflated once per recipient instead of once`).toBe(broadcastsBefore + 1);
  expect(viewers.clients.map((viewer) => viewer.text.length)).toEqual(Array(VIEWERS).fill(LARGE_TEXT));
  expect(bytes, 'the viewers got the text uncompressed').toBeLessThan((VIEWERS * LARGE_TEXT) / 2);

  // A y-websocket viewer on the same document: one more translation, so at most one more compression.
  const yDoc = new Y.Doc();
  const y = new WebsocketProvider(server.yUrl, 'talk', yDoc, { params: { token: read }, disableBc: true, WebSocketPolyfill: WebSocket as never });
  onCleanup(() => y.destroy());
  await waitFor(() => y.synced && yDoc.getText('t').toString() === writer.text.toString(), { message: 'y-websocket viewer not synced' });
  const withYBefore = await compressedMessages(server, 'broadcast');
  writer.text.insert(writer.text.length, prose(LARGE_TEXT, 2));
  const everyone = () => viewing(writer.text.toString()) && yDoc.getText('t').toString() === writer.text.toString();
  await waitFor(everyone, { timeoutMs: 20_000, message: 'not every viewer got the second text' });
  const withY = (await compressedMessages(server, 'broadcast')) - withYBefore;
  expect(withY, 'one compression per protocol, whatever the recipients').toBeLessThanOrEqual(2);
  expect(withY).toBeGreaterThan(0);
  expect(yDoc.getText('t').length).toBe(2 * LARGE_TEXT);
});

test('a client joining a large document gets its first sync compressed, and the changes made meanwhile after it', async () => {
  const server = await startTestServer();
  const { write, read } = await tokens();
  const writer = providers(server, 'big', write, 1).clients[0]!;
  await waitFor(() => writer.provider.isSynced);
  writer.text.insert(0, prose(200_000, 3));
  await waitFor(() => writer.provider.unsyncedChanges === 0, { message: 'the large text was never acknowledged' });
  const singleBefore = await compressedMessages(server, 'single');

  // The writer keeps typing, a word every event-loop turn, while the late joiner connects and receives its first sync.
  const late = providers(server, 'big', read, 1);
  const joiner = late.clients[0]!;
  let typing = true;
  let words = 0;
  const type = () => {
    if (!typing) return;
    writer.text.insert(writer.text.length, ` ${WORDS[words++ % WORDS.length]}`);
    setImmediate(type);
  };
  type();
  await late.synced().finally(() => (typing = false));
  writer.text.insert(writer.text.length, ' the end');
  await waitFor(() => joiner.text.toString() === writer.text.toString(), { timeoutMs: 20_000, message: 'the late joiner never caught up' });

  expect(joiner.text.toString()).toBe(writer.text.toString());
  expect(await compressedMessages(server, 'single'), 'the first sync went uncompressed').toBeGreaterThan(singleBefore);
  // On the wire: the first sync (sync step 2) comes before any update broadcast to the joiner.
  const syncSteps = late.frames.flatMap((frame) => {
    const decoder = decoding.createDecoder(frame);
    decoding.readVarString(decoder); // the document's address
    return decoding.readVarUint(decoder) === SYNC ? [decoding.readVarUint(decoder)] : [];
  });
  expect(syncSteps).toContain(SYNC_UPDATE);
  expect(syncSteps.indexOf(SYNC_UPDATE), 'an update overtook the first sync').toBeGreaterThan(syncSteps.indexOf(SYNC_STEP_2));
  expect(syncSteps.indexOf(SYNC_STEP_2)).toBeGreaterThanOrEqual(0);
});

test('keystrokes typed one per transaction reach every viewer as fewer, compact messages', async () => {
  const server = await startTestServer();
  const { write, read } = await tokens();
  const viewers = providers(server, 'typing', read, VIEWERS);
  const writer = providers(server, 'typing', write, 1).clients[0]!;
  await viewers.synced();
  await waitFor(() => writer.provider.isSynced);
  for (const viewer of viewers.clients) viewer.updates = 0;
  const bytesBefore = viewers.bytesRead();

  const keys = prose(KEYSTROKES, 4);
  for (const key of keys) writer.text.insert(writer.text.length, key); // one transaction, one update message each
  await waitFor(() => viewers.clients.every((viewer) => viewer.text.toString() === keys), { timeoutMs: 20_000, message: 'the viewers never got every keystroke' });

  const updates = viewers.clients.map((viewer) => viewer.updates);
  const bytes = viewers.bytesRead() - bytesBefore;
  console.log(`[fanout] ${KEYSTROKES} keystrokes to ${VIEWERS} viewers: ${Math.min(...updates)}–${Math.max(...updates)} updates each, ${bytes} bytes read in all`);
  expect(Math.max(...updates), 'a message per keystroke').toBeLessThan(KEYSTROKES);
  expect(bytes, 'more than 20 bytes a keystroke per viewer').toBeLessThan(VIEWERS * KEYSTROKES * 20);
  expect(writer.text.toString()).toBe(keys);
});
