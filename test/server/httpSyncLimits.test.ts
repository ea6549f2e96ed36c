/**
 * Issue 18 point 1: the limits of the socket layer hold for the HTTP fallback of `/sync` as they do for a WebSocket
 * (docs/http-fallback-design.md, "Failure cases" and "Tests to write"), against a real server over real HTTP:
 * - the send budget (Outbound.ts): a session that stops polling while a peer writes is closed 4507, reads the close
 *   record when it comes back, and is freed;
 * - what a socket may do before it authenticates (SocketLimits.ts, limits.ts): the deadline (4408), the byte budget
 *   (1009), the cap on unauthenticated connections (HTTP 503), side by side with a WebSocket in the same situation;
 * - CORS for `/api/sync/*` with CONCORD_ALLOWED_ORIGINS (preflight and actual requests), and none without it;
 * - beyond a WebSocket's limits, at most four POSTs of one session read at once (HttpSession.MAX_POSTS_READ_AT_ONCE).
 */
import { randomBytes } from 'node:crypto';
import { CloseCode, CloseReason } from '@concord/engine';
import { describe, expect, test } from 'vitest';
import { frames, hocuspocusClient, rawSocket, serverDocument } from '../support/clients.js';
import { metricValue, tryOpen } from '../support/probes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';
import { acknowledgements, authenticated, body, frameHead, open, SESSIONS, streamingPost, syncStep1, textOf, textUpdate } from './httpSyncClient.js';

const token = (sub = 'u') => mintToken({ sub, tenant: 'acme', docs: { '*': 'write' } });

const connections = async (server: TestServer) => ((await (await fetch(`${server.url}/healthz`)).json()) as { connections: number }).connections;

describe('the send budget over HTTP', () => {
  test('a session that stops polling while a peer writes is closed 4507, reads the close record, and is freed; others keep working', async () => {
    const BUDGET = 64 * 1024; // the smallest CONCORD_MAX_SEND_BUFFER_BYTES
    // A heartbeat long enough that the stalled session is not dropped for silence (two beats) before its budget runs out.
    const server = await startTestServer({ maxSendBufferBytes: BUDGET, heartbeatIntervalMs: 5_000 });
    const writer = hocuspocusClient(server, 'doc', await token('writer'));
    await writer.whenSynced();
    const stalled = await open(server);
    await stalled.send([frames.auth('doc', await token('stalled'))]);
    await stalled.pollUntil(authenticated('doc'), 'the Authenticated reply');
    const readBeforeStall = stalled.received.length;

    // From here on the session does not poll. The writer types 4 KiB edits (random: nothing shrinks them), one a turn,
    // until the server reports a connection closed for its send buffer.
    const sendBufferCloses = () => metricValue(server.url, 'concord_rejected_connections_total', 'reason="send-buffer-full"');
    let written = 0;
    await waitFor(
      async () => {
        writer.doc.getText('t').insert(0, randomBytes(3 * 1024).toString('base64'));
        written += 4 * 1024;
        return (await sendBufferCloses()) === 1;
      },
      { message: 'a send-buffer close', timeoutMs: 15_000 },
    );
    expect(written).toBeGreaterThan(BUDGET);

    // The client comes back: what was held for it, then the close record with the code and reason a WebSocket gets.
    const close = await stalled.pollUntilClosed('the close record');
    expect(close).toEqual({ code: CloseCode.SendBufferFull, reason: CloseReason.SendBufferFull });
    expect(stalled.received.length).toBeGreaterThan(readBeforeStall);
    expect(textOf(stalled.received, 'doc').length).toBeGreaterThan(0);

    // It read the close and goes quiet (no acknowledging poll, no goodbye): the server frees the session by itself.
    await waitFor(async () => (await connections(server)) === 1, { message: 'the session to be freed', timeoutMs: 15_000 });
    expect((await fetch(`${stalled.url}?after=${stalled.after}`)).status).toBe(404);
    expect((await fetch(`${stalled.url}?seq=${stalled.seq}`, { method: 'POST', body: new Uint8Array([1, 0]) })).status).toBe(404);

    // The server is up, the writer kept its socket and its edits, and a new HTTP session gets the whole document.
    expect(writer.provider.isSynced).toBe(true);
    await waitFor(() => writer.provider.unsyncedChanges === 0, { message: 'the writer acknowledged' });
    writer.doc.getText('t').insert(0, 'after ');
    const fresh = await open(server);
    await fresh.send([frames.auth('doc', await token('fresh')), syncStep1('doc')]);
    await fresh.pollUntil((received) => textOf(received, 'doc') === writer.doc.getText('t').toString(), 'the whole document over a new session');
    expect(await sendBufferCloses()).toBe(1);
  });
});

