/**
 * HTTP hardening (issue 14, point 6): security headers on every served file and API answer, dev mode answering
 * only loopback `Host` names (DNS rebinding), and JSON nested past the depth limit refused with 400 rather than a
 * 500 from a stack overflow. Each runs against a real server.
 */
import { request } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { WebSocket } from 'ws';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';

interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request with a `Host` header of the test's choosing (fetch does not let one set it). */
function get(server: TestServer, path: string, host: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens `/sync` with the given `Host`; resolves 'open' or the HTTP status of the refusal. */
function upgrade(server: TestServer, host: string): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/sync`, { headers: { host } });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

function expectSecurityHeaders(headers: Headers): void {
  const csp = headers.get('content-security-policy') ?? '';
  expect(csp).toMatch(/default-src 'self'/);
  expect(csp).toMatch(/script-src 'self'(;|$)/);
  expect(csp).toMatch(/frame-ancestors 'none'/);
  expect(csp).toMatch(/object-src 'none'/);
  expect(csp).not.toMatch(/script-src[^;]*unsafe/);
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('x-frame-options')).toBe('DENY');
}

async function withStaticSite(): Promise<string> {
  const dir = await makeTempDir('concord-static-');
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>app</title>');
  await writeFile(join(dir, 'assets', 'app-1234.js'), 'console.log(1)');
  return dir;
}

describe('security headers', () => {
  test('the page, a static asset, a single-page route and the API answers all carry them', async () => {
    const server = await startTestServer({ staticDir: await withStaticSite() });
    const token = await mintToken({ sub: 'u', docs: { '*': 'write' } });
    const answers = [
      await fetch(`${server.url}/`),
      await fetch(`${server.url}/assets/app-1234.js`),
      await fetch(`${server.url}/some/route`),
      await fetch(`${server.url}/healthz`),
      await fetch(`${server.url}/api/documents/doc/changes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ fields: { title: 'x' } }),
      }),
      await fetch(`${server.url}/api/documents/doc/changes`, { method: 'POST', body: '{}' }),
      await fetch(`${server.url}/nothing.txt`),
    ];
    expect(answers.map((response) => response.status)).toEqual([200, 200, 200, 200, 200, 401, 404]);
    for (const response of answers) expectSecurityHeaders(response.headers);
  });

  test("connect-src lets the page open WebSockets to its own host, and nothing else's", async () => {
    const server = await startTestServer({ staticDir: await withStaticSite() });
    const csp = (await get(server, '/', `localhost:${server.port}`)).headers['content-security-policy'] as string;
    const connect = /connect-src ([^;]*)/.exec(csp)?.[1] ?? '';
    expect(connect.split(' ').sort()).toEqual(["'self'", `ws://localhost:${server.port}`, `wss://localhost:${server.port}`].sort());
  });
});

describe('dev mode answers loopback Host names only (DNS rebinding)', () => {
  test('Host evil.example gets 403 with a JSON error for the token and a refused socket', async () => {
    const server = await startTestServer({ devMode: true });
    const token = await get(server, '/api/dev/token?user=mallory', 'evil.example');
    expect(token.status).toBe(403);
    expect(JSON.parse(token.body)).toEqual({ error: expect.stringMatching(/Host evil\.example.*loopback/) });
    expect(token.body).not.toMatch(/token"/);
    expect(await upgrade(server, 'evil.example')).toBe(403);
    expect(await upgrade(server, `evil.example:${server.port}`)).toBe(403);
  });

  test('localhost, 127.0.0.1 and [::1], with or without a port, still work', async () => {
    const server = await startTestServer({ devMode: true });
    for (const host of ['localhost', `localhost:${server.port}`, '127.0.0.1', `127.0.0.1:${server.port}`, '[::1]', `[::1]:${server.port}`]) {
      const answer = await get(server, '/api/dev/token?user=alice', host);
      expect(answer.status, host).toBe(200);
      expect(JSON.parse(answer.body), host).toEqual({ token: expect.any(String) });
      expect(await upgrade(server, host), host).toBe('open');
    }
  });

  test('with a secret configured (not dev mode) any Host is served', async () => {
    const server = await startTestServer();
    expect((await get(server, '/healthz', 'concord.example.com')).status).toBe(200);
    expect(await upgrade(server, 'concord.example.com')).toBe('open');
  });
});

describe('JSON depth', () => {
  test('a body nested 3 000 deep is refused with 400 and a clear error; the server stays up', async () => {
    const server = await startTestServer();
    const token = await mintToken({ sub: 'u', docs: { '*': 'write' }, publish: ['*'] });
    const deep = `${'['.repeat(3000)}${']'.repeat(3000)}`;
    const bodies = [
      ['/api/documents/doc/changes', `{"fields":{"title":${deep}}}`],
      ['/api/channels/news/events', `{"event":"e","payload":${deep}}`],
      ['/api/users/u/notifications', `{"kind":"k","title":"t","body":${deep}}`],
    ] as const;
    for (const [path, body] of bodies) {
      const response = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      expect(response.status, path).toBe(400);
      expect(await response.json(), path).toEqual({ error: expect.stringMatching(/nested deeper than 64/) });
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  test('JSON nested within the limit is still accepted', async () => {
    const server = await startTestServer();
    const token = await mintToken({ sub: 'u', publish: ['*'] });
    let payload: unknown = 'leaf';
    for (let depth = 0; depth < 60; depth++) payload = { next: payload };
    const response = await fetch(`${server.url}/api/channels/news/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'e', payload }),
    });
    expect(response.status).toBe(200);
  });
});
