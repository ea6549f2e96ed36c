/**
 * Auth on connect (SPEC §3): bad tokens get Unauthorized (4401), documents the token does not grant get Forbidden
 * (4403), read grants never change a document, and tenants never see each other's documents, over both protocols.
 */
import { SignJWT } from 'jose';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { frames, hocuspocusClient, rawSocket, serverDocument, sharedSocket, yClient } from '../support/clients.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const writer = (docs: Record<string, 'read' | 'write'> = { '*': 'write' }, tenant = 'acme') =>
  mintToken({ sub: 'writer', name: 'Writer', tenant, docs });

describe('unauthorized tokens (4401)', async () => {
  const cases: Array<[string, () => Promise<string>]> = [
    ['missing', async () => ''],
    ['not a JWT', async () => 'not-a-token'],
    ['expired', () => mintToken({ sub: 'u', docs: { '*': 'write' }, expiresInSeconds: -60 })],
    ['signed with another secret', () => mintToken({ sub: 'u', docs: { '*': 'write' } }, 'another-secret-that-is-also-long-enough!!')],
    ['without sub', () => new SignJWT({ docs: { '*': 'write' } }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('concord-test-secret-that-is-long-enough-for-hs256'))],
    ['alg none', async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"u","docs":{"*":"write"}}').toString('base64url')}.`],
  ];

  test.each(cases)('%s token: Hocuspocus provider gets Unauthorized, y-websocket is closed with 4401', async (_, token) => {
    const server = await startTestServer();
    const value = await token();
    const hp = hocuspocusClient(server, 'doc', value);
    const y = yClient(server, 'doc', value);
    await waitFor(() => hp.failures.length > 0 && y.closes.length > 0);
    expect(hp.failures).toEqual(['Unauthorized']);
    expect(y.closes[0]).toMatchObject({ code: 4401, reason: 'Unauthorized' });
    expect(hp.provider.isSynced).toBe(false);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/concord_auth_failures_total\{kind="[a-z-]+"\} [1-9]/);
  });
});

describe('forbidden documents (4403)', () => {
  test('a document outside the token grants is refused on both protocols', async () => {
    const server = await startTestServer();
    const token = await writer({ 'project-*': 'write' });
    const hp = hocuspocusClient(server, 'account-1', token);
    const y = yClient(server, 'account-1', token);
    await waitFor(() => hp.failures.length > 0 && y.closes.length > 0);
    expect(hp.failures).toEqual(['Forbidden']);
    expect(y.closes[0]).toMatchObject({ code: 4403, reason: 'Forbidden' });
  });

  test('a refused document does not disturb a granted one on the same socket', async () => {
    const server = await startTestServer();
    const token = await writer({ 'project-*': 'write' });
    const socket = sharedSocket(server);
    const refused = hocuspocusClient(server, 'account-1', token, { websocket: socket });
    const granted = hocuspocusClient(server, 'project-1', token, { websocket: socket });
    await granted.whenSynced();
    await waitFor(() => refused.failures.length > 0);
    granted.doc.getText('t').insert(0, 'still works');
    const reader = hocuspocusClient(server, 'project-1', token);
    await reader.whenSynced();
    await waitFor(() => reader.doc.getText('t').toString() === 'still works');
  });

  test('invalid document names are refused, not created', async () => {
    const server = await startTestServer();
    const token = await writer();
    for (const name of ['has/slash', '../acme/x', ' spaced', 'x'.repeat(200)]) {
      const hp = hocuspocusClient(server, name, token);
      await waitFor(() => hp.failures.length > 0, { message: name });
      expect(hp.failures).toEqual(['Forbidden']);
    }
    expect(server.current.hocuspocus.getDocumentsCount()).toBe(0);
  });

  test('globs: the strongest matching grant wins', async () => {
    const server = await startTestServer();
    const token = await writer({ '*': 'read', 'task-*': 'write' });
    const task = hocuspocusClient(server, 'task-9', token);
    const other = hocuspocusClient(server, 'notes', token);
    await Promise.all([task.whenSynced(), other.whenSynced()]);
    expect(task.scope()).toBe('read-write');
    expect(other.scope()).toBe('readonly');
  });
});

