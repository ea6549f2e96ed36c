/**
 * Version history over a real server (LevelDB on disk unless a test gives a store), through the HTTP API of SPEC §3
 * and the Node API:
 * - a named version lists (newest first, with who and when), reads back as a Yjs update holding the content of its
 *   time, and survives compaction of the document's log and a restart;
 * - a restore reaches connected clients of both protocols as an edit (no reconnect), answers once durable, saves the
 *   content before it as an automatic version, and restoring that one undoes it;
 * - grants: a read token lists and reads, a write token names and restores, a read token cannot restore, another
 *   tenant sees nothing; bad input and unknown ids get clear errors;
 * - automatic versions after a stretch of editing, attributed to the editor, one per stretch, also when the document
 *   unloads first, none for a document only loaded; old automatic versions are pruned, named ones kept.
 */
import { MemoryStore, type VersionInfo } from '@concord/server';
import { inboxDocumentName } from '@concord/engine';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient, yClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';

async function call(server: TestServer, method: 'GET' | 'POST', path: string, credential?: string, payload?: unknown) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }), ...(credential ? { Authorization: `Bearer ${credential}` } : {}) },
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
  });
  const type = response.headers.get('content-type') ?? '';
  const json = type.startsWith('application/json');
  const bytes = new Uint8Array(await response.arrayBuffer());
  const body = (json ? JSON.parse(new TextDecoder().decode(bytes)) : {}) as Record<string, unknown>;
  return { status: response.status, type, body, bytes };
}

const list = async (server: TestServer, name: string, credential: string, query = '') =>
  (await call(server, 'GET', `/api/documents/${name}/versions${query}`, credential)).body.versions as VersionInfo[];

/** A writer on `name` of tenant acme, typing into text `body`. */
async function writer(server: TestServer, name: string, sub = 'ann') {
  const token = await mintToken({ sub, name: sub.toUpperCase(), tenant: 'acme', docs: { [name]: 'write' } });
  const client = hocuspocusClient(server, name, token);
  await client.whenSynced();
  return { client, text: client.doc.getText('body'), token };
}

/** Resolves once the server has stored everything `client` sent. */
const stored = (client: { provider: { unsyncedChanges: number } }) => waitFor(() => client.provider.unsyncedChanges === 0);

