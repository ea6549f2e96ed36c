/**
 * What a server shows beyond the app (issue 14, point 6): the demo's source maps only in dev mode unless
 * CONCORD_SERVE_SOURCE_MAPS says otherwise, and `/metrics` open, behind the API key, or off (CONCORD_METRICS).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { resolveConfig } from '@concord/server';
import { makeTempDir, startTestServer } from '../support/server.js';

const API_KEY = 'concord-test-api-key-that-is-long-enough';

async function site(): Promise<string> {
  const dir = await makeTempDir('concord-site-');
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>app</title>');
  await writeFile(join(dir, 'assets', 'app-1234.js'), 'console.log(1)\n//# sourceMappingURL=app-1234.js.map');
  await writeFile(join(dir, 'assets', 'app-1234.js.map'), '{"version":3,"sources":["secret.ts"],"mappings":""}');
  return dir;
}

describe('source maps', () => {
  test('not served outside dev mode; the code they map still is', async () => {
    const server = await startTestServer({ staticDir: await site() });
    expect((await fetch(`${server.url}/assets/app-1234.js`)).status).toBe(200);
    const map = await fetch(`${server.url}/assets/app-1234.js.map`);
    expect(map.status).toBe(404);
    expect(await map.text()).not.toContain('secret.ts');
  });

  test('served in dev mode, or when CONCORD_SERVE_SOURCE_MAPS is on', async () => {
    const dev = await startTestServer({ devMode: true, staticDir: await site() });
    expect((await fetch(`${dev.url}/assets/app-1234.js.map`)).status).toBe(200);
    const on = await startTestServer({ staticDir: await site(), serveSourceMaps: 'on' });
    expect(await (await fetch(`${on.url}/assets/app-1234.js.map`)).text()).toContain('secret.ts');
    const off = await startTestServer({ devMode: true, staticDir: await site(), serveSourceMaps: 'off' });
    expect((await fetch(`${off.url}/assets/app-1234.js.map`)).status).toBe(404);
  });
});

describe('/metrics', () => {
  test('public by default', async () => {
    const server = await startTestServer();
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('concord_connections');
  });

  test('api-key: only with the API key as bearer', async () => {
    const server = await startTestServer({ metricsAccess: 'api-key', apiKey: API_KEY });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}x` } })).status).toBe(401);
    const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('concord_connections');
  });

  test('off: 404, not the app page', async () => {
    const server = await startTestServer({ metricsAccess: 'off', staticDir: await site() });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('concord_');
  });

  test('api-key without an API key is refused at start', () => {
    expect(() => resolveConfig({ authSecret: 'x'.repeat(32), metricsAccess: 'api-key' })).toThrow(
      /CONCORD_METRICS \(--metrics\) is api-key but CONCORD_API_KEY \(--api-key\) is not set/,
    );
    expect(() => resolveConfig({ metricsAccess: 'private' })).toThrow(/CONCORD_METRICS \(--metrics\) must be one of public, api-key, off/);
  });
});
