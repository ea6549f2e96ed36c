/**
 * A client that stops reading (issue 14, point 5, per-connection send buffer): with a read grant it asks again and
 * again for the whole document (sync step 1 with an empty state vector) or for its channel's events from the start,
 * and never reads the answers. The server closes it with 4507 once it holds more than CONCORD_MAX_SEND_BUFFER_BYTES
 * (plus one of its largest frames) unsent for it, its memory stays bounded, and a client that reads still syncs the
 * same document. Against the built server in its own process, so its RSS is the server's alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CloseCode } from '@concord/engine';
import * as encoding from 'lib0/encoding';
import { describe, expect, test } from 'vitest';
import type { Socket } from 'node:net';
import * as Y from 'yjs';
import { frames, hocuspocusClient, rawSocket, type RawSocket } from '../support/clients.js';
import * as decoding from 'lib0/decoding';
import { WebSocket } from 'ws';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const MIB = 1024 * 1024;
/** Text in the document, random so that compression does not shrink the answers away. */
const DOCUMENT_BYTES = 3 * MIB;
/** Full-state requests the attacker sends at most; unbounded, the server would hold them all: ~450 MB. */
const MAX_REQUESTS = 150;
/**
 * What the server's memory may grow by during the attack: the budget (4 MiB), two answers (~6 MB), the kernel's and
 * the heap's slack. Before the limit it grew by hundreds of MB.
 */
const RSS_GROWTH_BOUND_BYTES = 120 * MIB;
const API_KEY = 'concord-test-api-key-that-is-long-enough';

async function scrape(server: ServerProcess): Promise<string> {
  const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } });
  return response.text();
}

function metric(text: string, pattern: RegExp): number {
  const match = pattern.exec(text);
  return match ? Number(match[1]) : 0;
}

const rssOf = (text: string) => metric(text, /^process_resident_memory_bytes (\S+)$/m);
const openConnectionsOf = (text: string) => metric(text, /^concord_connections\{protocol="hocuspocus"\} (\S+)$/m);
const sendBufferClosesOf = (text: string) => metric(text, /^concord_rejected_connections_total\{reason="send-buffer-full"\} (\S+)$/m);

async function startServer(): Promise<ServerProcess> {
  const dataDir = await makeTempDir('concord-send-buffer-');
  await mkdir(join(dataDir, 'data'), { recursive: true });
  return spawnServer({ dataDir: join(dataDir, 'data'), args: ['--api-key', API_KEY] });
}

/** A Hocuspocus Sync step 1 for `document` with an empty state vector: "send me everything". */
function fullStateRequest(document: string): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarString(e, document);
  encoding.writeVarUint(e, 0); // Sync
  encoding.writeVarUint(e, 0); // step 1
  encoding.writeVarUint8Array(e, Y.encodeStateVector(new Y.Doc()));
  return encoding.toUint8Array(e);
}

/** A Hocuspocus Stateless message carrying `payload`. */
function stateless(document: string, payload: string): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarString(e, document);
  encoding.writeVarUint(e, 5); // Stateless
  encoding.writeVarString(e, payload);
  return encoding.toUint8Array(e);
}

/** Full-state requests a reading client sends at once. */
const REPEATED_REQUESTS = 100;

function syncHead(frame: Uint8Array): decoding.Decoder | null {
  try {
    const d = decoding.createDecoder(frame);
    decoding.readVarString(d);
    return decoding.readVarUint(d) === 0 && decoding.readVarUint(d) === 1 ? d : null;
  } catch {
    return null;
  }
}

/** A Hocuspocus Sync step 2 (the answer to a step 1). */
const isSyncStep2 = (frame: Uint8Array) => syncHead(frame) !== null;
const syncStep2Update = (frame: Uint8Array) => decoding.readVarUint8Array(syncHead(frame)!);

/** Opens a raw `/sync` socket authenticated on `document`. */
async function authenticated(server: Pick<ServerProcess | TestServer, 'syncUrl'>, document: string, token: string): Promise<RawSocket> {
  const socket = await rawSocket(server.syncUrl);
  socket.send(frames.auth(document, token));
  await waitFor(() => socket.received.some((frame) => frames.isAuthenticated(frame)), { message: 'authenticated' });
  return socket;
}

/**
 * Stops reading `socket` and sends `request()`, `firstBurst` at once and then five at a time, until the server reports a
 * send-buffer close (or MAX_REQUESTS more went out); returns the highest RSS seen meanwhile.
 */
