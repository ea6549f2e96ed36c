/**
 * Issue 14 point 2, SPEC §3 `POST /api/revocations`, against a real server: the API's contract to the letter (API
 * key only, defaults, `?tenant=`, the answer's fields, JSON errors); `none` ends the user's open sessions of the
 * matching documents (PermissionDenied `revoked` on `/sync` with the socket's other documents untouched, 4403 on
 * `/y/`); `read` makes them read-only live; the iat rule (tokens issued before are refused or capped, later ones
 * honoured, a token without `iat` counts as issued before), on sockets and the HTTP API, after a restart too, on
 * LevelDB and PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient, serverDocument, sharedSocket, yClient, type HocuspocusClient } from '../support/clients.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';
/** SPEC §3: the affected sessions change within 1 s. */
const WITHIN_MS = 1_000;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function post(server: TestServer, path: string, body: unknown, credential?: string, contentType = 'application/json'): Promise<Answer> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, ...(credential ? { Authorization: `Bearer ${credential}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function revoke(server: TestServer, body: Record<string, unknown>, tenant = 'acme'): Promise<Answer> {
  return post(server, `/api/revocations?tenant=${tenant}`, body, API_KEY);
}

const malloryToken = (issuedAt?: number | null) =>
  mintToken({ sub: 'mallory', name: 'Mallory', tenant: 'acme', docs: { '*': 'write' }, ...(issuedAt === undefined ? {} : { issuedAt }) });
const aliceToken = () => mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });

/** Waits until the clock is in a second after `at` (ms), so a token minted now counts as issued after it. */
const secondAfter = (at: number) => waitFor(() => Math.floor(Date.now() / 1000) * 1000 > at, { timeoutMs: 3_000 });

const text = (doc: Y.Doc) => doc.getText('t').toString();

let probes = 0;
/**
 * Resolves once the server has handled everything `from` sent so far: a document's messages from one connection are
 * handled in order, and awareness is relayed even from read-only sessions, so `to` seeing a new awareness state of
 * `from` means what was sent before it was handled.
 */
async function handledAfter(from: HocuspocusClient, to: HocuspocusClient): Promise<void> {
  const probe = ++probes;
  from.provider.setAwarenessField('probe', probe);
  await waitFor(() => (to.provider.awareness?.getStates().get(from.doc.clientID) as { probe?: number } | undefined)?.probe === probe, {
    message: 'the awareness probe to arrive',
  });
}

async function start(options: TestServerOptions = {}): Promise<TestServer> {
  return startTestServer({ apiKey: API_KEY, ...options });
}

describe('POST /api/revocations: the contract', () => {
  it('answers 200 with exactly user, documents, access, sessions and at; documents defaults to "*", access to "none"', async () => {
    const server = await start();
    const before = Date.now();
    const answer = await revoke(server, { user: 'mallory' });
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body).sort()).toEqual(['access', 'at', 'documents', 'sessions', 'user']);
    expect(answer.body).toMatchObject({ user: 'mallory', documents: '*', access: 'none', sessions: 0 });
    expect(answer.body.at).toBeGreaterThanOrEqual(before);
    expect(answer.body.at).toBeLessThanOrEqual(Date.now());

    const read = await revoke(server, { user: 'mallory', documents: 'project-*', access: 'read' });
    expect(read).toMatchObject({ status: 200, body: { user: 'mallory', documents: 'project-*', access: 'read', sessions: 0 } });
  });

  it('takes the API key only: no credential or a bad one gets 401, any token (even a write-everything one) 403', async () => {
    const server = await start();
    const body = { user: 'mallory' };
    const cases: Array<[Promise<Answer>, number, RegExp]> = [
      [post(server, '/api/revocations', body), 401, /Authorization: Bearer/],
      [post(server, '/api/revocations', body, 'wrong-key'), 401, /neither the API key nor a valid token/],
      [post(server, '/api/revocations', body, await mintToken({ sub: 'admin', tenant: 'acme', docs: { '*': 'write' }, publish: ['*'] })), 403, /API key only/],
      [post(server, '/api/revocations?tenant=acme', body, await mintToken({ sub: 'mallory', tenant: 'acme', docs: { '*': 'write' } })), 403, /API key only/],
    ];
    for (const [request, status, error] of cases) {
      const answer = await request;
      expect(answer.status, JSON.stringify(answer.body)).toBe(status);
      expect(answer.body.error).toMatch(error);
    }
    // None of them revoked anything: Mallory's token still opens a document.
    const mallory = hocuspocusClient(server, 'project-1', await malloryToken());
    await mallory.whenSynced();
    expect(mallory.failures).toEqual([]);
  });

  it('without an API key configured, nobody may revoke: a token gets 403, anything else 401', async () => {
    const server = await startTestServer();
    const body = { user: 'mallory' };
    const byToken = await post(server, '/api/revocations', body, await mintToken({ sub: 'admin', tenant: 'acme', docs: { '*': 'write' }, publish: ['*'] }));
    expect(byToken.status, JSON.stringify(byToken.body)).toBe(403);
    expect((await post(server, '/api/revocations', body, API_KEY)).status).toBe(401);
  });

  it('server.revoke does the same from Node: applied, stored, answered with the same fields; bad input throws', async () => {
    const server = await start();
    const old = await malloryToken(Math.floor(Date.now() / 1000) - 60);
    const result = await server.current.revoke({ user: 'mallory', documents: 'project-*', tenant: 'acme' });
    expect(Object.keys(result).sort()).toEqual(['access', 'at', 'documents', 'sessions', 'user']);
    expect(result).toMatchObject({ user: 'mallory', documents: 'project-*', access: 'none', sessions: 0 });
    await expect(server.current.revoke({ user: '' })).rejects.toMatchObject({ kind: 'invalid-revocation' });
    await expect(server.current.revoke({ user: 'x', access: 'write' as 'read' })).rejects.toThrow(/access must be "none" or "read"/);
    await expect(server.current.revoke({ user: 'x', tenant: 'no/such' })).rejects.toMatchObject({ kind: 'invalid-tenant' });
    await server.restart();
    const refused = hocuspocusClient(server, 'project-1', old);
    await waitFor(() => refused.failures.length > 0);
    expect(refused.failures).toEqual(['revoked']);
  });

  it('refuses bad input with JSON errors (400, 413, 415), revoking nothing', async () => {
    const server = await start();
    const cases: Array<[Promise<Answer>, number, RegExp]> = [
      [revoke(server, {}), 400, /user .*is required/],
      [revoke(server, { user: '' }), 400, /user must not be empty/],
      [revoke(server, { user: 42 }), 400, /user/],
      [revoke(server, { user: 'mallory', access: 'write' }), 400, /access must be "none" or "read"/],
      [revoke(server, { user: 'mallory', documents: '' }), 400, /documents must not be empty/],
      [revoke(server, { user: 'mallory', documents: 7 }), 400, /documents must be a document-name glob/],
      [post(server, '/api/revocations?tenant=acme', '{"user":', API_KEY), 400, /not valid JSON/],
      [post(server, '/api/revocations?tenant=acme', 'user=mallory', API_KEY, 'text/plain'), 415, /Content-Type: application\/json/],
      [post(server, '/api/revocations?tenant=no/such', { user: 'mallory' }, API_KEY), 400, /tenant/],
      [revoke(server, { user: 'mallory', documents: 'x'.repeat(20_000) }), 413, /larger than/],
    ];
    for (const [request, status, error] of cases) {
      const answer = await request;
      expect(answer.status, `${status} ${error}: ${JSON.stringify(answer.body)}`).toBe(status);
      expect(answer.body.error).toMatch(error);
    }
    await server.restart();
    const mallory = hocuspocusClient(server, 'project-1', await malloryToken());
    await mallory.whenSynced();
    expect(mallory.failures, 'nothing was revoked or stored').toEqual([]);
  });

  it('is scoped to the tenant of ?tenant= (default "default") and the user', async () => {
    const server = await start();
    expect((await post(server, '/api/revocations', { user: 'mallory' }, API_KEY)).status).toBe(200); // tenant default
    expect((await revoke(server, { user: 'mallory' }, 'globex')).status).toBe(200);
    // Mallory of acme and Alice of acme are untouched; Mallory of default and globex are refused.
    const acme = hocuspocusClient(server, 'project-1', await malloryToken());
    const alice = hocuspocusClient(server, 'project-1', await aliceToken());
    const ofDefault = hocuspocusClient(server, 'project-1', await mintToken({ sub: 'mallory', docs: { '*': 'write' } }));
    await Promise.all([acme.whenSynced(), alice.whenSynced()]);
    await waitFor(() => ofDefault.failures.length > 0);
    expect(ofDefault.failures[0]).toBe('revoked');
    expect(acme.failures).toEqual([]);
  });
});

describe('access "none" on open sessions', () => {
  it('/sync: the matching document gets PermissionDenied "revoked" within 1 s; the socket keeps its other documents', async () => {
    const server = await start();
    const socket = sharedSocket(server);
    const token = await malloryToken();
    const project = hocuspocusClient(server, 'project-1', token, { websocket: socket });
    const notes = hocuspocusClient(server, 'notes', token, { websocket: socket });
    const alice = hocuspocusClient(server, 'project-1', await aliceToken());
    const aliceNotes = hocuspocusClient(server, 'notes', await aliceToken());
    await Promise.all([project.whenSynced(), notes.whenSynced(), alice.whenSynced(), aliceNotes.whenSynced()]);

    const answer = await revoke(server, { user: 'mallory', documents: 'project-*' });
    expect(answer).toMatchObject({ status: 200, body: { sessions: 1 } });
    await waitFor(() => project.failures.includes('revoked'), { timeoutMs: WITHIN_MS, message: 'PermissionDenied revoked on project-1' });
    expect(notes.failures).toEqual([]);

    // Alice's later edit of the project no longer reaches Mallory; the notes still sync both ways on the same socket.
    alice.doc.getText('t').insert(0, 'after the revocation');
    await waitFor(() => text(serverDocument(server, 'acme', 'project-1')!) === 'after the revocation');
    notes.doc.getText('t').insert(0, 'from mallory');
    aliceNotes.doc.getText('t').insert(0, 'from alice ');
    await waitFor(() => text(aliceNotes.doc).includes('from mallory') && text(notes.doc).includes('from alice'), { message: 'the notes to keep syncing' });
    expect(text(project.doc)).toBe('');
    expect(socket.status).toBe('connected');
  });

  it('/y/: the matching document closes with 4403 "revoked"; another user stays', async () => {
    const server = await start();
    const mallory = yClient(server, 'project-1', await malloryToken());
    const alice = yClient(server, 'project-1', await aliceToken());
    await Promise.all([mallory.whenSynced(), alice.whenSynced()]);
    const answer = await revoke(server, { user: 'mallory', documents: 'project-1' });
    expect(answer).toMatchObject({ status: 200, body: { sessions: 1 } });
    await waitFor(() => mallory.closes.length > 0, { timeoutMs: WITHIN_MS, message: 'the y-websocket socket to close' });
    expect(mallory.closes[0]).toEqual({ code: 4403, reason: 'revoked' });
    alice.doc.getText('t').insert(0, 'still here');
    await waitFor(() => text(serverDocument(server, 'acme', 'project-1')!) === 'still here');
    expect(alice.closes).toEqual([]);
  });
});

describe('access "read" on open sessions', () => {
  it('the session stays open and turns read-only: its later edits are not applied, others still reach it', async () => {
    const server = await start();
    const mallory = hocuspocusClient(server, 'project-1', await malloryToken());
    const alice = hocuspocusClient(server, 'project-1', await aliceToken());
    await Promise.all([mallory.whenSynced(), alice.whenSynced()]);
    mallory.doc.getText('t').insert(0, 'before ');
    await waitFor(() => text(alice.doc) === 'before ');
    expect(mallory.scope()).toBe('read-write');

    const answer = await revoke(server, { user: 'mallory', documents: 'project-*', access: 'read' });
    expect(answer).toMatchObject({ status: 200, body: { access: 'read', sessions: 1 } });
    await waitFor(() => mallory.scope() === 'readonly', { timeoutMs: WITHIN_MS, message: 'the provider to be told readonly' });

    mallory.doc.getText('t').insert(mallory.doc.getText('t').length, 'sneaky');
    await handledAfter(mallory, alice);
    expect(mallory.provider.unsyncedChanges, 'the edit is never acknowledged').toBeGreaterThan(0);
    alice.doc.getText('t').insert(0, 'later ');
    await waitFor(() => text(mallory.doc).startsWith('later '), { message: "Alice's edit to reach the read-only session" });
    expect(text(serverDocument(server, 'acme', 'project-1')!)).toBe('later before ');
    expect(text(alice.doc)).toBe('later before ');
    expect(mallory.failures).toEqual([]);
  });
});

describe('access "read" and token refresh', () => {
  it('a fresh token sent on the open connection, issued before the revocation, does not undo the downgrade', async () => {
    const server = await start();
    const oldIat = Math.floor(Date.now() / 1000) - 60;
    let refreshes = 0;
    // The first token expires soon, so the server asks for a fresh one; the token function's tokens are all old.
    const tokens = async () => mintToken({ sub: 'mallory', tenant: 'acme', docs: { '*': 'write' }, issuedAt: oldIat, expiresInSeconds: refreshes++ === 0 ? 3 : 600 });
    const mallory = hocuspocusClient(server, 'project-1', tokens);
    const alice = hocuspocusClient(server, 'project-1', await aliceToken());
    await Promise.all([mallory.whenSynced(), alice.whenSynced()]);
    await revoke(server, { user: 'mallory', documents: 'project-*', access: 'read' });
    await waitFor(() => mallory.scope() === 'readonly');
    await waitFor(async () => /concord_token_refreshes_total\{result="accepted"\} [1-9]/.test(await (await fetch(`${server.url}/metrics`)).text()), {
      message: 'the server to take a fresh token',
    });
    mallory.doc.getText('t').insert(0, 'sneaky');
    await handledAfter(mallory, alice);
    expect(mallory.scope()).toBe('readonly');
    expect(text(serverDocument(server, 'acme', 'project-1')!)).toBe('');
    expect(mallory.failures).toEqual([]);
  });
});

describe('the iat rule', () => {
  async function rule(server: TestServer, issuedBefore: string, noIat: string) {
    // An old token is refused on the revoked documents only.
    const old = hocuspocusClient(server, 'project-1', issuedBefore);
    await waitFor(() => old.failures.length > 0);
    expect(old.failures).toEqual(['revoked']);
    const oldNotes = hocuspocusClient(server, 'notes', issuedBefore);
    await oldNotes.whenSynced();
    const oldY = yClient(server, 'project-1', issuedBefore);
    await waitFor(() => oldY.closes.length > 0);
    expect(oldY.closes[0]).toEqual({ code: 4403, reason: 'revoked' });
    // A token without iat cannot say it is newer.
    const undated = hocuspocusClient(server, 'project-1', noIat);
    await waitFor(() => undated.failures.length > 0);
    expect(undated.failures).toEqual(['revoked']);
    // A token issued after the revocation is honoured.
    const fresh = hocuspocusClient(server, 'project-1', await malloryToken());
    await fresh.whenSynced();
    expect(fresh.failures).toEqual([]);
    expect(fresh.scope()).toBe('read-write');
  }

  it('refuses tokens issued before a revocation ("revoked", 4403 on /y/), honours later ones, and holds after a restart', async () => {
    const server = await start();
    const issuedBefore = await malloryToken(Math.floor(Date.now() / 1000) - 60);
    const noIat = await malloryToken(null);
    const { body } = await revoke(server, { user: 'mallory', documents: 'project-*' });
    await secondAfter(body.at as number);
    await rule(server, issuedBefore, noIat);
    await server.restart();
    await rule(server, issuedBefore, noIat);
  });

  it('"read" caps older write tokens at read (their edits are not applied), after a restart too', async () => {
    const server = await start();
    const issuedBefore = await malloryToken(Math.floor(Date.now() / 1000) - 60);
    const { body } = await revoke(server, { user: 'mallory', documents: 'project-*', access: 'read' });
    await secondAfter(body.at as number);
    for (const round of ['before a restart', 'after a restart']) {
      const capped = hocuspocusClient(server, 'project-1', issuedBefore);
      await capped.whenSynced();
      expect(capped.scope(), round).toBe('readonly');
      capped.doc.getText('t').insert(0, 'not applied');
      const fresh = hocuspocusClient(server, 'project-1', await malloryToken());
      await fresh.whenSynced();
      await handledAfter(capped, fresh);
      expect(capped.provider.unsyncedChanges, round).toBeGreaterThan(0);
      expect(fresh.scope(), round).toBe('read-write');
      expect(text(fresh.doc), round).toBe('');
      capped.provider.destroy();
      fresh.provider.destroy();
      if (round === 'before a restart') await server.restart();
    }
  });

  it('holds on the HTTP API: an older token may not change a revoked document, a newer one may', async () => {
    const server = await start();
    const issuedBefore = await malloryToken(Math.floor(Date.now() / 1000) - 60);
    const { body } = await revoke(server, { user: 'mallory', documents: 'project-*', access: 'read' });
    await secondAfter(body.at as number);
    const change = { fields: { status: 'done' } };
    const refused = await post(server, '/api/documents/project-1/changes', change, issuedBefore);
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect((await post(server, '/api/documents/notes/changes', change, issuedBefore)).status).toBe(200);
    expect((await post(server, '/api/documents/project-1/changes', change, await malloryToken())).status).toBe(200);
  });
});

describePostgres('revocations on PostgreSQL', () => {
  it('are stored and hold after a restart', async () => {
    const { url } = await freshSchema();
    const server = await start({ databaseUrl: url });
    const issuedBefore = await malloryToken(Math.floor(Date.now() / 1000) - 60);
    const { status, body } = await revoke(server, { user: 'mallory', documents: 'project-*' });
    expect(status).toBe(200);
    await secondAfter(body.at as number);
    await server.restart();
    const old = hocuspocusClient(server, 'project-1', issuedBefore);
    await waitFor(() => old.failures.length > 0);
    expect(old.failures).toEqual(['revoked']);
    const fresh = hocuspocusClient(server, 'project-1', await malloryToken());
    await fresh.whenSynced();
    expect(fresh.failures).toEqual([]);
  });
});
