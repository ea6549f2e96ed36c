/**
 * Issue 18 point 1, the server side of the HTTP fallback of `/sync` (docs/http-fallback-design.md): sessions opened
 * with `POST /api/sync/sessions` carry the same Hocuspocus frames as a WebSocket, numbered both ways, under the same
 * socket layer (origin checks, durability gate, revocation). Raw requests with hand-made frames, against a real server.
 */
import { LevelStore } from '@concord/server';
import * as decoding from 'lib0/decoding';
import { describe, expect, test } from 'vitest';
import { frames, hocuspocusClient, rawSocket, serverDocument } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { FaultyStore } from '../support/faultyStore.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';
import {
  acknowledgements,
  AUTH,
  authenticated,
  body,
  open,
  PERMISSION_DENIED,
  readRecords,
  SESSIONS,
  streamingPost,
  textOf,
  textUpdate,
} from './httpSyncClient.js';

const API_KEY = 'http-sync-test-api-key-that-is-long-enough-0123456789';
const token = (sub = 'u') => mintToken({ sub, tenant: 'acme', docs: { '*': 'write' } });

describe('HTTP sessions of /sync', () => {
  test('carry frames both ways between an HTTP client and a WebSocket peer', async () => {
    const server = await startTestServer();
    const peer = hocuspocusClient(server, 'doc', await token('peer'));
    await peer.whenSynced();
    const session = await open(server);
    expect((await session.send([frames.auth('doc', await token())])).json).toEqual({ received: 1 });
    await session.pollUntil(authenticated('doc'), 'the Authenticated reply');

    expect((await session.send([textUpdate('doc', 'over http')])).status).toBe(200);
    await waitFor(() => peer.doc.getText('t').toString() === 'over http', { message: 'the WebSocket peer to get the HTTP edit' });

    peer.doc.getText('t').insert(0, 'ws says ');
    await session.pollUntil((received) => textOf(received, 'doc').includes('ws says'), 'the peer edit over HTTP');
    expect(serverDocument(server, 'acme', 'doc')!.getText('t').toString()).toBe('ws says over http');
  });

  test('a repeated POST is applied once; a gap is refused; a lost poll answer is sent again', async () => {
    const server = await startTestServer();
    const session = await open(server);
    await session.send([frames.auth('doc', await token())]);
    await session.pollUntil(authenticated('doc'), 'the Authenticated reply');

    const update = textUpdate('doc', 'once');
    expect((await session.send([update], 2)).json).toEqual({ received: 2 });
    expect((await session.send([update], 2)).json, 'the retry is dropped').toEqual({ received: 2 });
    expect(await session.send([update], 5)).toEqual({ status: 409, json: { received: 2 } });
    await session.pollUntil((received) => acknowledgements(received) >= 1, 'the acknowledgement');
    // One message, one acknowledgement: a second would mean the repeated POST was handled twice.
    await session.send([frames.auth('other', await token())], 3);
    await session.pollUntil(authenticated('other'), 'the second document');
    expect(acknowledgements(session.received)).toBe(1);

    // A poll whose answer is lost: the next one, from the same `after`, gets the same frames again.
    const before = session.after;
    await session.send([textUpdate('doc', 'again')], 4);
    const first = await session.poll(before);
    expect(first.status).toBe(200);
    const again = await session.poll(before);
    expect(again.records!.firstSeq).toBe(first.records!.firstSeq);
    // The same frames again (and any sent since, after them).
    const firstFrames = first.records!.frames.map((frame) => [...frame]);
    expect(again.records!.frames.slice(0, firstFrames.length).map((frame) => [...frame])).toEqual(firstFrames);
    // Once read (`after` past them), they are gone.
    const next = fetch(`${session.url}?after=${session.after}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await session.send([frames.auth('third', await token())], 5);
    const records = readRecords(new Uint8Array(await (await next).arrayBuffer()));
    expect(records.firstSeq).toBe(session.after + 1);
  });

  test('bad framing answers 400 and closes the session 4400; unknown sessions are 404', async () => {
    const server = await startTestServer();
    const session = await open(server);
    const bad = await fetch(`${session.url}?seq=1`, { method: 'POST', body: new Uint8Array([0x85]) });
    expect(bad.status).toBe(400);
    await waitFor(async () => (await session.poll()) && session.close !== undefined, { message: 'the close record' });
    expect(session.close!.code).toBe(4400);
    await waitFor(async () => (await fetch(`${session.url}?after=${session.after}`)).status === 404, { message: 'the session to be gone' });

    expect((await fetch(`${server.url}${SESSIONS}/nosuchsession?after=0`)).status).toBe(404);
    expect((await fetch(`${server.url}${SESSIONS}/nosuchsession?seq=1`, { method: 'POST', body: body(new Uint8Array([1])) })).status).toBe(404);
  });

  test('origins are checked as for WebSockets, and a session answers only its opener\'s origin', async () => {
    const server = await startTestServer();
    const refused = await fetch(`${server.url}${SESSIONS}`, { method: 'POST', headers: { Origin: 'https://evil.example' } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toMatch(/origin https:\/\/evil.example is not allowed/);
    await expect(rawSocket(server.syncUrl, { Origin: 'https://evil.example' })).rejects.toThrow(/403/);

    const sameOrigin = new URL(server.url).origin;
    const session = await open(server, { Origin: sameOrigin });
    const other = await fetch(`${session.url}?after=0`, { headers: { Origin: 'https://evil.example' } });
    expect(other.status).toBe(403);

    const listed = await startTestServer({ allowedOrigins: 'https://app.example' });
    expect((await fetch(`${listed.url}${SESSIONS}`, { method: 'POST', headers: { Origin: 'https://app.example' } })).headers.get('access-control-allow-origin')).toBe(
      'https://app.example',
    );
    expect((await fetch(`${listed.url}${SESSIONS}`, { method: 'POST', headers: { Origin: sameOrigin } })).status).toBe(403);
  });

  test('the acknowledgement waits for the durable write', async () => {
    const store = new FaultyStore(await LevelStore.open(await makeTempDir('concord-faulty-')));
    onCleanup(() => store.close());
    const server = await startTestServer({ store });
    const peer = hocuspocusClient(server, 'doc', await token('peer'));
    await peer.whenSynced();
    const session = await open(server);
    await session.send([frames.auth('doc', await token())]);
    await session.pollUntil(authenticated('doc'), 'the Authenticated reply');

    store.hold();
    await session.send([textUpdate('doc', 'durable')]);
    await waitFor(() => peer.doc.getText('t').toString() === 'durable', { message: 'the peer to see the edit at once' });
    // Two polls of a whole heartbeat each: frames (pings) arrive, the acknowledgement does not.
    for (let i = 0; i < 2; i++) await session.poll();
    expect(acknowledgements(session.received)).toBe(0);
    store.release();
    await session.pollUntil((received) => acknowledgements(received) === 1, 'the acknowledgement once stored');
  });

  test('a revocation reaches an HTTP session as the same PermissionDenied "revoked" frame as a WebSocket', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const malloryToken = await token('mallory');
    const ws = await rawSocket(server.syncUrl);
    ws.send(frames.auth('project-1', malloryToken));
    const session = await open(server);
    await session.send([frames.auth('project-1', malloryToken)]);
    await session.pollUntil(authenticated('project-1'), 'the Authenticated reply');
    await waitFor(() => ws.received.some(frames.isAuthenticated));

    const revoked = await fetch(`${server.url}/api/revocations?tenant=acme`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'mallory', documents: 'project-*' }),
    });
    expect(((await revoked.json()) as { sessions: number }).sessions).toBe(2);
    const denied = (frame: Uint8Array) => {
      const decoder = decoding.createDecoder(frame);
      decoding.readVarString(decoder);
      return decoding.readVarUint(decoder) === AUTH && decoding.readVarUint(decoder) === PERMISSION_DENIED;
    };
    await session.pollUntil((received) => received.some(denied), 'PermissionDenied over HTTP');
    await waitFor(() => ws.received.some(denied), { message: 'PermissionDenied over WebSocket' });
    expect([...session.received.find(denied)!]).toEqual([...ws.received.find(denied)!]);
    expect(new TextDecoder().decode(session.received.find(denied)!)).toContain('revoked');
  });

  test('limits: a frame over the size limit closes the session 1009; a body over maxBodyBytes is 413', async () => {
    const server = await startTestServer({ maxBytesBeforeAuth: 4096, maxMessageBytes: 16 * 1024 });
    const session = await open(server);
    const big = await fetch(`${session.url}?seq=1`, { method: 'POST', body: body(new Uint8Array(64 * 1024)) });
    expect(big.status).toBe(413);
    // Refused from its Content-Length, before a byte of the body is sent.
    const announced = streamingPost(`${session.url}?seq=1`, 64 * 1024);
    expect((await announced.answered('an answer without the body')).status).toBe(413);
    expect((await session.send([new Uint8Array(5000)])).status).toBe(200); // over the pre-authentication frame limit
    await waitFor(async () => (await session.poll()) && session.close !== undefined, { message: 'the close record' });
    expect(session.close!.code).toBe(1009);

    // A body without a Content-Length (chunked) is counted as it is read: 413 once past maxBodyBytes. Its frames are
    // Pongs (harmless; 9 000 of them, 2 bytes each, stay under the message burst).
    const other = await open(server);
    await other.send([frames.auth('doc', await token())]);
    await other.pollUntil(authenticated('doc'), 'the Authenticated reply');
    const pongs = body(...Array.from({ length: 9_000 }, () => new Uint8Array([10])));
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let at = 0; at < pongs.byteLength; at += 1024) controller.enqueue(pongs.slice(at, at + 1024));
        controller.close();
      },
    });
    const chunked = await fetch(`${other.url}?seq=2`, { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
  });

  test('a session that stops polling is dropped after two silent heartbeats; shutdown sends a 1012 close record', async () => {
    const server = await startTestServer({ heartbeatIntervalMs: 500 });
    const silent = await open(server);
    await silent.send([frames.auth('doc', await token())]);
    const polling = await open(server);
    const connections = async () => ((await (await fetch(`${server.url}/healthz`)).json()) as { connections: number }).connections;
    expect(await connections()).toBe(2);
    // Polling the silent session would show it alive: the count of connections tells, and the poller keeps polling.
    const keepPolling = (async () => {
      while (!polling.close && (await polling.poll()).status !== 404);
    })();
    const droppedAt = Date.now();
    await waitFor(async () => (await connections()) === 1, { message: 'the silent session to be dropped', timeoutMs: 5_000 });
    expect(Date.now() - droppedAt).toBeLessThan(2_000); // two to three beats of 500 ms
    expect((await fetch(`${silent.url}?after=0`)).status).toBe(404);

    await server.stop();
    await keepPolling;
    expect(polling.close?.code).toBe(1012);
  });
});