async function flood(
  server: ServerProcess,
  socket: RawSocket,
  request: () => Uint8Array,
  firstBurst = 5,
): Promise<{ peakRss: number; sent: number }> {
  (socket.ws as unknown as { _socket: Socket })._socket.pause();
  let peakRss = 0;
  let sent = 0;
  let burst = firstBurst;
  while (sent < firstBurst + MAX_REQUESTS) {
    for (let i = 0; i < burst; i++, sent++) socket.send(request());
    burst = 5;
    const text = await scrape(server);
    peakRss = Math.max(peakRss, rssOf(text));
    if (sendBufferClosesOf(text) > 0) break;
  }
  // What was sent in the last burst may still be answered into the buffer: look a little longer.
  for (let i = 0; i < 10; i++) peakRss = Math.max(peakRss, rssOf(await scrape(server)));
  return { peakRss, sent };
}

describe('a client that stops reading', () => {
  test.each([
    ['a few at a time', 5],
    ['150 at once first', 150],
  ])('asking again and again for the whole document (%s): closed with 4507, server memory bounded, readers unaffected', async (_, burst) => {
    const server = await startServer();
    const name = 'big-doc';
    const writer = hocuspocusClient(server, name, await mintToken({ sub: 'writer', docs: { [name]: 'write' } }));
    await writer.whenSynced();
    writer.doc.getText('body').insert(0, randomBytes((DOCUMENT_BYTES * 3) / 4).toString('base64'));
    await waitFor(() => writer.provider.unsyncedChanges === 0, { timeoutMs: 30_000, message: 'document stored' });
    writer.provider.destroy();

    const readToken = await mintToken({ sub: 'mallory', docs: { [name]: 'read' } });
    const attacker = await authenticated(server, name, readToken);
    const baseline = rssOf(await scrape(server));

    const { peakRss, sent } = await flood(server, attacker, () => fullStateRequest(name), burst);
    console.log(`full-state flood: ${sent} requests, RSS ${Math.round(baseline / MIB)} MB → peak ${Math.round(peakRss / MIB)} MB`);
    expect(sendBufferClosesOf(await scrape(server))).toBe(1);
    expect(peakRss - baseline).toBeLessThan(RSS_GROWTH_BOUND_BYTES);

    // The attacker, reading again, finds what was buffered for it and then the close frame with the code.
    (attacker.ws as unknown as { _socket: Socket })._socket.resume();
    const closed = await attacker.closed;
    console.log(`attacker saw close ${closed.code} ${closed.reason}`);
    expect(closed.code).toBe(CloseCode.SendBufferFull);

    const reader = hocuspocusClient(server, name, await mintToken({ sub: 'reader', docs: { [name]: 'read' } }));
    await reader.whenSynced();
    expect(reader.doc.getText('body').length).toBe(DOCUMENT_BYTES);
  });

  test('asking again and again for a channel replay from the start, never reading again: closed, then cut, memory bounded', async () => {
    const server = await startServer();
    const channel = 'feed';
    const address = `#${channel}`;
    // 40 events of ~48 KB: each replay from the start is ~2 MB of JSON.
    for (let i = 0; i < 40; i++) {
      const response = await fetch(`${server.url}/api/channels/${channel}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ event: 'bulk', payload: { data: randomBytes(36 * 1024).toString('base64') } }),
      });
      expect(response.status).toBe(200);
    }
    const token = await mintToken({ sub: 'mallory', docs: { [channel]: 'read', [address]: 'read' } });
    const attacker = await authenticated(server, address, token);
    const baseline = rssOf(await scrape(server));

    const { peakRss, sent } = await flood(server, attacker, () => stateless(address, JSON.stringify({ concord: 'since', epoch: 'any', seq: 0 })), 150);
    console.log(`replay flood: ${sent} requests, RSS ${Math.round(baseline / MIB)} MB → peak ${Math.round(peakRss / MIB)} MB`);
    expect(sendBufferClosesOf(await scrape(server))).toBe(1);
    expect(peakRss - baseline).toBeLessThan(RSS_GROWTH_BOUND_BYTES);

    // It never reads again, so its close handshake never completes: the heartbeat sweep cuts it within two beats
    // (2.5-5 s at the default interval), and what was buffered for it goes with it.
    const cutAfterMs = Date.now();
    await waitFor(async () => openConnectionsOf(await scrape(server)) === 0, { timeoutMs: 15_000, message: 'connection cut' });
    console.log(`cut ${Date.now() - cutAfterMs} ms after the close was seen`);
    (attacker.ws as unknown as { _socket: Socket })._socket.resume();
    // What the kernel already held still arrives, the close frame with it when it got that far; else just the end.
    expect([CloseCode.SendBufferFull, 1006]).toContain((await attacker.closed).code);
  });
});

describe('a client that asks for the whole document many times at once', () => {
  test('and reads: answered once or a few times (the answer covers every copy), not closed', async () => {
    const server = await startTestServer();
    const name = 'asked-often';
    const writer = hocuspocusClient(server, name, await mintToken({ sub: 'writer', docs: { [name]: 'write' } }));
    await writer.whenSynced();
    writer.doc.getText('body').insert(0, randomBytes(384 * 1024).toString('base64'));
    await waitFor(() => writer.provider.unsyncedChanges === 0, { message: 'document stored' });

    const client = await authenticated(server, name, await mintToken({ sub: 'reader', docs: { [name]: 'read', fence: 'read' } }));
    const answersBefore = client.received.filter(isSyncStep2).length;
    for (let i = 0; i < REPEATED_REQUESTS; i++) client.send(fullStateRequest(name));
    const doc = new Y.Doc();
    let read = 0;
    await waitFor(() => {
      for (; read < client.received.length; read++) {
        const frame = client.received[read]!;
        if (isSyncStep2(frame)) Y.applyUpdate(doc, syncStep2Update(frame));
      }
      return doc.getText('body').length === 512 * 1024;
    }, { message: 'the whole document arrived' });
    // The answers Hocuspocus made are in once it has answered what the client sent after the requests: opening
    // another document, which takes a token check and a load.
    client.send(frames.auth('fence', await mintToken({ sub: 'reader', docs: { fence: 'read' } })));
    await waitFor(() => client.received.filter((frame) => frames.isAuthenticated(frame)).length >= 2, { message: 'fence opened' });
    const answers = client.received.filter(isSyncStep2).length - answersBefore;
    console.log(`${REPEATED_REQUESTS} full-state requests at once: ${answers} answered`);
    expect(answers).toBeGreaterThanOrEqual(1);
    expect(answers).toBeLessThan(REPEATED_REQUESTS / 10);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });

  test('over /y/ (y-websocket) too: answered once or a few times, not closed', async () => {
    const server = await startTestServer();
    const name = 'asked-often-y';
    const writer = hocuspocusClient(server, name, await mintToken({ sub: 'writer', docs: { [name]: 'write' } }));
    await writer.whenSynced();
    writer.doc.getText('body').insert(0, randomBytes(384 * 1024).toString('base64'));
    await waitFor(() => writer.provider.unsyncedChanges === 0, { message: 'document stored' });

    const token = await mintToken({ sub: 'reader', docs: { [name]: 'read' } });
    const client = await rawSocket(`${server.yUrl}/${name}?token=${token}`);
    const request = encoding.encode((e) => {
      encoding.writeVarUint(e, 0); // Sync
      encoding.writeVarUint(e, 0); // step 1
      encoding.writeVarUint8Array(e, Y.encodeStateVector(new Y.Doc()));
    });
    const isStep2 = (frame: Uint8Array) => frame[0] === 0 && frame[1] === 1;
    for (let i = 0; i < REPEATED_REQUESTS; i++) client.send(request);
    const doc = new Y.Doc();
    let read = 0;
    await waitFor(() => {
      for (; read < client.received.length; read++) {
        const frame = client.received[read]!;
        if (!isStep2(frame)) continue;
        const d = decoding.createDecoder(frame);
        decoding.readVarUint(d);
        decoding.readVarUint(d);
        Y.applyUpdate(doc, decoding.readVarUint8Array(d));
      }
      return doc.getText('body').length === 512 * 1024;
    }, { message: 'the whole document arrived' });
    // Whatever else was answered is in once an edit made after that has reached the client.
    writer.doc.getText('fence').insert(0, 'x');
    await waitFor(() => client.received.some((frame) => frame[0] === 0 && frame[1] === 2), { message: 'a later edit arrived' });
    const answers = client.received.filter(isStep2).length;
    console.log(`${REPEATED_REQUESTS} full-state requests at once over /y/: ${answers} answered`);
    expect(doc.getText('body').length).toBe(512 * 1024);
    expect(answers).toBeLessThan(REPEATED_REQUESTS / 10);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
  });
});