describe('before authentication, an HTTP session is held to what a WebSocket is', () => {
  test('the deadline: neither authenticates, both are closed 4408 with the same reason; the session is freed', async () => {
    const server = await startTestServer({ authTimeoutMs: 1_000 });
    const ws = await rawSocket(server.syncUrl);
    const session = await open(server);
    // Frames that are not a token, and polls that show the client alive, do not extend the deadline.
    ws.send(textUpdate('doc', 'no token'));
    expect((await session.send([textUpdate('doc', 'no token')])).status).toBe(200);

    const httpClose = await session.pollUntilClosed('the close record');
    const wsClose = await ws.closed;
    expect(wsClose).toEqual({ code: CloseCode.AuthenticationTimeout, reason: CloseReason.AuthenticationTimeout });
    expect(httpClose).toEqual(wsClose);
    await waitFor(async () => (await connections(server)) === 0, { message: 'both freed' });
    expect((await fetch(`${session.url}?after=${session.after}`)).status).toBe(404);
    expect(await metricValue(server.url, 'concord_rejected_connections_total', 'reason="auth-timeout"')).toBe(2);
  });

  test('the byte budget: frames each under the limit that pass it together close both 1009 with the same reason', async () => {
    const server = await startTestServer({ maxBytesBeforeAuth: 16 * 1024 });
    const chunk = () => textUpdate('doc', 'y'.repeat(6 * 1024));
    const ws = await rawSocket(server.syncUrl);
    for (let i = 0; i < 3; i++) ws.send(chunk());
    const session = await open(server);
    expect((await session.send([chunk()])).status).toBe(200);
    expect((await session.send([chunk(), chunk()])).status).toBe(200);

    const httpClose = await session.pollUntilClosed('the close record');
    const wsClose = await ws.closed;
    expect(wsClose).toEqual({ code: CloseCode.MessageTooBig, reason: CloseReason.TooMuchBeforeAuthentication });
    expect(httpClose).toEqual(wsClose);
    await waitFor(async () => (await connections(server)) === 0, { message: 'both freed' });
    expect(await metricValue(server.url, 'concord_rejected_connections_total', 'reason="pre-auth-bytes"')).toBe(2);

    // A session that authenticated first sends the same frames and stays.
    const writer = await open(server);
    await writer.send([frames.auth('doc', await token())]);
    await writer.pollUntil(authenticated('doc'), 'the Authenticated reply');
    expect((await writer.send([chunk(), chunk(), chunk()])).status).toBe(200);
    await writer.pollUntil((received) => acknowledgements(received) === 3, 'the three edits acknowledged');
    expect(writer.close).toBeUndefined();
    expect(await metricValue(server.url, 'concord_rejected_connections_total', 'reason="pre-auth-bytes"')).toBe(2);
  });

  test('a frame whose length is over the limit is refused from its length, before its bytes arrive, as ws refuses it from its header', async () => {
    const server = await startTestServer({ maxBytesBeforeAuth: 16 * 1024 });
    const FRAME = 1024 * 1024; // under CONCORD_MAX_MESSAGE_BYTES (a body that size is allowed), over the pre-authentication limit
    const ws = await rawSocket(server.syncUrl);
    ws.ws.on('error', () => {}); // writes after the server closed
    ws.send(new Uint8Array(FRAME));
    const session = await open(server);
    const head = frameHead(FRAME);
    const post = streamingPost(`${session.url}?seq=1`, head.byteLength + FRAME);
    await post.write(new Uint8Array([...head, ...new Uint8Array(1024)])); // the length and the first KiB; the rest never comes

    expect((await post.answered('an answer before the rest of the body')).status).toBe(200);
    const httpClose = await session.pollUntilClosed('the close record');
    const wsClose = await ws.closed;
    expect(wsClose.code).toBe(CloseCode.MessageTooBig);
    expect(httpClose.code).toBe(wsClose.code);
    await waitFor(async () => (await connections(server)) === 0, { message: 'both freed' });
    expect(await metricValue(server.url, 'concord_rejected_connections_total', 'reason="pre-auth-bytes"')).toBe(2);
  });

  test('a retry that overlaps the POST it repeats, both being read, handles each seq once and in order', async () => {
    const server = await startTestServer();
    const session = await open(server);
    await session.send([frames.auth('doc', await token())]);
    await session.pollUntil(authenticated('doc'), 'the Authenticated reply');
    const [a2, a3] = [textUpdate('doc', 'a2'), textUpdate('doc', 'a3')];
    const [b2, b3, b4] = [textUpdate('doc', 'b2'), textUpdate('doc', 'b3'), textUpdate('doc', 'b4')];
    const first = body(a2, a3);
    const a2Bytes = body(a2).byteLength;
    const textNow = () => serverDocument(server, 'acme', 'doc')?.getText('t').toString() ?? '';

    // The first POST (from seq 2: a2 a3) sends a2 whole, then a3's length and its first byte: a2 is applied at once.
    const post = streamingPost(`${session.url}?seq=2`, first.byteLength);
    await post.write(first.subarray(0, a2Bytes + 2));
    await waitFor(() => textNow().includes('a2'), { message: 'a2 applied while the rest of its POST is on its way' });

    // Another POST from seq 2 while a3 is being read (distinct frames, to see which one was applied): seq 2 is done,
    // seq 3 and 4 are new.
    const retried = await fetch(`${session.url}?seq=2`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: body(b2, b3, b4) });
    expect(await retried.json()).toEqual({ received: 4 });
    // The rest of a3 arrives: seq 3 was handled meanwhile, so a3 is dropped, as a repeated frame is.
    await post.write(first.subarray(a2Bytes + 2));
    post.end();
    expect(await post.answered('the first POST')).toEqual({ status: 200, json: { received: 4 } });
    await session.send([textUpdate('doc', 'c5')], 5);
    await waitFor(() => textNow().includes('c5'), { message: 'the next frame applied' });
    const text = textNow();
    expect(text).toHaveLength(8); // a2 b3 b4 c5
    for (const part of ['a2', 'b3', 'b4']) expect(text).toContain(part);
    for (const part of ['a3', 'b2']) expect(text).not.toContain(part);
  });

  test('the cap on unauthenticated connections counts sessions and WebSockets together; over it both are refused 503', async () => {
    const server = await startTestServer({ maxUnauthenticatedConnections: 2 });
    const ws = await rawSocket(server.syncUrl);
    const waiting = await open(server);
    expect(await metricValue(server.url, 'concord_unauthenticated_connections')).toBe(2);

    const refusedOpen = await fetch(`${server.url}${SESSIONS}`, { method: 'POST' });
    expect(refusedOpen.status).toBe(503);
    expect(((await refusedOpen.json()) as { error: string }).error).toMatch(/waiting to authenticate/);
    expect(await tryOpen(server.syncUrl)).toEqual({ status: 503 });

    // One authenticates: a place is free again, for either transport.
    await waiting.send([frames.auth('doc', await token())]);
    await waiting.pollUntil(authenticated('doc'), 'the Authenticated reply');
    await open(server);
    expect(await tryOpen(server.syncUrl)).toEqual({ status: 503 });
    ws.ws.close();
    await waitFor(async () => (await metricValue(server.url, 'concord_unauthenticated_connections')) === 1, { message: 'the WebSocket to leave' });
    expect(await tryOpen(server.syncUrl)).toHaveProperty('ws');
  });
});

