/**
 * The client under the server's authorization (SPEC §3): a bad token or an ungranted document gives that document
 * state `unauthorized` with an error while granted documents on the same socket go on syncing; a read grant shows
 * as `readOnly`; a token function is called once per connection, again on reconnect.
 */
import { describe, expect, it } from 'vitest';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

describe('client auth', () => {
  it('C3 C5 marks every document unauthorized for a token the server rejects', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const forged = await mintToken({ sub: 'mallory', tenant: 't1', docs: { '*': 'write' } }, 'x'.repeat(48));
    const handle = makeClient(server, { token: forged }).open('doc-1');
    await waitFor(() => handle.status.state === 'unauthorized');
    expect(handle.status.error).toMatch(/refused/);
    expect(handle.status.synced).toBe(false);

    const expired = await token('eve', { expiresInSeconds: -60 });
    const late = makeClient(server, { token: expired }).open('doc-1');
    await waitFor(() => late.status.state === 'unauthorized');
    expect(late.status.error).toMatch(/Unauthorized/);
  });

  it('C5 refuses an ungranted document while a granted one on the same socket syncs', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const client = makeClient(server, { token: await token('alice', { docs: { 'project-*': 'write' } }) });
    const secret = client.open('payroll-1');
    const granted = client.open('project-1');
    await waitFor(() => secret.status.state === 'unauthorized');
    expect(secret.status.error).toMatch(/refused document payroll-1: Forbidden/);

    await granted.whenSynced();
    granted.doc.getText('t').insert(0, 'visible');
    secret.doc.getText('t').insert(0, 'never sent');
    await waitFor(() => granted.status.synced && granted.status.pendingChanges === 0);
    expect(client.state).toBe('connected');
    expect(secret.status).toMatchObject({ state: 'unauthorized', pendingChanges: 1, synced: false });

    const other = makeClient(server, { token: await token('bob') });
    const seen = other.open('project-1');
    await waitFor(() => seen.doc.getText('t').toString() === 'visible');
    const payroll = other.open('payroll-1');
    await payroll.whenSynced();
    expect(payroll.doc.getText('t').toString()).toBe('');
  });

  it('C3 shows a read grant as readOnly, and the server keeps the document unchanged', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const writer = makeClient(server, { token: await token('alice') }).open('account-1');
    await writer.whenSynced();
    writer.doc.getText('t').insert(0, 'balance 10');
    await waitFor(() => writer.status.synced);

    const reader = makeClient(server, { token: await token('bob', { docs: { 'account-*': 'read' } }) }).open('account-1');
    await reader.whenSynced();
    await waitFor(() => reader.status.readOnly && reader.status.state === 'connected');
    expect(reader.doc.getText('t').toString()).toBe('balance 10');

    reader.doc.getText('t').insert(0, 'HACKED ');
    await waitFor(() => reader.status.pendingChanges === 1);
    writer.doc.getText('t').insert(10, '!');
    await waitFor(() => reader.doc.getText('t').toString().endsWith('!'));
    expect(writer.doc.getText('t').toString()).toBe('balance 10!');
    expect(reader.status.pendingChanges).toBe(1);
  });

  it('C4 calls the token function once per connection, and again on reconnect', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const issued: string[] = [];
    const client = makeClient(server, {
      token: async () => {
        const fresh = await token('alice');
        issued.push(fresh);
        return fresh;
      },
    });
    const one = client.open('doc-1');
    const two = client.open('doc-2');
    await Promise.all([one.whenSynced(), two.whenSynced()]);
    expect(issued).toHaveLength(1);

    await server.stop();
    await waitFor(() => client.state === 'offline');
    await server.start();
    await waitFor(() => one.status.synced && two.status.synced && client.state === 'connected', { timeoutMs: 15_000 });
    expect(issued).toHaveLength(2);
  });

  it('C4 fetches a new token for each document while the cached one is about to expire', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    let calls = 0;
    const client = makeClient(server, {
      token: () => {
        calls += 1;
        // 5 s left of a 25 s life: due for replacement (TOKEN_EXPIRY_MARGIN_MS) the moment it arrives.
        return token('alice', { expiresInSeconds: 5, issuedSecondsAgo: 20 });
      },
    });
    const handles = [client.open('doc-1'), client.open('doc-2')];
    await Promise.all(handles.map((handle) => handle.whenSynced()));
    expect(calls).toBeGreaterThanOrEqual(3);
  });

  it('C5 retries a refused document with a fresh token on the next connection', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    let docs: Record<string, 'read' | 'write'> = { 'project-*': 'write' };
    const client = makeClient(server, { token: () => token('alice', { docs }) });
    const handle = client.open('report-1');
    await waitFor(() => handle.status.state === 'unauthorized');

    docs = { '*': 'write' };
    await server.stop();
    await server.start();
    await waitFor(() => handle.status.state === 'connected' && handle.status.synced, { timeoutMs: 15_000 });
    expect(handle.status.error).toBeNull();
  });

  it('C5 replaces a refused token on the open socket: the token function is told, and the document recovers', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const requests: boolean[] = [];
    const keeper = makeClient(server, { token: await token('alice') });
    const client = makeClient(server, {
      localNamespace: 't1.alice',
      token: async ({ refused }) => {
        requests.push(refused);
        // The app's cached token was signed with a key the server has since rotated away; asked again after the
        // refusal, the app fetches a new one.
        return requests.length === 1
          ? mintToken({ sub: 'alice', tenant: 't1', docs: { '*': 'write' } }, 'a-retired-signing-key-that-is-long-enough!')
          : token('alice');
      },
    });
    const keep = keeper.open('other');
    await keep.whenSynced();
    const handle = client.open('doc-1');
    await waitFor(() => handle.status.state === 'unauthorized');
    await waitFor(() => handle.status.state === 'connected' && handle.status.synced, { timeoutMs: 10_000 });
    expect(requests).toEqual([false, true]);
    expect(handle.status.error).toBeNull();
    // Same socket all along: the server saw one connection for this client.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/concord_connections_opened_total\{protocol="hocuspocus"\} 2/);
  });
});
