/**
 * The Concord client under revocations (SPEC §3 `POST /api/revocations`, issue 14 point 2), against a real server:
 * a revoked document's copy on the device (its IndexedDB database), its outbox and its registry record are deleted,
 * its status is `unauthorized` with reason `revoked`, and the changes that were never sent are reported (`access`
 * event), live and when the revocation happened while the client was offline; a downgrade turns the document
 * read-only live with an `access` event, and local changes it can no longer send are listed as unsendable and kept
 * on the device (a later token that grants write sends them).
 */
import type { AccessChange, DocumentHandle, SyncClient } from '@concord/client';
import { describe, expect, it } from 'vitest';
import type * as Y from 'yjs';
import { serverDocument } from '../support/clients.js';
import type { TestServer } from '../support/server.js';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';
/** SPEC §3: within 1 s. */
const WITHIN_MS = 1_000;

async function revoke(server: TestServer, body: Record<string, unknown>): Promise<{ sessions: number; at: number }> {
  const response = await fetch(`${server.url}/api/revocations?tenant=t1`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { sessions: number; at: number };
}

/** Waits until the clock is in a second after `at` (ms), so a token minted now counts as issued after it. */
const secondAfter = (at: number) => waitFor(() => Math.floor(Date.now() / 1000) * 1000 > at, { timeoutMs: 3_000 });

const text = (doc: Y.Doc) => doc.getText('t').toString();

function accessEvents(handle: DocumentHandle): AccessChange[] {
  const events: AccessChange[] = [];
  handle.on('access', (change) => events.push(change));
  return events;
}

async function databaseNames(idb: IDBFactory): Promise<string[]> {
  return (await idb.databases()).map((info) => info.name ?? '').sort();
}

/** What the server holds of a document, as a fresh reader (without a local copy) gets it. */
async function serverText(server: TestServer, name: string): Promise<string> {
  const reader = makeClient(server, { token: await token('reader', { docs: { '*': 'read' } }), persistence: false }).open(name);
  await reader.whenSynced();
  return text(reader.doc);
}

async function synced(handle: DocumentHandle): Promise<void> {
  await waitFor(() => handle.status.synced && handle.status.pendingChanges === 0, { message: `${handle.name} to sync` });
}

describe('client: a revoked document', () => {
  it('is deleted from the device at once: IndexedDB copy and outbox gone, unauthorized with reason revoked; other documents go on', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const client = makeClient(server, { token: await token('mallory') });
    const project = client.open('project-1');
    const notes = client.open('notes');
    const events = accessEvents(project);
    project.doc.getText('t').insert(0, 'secret plans');
    notes.doc.getText('t').insert(0, 'my notes');
    await Promise.all([synced(project), synced(notes)]);
    expect(await databaseNames(idb)).toContain('concord/t1.mallory/project-1');

    const { sessions } = await revoke(server, { user: 'mallory', documents: 'project-*' });
    expect(sessions).toBe(1);
    await waitFor(() => project.status.state === 'unauthorized', { timeoutMs: WITHIN_MS, message: 'the document to be refused' });
    expect(project.status).toMatchObject({ state: 'unauthorized', reason: 'revoked', pendingChanges: 0, localCopy: 'none' });
    await waitFor(async () => !(await databaseNames(idb)).includes('concord/t1.mallory/project-1'), { message: 'the IndexedDB copy to be deleted' });
    expect(await databaseNames(idb)).toContain('concord/t1.mallory/notes');
    expect(events).toEqual([{ access: 'none', reason: 'revoked', unsendable: [] }]);

    // The other document on the same socket keeps syncing; the revoked one is off the socket for good.
    notes.doc.getText('t').insert(0, 'more ');
    await synced(notes);
    project.doc.getText('t').insert(0, 'after ');
    expect(project.status.pendingChanges).toBe(0);
    expect(await serverText(server, 'project-1')).toBe('secret plans');
  });

  it('revoked while offline: on reconnect the old token is refused, the unsent change is reported, and copy, outbox and its record are deleted', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const client: SyncClient = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: await token('mallory') });
    const project = client.open('project-1');
    const events = accessEvents(project);
    await project.whenSynced();

    proxy.hangUp();
    await waitFor(() => project.status.state === 'offline');
    project.doc.getText('t').insert(0, 'written offline');
    await waitFor(() => project.status.pendingChanges === 1 && project.status.localCopy === 'saved');
    await waitFor(async () => (await client.pendingDocuments()).some((document) => document.name === 'project-1'));

    await revoke(server, { user: 'mallory', documents: '*' });
    proxy.restore();
    await waitFor(() => project.status.state === 'unauthorized', { timeoutMs: 15_000, message: 'the document to be refused on reconnect' });
    expect(project.status).toMatchObject({ reason: 'revoked', pendingChanges: 0 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ access: 'none', reason: 'revoked' });
    expect(events[0]!.unsendable.map((entry) => entry.summary)).toEqual(['15 characters typed in t']);
    await waitFor(async () => !(await databaseNames(idb)).includes('concord/t1.mallory/project-1'), { message: 'the IndexedDB copy to be deleted' });
    await waitFor(async () => (await client.pendingDocuments()).length === 0, { message: 'the registry record to be deleted' });
    expect(await serverText(server, 'project-1')).toBe('');
  });
});

