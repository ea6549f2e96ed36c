/**
 * Two clients of a real server converge on collaborative text and LWW fields through the engine's typed model;
 * a document's status walks connecting → connected → synced; `open` validates names and shares handles.
 */
import { ConcordError, defineDocument, defineRecord, ErrorKind } from '@concord/engine';
import type { ConnectionState } from '@concord/client';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const Task = defineRecord('task', {
  title: z.string().min(1),
  status: z.enum(['todo', 'doing', 'done']),
  assignee: z.string().nullable(),
});
const Project = defineDocument('project', {
  fields: defineRecord('project', { name: z.string(), budget: z.number().nonnegative() }),
  collections: { tasks: Task },
  texts: ['notes'],
});

describe('client sync', () => {
  it('converges two clients on text and LWW fields', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice') }).open('project-1');
    const bob = makeClient(server, { token: await token('bob') }).open('project-1');
    await Promise.all([alice.whenSynced(), bob.whenSynced()]);
    const a = alice.typed(Project);
    const b = bob.typed(Project);

    a.fields.update({ name: 'Apollo', budget: 100 });
    const task = a.collection('tasks').create({ title: 'Land', status: 'todo', assignee: null }, 'task-1');
    a.text('notes').insert(0, 'Hello');
    await waitFor(() => b.collection('tasks').get('task-1')?.get('title') === 'Land');

    b.collection('tasks').get('task-1')?.set('status', 'doing');
    b.text('notes').insert(5, ' world');
    task.set('assignee', 'alice');
    b.fields.set('budget', 250);

    const converged = () =>
      JSON.stringify([a.fields.toJSON(), a.collection('tasks').toJSON(), a.text('notes').toString()]) ===
      JSON.stringify([b.fields.toJSON(), b.collection('tasks').toJSON(), b.text('notes').toString()]);
    await waitFor(converged, { message: 'replicas differ' });
    expect(a.fields.toJSON()).toEqual({ name: 'Apollo', budget: 250 });
    expect(a.collection('tasks').get('task-1')?.toJSON()).toEqual({ title: 'Land', status: 'doing', assignee: 'alice' });
    expect(a.text('notes').toString()).toBe('Hello world');
    await waitFor(() => alice.status.synced && bob.status.synced && alice.status.pendingChanges === 0);
  });

  it('C3 reports connecting, then connected and synced with nothing pending', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const client = makeClient(server, { token: await token('carol') });
    const socketStates: ConnectionState[] = [client.state];
    client.on('state', (state) => socketStates.push(state));
    const handle = client.open('project-2');
    const documentStates = [handle.status.state];
    handle.on('status', (status) => documentStates.push(status.state));

    // Opened: the local copy is still being read (IndexedDB answers later), and nothing of the document is here.
    expect(handle.status).toMatchObject({ state: 'connecting', synced: false, pendingChanges: 0, error: null, loadedLocally: false, onDevice: false });
    await handle.whenLoaded();
    // Read: the copy was empty (never opened on this device); the provider attaches only now, so the server's copy
    // cannot have arrived yet.
    expect(handle.status).toMatchObject({ loadedLocally: true, onDevice: false });
    await handle.whenSynced();
    await waitFor(() => handle.status.synced);
    expect(handle.status).toEqual({
      state: 'connected',
      synced: true,
      pendingChanges: 0,
      loadedLocally: true,
      onDevice: true,
      localCopy: 'saved',
      readOnly: false,
      heldUpdates: 0,
      error: null,
      reason: null,
    });
    expect(socketStates[0]).toBe('connecting');
    expect(socketStates.at(-1)).toBe('connected');
    expect(documentStates[0]).toBe('connecting');
    expect(documentStates.at(-1)).toBe('connected');

    handle.doc.getText('t').insert(0, 'x');
    expect(handle.status.pendingChanges).toBe(1);
    expect(handle.status.synced).toBe(false);
    await waitFor(() => handle.status.synced && handle.status.pendingChanges === 0);
  });

  it('throws a ConcordError for an invalid document name', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const client = makeClient(server, { token: await token('dave') });
    for (const name of ['', 'a/b', '-leading-dash', 'x'.repeat(200)]) {
      let caught: unknown;
      try {
        client.open(name);
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(name)).toBeInstanceOf(ConcordError);
      expect((caught as ConcordError).kind).toBe(ErrorKind.InvalidDocumentName);
    }
    expect(client.documents()).toEqual([]);
  });

  it('C6 hands out one handle per name and closes it on the last release', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const client = makeClient(server, { token: await token('erin') });
    const first = client.open('shared-1');
    const second = client.open('shared-1');
    expect(second).toBe(first);
    expect(client.documents()).toEqual([first]);
    await first.whenSynced();

    await first.close();
    expect(client.documents()).toEqual([first]);
    first.doc.getText('t').insert(0, 'still open');
    await waitFor(() => first.status.synced);

    const closing = second.close();
    expect(client.documents()).toEqual([]);
    const reopened = client.open('shared-1');
    expect(reopened).not.toBe(first);
    await closing;
    expect(first.doc.isDestroyed).toBe(true);
    await reopened.whenSynced();
    await waitFor(() => reopened.status.synced);
    expect(reopened.doc.getText('t').toString()).toBe('still open');
  });
});
