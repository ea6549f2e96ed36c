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
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { makeTempDir } from '../support/server.js';
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

/** Opens a raw `/sync` socket authenticated on `document`. */
async function authenticated(server: ServerProcess, document: string, token: string): Promise<RawSocket> {
  const socket = await rawSocket(server.syncUrl);
  socket.send(frames.auth(document, token));
  await waitFor(() => socket.received.some((frame) => frames.isAuthenticated(frame)), { message: 'authenticated' });
  return socket;
}

/**
 * Stops reading `socket` and sends `request()` in bursts until the server reports a send-buffer close (or
 * MAX_REQUESTS went out); returns the highest RSS seen meanwhile.
 */
async function flood(server: ServerProcess, socket: RawSocket, request: () => Uint8Array): Promise<{ peakRss: number; sent: number }> {
  (socket.ws as unknown as { _socket: Socket })._socket.pause();
  let peakRss = 0;
  let sent = 0;
  while (sent < MAX_REQUESTS) {
    for (let i = 0; i < 5; i++, sent++) socket.send(request());
    const text = await scrape(server);
    peakRss = Math.max(peakRss, rssOf(text));
    if (sendBufferClosesOf(text) > 0) break;
  }
  // What was sent in the last burst may still be answered into the buffer: look a little longer.
  for (let i = 0; i < 10; i++) peakRss = Math.max(peakRss, rssOf(await scrape(server)));
  return { peakRss, sent };
}

describe('a client that stops reading', () => {
  test('asking again and again for the whole document: closed with 4507, server memory bounded, readers unaffected', async () => {
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

    const { peakRss, sent } = await flood(server, attacker, () => fullStateRequest(name));
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

  test('asking again and again for a channel replay from the start: closed with 4507, server memory bounded', async () => {
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

    const { peakRss, sent } = await flood(server, attacker, () => stateless(address, JSON.stringify({ concord: 'since', epoch: 'any', seq: 0 })));
    console.log(`replay flood: ${sent} requests, RSS ${Math.round(baseline / MIB)} MB → peak ${Math.round(peakRss / MIB)} MB`);
    expect(sendBufferClosesOf(await scrape(server))).toBe(1);
    expect(peakRss - baseline).toBeLessThan(RSS_GROWTH_BOUND_BYTES);

    (attacker.ws as unknown as { _socket: Socket })._socket.resume();
    expect((await attacker.closed).code).toBe(CloseCode.SendBufferFull);
  });
});