describe('CORS for the HTTP fallback', () => {
  const APP = 'https://app.example';
  const EVIL = 'https://evil.example';
  const preflight = (url: string, origin: string, method = 'POST') =>
    fetch(url, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': method, 'Access-Control-Request-Headers': 'content-type' } });
  const list = (value: string | null) => (value ?? '').split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);

  test('with CONCORD_ALLOWED_ORIGINS: preflights from a listed origin pass, others are refused; answers carry the origin', async () => {
    const server = await startTestServer({ allowedOrigins: APP });
    const paths = [SESSIONS, `${SESSIONS}/AAAAAAAAAAAAAAAAAAAAAA`, `${SESSIONS}/AAAAAAAAAAAAAAAAAAAAAA/close`];
    for (const path of paths) {
      for (const method of ['POST', 'GET']) {
        const allowed = await preflight(`${server.url}${path}`, APP, method);
        expect(allowed.status, `${method} ${path}`).toBe(204);
        expect(allowed.headers.get('access-control-allow-origin')).toBe(APP);
        expect(list(allowed.headers.get('access-control-allow-methods'))).toEqual(expect.arrayContaining(['get', 'post']));
        expect(list(allowed.headers.get('access-control-allow-headers'))).toContain('content-type');
        expect(list(allowed.headers.get('vary'))).toEqual(['origin']);
      }
      const refused = await preflight(`${server.url}${path}`, EVIL);
      expect(refused.status, path).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    }

    // The requests that follow, from the listed origin: each answer names it (else the browser hides it from the page).
    const session = await open(server, { Origin: APP });
    const opened = await fetch(`${server.url}${SESSIONS}`, { method: 'POST', headers: { Origin: APP } });
    expect(opened.status).toBe(201);
    expect(opened.headers.get('access-control-allow-origin')).toBe(APP);
    expect(list(opened.headers.get('vary'))).toEqual(['origin']);
    const sent = await fetch(`${session.url}?seq=1`, {
      method: 'POST',
      headers: { Origin: APP, 'Content-Type': 'application/octet-stream' },
      body: body(frames.auth('doc', await token())),
    });
    expect(sent.status).toBe(200);
    expect(sent.headers.get('access-control-allow-origin')).toBe(APP);
    const polled = await fetch(`${session.url}?after=0`, { headers: { Origin: APP } });
    expect(polled.status).toBe(200);
    expect(polled.headers.get('access-control-allow-origin')).toBe(APP);
    const closed = await fetch(`${session.url}/close`, { method: 'POST', headers: { Origin: APP } });
    expect(closed.status).toBe(204);
    expect(closed.headers.get('access-control-allow-origin')).toBe(APP);
    // An unlisted origin gets no CORS header on an actual request either.
    const other = await fetch(`${server.url}${SESSIONS}`, { method: 'POST', headers: { Origin: EVIL } });
    expect(other.status).toBe(403);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  test('without CONCORD_ALLOWED_ORIGINS a cross-origin preflight is refused', async () => {
    const server = await startTestServer();
    for (const path of [SESSIONS, `${SESSIONS}/AAAAAAAAAAAAAAAAAAAAAA`]) {
      const refused = await preflight(`${server.url}${path}`, APP);
      expect(refused.status, path).toBe(403);
      expect(refused.headers.get('access-control-allow-origin')).toBeNull();
      expect(refused.headers.get('access-control-allow-methods')).toBeNull();
    }
    const opened = await fetch(`${server.url}${SESSIONS}`, { method: 'POST', headers: { Origin: APP } });
    expect(opened.status).toBe(403);
    expect(opened.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('beyond what a WebSocket is held to', () => {
  test('at most four POSTs of a session are read at once: a fifth is refused 429 unread, and the session goes on', async () => {
    const server = await startTestServer();
    const session = await open(server);
    await session.send([frames.auth('doc', await token())]);
    await session.pollUntil(authenticated('doc'), 'the Authenticated reply');
    const textNow = () => serverDocument(server, 'acme', 'doc')?.getText('t').toString() ?? '';

    // Four POSTs (seq 2, 3, 4, 5), each sending its first frame whole and stopping inside its second: each is being read
    // once its first frame is applied.
    const posts = [];
    for (const [i, seq] of [2, 3, 4, 5].entries()) {
      const [first, second] = [textUpdate('doc', `w${seq}`), textUpdate('doc', `h${seq + 1}`)];
      const whole = body(first, second);
      const post = streamingPost(`${session.url}?seq=${seq}`, whole.byteLength);
      await post.write(whole.subarray(0, body(first).byteLength + 2));
      await waitFor(() => textNow().includes(`w${seq}`), { message: `POST ${i + 1} being read` });
      posts.push({ post, rest: whole.subarray(body(first).byteLength + 2) });
    }

    const refused = await fetch(`${session.url}?seq=6`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: body(textUpdate('doc', 'x6')) });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ error: 'more than 4 POSTs of this session at once' });

    // The four end, the last first: seq 3 to 5 were handled by the next POST, so only the last one's second frame
    // (seq 6) is new.
    for (const [i, { post, rest }] of [...posts.entries()].reverse()) {
      await post.write(rest);
      post.end();
      expect(await post.answered(`POST ${i + 1}`)).toEqual({ status: 200, json: { received: 6 } });
    }
    await session.send([textUpdate('doc', 'n7')], 7);
    await waitFor(() => textNow().includes('n7'), { message: 'the next POST applied' });
    const text = textNow();
    for (const part of ['w2', 'w3', 'w4', 'w5', 'h6', 'n7']) expect(text).toContain(part);
    for (const part of ['h3', 'h4', 'h5', 'x6']) expect(text).not.toContain(part);
    expect(text).toHaveLength(12);
    expect(await metricValue(server.url, 'concord_http_sync_requests_total', 'kind="send",status="429"')).toBe(1);
  });
});
