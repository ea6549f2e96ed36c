/**
 * Activity feeds over a real server: what people change in a document becomes entries of `activity:<name>` (engine
 * `readActivity`), derived on the server and attributed to the token's user or the backend's actor:
 * - a field change with old → new value, typing in it merged into one entry; records added and removed; text typed
 *   and deleted (how much); items added to a list (with a preview); a restore;
 * - live to a client that has the feed open, and caught up after that client was disconnected;
 * - the feed is read-only for everyone, readable by whoever may read the document (not by others), and served by
 *   `GET /api/documents/<name>/activity` and `server.activity()`;
 * - retention keeps the newest entries.
 */
import { activityDocumentName, defineDocument, defineRecord, readActivity, type ActivityEntry } from '@concord/engine';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { z } from 'zod';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';

const Task = defineDocument('task', {
  fields: defineRecord('task', { title: z.string(), status: z.string() }),
  collections: { checklist: defineRecord('item', { title: z.string() }) },
  texts: ['notes'],
  lists: ['comments'],
});

async function person(server: TestServer, name: string, sub: string, docs: Record<string, 'read' | 'write'> = { 'task-*': 'write' }) {
  const client = hocuspocusClient(server, name, await mintToken({ sub, name: sub.toUpperCase(), tenant: 'acme', docs }));
  await client.whenSynced();
  return { client, task: Task.open(client.doc) };
}

/** A client with the feed of `name` open, and its entries newest first. */
async function feedViewer(server: TestServer, name: string, sub = 'vic') {
  const client = hocuspocusClient(server, activityDocumentName(name), await mintToken({ sub, tenant: 'acme', docs: { 'task-*': 'read' } }));
  await client.whenSynced();
  return { client, entries: () => readActivity(client.doc) };
}

const kinds = (entries: ActivityEntry[]) => entries.map((entry) => entry.kind);

