/**
 * C10 cross-tab: clients of the same user in one browser (here: one process, where BroadcastChannel reaches every
 * instance of a name) share a document's edits at once, without the server. Each test runs with the server down.
 */
import { defineDocument, defineRecord } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const Task = defineDocument('task', {
  fields: defineRecord('task', { title: z.string(), done: z.boolean() }),
  texts: ['notes'],
});

/** A server that was up once and is now down, so clients stay offline. */
async function downServer() {
  const server = await startTestServer();
  await server.stop();
  return server;
}

describe('C10 cross-tab', () => {
  it('tabs of one user share text and field edits both ways while offline', async () => {
    freshIndexedDB();
    const server = await downServer();
    const alice = await token('alice');
    const tabA = makeClient(server, { token: alice }).open('task-1');
    const tabB = makeClient(server, { token: alice }).open('task-1');
    await Promise.all([tabA.whenLoaded(), tabB.whenLoaded()]);

    tabA.typed(Task).text('notes').insert(0, 'written in tab A');
    tabA.typed(Task).fields.update({ title: 'Pay invoice', done: false });
    await waitFor(() => tabB.typed(Task).text('notes').toString() === 'written in tab A');
    expect(tabB.typed(Task).fields.toJSON()).toEqual({ title: 'Pay invoice', done: false });

    tabB.typed(Task).fields.set('done', true);
    await waitFor(() => tabA.typed(Task).fields.get('done') === true);
    expect(tabA.status.state).toBe('offline');
    // Both tabs show the device's outbox: every change not yet on the server, made in whichever tab.
    const outbox = ['done → true', 'title → Pay invoice', '16 characters typed in notes'];
    await waitFor(() => tabA.outbox().length === 3 && tabB.outbox().length === 3);
    expect(tabA.outbox().map((entry) => entry.summary)).toEqual(outbox);
    expect(tabB.outbox().map((entry) => entry.summary)).toEqual(outbox);
  });

  it('a tab opened later gets what the open tabs have, without IndexedDB or the server', async () => {
    const server = await downServer();
    const alice = await token('alice');
    const options = { token: alice, persistence: false, localNamespace: 'alice-space' };
    const first = makeClient(server, options).open('task-2');
    await first.whenLoaded();
    first.typed(Task).text('notes').insert(0, 'before the second tab');

    const second = makeClient(server, options).open('task-2');
    await waitFor(() => second.typed(Task).text('notes').toString() === 'before the second tab');
    second.typed(Task).text('notes').insert(0, '> ');
    await waitFor(() => first.typed(Task).text('notes').toString() === '> before the second tab');
  });

  it("another user's tab of the same document gets nothing", async () => {
    const server = await downServer();
    const options = (namespace: string) => ({ token: 'not-a-jwt', persistence: false, localNamespace: namespace });
    const alice = makeClient(server, options('alice-space')).open('task-3');
    const aliceAgain = makeClient(server, options('alice-space')).open('task-3');
    const bob = makeClient(server, options('bob-space')).open('task-3');
    await Promise.all([alice.whenLoaded(), aliceAgain.whenLoaded(), bob.whenLoaded()]);

    alice.typed(Task).text('notes').insert(0, 'private');
    await waitFor(() => aliceAgain.typed(Task).text('notes').toString() === 'private');
    expect(bob.typed(Task).text('notes').toString()).toBe('');
  });

  it('a closed tab stops sharing', async () => {
    const server = await downServer();
    const options = { token: 'not-a-jwt', persistence: false, localNamespace: 'alice-space' };
    const closing = makeClient(server, options).open('task-4');
    const staying = makeClient(server, options).open('task-4');
    const witness = makeClient(server, options).open('task-4');
    await Promise.all([closing.whenLoaded(), staying.whenLoaded(), witness.whenLoaded()]);
    const closingDoc = closing.doc;
    await closing.close();

    staying.typed(Task).text('notes').insert(0, 'after the close');
    await waitFor(() => witness.typed(Task).text('notes').toString() === 'after the close');
    expect(closingDoc.getText('notes').toString()).toBe('');
  });
});
