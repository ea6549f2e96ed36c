/**
 * The server on PostgreSQL (`CONCORD_DATABASE_URL`): documents survive restarts, /healthz names the store, the
 * password never reaches a log or an error, and an outage (PostgreSQL cut off behind a proxy the test controls)
 * keeps every edit in memory, unacknowledged, with degraded health, until the database is back and takes them all.
 */
import { expect, test } from 'vitest';
import { hocuspocusClient } from '../support/clients.js';
import { DATABASE_URL, describePostgres, freshSchema } from '../support/postgres.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { spawnServer } from '../support/serverProcess.js';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

/** Documents the server holds loaded, without activity feeds (each edited document keeps its feed loaded with it). */
function appDocuments(server: { current: { hocuspocus: { documents: Map<string, unknown> } } }): number {
  return [...server.current.hocuspocus.documents.keys()].filter((name) => !name.includes('/activity:')).length;
}

const token = () => mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });
const PASSWORD = 'never-log-this-password-7d1f';

async function health(url: string): Promise<{ status: string; storage: { kind: string; healthy: boolean; lastError: string | null } }> {
  return (await fetch(`${url}/healthz`)).json();
}

async function storeHealthy(url: string): Promise<number> {
  const match = /^concord_store_healthy (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text());
  return match ? Number(match[1]) : Number.NaN;
}

async function appendErrors(url: string): Promise<number> {
  const match = /^concord_store_errors_total\{operation="append"\} (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text());
  return match ? Number(match[1]) : 0;
}

/** `url` with a password (the test server trusts local connections, so any password is accepted). */
function withPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = PASSWORD;
  return parsed.toString();
}

function postgresAddress(): { host: string; port: number } {
  const { hostname, port } = new URL(DATABASE_URL);
  return { host: hostname, port: Number(port || 5432) };
}

describePostgres('server on PostgreSQL', () => {
  test('documents survive a restart; /healthz says postgres', async () => {
    const { url } = await freshSchema();
    const server = await startTestServer({ databaseUrl: url });
    expect(await health(server.url)).toMatchObject({ status: 'ok', storage: { kind: 'postgres', healthy: true } });
    const client = hocuspocusClient(server, 'doc', await token());
    await client.whenSynced();
    client.doc.getText('t').insert(0, 'kept in postgres');
    client.doc.getMap('fields').set('status', 'done');
    await waitFor(() => client.provider.unsyncedChanges === 0);
    await server.restart();
    const fresh = hocuspocusClient(server, 'doc', await token());
    await fresh.whenSynced();
    expect(fresh.doc.getText('t').toString()).toBe('kept in postgres');
    expect(fresh.doc.getMap('fields').get('status')).toBe('done');
  });

  test('the database password appears in no log line, even through an outage, nor in a start-up error', async () => {
    const { url } = await freshSchema();
    const proxy = await startTcpProxy(postgresAddress());
    const server = await spawnServer({ dataDir: await makeTempDir(), databaseUrl: withPassword(throughProxy(url, proxy)), logLevel: 'trace' });
    const client = hocuspocusClient(server, 'doc', await token());
    await client.whenSynced();
    client.doc.getText('t').insert(0, 'hello');
    await waitFor(() => client.provider.unsyncedChanges === 0);
    proxy.cut();
    client.doc.getText('t').insert(5, ' again');
    await waitFor(() => server.logs.some((line) => line.msg.startsWith('store write failed')));
    await waitFor(() => server.logs.some((line) => line.msg.startsWith('an idle PostgreSQL connection failed')));
    proxy.restore();
    await waitFor(() => client.provider.unsyncedChanges === 0, { timeoutMs: 20_000 });
    client.provider.destroy();
    await server.kill('SIGTERM');
    expect(server.logs.some((line) => line.msg === 'stopped')).toBe(true);
    expect(JSON.stringify(server.logs)).not.toContain(PASSWORD);

    const unreachable = new URL(withPassword(url));
    unreachable.port = '1';
    const failed = spawnServer({ dataDir: await makeTempDir(), databaseUrl: unreachable.toString() });
    await expect(failed).rejects.toThrow(/concord: cannot connect to PostgreSQL at 127\.0\.0\.1:1\/\w+: .*ECONNREFUSED/);
    await expect(failed).rejects.not.toThrow(PASSWORD);
  });

  test('outage: edits stay live but unacknowledged, health is degraded, documents stay loaded; all stored once it is back', async () => {
    const { url } = await freshSchema();
    const proxy = await startTcpProxy(postgresAddress());
    const server = await startTestServer({ databaseUrl: throughProxy(url, proxy) });
    const t = await token();
    const writer = hocuspocusClient(server, 'doc', t);
    const reader = hocuspocusClient(server, 'doc', t);
    const leaver = hocuspocusClient(server, 'other', t);
    await Promise.all([writer.whenSynced(), reader.whenSynced(), leaver.whenSynced()]);
    writer.doc.getText('t').insert(0, 'before, ');
    await waitFor(() => writer.provider.unsyncedChanges === 0);

    proxy.cut();
    writer.doc.getText('t').insert(8, 'during');
    leaver.doc.getText('t').insert(0, 'left behind');
    await waitFor(() => reader.doc.getText('t').toString() === 'before, during');
    await waitFor(async () => (await health(server.url)).status === 'degraded');
    expect((await health(server.url)).storage).toMatchObject({ kind: 'postgres', healthy: false, lastError: expect.stringMatching(/^PostgreSQL append failed: /) });
    expect(await storeHealthy(server.url)).toBe(0);
    expect(writer.provider.unsyncedChanges).toBeGreaterThan(0);
    expect(leaver.provider.unsyncedChanges).toBeGreaterThan(0);

    // Everyone but the writer leaves: `other` stays loaded, since PostgreSQL does not have its edit yet.
    reader.provider.destroy();
    leaver.provider.destroy();
    await waitFor(() => server.current.hocuspocus.getConnectionsCount() === 1);
    await waitFor(async () => (await appendErrors(server.url)) >= 3, { message: 'the write was not retried' });
    expect(appDocuments(server)).toBe(2);
    expect(writer.provider.unsyncedChanges).toBeGreaterThan(0);

    proxy.restore();
    await waitFor(() => writer.provider.unsyncedChanges === 0, { timeoutMs: 20_000, message: 'the acknowledgements never came' });
    await waitFor(async () => (await health(server.url)).status === 'ok');
    expect(await storeHealthy(server.url)).toBe(1);
    await waitFor(() => appDocuments(server) === 1, { message: '`other` was not unloaded once stored' });

    await server.restart();
    const doc = hocuspocusClient(server, 'doc', t);
    const other = hocuspocusClient(server, 'other', t);
    await Promise.all([doc.whenSynced(), other.whenSynced()]);
    expect(doc.doc.getText('t').toString()).toBe('before, during');
    expect(other.doc.getText('t').toString()).toBe('left behind');
  });
});
