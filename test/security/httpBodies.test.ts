/**
 * Large HTTP bodies (issue 14, point 5): a caller without a valid credential is answered 401 before its body is read,
 * however large and however sent (chunked, or with a Content-Length), and an authenticated body over the route's limit
 * gets 413 as soon as it passes the limit, not once it is all in. Against the built server in its own process, so its
 * RSS is the server's alone: 24 chunked bodies of 40 MB at once used to be buffered before the 401 (~450 MB).
 */
import { request, type ClientRequest } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { makeTempDir } from '../support/server.js';
import { mintToken } from '../support/tokens.js';

const MIB = 1024 * 1024;
const API_KEY = 'concord-test-api-key-that-is-long-enough';
/** Each attacker's body. */
const BODY_BYTES = 40 * MIB;
const CHUNK = Buffer.alloc(64 * 1024, '{"fields":{"a":"'.padEnd(64, 'x'));
/** Requests sent at once. */
const CONCURRENT = 24;
/**
 * What the server's memory may grow by while they are answered: what arrives before the answer is discarded as it is
 * read, and the garbage of reading it is what remains (+57–60 MB seen here). Before, each body was buffered up to the
 * route's limit (8 MiB for a document change) before the answer: +145 MB here.
 */
const RSS_GROWTH_BOUND_BYTES = 100 * MIB;

interface Outcome {
  readonly status: number;
  readonly body: string;
  /** Bytes of the body the client had written when the answer arrived. */
  readonly sentWhenAnswered: number;
}

/**
 * POSTs `BODY_BYTES` of JSON-looking bytes, chunked (or with a Content-Length when `declareLength`), writing as fast as
 * the connection takes them, and stops writing once the answer arrives.
 */
function postLarge(server: ServerProcess, path: string, authorization: string | undefined, declareLength = false): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (authorization !== undefined) headers.authorization = authorization;
    if (declareLength) headers['content-length'] = String(BODY_BYTES);
    const url = new URL(server.url);
    let sent = 0;
    let answered = false;
    const req: ClientRequest = request({ host: url.hostname, port: url.port, path, method: 'POST', headers }, (res) => {
      answered = true;
      const sentWhenAnswered = sent;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body, sentWhenAnswered });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      // The server closing the connection after its answer resets what was still being written.
      if (!answered) reject(error);
    });
    const pump = () => {
      while (!answered && sent < BODY_BYTES) {
        sent += CHUNK.length;
        if (!req.write(CHUNK)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

async function rss(server: ServerProcess): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } })).text();
  return Number(/^process_resident_memory_bytes (\S+)$/m.exec(text)?.[1] ?? 0);
}

async function startServer(): Promise<ServerProcess> {
  const dataDir = join(await makeTempDir('concord-http-bodies-'), 'data');
  await mkdir(dataDir, { recursive: true });
  return spawnServer({ dataDir, args: ['--api-key', API_KEY] });
}

describe('large HTTP bodies', () => {
  test('without a valid credential: 401 before the body is read, chunked or not, memory bounded', async () => {
    const server = await startServer();
    const baseline = await rss(server);
    let peak = baseline;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) peak = Math.max(peak, await rss(server));
    })();
    const attempts = Array.from({ length: CONCURRENT }, (_, i) => {
      const path = i % 6 === 5 ? '/api/channels/feed/events' : '/api/documents/notes/changes';
      const authorization = i % 3 === 0 ? undefined : i % 3 === 1 ? 'Bearer not-a-key-nor-a-token' : `Bearer ${API_KEY.slice(1)}x`;
      return postLarge(server, path, authorization, i % 4 === 3);
    });
    const outcomes = await Promise.all(attempts).finally(() => (sampling = false));
    await sampler;
    peak = Math.max(peak, await rss(server));
    console.log(`RSS ${Math.round(baseline / MIB)} MB → peak ${Math.round(peak / MIB)} MB; sent before the answer: up to ${Math.round(Math.max(...outcomes.map((o) => o.sentWhenAnswered)) / MIB)} MB`);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe(401);
      expect(JSON.parse(outcome.body)).toHaveProperty('error');
      expect(outcome.sentWhenAnswered).toBeLessThan(BODY_BYTES); // answered while the body was still being sent
    }
    expect(peak - baseline).toBeLessThan(RSS_GROWTH_BOUND_BYTES);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } })).text();
    expect(metrics).toMatch(new RegExp(`^concord_refused_requests_total\\{status="401"\\} ${CONCURRENT}$`, 'm'));
  });

  test('a token without the grant: 403 before the body is read', async () => {
    const server = await startServer();
    const token = await mintToken({ sub: 'mallory', docs: { other: 'write' } });
    const outcome = await postLarge(server, '/api/documents/notes/changes', `Bearer ${token}`);
    expect(outcome.status).toBe(403);
    expect(outcome.sentWhenAnswered).toBeLessThan(BODY_BYTES);
  });

  test('with the API key, a chunked body over the limit: 413 as soon as it passes the limit', async () => {
    const server = await startServer();
    const outcome = await postLarge(server, '/api/channels/feed/events', `Bearer ${API_KEY}`);
    expect(outcome.status).toBe(413);
    expect(outcome.sentWhenAnswered).toBeLessThan(BODY_BYTES);
    // A body within the limit is still taken.
    const ok = await fetch(`${server.url}/api/channels/feed/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'ping', payload: { n: 1 } }),
    });
    expect(ok.status).toBe(200);
  });
});