describe('named versions and restore', () => {
  test('a named version lists, reads back as its content, survives compaction and a restart', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const { client, text } = await writer(server, 'task-1');
    text.insert(0, 'first draft');
    await stored(client);

    const created = await call(server, 'POST', '/api/documents/task-1/versions?tenant=acme', API_KEY, { name: 'Before review' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'Before review', by: 'api', auto: false, reason: 'named' });
    expect(typeof created.body.id).toBe('string');
    expect(Math.abs((created.body.at as number) - Date.now())).toBeLessThan(60_000);

    // Long editing afterwards, one keystroke per message (y-websocket): past the compaction threshold.
    const typist = yClient(server, 'task-1', await mintToken({ sub: 'ann', tenant: 'acme', docs: { 'task-*': 'write' } }));
    await typist.whenSynced();
    for (let i = 0; i < 8000; i++) typist.doc.getText('body').insert(i, String(i % 10));
    await waitFor(async () => /concord_store_duration_seconds_count\{operation="compact"\} [1-9]/.test(await (await fetch(`${server.url}/metrics`)).text()), {
      timeoutMs: 20_000,
      message: 'no compaction ran',
    });
    await server.restart();

    const versions = await list(server, 'task-1', API_KEY, '?tenant=acme');
    expect(versions.map((v) => v.name)).toEqual(['Before review']);
    const state = await call(server, 'GET', `/api/documents/task-1/versions/${created.body.id as string}?tenant=acme`, API_KEY);
    expect(state.status).toBe(200);
    expect(state.type).toBe('application/octet-stream');
    const replica = new Y.Doc();
    Y.applyUpdate(replica, state.bytes);
    expect(replica.getText('body').toString()).toBe('first draft');
  });

  test('a restore reaches both protocols live, is durable, and is undone by restoring the version saved before it', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const { client, text, token } = await writer(server, 'task-2');
    text.insert(0, 'version one');
    await stored(client);
    const one = (await call(server, 'POST', '/api/documents/task-2/versions', token, { name: 'One' })).body;
    expect(one).toMatchObject({ by: 'ann', byName: 'ANN' });
    text.insert(text.length, ', then two');
    await stored(client);
    const viewer = yClient(server, 'task-2', await mintToken({ sub: 'vic', tenant: 'acme', docs: { 'task-*': 'read' } }));
    await viewer.whenSynced();
    expect(viewer.doc.getText('body').toString()).toBe('version one, then two');
    let reconnects = 0;
    client.provider.on('connect', () => reconnects++);

    const restored = await call(server, 'POST', `/api/documents/task-2/versions/${one.id as string}/restore`, token);
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ restored: one.id, durable: true, changed: true });
    await waitFor(() => text.toString() === 'version one' && viewer.doc.getText('body').toString() === 'version one');
    expect(reconnects, 'the restore arrived over the open connection').toBe(0);

    const versions = await list(server, 'task-2', token);
    expect(versions.map((v) => [v.reason, v.auto])).toEqual([
      ['restore', true],
      ['named', false],
    ]);
    expect(versions[0]!.id).toBe(restored.body.before);

    // The restore was stored: a restart serves the restored content.
    await server.restart();
    const later = hocuspocusClient(server, 'task-2', token);
    await later.whenSynced();
    expect(later.doc.getText('body').toString()).toBe('version one');

    // Undo: restore the version saved before the restore.
    const undo = await call(server, 'POST', `/api/documents/task-2/versions/${restored.body.before as string}/restore`, token);
    expect(undo.status).toBe(200);
    await waitFor(() => later.doc.getText('body').toString() === 'version one, then two');
  });

  test('the Node API lists, names, reads and restores', async () => {
    const server = await startTestServer();
    const { client, text } = await writer(server, 'task-3');
    text.insert(0, 'node api');
    await stored(client);
    const node = server.current;
    const version = await node.saveVersion('task-3', 'From the backend', { tenant: 'acme' });
    expect(version).toMatchObject({ name: 'From the backend', by: 'server', auto: false });
    text.insert(0, 'changed: ');
    await stored(client);
    expect((await node.versions('task-3', { tenant: 'acme' })).map((v) => v.id)).toEqual([version.id]);
    const replica = new Y.Doc();
    Y.applyUpdate(replica, await node.version('task-3', version.id, { tenant: 'acme' }));
    expect(replica.getText('body').toString()).toBe('node api');
    const result = await node.restore('task-3', version.id, { tenant: 'acme', actor: { id: 'ops', name: 'Ops' } });
    expect(result).toMatchObject({ restored: version.id, durable: true, changed: true });
    await waitFor(() => text.toString() === 'node api');
    await expect(node.version('task-3', 'no-such-version', { tenant: 'acme' })).rejects.toThrow(/no version no-such-version/);
  });
});