describe('what becomes an entry', () => {
  test('fields (merged while typing), records, text, list items, each attributed; live to the feed', async () => {
    const server = await startTestServer();
    const ann = await person(server, 'task-1', 'ann');
    const feed = await feedViewer(server, 'task-1');
    expect(feed.client.scope()).toBe('readonly');

    ann.task.fields.set('title', 'D');
    ann.task.fields.set('title', 'Dr');
    ann.task.fields.set('title', 'Draft');
    await waitFor(() => feed.entries().length === 1 && (feed.entries()[0] as { to?: unknown }).to === 'Draft');
    expect(feed.entries()[0]).toMatchObject({ kind: 'field', collection: null, record: null, field: 'title', from: null, to: 'Draft', by: 'ann', byName: 'ANN' });

    ann.task.fields.set('title', 'Final draft');
    ann.task.collection('checklist').create({ title: 'Check spelling' }, 'c1');
    ann.task.text('notes').insert(0, 'hello world');
    ann.task.list('comments').push(['Looks good to me']);
    await waitFor(() => feed.entries().length === 4);
    const [comment, text, record, field] = feed.entries();
    expect(field).toMatchObject({ kind: 'field', field: 'title', from: null, to: 'Final draft' }); // merged: from the first
    expect(record).toMatchObject({ kind: 'record-added', collection: 'checklist', record: 'c1', title: 'Check spelling', by: 'ann' });
    expect(text).toMatchObject({ kind: 'text', root: 'notes', record: null, inserted: 11, deleted: 0 });
    expect(comment).toMatchObject({ kind: 'list', root: 'comments', added: 1, removed: 0, preview: 'Looks good to me' });

    // Another person: entries of their own, even on the same field.
    const bob = await person(server, 'task-1', 'bob');
    await waitFor(() => bob.task.fields.get('title') === 'Final draft');
    bob.task.fields.set('title', 'Final');
    bob.task.text('notes').delete(0, 6);
    bob.task.collection('checklist').get('c1')!.set('title', 'Check grammar');
    bob.task.collection('checklist').delete('c1');
    await waitFor(() => feed.entries().filter((entry) => entry.by === 'bob').length === 4);
    const bobs = feed.entries().filter((entry) => entry.by === 'bob');
    expect(kinds(bobs)).toEqual(['record-removed', 'field', 'text', 'field']);
    expect(bobs[1]).toMatchObject({ collection: 'checklist', record: 'c1', field: 'title', from: 'Check spelling', to: 'Check grammar' });
    expect(bobs[2]).toMatchObject({ kind: 'text', inserted: 0, deleted: 6 });
    expect(bobs[3]).toMatchObject({ field: 'title', from: 'Final draft', to: 'Final' });
  });

  test('a paste of 400 000 characters is one text entry, and a list push of 200 000 items one list entry; nothing throws', async () => {
    const server = await startTestServer();
    const errors: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      const ann = await person(server, 'task-paste', 'ann');
      const feed = await feedViewer(server, 'task-paste');
      const pasted = 'Everyone agreed on the plan. '.repeat(14_000).slice(0, 400_000);
      ann.task.text('notes').insert(0, pasted);
      ann.task.list('comments').push(Array.from({ length: 200_000 }, (_, i) => `item ${i}`));
      await waitFor(() => feed.entries().length === 2, { message: 'the paste and the push in the feed' });
      const [list, text] = feed.entries();
      expect(text).toMatchObject({ kind: 'text', root: 'notes', inserted: 400_000, deleted: 0, by: 'ann' });
      expect(list).toMatchObject({ kind: 'list', root: 'comments', added: 200_000, preview: 'item 0', by: 'ann' });
      await waitFor(() => ann.client.provider.unsyncedChanges === 0, { message: 'both acknowledged' });
      // Spreading 400 000 characters into a call overflowed the stack in the recorder (y-protocols logs what a handler throws).
      expect(errors.map((args) => args.map(String).join(' '))).toEqual([]);
    } finally {
      console.error = consoleError;
    }
  });

  test('the backend actor and a restore are entries; the HTTP API and server.activity serve the feed', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const ann = await person(server, 'task-2', 'ann');
    ann.task.fields.set('status', 'open');
    await waitFor(() => ann.client.provider.unsyncedChanges === 0);
    const version = await server.current.saveVersion('task-2', 'Open', { tenant: 'acme' });
    const changed = await fetch(`${server.url}/api/documents/task-2/changes?tenant=acme`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ fields: { status: 'done' } }),
    });
    expect(changed.status).toBe(200);
    await server.current.restore('task-2', version.id, { tenant: 'acme', actor: { id: 'ops', name: 'Ops' } });
    await waitFor(async () => (await server.current.activity('task-2', { tenant: 'acme' })).some((entry) => entry.kind === 'restore'));
    const entries = await server.current.activity('task-2', { tenant: 'acme' });
    expect(entries[0]).toMatchObject({ kind: 'restore', version: version.id, versionName: 'Open', by: 'ops' });
    expect(entries.find((entry) => entry.by === 'api')).toMatchObject({ kind: 'field', field: 'status', from: 'open', to: 'done', byName: 'App backend' });
    expect(entries.at(-1)).toMatchObject({ kind: 'field', field: 'status', from: null, to: 'open', by: 'ann' });

    const read = await mintToken({ sub: 'rita', tenant: 'acme', docs: { 'task-*': 'read' } });
    const answer = await fetch(`${server.url}/api/documents/task-2/activity?limit=2`, { headers: { Authorization: `Bearer ${read}` } });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { activity: ActivityEntry[] }).activity).toEqual(entries.slice(0, 2));
    const elsewhere = await mintToken({ sub: 'rita', tenant: 'acme', docs: { 'project-*': 'write' } });
    expect((await fetch(`${server.url}/api/documents/task-2/activity`, { headers: { Authorization: `Bearer ${elsewhere}` } })).status).toBe(403);
    expect((await fetch(`${server.url}/api/documents/task-2/activity?limit=0`, { headers: { Authorization: `Bearer ${read}` } })).status).toBe(400);
  });
});

