/**
 * Slow HTTP requests (issue 14, point 5, header timeout): a client that sends its request headers a byte at a time
 * (slowloris) is cut off once CONCORD_HEADERS_TIMEOUT_MS (default 10 s) has passed, and one that sends its body a byte
 * at a time once CONCORD_REQUEST_TIMEOUT_MS has; meanwhile the server answers everyone else. Node's own limits were
 * 60 s and 5 minutes, checked every 30 s.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { rawSocket } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'concord-test-api-key-that-is-long-enough';
/** How often the slow client sends its next byte. */
const BYTE_EVERY_MS = 250;

interface SlowClient {
  readonly socket: Socket;
  /** What the server sent back. */
  readonly answer: () => string;
  /** When the server closed the connection (ms since the client started), once it has. */
  readonly closedAfterMs: () => number | undefined;
}

/** Sends `head` at once, then `trickle` one byte every BYTE_EVERY_MS (never all of it in time). */
function slowClient(server: TestServer, head: string, trickle: string): SlowClient {
  const socket = connect(server.port, '127.0.0.1');
  const started = Date.now();
  let answer = '';
  let closedAfterMs: number | undefined;
  let next = 0;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (answer += chunk));
  socket.on('error', () => {});
  socket.on('close', () => (closedAfterMs = Date.now() - started));
  socket.write(head);
  const timer = setInterval(() => {
    if (socket.destroyed || next >= trickle.length) return clearInterval(timer);
    socket.write(trickle[next++]!);
  }, BYTE_EVERY_MS);
  return { socket, answer: () => answer, closedAfterMs: () => closedAfterMs };
}

describe('slow HTTP requests', () => {
  test('headers sent a byte at a time: cut off at the headers timeout (default 10 s), others still served', async () => {
    const server = await startTestServer();
    // 400 bytes at 4 a second would take 100 s.
    const client = slowClient(server, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n', `X-Slow: ${'a'.repeat(400)}\r\n\r\n`);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const closedAfterMs = await waitFor(() => client.closedAfterMs(), { timeoutMs: 20_000, message: 'slow client cut off' });
    console.log(`slowloris cut off after ${closedAfterMs} ms; answer: ${JSON.stringify(client.answer().split('\r\n')[0])}`);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 408/);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^concord_refused_requests_total\{status="408"\} 1$/m);
  }, 30_000);

  test('a body sent a byte at a time: cut off at the request timeout', async () => {
    const server = await startTestServer({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000, apiKey: API_KEY });
    const client = slowClient(
      server,
      `POST /api/channels/feed/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Authorization: Bearer ${API_KEY}\r\nContent-Length: 400\r\n\r\n`,
      'x'.repeat(400),
    );
    const closedAfterMs = await waitFor(() => client.closedAfterMs(), { timeoutMs: 15_000, message: 'slow body cut off' });
    console.log(`slow body cut off after ${closedAfterMs} ms; answer: ${JSON.stringify(client.answer().split('\r\n')[0])}`);
    expect(client.answer()).toMatch(/^HTTP\/1\.1 408/);
    expect(closedAfterMs).toBeLessThan(BYTE_EVERY_MS * 400);
  }, 30_000);

  test('a WebSocket stays open past the request timeout (it is a request only until the upgrade)', async () => {
    const server = await startTestServer({ headersTimeoutMs: 1_000, requestTimeoutMs: 1_000 });
    const socket = await rawSocket(server.syncUrl);
    let closed = false;
    void socket.closed.then(() => (closed = true));
    // Three of Node's timeout checks (every 500 ms here) past the request timeout.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(closed).toBe(false);
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
  });
});
