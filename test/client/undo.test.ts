/**
 * C18 undo: `handle.history` undoes and redoes only this client's own changes — fields, records created and deleted,
 * texts, lists — one step per action, against a real server with two people editing at once; what the server, the
 * IndexedDB copy and other tabs bring is never undone and never clears the stacks, across a cut network too.
 * Written through the public record and collection API only, so they hold whatever the fields' storage format.
 */
import type { DocumentHandle } from '@concord/client';
import { defineDocument, defineRecord } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const Project = defineDocument('project', {
  fields: defineRecord('project', { name: z.string() }),
  collections: { tasks: defineRecord('task', { title: z.string(), status: z.string(), assignee: z.string().optional() }) },
  texts: ['notes'],
  lists: ['log'],
});

type Server = Awaited<ReturnType<typeof startTestServer>>;

/** Alice and Bob with `name` open and synced, each through their own client (and IndexedDB namespace). */
async function twoPeople(server: Pick<Server, 'syncUrl'>, name: string, aliceUrl?: string) {
  freshIndexedDB();
  const alice = makeClient(aliceUrl ? { syncUrl: aliceUrl } : server, { token: await token('alice') }).open(name);
  const bob = makeClient(server, { token: await token('bob') }).open(name);
  await Promise.all([alice.whenSynced(), bob.whenSynced()]);
  return { alice, bob };
}

const tasksOf = (handle: DocumentHandle) => handle.typed(Project).collection('tasks');
const settled = (...handles: DocumentHandle[]) => waitFor(() => handles.every((handle) => handle.status.synced));