describe('the feed as a document', () => {
  test('caught up after a disconnect; read-only for everyone; refused to a token that cannot read the document', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const ann = await person(server, 'task-3', 'ann');
    const feed = await feedViewer(server, 'task-3');
    ann.task.fields.set('status', 'open');
    await waitFor(() => feed.entries().length === 1);

    feed.client.provider.disconnect();
    ann.task.collection('checklist').create({ title: 'While you were away' }, 'c9');
    await waitFor(async () => (await server.current.activity('task-3', { tenant: 'acme' })).length === 2);
    expect(feed.entries()).toHaveLength(1);
    await feed.client.provider.connect();
    await waitFor(() => feed.entries().length === 2);
    expect(feed.entries()[0]).toMatchObject({ kind: 'record-added', title: 'While you were away' });

    // A writer of the document writes into its feed: nothing of it is applied.
    const writerFeed = hocuspocusClient(server, activityDocumentName('task-3'), await mintToken({ sub: 'ann', tenant: 'acme', docs: { 'task-*': 'write' } }));
    await writerFeed.whenSynced();
    expect(writerFeed.scope()).toBe('readonly');
    const forged = new Y.Map<unknown>();
    writerFeed.doc.getArray('entries').push([forged]);
    forged.set('kind', 'field');
    forged.set('by', 'mallory');
    ann.task.fields.set('title', 'after the forgery'); // another field: a new entry
    await waitFor(async () => (await server.current.activity('task-3', { tenant: 'acme' })).length === 3);
    expect((await server.current.activity('task-3', { tenant: 'acme' })).some((entry) => entry.by === 'mallory')).toBe(false);

    const outsider: HocuspocusClient = hocuspocusClient(server, activityDocumentName('task-3'), await mintToken({ sub: 'eve', tenant: 'acme', docs: { 'project-*': 'write' } }));
    await waitFor(() => outsider.failures.length > 0);
    expect(outsider.failures[0]).toMatch(/Forbidden|does not grant/);
  });

  test("revoking a user's access to the document ends their feed session too", async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const feed = await feedViewer(server, 'task-5', 'vic');
    const revoked = await fetch(`${server.url}/api/revocations?tenant=acme`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'vic', documents: 'task-*' }),
    });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { sessions: number }).sessions).toBe(1);
    await waitFor(() => feed.client.failures.includes('revoked'));
  });

  test('the feed is let go of with its document: nothing stays loaded once everyone left', async () => {
    const server = await startTestServer();
    const ann = await person(server, 'task-6', 'ann');
    const feed = await feedViewer(server, 'task-6');
    ann.task.fields.set('title', 'Loaded and let go');
    await waitFor(() => feed.entries().length === 1);
    ann.client.provider.destroy();
    feed.client.provider.destroy();
    await waitFor(() => server.current.hocuspocus.getDocumentsCount() === 0, { message: `still loaded: ${[...server.current.hocuspocus.documents.keys()].join(', ')}` });
  });

  test('retention keeps the newest entries', async () => {
    const server = await startTestServer({ activityRetentionCount: 3 });
    const ann = await person(server, 'task-4', 'ann');
    for (let i = 1; i <= 5; i++) {
      ann.task.collection('checklist').create({ title: `item ${i}` }, `c${i}`);
      await waitFor(async () => (await server.current.activity('task-4', { tenant: 'acme' })).some((entry) => 'title' in entry && entry.title === `item ${i}`));
    }
    const entries = await server.current.activity('task-4', { tenant: 'acme' });
    expect(entries.map((entry) => ('title' in entry ? entry.title : null))).toEqual(['item 5', 'item 4', 'item 3']);
  });
});