describe('restore and shutdown edges', () => {
  test('an edit made while a restore saves the content it replaces is in that version, so undoing brings it back', async () => {
    let hold: (() => void) | null = null;
    let held: (() => void) | null = null;
    const reachedSave = new Promise<void>((resolve) => (held = resolve));
    class GatedStore extends MemoryStore {
      override async saveVersion(document: string, version: VersionInfo, state: Uint8Array, options?: { unlessNewerThan?: number }): Promise<boolean> {
        if (version.reason === 'restore' && held) {
          held();
          held = null;
          await new Promise<void>((resolve) => (hold = resolve));
        }
        return super.saveVersion(document, version, state, options);
      }
    }
    const server = await startTestServer({ store: new GatedStore() });
    const { client, text } = await writer(server, 'task-8');
    text.insert(0, 'v1');
    await stored(client);
    const one = await server.current.saveVersion('task-8', 'one', { tenant: 'acme' });
    text.insert(text.length, ' v2');
    await stored(client);
    const restoring = server.current.restore('task-8', one.id, { tenant: 'acme' });
    await reachedSave;
    text.insert(text.length, ' v3'); // while the content before the restore is being saved
    await stored(client);
    hold!();
    const result = await restoring;
    await waitFor(() => text.toString() === 'v1');
    const replica = new Y.Doc();
    Y.applyUpdate(replica, await server.current.version('task-8', result.before, { tenant: 'acme' }));
    expect(replica.getText('body').toString()).toBe('v1 v2 v3');
    await server.current.restore('task-8', result.before, { tenant: 'acme' });
    await waitFor(() => text.toString() === 'v1 v2 v3');
  });

  test('a stretch of editing still open when the server stops gracefully is saved', async () => {
    const server = await startTestServer({ versionIntervalSeconds: 3600 });
    const { client, text } = await writer(server, 'task-9');
    text.insert(0, 'typed just before a deploy');
    await stored(client);
    await server.restart();
    const versions = await server.current.versions('task-9', { tenant: 'acme' });
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ reason: 'edits', by: 'ann' });
  });

  test("the server's own documents have no history: an inbox's versions are refused", async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const inbox = inboxDocumentName('ann');
    const answers = [
      await call(server, 'GET', `/api/documents/${inbox}/versions?tenant=acme`, API_KEY),
      await call(server, 'POST', `/api/documents/${inbox}/versions?tenant=acme`, API_KEY, { name: 'x' }),
      await call(server, 'GET', `/api/documents/${inbox}/activity?tenant=acme`, API_KEY),
    ];
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatch(/one of the server's own documents/);
    }
  });
});

describe('grants and bad input', () => {
  test('read lists and reads, write names and restores; other tenants see nothing; errors are clear', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const { client, text, token: write } = await writer(server, 'task-4');
    text.insert(0, 'secret plan');
    await stored(client);
    const id = (await call(server, 'POST', '/api/documents/task-4/versions', write, { name: 'v1' })).body.id as string;
    const read = await mintToken({ sub: 'rita', tenant: 'acme', docs: { 'task-*': 'read' } });
    const elsewhere = await mintToken({ sub: 'rita', tenant: 'acme', docs: { 'project-*': 'write' } });
    const otherTenant = await mintToken({ sub: 'gus', tenant: 'globex', docs: { '*': 'write' } });

    expect((await call(server, 'GET', '/api/documents/task-4/versions', read)).status).toBe(200);
    expect((await call(server, 'GET', `/api/documents/task-4/versions/${id}`, read)).status).toBe(200);
    const refused = [
      await call(server, 'POST', '/api/documents/task-4/versions', read, { name: 'mine' }),
      await call(server, 'POST', `/api/documents/task-4/versions/${id}/restore`, read),
      await call(server, 'GET', '/api/documents/task-4/versions', elsewhere),
      await call(server, 'GET', `/api/documents/task-4/versions/${id}`, elsewhere),
    ];
    for (const answer of refused) {
      expect(answer.status).toBe(403);
      expect(answer.body.error).toMatch(/does not grant (read|write) on task-4/);
    }
    expect((await call(server, 'GET', '/api/documents/task-4/versions')).status).toBe(401);
    expect((await call(server, 'GET', '/api/documents/task-4/versions', 'not-a-token')).status).toBe(401);
    // Another tenant's document of the same name has no versions, and this version is not its.
    expect(await list(server, 'task-4', otherTenant)).toEqual([]);
    expect((await call(server, 'GET', `/api/documents/task-4/versions/${id}`, otherTenant)).status).toBe(404);
    expect((await call(server, 'POST', `/api/documents/task-4/versions/${id}/restore?tenant=globex`, API_KEY)).status).toBe(404);

    const unknown = await call(server, 'POST', '/api/documents/task-4/versions/0000000000000-deadbeef/restore', write);
    expect(unknown).toMatchObject({ status: 404, body: { error: 'document task-4 has no version 0000000000000-deadbeef' } });
    expect(await call(server, 'POST', '/api/documents/task-4/versions', write, { label: 'x' })).toMatchObject({ status: 400, body: { error: "name (the version's name) is required" } });
    expect((await call(server, 'POST', '/api/documents/task-4/versions', write, { name: '   ' })).status).toBe(400);
    expect((await call(server, 'POST', '/api/documents/task-4/versions', write, { name: 'x'.repeat(201) })).status).toBe(400);
    // Nothing refused was saved, and the document is as it was.
    expect((await list(server, 'task-4', write)).map((v) => v.name)).toEqual(['v1']);
    expect(text.toString()).toBe('secret plan');
  });
});

