/**
 * The outbox (C2): the local changes the server has not acknowledged, as readable entries rebuilt from the stored
 * copy. Alice edits while the server is down; her outbox names each change; a reload (a new client over the same
 * IndexedDB) rebuilds the same entries from what is stored; when the server is back they are acknowledged and the
 * outbox empties. Changes from others, and changes undone before the server saw them, are never in it. C14: a
 * document closed with changes in its outbox is listed by `pendingDocuments()` and sent in the background as soon
 * as a connection opens.
 */
import type { DocumentHandle, OutboxEntry } from '@concord/client';
import { defineDocument, defineRecord } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const Project = defineDocument('project', {
  fields: defineRecord('project', { name: z.string() }),
  collections: { tasks: defineRecord('task', { title: z.string(), status: z.string() }) },
  texts: ['notes'],
});

const summaries = (handle: DocumentHandle) => handle.outbox().map((entry) => entry.summary);

describe('client outbox', () => {
  it('C2 names offline changes, rebuilds them after a reload and empties once the server has them', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    const aliceToken = await token('alice');

    const first = makeClient(server, { token: aliceToken });
    const before = first.open('project-1');
    await before.whenSynced();
    const project = before.typed(Project);
    project.collection('tasks').create({ title: 'Pay invoice', status: 'todo' }, 't1');
    project.text('notes').insert(0, 'Kickoff on Monday.');
    await waitFor(() => before.status.synced);
    expect(before.outbox()).toEqual([]);

    await server.stop();
    await waitFor(() => before.status.state === 'offline');
    const events: Array<readonly OutboxEntry[]> = [];
    before.on('outbox', (entries) => events.push(entries));
    project.collection('tasks').get('t1')!.set('status', 'doing');
    project.collection('tasks').get('t1')!.set('status', 'done');
    project.text('notes').insert(18, ' Bring slides');
    project.text('notes').delete(0, 8); // "Kickoff " was on the server
    project.collection('tasks').create({ title: 'Book room', status: 'todo' }, 't2');
    project.fields.set('name', 'Launch');

    const expected = [
      "name → Launch",
      "13 characters typed, 8 characters deleted in notes",
      "added 'Book room' to tasks",
      "status of 'Pay invoice' → done",
    ];
    expect(summaries(before)).toEqual(expected);
    expect(before.status.pendingChanges).toBe(4);
    expect(events.at(-1)?.map((entry) => entry.summary)).toEqual(expected);
    const status = before.outbox().find((entry) => entry.field === 'status');
    expect(status).toMatchObject({ kind: 'field', root: 'tasks', record: 't1', value: 'done', label: 'Pay invoice' });
    await first.destroy();

    globalThis.indexedDB = idb;
    const reloaded = makeClient(server, { token: aliceToken });
    const after = reloaded.open('project-1');
    await after.whenLoaded();
    expect(summaries(after)).toEqual(expected);
    expect(after.status.pendingChanges).toBe(4);

    await server.start();
    await waitFor(() => after.status.synced, { timeoutMs: 15_000 });
    expect(after.outbox()).toEqual([]);
    await reloaded.destroy();

    globalThis.indexedDB = idb;
    const again = makeClient(server, { token: aliceToken }).open('project-1');
    await again.whenLoaded();
    expect(again.outbox()).toEqual([]); // the acknowledgement was stored too
  });

  it("C2 never lists other people's changes, even after a reload while offline", async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    const aliceToken = await token('alice');
    const alice = makeClient(server, { token: aliceToken });
    const mine = alice.open('project-2');
    const bob = makeClient(server, { token: await token('bob'), persistence: false }).open('project-2');
    await Promise.all([mine.whenSynced(), bob.whenSynced()]);

    bob.typed(Project).collection('tasks').create({ title: 'From Bob', status: 'todo' }, 't1');
    bob.typed(Project).text('notes').insert(0, 'Bob was here');
    await waitFor(() => mine.typed(Project).text('notes').toString() === 'Bob was here');
    expect(mine.outbox()).toEqual([]);
    await alice.destroy(); // stores what the server is known to have

    await server.stop();
    globalThis.indexedDB = idb;
    const reloaded = makeClient(server, { token: aliceToken }).open('project-2');
    await reloaded.whenLoaded();
    expect(reloaded.typed(Project).text('notes').toString()).toBe('Bob was here');
    expect(reloaded.outbox()).toEqual([]);
    reloaded.typed(Project).text('notes').insert(12, '!');
    expect(summaries(reloaded)).toEqual(['1 character typed in notes']);
  });

  it('C2 a change undone before the server saw it leaves nothing in the outbox', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const handle = makeClient(server, { token: await token('carol') }).open('project-3');
    await handle.whenLoaded();
    const notes = handle.typed(Project).text('notes');
    notes.insert(0, 'typo');
    expect(handle.status.pendingChanges).toBe(1);
    notes.delete(0, 4);
    expect(handle.outbox()).toEqual([]);
    expect(handle.status.pendingChanges).toBe(0);
  });

  it('C14 sends the changes of a document closed while offline as soon as a connection opens', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const client = makeClient(server, { token: await token('dana') });
    const notes = client.open('notes-closed');
    await notes.whenLoaded();
    notes.doc.getText('t').insert(0, 'written offline, then closed');
    await notes.close(); // offline: no Close message may wait for the next connection (it would close the reopened document)
    expect((await client.pendingDocuments()).map(({ name, entries }) => ({ name, summaries: entries.map((e) => e.summary) }))).toEqual([
      { name: 'notes-closed', summaries: ['28 characters typed in t'] },
    ]);
    const listChanged = new Promise<void>((resolve) => client.on('outbox', resolve));

    await server.start();
    const reader = makeClient(server, { token: await token('erin'), persistence: false }).open('notes-closed');
    await reader.whenSynced();
    await waitFor(() => reader.doc.getText('t').toString() === 'written offline, then closed', { timeoutMs: 15_000 });
    await listChanged;
    await waitFor(async () => (await client.pendingDocuments()).length === 0);
    expect(client.documents()).toEqual([]); // opened in the background, closed again
  });
});
