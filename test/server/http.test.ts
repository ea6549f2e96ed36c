/**
 * The HTTP side of the one port (SPEC §3): /healthz, /metrics, dev tokens, the app at /, origin checks on
 * WebSocket upgrades, and clear JSON errors.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { describe, expect, test } from 'vitest';
import { admission, hocuspocusClient, rawSocket } from '../support/clients.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { waitFor } from '../support/wait.js';
import { mintToken } from '../support/tokens.js';

describe('health and metrics', () => {
  test('GET /healthz reports ok with storage and counts', async () => {
    const server = await startTestServer();
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      status: 'ok',
      storage: { kind: 'leveldb', healthy: true, backlog: 0, lastError: null },
      documents: 0,
      connections: 0,
    });
  });

  test('GET /metrics is Prometheus text with connections, documents, traffic and auth failures', async () => {
    const server = await startTestServer();
    const client = hocuspocusClient(server, 'doc', await mintToken({ sub: 'u', docs: { '*': 'write' } }));
    await client.whenSynced();
    client.doc.getText('t').insert(0, 'x');
    hocuspocusClient(server, 'doc', 'bad-token');
    const text = await waitFor(async () => {
      const body = await (await fetch(`${server.url}/metrics`)).text();
      return /concord_auth_failures_total\{kind="invalid-token"\} 1/.test(body) && body;
    });
    expect(text).toMatch(/concord_connections\{protocol="hocuspocus"\} 2/);
    expect(text).toMatch(/concord_documents_loaded 1/);
    expect(text).toMatch(/concord_messages_received_total\{protocol="hocuspocus"\} [1-9]/);
    expect(text).toMatch(/concord_received_bytes_total\{protocol="hocuspocus"\} [1-9]/);
    expect(text).toMatch(/concord_sent_bytes_total\{protocol="hocuspocus"\} [1-9]/);
    expect(text).toMatch(/concord_auth_failures_total\{kind="invalid-token"\} 1/);
    expect(text).toMatch(/concord_store_duration_seconds_count\{operation="load"\} 1/);
    expect(text).toMatch(/concord_document_loads_total 1/);
    expect(text).toMatch(/concord_document_updates_total\{source="client"\} [1-9]/);
    expect(text).toMatch(/process_cpu_seconds_total/);
  });
});

describe('dev mode tokens', () => {
  test('GET /api/dev/token issues a write-everything token for tenant demo that the server accepts', async () => {
    const server = await startTestServer({ devMode: true });
    const response = await fetch(`${server.url}/api/dev/token?user=alice&name=Alice%20A`);
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    expect(decodeJwt(token)).toMatchObject({ sub: 'alice', name: 'Alice A', tenant: 'demo', docs: { '*': 'write' } });
    const client = hocuspocusClient(server, 'anything', token);
    await client.whenSynced();
    expect(client.scope()).toBe('read-write');
  });

  test('a bad request gets a clear 400, and the endpoint does not exist outside dev mode', async () => {
    const dev = await startTestServer({ devMode: true });
    const missing = await fetch(`${dev.url}/api/dev/token`);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: string }).error).toMatch(/user is required/);
    expect((await fetch(`${dev.url}/api/dev/token?user=${'x'.repeat(100)}`)).status).toBe(400);
    const secured = await startTestServer();
    const absent = await fetch(`${secured.url}/api/dev/token?user=alice`);
    expect(absent.status).toBe(404);
    expect(await absent.json()).toEqual({ error: 'nothing at GET /api/dev/token' });
  });

  test('dev tokens survive a restart (the dev secret lives in the data directory)', async () => {
    const server = await startTestServer({ devMode: true });
    const { token } = (await (await fetch(`${server.url}/api/dev/token?user=bob`)).json()) as { token: string };
    await server.restart();
    const client = hocuspocusClient(server, 'doc', token);
    expect(await admission(client)).toBe('read-write');
  });
});

describe('the app at /', () => {
  test('serves the static directory with a single-page fallback', async () => {
    const dir = await makeTempDir();
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>app</title>');
    await writeFile(join(dir, 'assets', 'app.js'), 'console.log(1)');
    const server = await startTestServer({ staticDir: dir });
    expect(await (await fetch(`${server.url}/`)).text()).toContain('<title>app</title>');
    expect(await (await fetch(`${server.url}/assets/app.js`)).text()).toBe('console.log(1)');
    expect(await (await fetch(`${server.url}/projects/42`)).text()).toContain('<title>app</title>');
    expect((await fetch(`${server.url}/missing.js`)).status).toBe(404);
    expect((await fetch(`${server.url}/api/unknown`)).status).toBe(404);
  });

  test('entry points are revalidated on every load, hashed assets are cached for good', async () => {
    const dir = await makeTempDir();
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>app</title>');
    await writeFile(join(dir, 'sw.js'), 'self.skipWaiting()');
    await writeFile(join(dir, 'registerSW.js'), 'navigator.serviceWorker.register("/sw.js")');
    await writeFile(join(dir, 'manifest.webmanifest'), '{"name":"app"}');
    await writeFile(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    const server = await startTestServer({ staticDir: dir });
    const cacheControl = async (path: string) => (await fetch(`${server.url}${path}`)).headers.get('cache-control');
    for (const path of ['/', '/index.html', '/sw.js', '/registerSW.js', '/manifest.webmanifest', '/projects/42']) {
      expect(await cacheControl(path), path).toBe('no-cache');
    }
    expect(await cacheControl('/assets/index-abc123.js')).toBe('public, max-age=31536000, immutable');
    const manifest = await fetch(`${server.url}/manifest.webmanifest`);
    expect(manifest.headers.get('content-type')).toMatch(/^application\/manifest\+json/);
  });
});

describe('WebSocket upgrades', () => {
  test('unknown paths are refused with 404', async () => {
    const server = await startTestServer();
    await expect(rawSocket(server.url.replace('http', 'ws') + '/elsewhere')).rejects.toThrow(/404/);
  });

  test('by default only same-origin browsers (and non-browser clients) may connect', async () => {
    const server = await startTestServer();
    const host = new URL(server.url).host;
    await expect(rawSocket(server.syncUrl, { Origin: 'https://evil.example' })).rejects.toThrow(/403/);
    await expect(rawSocket(server.syncUrl, { Origin: `http://${host}` })).resolves.toBeDefined();
    await expect(rawSocket(server.syncUrl)).resolves.toBeDefined();
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/concord_rejected_connections_total\{reason="origin"\} 1/);
  });

  test('CONCORD_ALLOWED_ORIGINS lists the origins let in', async () => {
    const server = await startTestServer({ allowedOrigins: 'https://app.example.com, https://admin.example.com' });
    await expect(rawSocket(server.syncUrl, { Origin: 'https://app.example.com' })).resolves.toBeDefined();
    await expect(rawSocket(`${server.yUrl}/doc?token=x`, { Origin: 'https://admin.example.com' })).resolves.toBeDefined();
    await expect(rawSocket(server.syncUrl, { Origin: 'https://evil.example' })).rejects.toThrow(/403/);
  });
});