describe('automatic versions and retention', () => {
  test('a stretch of editing gets one version, attributed to its last editor; loading alone makes none', async () => {
    const server = await startTestServer({ versionIntervalSeconds: 1 });
    const ann = await writer(server, 'task-5', 'ann');
    const bob = await writer(server, 'task-5', 'bob');
    ann.text.insert(0, 'ann types');
    bob.text.insert(0, 'bob types ');
    await stored(ann.client);
    await stored(bob.client);
    await waitFor(async () => (await server.current.versions('task-5', { tenant: 'acme' })).length === 1);
    const [version] = await server.current.versions('task-5', { tenant: 'acme' });
    expect(version).toMatchObject({ auto: true, reason: 'edits', name: null });
    expect(['ann', 'bob']).toContain(version!.by);
    const replica = new Y.Doc();
    Y.applyUpdate(replica, await server.current.version('task-5', version!.id, { tenant: 'acme' }));
    expect(replica.getText('body').toString()).toBe(ann.text.toString());

    // A restart and a client that only reads: no new version.
    ann.client.provider.destroy();
    bob.client.provider.destroy();
    await server.restart();
    const reader = hocuspocusClient(server, 'task-5', await mintToken({ sub: 'rita', tenant: 'acme', docs: { '*': 'read' } }));
    await reader.whenSynced();
    // Someone edits another document after the reader loaded this one: once that one has its version, an interval
    // has passed here too.
    const carl = await writer(server, 'task-5b', 'carl');
    carl.text.insert(0, 'elsewhere');
    await waitFor(async () => (await server.current.versions('task-5b', { tenant: 'acme' })).length === 1);
    expect(await server.current.versions('task-5', { tenant: 'acme' })).toHaveLength(1);
  });

  test('a document that unloads with unsaved editing is saved as it unloads', async () => {
    const server = await startTestServer({ versionIntervalSeconds: 3600 });
    const ann = await writer(server, 'task-6');
    ann.text.insert(0, 'short stretch');
    await stored(ann.client);
    expect(await server.current.versions('task-6', { tenant: 'acme' })).toEqual([]);
    ann.client.provider.destroy();
    await waitFor(async () => (await server.current.versions('task-6', { tenant: 'acme' })).length === 1);
    expect((await server.current.versions('task-6', { tenant: 'acme' }))[0]).toMatchObject({ auto: true, by: 'ann', reason: 'edits' });
  });

  test('automatic versions past the retention are pruned at the next save; named ones stay', async () => {
    const store = new MemoryStore();
    const old = Date.now() - 40 * 24 * 3600 * 1000;
    const base = { by: 'ann', byName: 'Ann', bytes: 2, at: old };
    await store.saveVersion('acme/task-7', { ...base, id: '1-old-auto', name: null, auto: true, reason: 'edits' }, new Uint8Array([0, 0]));
    await store.saveVersion('acme/task-7', { ...base, id: '2-old-named', name: 'Kept', auto: false, reason: 'named' }, new Uint8Array([0, 0]));
    const server = await startTestServer({ store, versionIntervalSeconds: 1, versionRetentionDays: 30 });
    const ann = await writer(server, 'task-7');
    ann.text.insert(0, 'new work');
    await stored(ann.client);
    await waitFor(async () => (await server.current.versions('task-7', { tenant: 'acme' })).some((v) => v.reason === 'edits' && v.at > old));
    await waitFor(async () => !(await server.current.versions('task-7', { tenant: 'acme' })).some((v) => v.id === '1-old-auto'));
    expect((await server.current.versions('task-7', { tenant: 'acme' })).map((v) => v.name)).toEqual([null, 'Kept']);
  });
});