describe('read-only grants', () => {
  test('a read grant syncs and sees changes but never changes the document (both protocols)', async () => {
    const server = await startTestServer();
    const owner = hocuspocusClient(server, 'account-7', await writer({ 'account-*': 'write' }));
    await owner.whenSynced();
    owner.doc.getMap('fields').set('balance', 100);
    await waitFor(() => serverDocument(server, 'acme', 'account-7')?.getMap('fields').get('balance') === 100);
    const before = Y.encodeStateVector(serverDocument(server, 'acme', 'account-7')!);

    const readToken = await writer({ 'account-*': 'read' });
    const hpReader = hocuspocusClient(server, 'account-7', readToken);
    const yReader = yClient(server, 'account-7', readToken);
    await Promise.all([hpReader.whenSynced(), yReader.whenSynced()]);
    expect(hpReader.scope()).toBe('readonly');
    expect(hpReader.doc.getMap('fields').get('balance')).toBe(100);
    expect(yReader.doc.getMap('fields').get('balance')).toBe(100);

    hpReader.doc.getMap('fields').set('balance', 0);
    yReader.doc.getMap('fields').set('balance', -1);
    yReader.doc.getText('notes').insert(0, 'vandalism');
    // The owner's next change arrives everywhere; the readers' changes never did.
    owner.doc.getMap('fields').set('status', 'paid');
    await waitFor(() => hpReader.doc.getMap('fields').get('status') === 'paid' && yReader.doc.getMap('fields').get('status') === 'paid');
    expect(owner.doc.getMap('fields').get('balance')).toBe(100);
    expect(owner.doc.getText('notes').toString()).toBe('');

    await server.restart();
    const fresh = hocuspocusClient(server, 'account-7', await writer({ 'account-*': 'read' }));
    await fresh.whenSynced();
    expect(fresh.doc.getMap('fields').toJSON()).toEqual({ balance: 100, status: 'paid' });
    expect(fresh.doc.getText('notes').toString()).toBe('');
    const after = Y.encodeStateVector(serverDocument(server, 'acme', 'account-7')!);
    const ownerOnly = Y.decodeStateVector(after);
    for (const client of ownerOnly.keys()) {
      expect([owner.doc.clientID]).toContain(client);
    }
    expect(Y.decodeStateVector(before).get(owner.doc.clientID)).toBeLessThanOrEqual(ownerOnly.get(owner.doc.clientID) ?? 0);
  });

  test('a read-only client’s state vector on the server stays byte-identical', async () => {
    const server = await startTestServer();
    const owner = hocuspocusClient(server, 'doc', await writer());
    await owner.whenSynced();
    owner.doc.getText('t').insert(0, 'original');
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === 'original');
    const before = Y.encodeStateVector(serverDocument(server, 'acme', 'doc')!);
    const reader = yClient(server, 'doc', await writer({ doc: 'read' }));
    await reader.whenSynced();
    const probe = hocuspocusClient(server, 'doc', await writer({ doc: 'read' }));
    await probe.whenSynced();
    reader.doc.getText('t').insert(0, 'x'.repeat(100));
    // Hocuspocus handles one connection's messages in order: once the presence marker the reader sends after its
    // edit reaches the probe, the edit has been handled too.
    reader.provider.awareness.setLocalStateField('marker', 'after-edit');
    await waitFor(() => [...probe.provider.awareness!.getStates().values()].some((state) => state.marker === 'after-edit'));
    expect(Y.encodeStateVector(serverDocument(server, 'acme', 'doc')!)).toEqual(before);
    expect(probe.doc.getText('t').toString()).toBe('original');
  });
});

describe('tenant isolation', () => {
  test('the same document name in two tenants is two documents', async () => {
    const server = await startTestServer();
    const acme = hocuspocusClient(server, 'project-1', await writer({ '*': 'write' }, 'acme'));
    const globex = hocuspocusClient(server, 'project-1', await writer({ '*': 'write' }, 'globex'));
    await Promise.all([acme.whenSynced(), globex.whenSynced()]);
    acme.doc.getText('t').insert(0, 'acme secret');
    globex.doc.getText('t').insert(0, 'globex secret');
    await waitFor(() => serverDocument(server, 'acme', 'project-1')?.getText('t').toString() === 'acme secret');
    await waitFor(() => serverDocument(server, 'globex', 'project-1')?.getText('t').toString() === 'globex secret');
    expect(acme.doc.getText('t').toString()).toBe('acme secret');
    expect(globex.doc.getText('t').toString()).toBe('globex secret');
  });

  test('a token of one tenant cannot reach another tenant’s document, whatever the name or socket', async () => {
    const server = await startTestServer();
    const acme = hocuspocusClient(server, 'ledger', await writer({ '*': 'write' }, 'acme'));
    await acme.whenSynced();
    acme.doc.getText('t').insert(0, 'acme only');
    // Acme's text is on the server before any attempt: an attempt that reached the document would then read it.
    await waitFor(() => serverDocument(server, 'acme', 'ledger')?.getText('t').toString() === 'acme only');
    const globexToken = await writer({ '*': 'write' }, 'globex');

    // Names that try to climb into the other tenant are refused.
    for (const name of ['acme/ledger', '../acme/ledger', 'acme%2Fledger']) {
      const attempt = hocuspocusClient(server, name, globexToken);
      await waitFor(() => attempt.failures.length > 0 || attempt.provider.isSynced, { message: name });
      expect(attempt.doc.getText('t').toString()).toBe('');
    }
    const yAttempt = yClient(server, 'acme/ledger', globexToken);
    await waitFor(() => yAttempt.closes.length > 0 || yAttempt.provider.synced);
    expect(yAttempt.doc.getText('t').toString()).toBe('');

    // A socket that began with a globex token cannot switch to an acme token for one document: identity is bound to
    // the connection, and the socket closes 4400.
    const socket = await rawSocket(server.syncUrl);
    socket.send(frames.auth('mine', globexToken));
    await waitFor(() => socket.received.some(frames.isAuthenticated));
    socket.send(frames.auth('ledger', await writer({ '*': 'write' }, 'acme')));
    expect((await socket.closed).code).toBe(4400);
    expect(serverDocument(server, 'globex', 'ledger')).toBeUndefined();
    expect(serverDocument(server, 'acme', 'ledger')?.getText('t').toString()).toBe('acme only');
  });
});
