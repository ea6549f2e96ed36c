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
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, setNavigatorOnLine, startTestServer, token } from './harness.js';

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

/**
 * Issue 13, defect 1: the first edit after the connection drops was missing from the outbox. The outbox marked the
 * whole document acknowledged inside the edit's own transaction, before the provider had counted the update it was
 * about to send, so an edit made while the socket still looked open (a silent drop, a browser that went offline
 * without closing the socket, a reset the client had not read yet) was listed as on the server, and stayed so.
 */
describe('client outbox: the first edit after the connection drops', () => {
  const drops = [
    ['a silent network loss (nothing arrives, nothing closes)', (proxy: TcpProxy) => proxy.blackhole()],
    ['a reset the client has not read yet', (proxy: TcpProxy) => proxy.cut()],
    ['the browser going offline with the socket still open', (proxy: TcpProxy) => {
      proxy.blackhole();
      setNavigatorOnLine(false);
      globalThis.dispatchEvent?.(new Event('offline'));
    }],
  ] as const;

  for (const [kind, drop] of drops) {
    it(`is counted and listed at once after ${kind}, and leaves once the server has it`, async () => {
      freshIndexedDB();
      const server = await startTestServer();
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
      const client = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: await token('bob') });
      const handle = client.open('project-first-edit');
      await handle.whenSynced();
      const tasks = handle.typed(Project).collection('tasks');
      tasks.create({ title: 'Ship', status: 'todo' }, 't1');
      await waitFor(() => handle.status.synced && handle.outbox().length === 0);

      drop(proxy);
      tasks.get('t1')!.set('status', 'done');
      expect(summaries(handle), 'the edit is listed the moment it is made').toEqual(["status of 'Ship' → done"]);
      expect(handle.status.pendingChanges).toBe(1);
      expect(handle.status.synced).toBe(false);

      // Whatever the socket does meanwhile (it may still look open), the edit stays listed until the server has it.
      const reader = makeClient(server, { token: await token('alice'), persistence: false }).open('project-first-edit');
      await reader.whenSynced();
      expect(reader.typed(Project).collection('tasks').get('t1')?.get('status')).toBe('todo');
      expect(summaries(handle)).toEqual(["status of 'Ship' → done"]);

      // The network comes back; connections the outage left behind are reset (as a NAT that forgot them does).
      setNavigatorOnLine(true);
      proxy.cut();
      proxy.restore();
      globalThis.dispatchEvent?.(new Event('online'));
      await waitFor(() => reader.typed(Project).collection('tasks').get('t1')?.get('status') === 'done', { timeoutMs: 20_000 });
      await waitFor(() => handle.outbox().length === 0, { timeoutMs: 20_000 });
    });
  }
});