describe('C18 undo', () => {
  it("undoes Alice's field change and keeps Bob's concurrent change to another field; redo reapplies it", async () => {
    const server = await startTestServer();
    const { alice, bob } = await twoPeople(server, 'project-fields');
    tasksOf(bob).create({ title: 'Ship', status: 'todo' }, 't1');
    await waitFor(() => tasksOf(alice).has('t1'));
    expect(alice.history.canUndo(), "Bob's create is not Alice's to undo").toBe(false);

    tasksOf(alice).get('t1')!.set('status', 'done');
    tasksOf(bob).get('t1')!.set('assignee', 'bob');
    await waitFor(() => tasksOf(alice).get('t1')!.get('assignee') === 'bob' && tasksOf(bob).get('t1')!.get('status') === 'done');

    expect(alice.history.undo()).toBe(true);
    for (const handle of [alice, bob]) {
      await waitFor(() => tasksOf(handle).get('t1')!.get('status') === 'todo');
      expect(tasksOf(handle).get('t1')!.toJSON()).toEqual({ title: 'Ship', status: 'todo', assignee: 'bob' });
    }
    expect(alice.history.state).toEqual({ canUndo: false, canRedo: true });
    expect(bob.history.canUndo(), "Alice's undo is not Bob's change").toBe(true);
    expect(bob.history.canRedo()).toBe(false);

    expect(alice.history.redo()).toBe(true);
    await waitFor(() => tasksOf(bob).get('t1')!.get('status') === 'done');
    expect(tasksOf(bob).get('t1')!.toJSON()).toEqual({ title: 'Ship', status: 'done', assignee: 'bob' });
    expect(alice.history.redo(), 'nothing more to redo').toBe(false);
  });

  it("never undoes Bob's later write to the same field", async () => {
    const server = await startTestServer();
    const { alice, bob } = await twoPeople(server, 'project-overwritten');
    tasksOf(bob).create({ title: 'Draft', status: 'todo' }, 't1');
    await waitFor(() => tasksOf(alice).has('t1'));
    tasksOf(alice).get('t1')!.set('title', 'Alice title');
    await waitFor(() => tasksOf(bob).get('t1')?.get('title') === 'Alice title');
    tasksOf(bob).get('t1')!.set('title', 'Bob title');
    await waitFor(() => tasksOf(alice).get('t1')!.get('title') === 'Bob title');

    alice.history.undo(); // her only step, the title Bob has replaced since: it stays Bob's
    await settled(alice, bob);
    for (const handle of [alice, bob]) expect(tasksOf(handle).get('t1')?.toJSON()).toEqual({ title: 'Bob title', status: 'todo' });
  });

  it('undoes a record Alice created and leaves the one Bob created; redo brings hers back for Bob', async () => {
    const server = await startTestServer();
    const { alice, bob } = await twoPeople(server, 'project-create');
    tasksOf(alice).create({ title: 'Hers', status: 'todo' }, 'a1');
    tasksOf(bob).create({ title: 'His', status: 'doing' }, 'b1');
    await waitFor(() => tasksOf(alice).has('b1') && tasksOf(bob).has('a1'));

    expect(alice.history.undo()).toBe(true);
    await waitFor(() => !tasksOf(bob).has('a1'));
    expect(tasksOf(bob).ids()).toEqual(['b1']);
    expect(tasksOf(alice).ids()).toEqual(['b1']);

    alice.history.redo();
    await waitFor(() => tasksOf(bob).has('a1'));
    expect(tasksOf(bob).get('a1')!.toJSON()).toEqual({ title: 'Hers', status: 'todo' });
  });

  it("undo of Alice's delete restores the record, with every field, for Bob", async () => {
    const server = await startTestServer();
    const { alice, bob } = await twoPeople(server, 'project-delete');
    tasksOf(bob).create({ title: 'Pay invoice', status: 'todo' }, 't1');
    tasksOf(bob).get('t1')!.update({ status: 'doing', assignee: 'bob' });
    await waitFor(() => tasksOf(alice).get('t1')?.get('assignee') === 'bob');

    tasksOf(alice).delete('t1');
    await waitFor(() => !tasksOf(bob).has('t1'));
    expect(alice.history.canUndo()).toBe(true);

    expect(alice.history.undo()).toBe(true);
    await waitFor(() => tasksOf(bob).has('t1'));
    expect(tasksOf(bob).get('t1')!.toJSON()).toEqual({ title: 'Pay invoice', status: 'doing', assignee: 'bob' });
    expect(tasksOf(alice).get('t1')!.toJSON()).toEqual({ title: 'Pay invoice', status: 'doing', assignee: 'bob' });
    // The restored record is a live record: Bob edits it and Alice sees it.
    tasksOf(bob).get('t1')!.set('status', 'done');
    await waitFor(() => tasksOf(alice).get('t1')?.get('status') === 'done');

    alice.history.redo();
    await waitFor(() => !tasksOf(bob).has('t1'));
  });

  it("undoes Alice's typing and leaves Bob's text; texts, lists and the document's own fields are all in scope", async () => {
    const server = await startTestServer();
    const { alice, bob } = await twoPeople(server, 'project-text');
    const notes = (handle: DocumentHandle) => handle.typed(Project).text('notes');
    notes(bob).insert(0, 'world');
    await waitFor(() => notes(alice).toString() === 'world');
    notes(alice).insert(0, 'Hello ');
    notes(alice).insert(6, 'big ');
    await waitFor(() => notes(bob).toString() === 'Hello big world');
    notes(bob).insert(15, '!');
    await waitFor(() => notes(alice).toString() === 'Hello big world!');

    expect(alice.history.undo(), 'typing in a burst is one step').toBe(true);
    await waitFor(() => notes(bob).toString() === 'world!');
    expect(alice.history.canUndo()).toBe(false);

    alice.typed(Project).fields.set('name', 'Launch');
    alice.typed(Project).list<string>('log').push(['created']);
    alice.history.undo();
    await waitFor(() => bob.typed(Project).list('log').length === 0 && bob.typed(Project).fields.get('name') === 'Launch');
    alice.history.undo();
    await waitFor(() => bob.typed(Project).fields.get('name') === undefined);
  });

  it('groups one action per step: a burst in one field is one step, another field or record starts a new one', async () => {
    const server = await startTestServer();
    const { alice } = await twoPeople(server, 'project-steps');
    const tasks = tasksOf(alice);
    const changes: unknown[] = [];
    alice.history.on('change', (state) => changes.push(state));

    tasks.create({ title: 'One', status: 'todo' }, 't1');
    tasks.create({ title: 'Two', status: 'todo' }, 't2'); // within the capture timeout: same collection, same step
    for (const title of ['O', 'On', 'One!']) tasks.get('t1')!.set('title', title); // another type: a new step
    tasks.get('t2')!.set('status', 'done'); // another record: a new step
    tasks.get('t2')!.set('status', 'doing'); // the same record right after: joins it
    alice.history.stopCapturing();
    tasks.get('t2')!.set('status', 'done'); // after stopCapturing: a step of its own
    alice.history.pause();
    tasks.get('t1')!.set('title', 'First');
    tasks.get('t2')!.set('title', 'Second'); // paused: everything joins one step
    alice.history.resume();
    alice.history.batch(() => {
      tasks.delete('t1');
      tasks.delete('t2');
    });
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.at(-1)).toEqual({ canUndo: true, canRedo: false });

    const snapshot = () => tasks.toJSON();
    const expected = [
      { t1: { title: 'First', status: 'todo' }, t2: { title: 'Second', status: 'done' } }, // the batch undone
      { t1: { title: 'One!', status: 'todo' }, t2: { title: 'Two', status: 'done' } }, // the paused step
      { t1: { title: 'One!', status: 'todo' }, t2: { title: 'Two', status: 'doing' } },
      { t1: { title: 'One!', status: 'todo' }, t2: { title: 'Two', status: 'todo' } },
      { t1: { title: 'One', status: 'todo' }, t2: { title: 'Two', status: 'todo' } },
      {},
    ];
    for (const state of expected) {
      expect(alice.history.undo()).toBe(true);
      expect(snapshot()).toEqual(state);
    }
    expect(alice.history.undo()).toBe(false);
    while (alice.history.redo());
    expect(snapshot()).toEqual({});
    alice.history.clear();
    expect(alice.history.state).toEqual({ canUndo: false, canRedo: false });

    // Undo in the middle of a paused burst ends the pause: the burst is one step, and what follows is another.
    tasks.create({ title: 'Three', status: 'todo' }, 't3');
    alice.history.pause();
    for (const title of ['T', 'Th', 'The']) tasks.get('t3')!.set('title', title);
    expect(alice.history.undo()).toBe(true);
    expect(tasks.get('t3')!.get('title')).toBe('Three');
    tasks.get('t3')!.set('status', 'done');
    alice.history.stopCapturing(); // would do nothing if still paused
    tasks.get('t3')!.set('title', 'Three!');
    alice.history.undo();
    expect(tasks.get('t3')!.toJSON()).toEqual({ title: 'Three', status: 'done' });
  });

  it('keeps the stack across a cut network: offline edits and edits from before the cut undo after reconnecting', async () => {
    const server = await startTestServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const { alice, bob } = await twoPeople(server, 'project-reconnect', throughProxy(server.syncUrl, proxy));
    tasksOf(alice).create({ title: 'Before the cut', status: 'todo' }, 't1');
    alice.history.stopCapturing();
    await waitFor(() => tasksOf(bob).has('t1'));

    proxy.cut();
    await waitFor(() => alice.status.state !== 'connected');
    tasksOf(alice).get('t1')!.set('status', 'done'); // made offline
    tasksOf(bob).get('t1')!.set('assignee', 'bob'); // meanwhile, online
    await waitFor(() => bob.status.synced);
    proxy.restore();
    await waitFor(() => alice.status.synced && tasksOf(alice).get('t1')?.get('assignee') === 'bob', { timeoutMs: 15_000 });
    await waitFor(() => tasksOf(bob).get('t1')?.get('status') === 'done');
    expect(alice.history.canUndo(), 'the reconnect and the sync did not clear the stack').toBe(true);

    alice.history.undo();
    await waitFor(() => tasksOf(bob).get('t1')?.get('status') === 'todo');
    expect(tasksOf(bob).get('t1')!.get('assignee'), "Bob's change while Alice was cut off stays").toBe('bob');
    alice.history.undo();
    await waitFor(() => !tasksOf(bob).has('t1'));
    expect(alice.history.canUndo()).toBe(false);
  });

  it('what the IndexedDB copy and other tabs bring is not undoable here; an undo reaches the other tab', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = await token('alice');
    const first = makeClient(server, { token: alice });
    const before = first.open('project-local');
    await before.whenSynced();
    tasksOf(before).create({ title: 'Stored', status: 'todo' }, 't1');
    await waitFor(() => before.status.synced && before.status.localCopy === 'saved');
    await first.destroy();

    const tabA = makeClient(server, { token: alice }).open('project-local');
    const tabB = makeClient(server, { token: alice }).open('project-local');
    await Promise.all([tabA.whenSynced(), tabB.whenSynced()]);
    expect(tasksOf(tabA).has('t1')).toBe(true);
    expect(tabA.history.canUndo(), 'loaded from IndexedDB and the server: not a change made here').toBe(false);

    tasksOf(tabA).get('t1')!.set('status', 'done');
    await waitFor(() => tasksOf(tabB).get('t1')?.get('status') === 'done');
    expect(tabB.history.canUndo(), "another tab's change is that tab's to undo").toBe(false);
    tabA.history.undo();
    await waitFor(() => tasksOf(tabB).get('t1')?.get('status') === 'todo');
  });

  it("a binding's own origin is not tracked unless the app tracks it", async () => {
    const server = await startTestServer();
    const { alice } = await twoPeople(server, 'project-binding');
    const binding = { name: 'an editor binding with its own undo manager' };
    const notes = alice.typed(Project).text('notes');
    alice.doc.transact(() => notes.insert(0, 'typed in the editor'), binding);
    expect(alice.history.canUndo()).toBe(false);

    alice.history.track(binding);
    alice.doc.transact(() => notes.insert(0, '> '), binding);
    expect(alice.history.undo()).toBe(true);
    expect(notes.toString()).toBe('typed in the editor');
  });
});