describe('client: a downgraded document', () => {
  it('turns read-only live with an access event; a change made then is listed as unsendable, never applied, and kept for a later write token', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const mallory = makeClient(server, { token: await token('mallory') });
    const project = mallory.open('project-1');
    const events = accessEvents(project);
    const alice = makeClient(server, { token: await token('alice'), persistence: false }).open('project-1');
    project.doc.getText('t').insert(0, 'draft');
    await synced(project);
    await waitFor(() => text(alice.doc) === 'draft');

    const { at } = await revoke(server, { user: 'mallory', documents: 'project-*', access: 'read' });
    await waitFor(() => project.status.readOnly, { timeoutMs: WITHIN_MS, message: 'the document to turn read-only' });
    expect(events).toEqual([{ access: 'read', reason: null, unsendable: [] }]);
    expect(project.status).toMatchObject({ state: 'connected', readOnly: true, error: null });

    project.doc.getText('t').insert(5, ' by mallory');
    alice.doc.getText('t').insert(0, 'Alice: ');
    await waitFor(() => text(project.doc) === 'Alice: draft by mallory', { message: "Alice's edit to reach the read-only document" });
    expect(project.unsendable().map((entry) => entry.summary)).toEqual(['11 characters typed in t']);
    expect(project.status.pendingChanges).toBe(1);
    await waitFor(() => project.status.localCopy === 'saved');
    expect(text(serverDocument(server, 't1', 'project-1')!)).toBe('Alice: draft');

    // Kept on the device: a reload with a token issued after the revocation (write again) sends it.
    await mallory.destroy();
    globalThis.indexedDB = idb;
    await secondAfter(at);
    const reloaded = makeClient(server, { token: await token('mallory') }).open('project-1');
    await reloaded.whenLoaded();
    expect(reloaded.outbox().map((entry) => entry.summary)).toEqual(['11 characters typed in t']);
    await synced(reloaded);
    await waitFor(() => text(alice.doc) === 'Alice: draft by mallory');
  });

  it('downgraded while offline: the old token comes back read-only, and the change made offline is reported unsendable', async () => {
    freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const client = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: await token('mallory') });
    const project = client.open('project-1');
    const events = accessEvents(project);
    await project.whenSynced();

    proxy.hangUp();
    await waitFor(() => project.status.state === 'offline');
    project.doc.getText('t').insert(0, 'offline edit');
    await revoke(server, { user: 'mallory', access: 'read' });
    proxy.restore();
    await waitFor(() => events.length > 0, { timeoutMs: 15_000, message: 'an access event on reconnect' });
    expect(events[0]).toMatchObject({ access: 'read', reason: null });
    expect(events[0]!.unsendable.map((entry) => entry.summary)).toEqual(['12 characters typed in t']);
    expect(project.status).toMatchObject({ state: 'connected', readOnly: true, pendingChanges: 1 });
    expect(await serverText(server, 'project-1')).toBe('');
  });
});
