/**
 * Field hooks over real sockets: a watched field changed by a client or by the backend API publishes an event to a
 * channel (received here by a stock HocuspocusProvider on `#<channel>`) with value, previous value and author;
 * other fields, and loading from storage, publish nothing; a `notify` rule puts a notification in the inbox of the
 * user the field names.
 */
import { fieldEntries, parseChannelMessage, readField, readFields, writeField } from '@concord/engine';
import type { LifecycleInput } from '@concord/server';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const lifecycle: LifecycleInput = {
  events: [
    { documents: 'account-*', field: 'balance', event: 'balance-changed' },
    { documents: 'project-*', root: 'tasks', field: 'status', event: 'task-status-changed', channel: '{document}-tasks' },
    {
      documents: 'project-*',
      root: 'tasks',
      field: 'assignee',
      notify: { user: '{value}', kind: 'assignment', title: '{by} assigned you {record} in {document}' },
    },
  ],
};

async function listen(server: TestServer, channel: string) {
  const client = hocuspocusClient(server, `#${channel}`, await mintToken({ sub: 'viewer', tenant: 'acme', docs: { '*': 'read' } }));
  const events: Array<{ event: string; payload: Record<string, unknown> }> = [];
  client.provider.on('stateless', ({ payload }: { payload: string }) => {
    const message = parseChannelMessage(payload);
    if (message?.concord === 'event') events.push({ event: message.event, payload: message.payload as Record<string, unknown> });
  });
  await client.whenSynced();
  return events;
}

async function editor(server: TestServer, name: string, user: string) {
  const client = hocuspocusClient(server, name, await mintToken({ sub: user, tenant: 'acme', docs: { '*': 'write' } }));
  await client.whenSynced();
  return client;
}

describe('field hooks', () => {
  it("publish a document field's changes with value, previous value and author, and nothing for other fields", async () => {
    const server = await startTestServer({ lifecycle, apiKey: 'backend-api-key-that-is-long-enough-0123456789' });
    const events = await listen(server, 'account-1');
    const sarah = await editor(server, 'account-1', 'sarah');
    sarah.doc.getMap('fields').set('balance', 500);
    sarah.doc.getMap('fields').set('owner', 'sarah');
    await waitFor(() => events.length === 1);
    await server.current.changeDocument('account-1', { fields: { balance: 750 } }, { tenant: 'acme', actor: { id: 'billing', name: 'Billing' } });
    await waitFor(() => events.length === 2);
    expect(events.map(({ event }) => event)).toEqual(['balance-changed', 'balance-changed']);
    expect(events[0]?.payload).toMatchObject({ document: 'account-1', root: 'fields', record: null, field: 'balance', value: 500, by: 'sarah' });
    expect(events[0]?.payload.previous).toBeUndefined();
    expect(events[1]?.payload).toMatchObject({ value: 750, previous: 500, by: 'billing' });

    // Loading the document again after a restart publishes nothing; the next change does.
    sarah.provider.destroy();
    await server.restart();
    const again = await listen(server, 'account-1');
    const tom = await editor(server, 'account-1', 'tom');
    expect(readField(tom.doc.getMap('fields'), 'balance')).toBe(750);
    // After a stamped write (the API's), a later write must be stamped too to win: through the engine model.
    writeField(tom.doc.getMap('fields'), 'balance', 760);
    await waitFor(() => again.length === 1);
    expect(again[0]?.payload).toMatchObject({ value: 760, previous: 750, by: 'tom' });
  });

  it('fire when the winning write changes, not for a concurrent write that arrives and loses', async () => {
    const server = await startTestServer({ lifecycle });
    const events = await listen(server, 'account-2');
    const sarah = await editor(server, 'account-2', 'sarah');
    const fields = sarah.doc.getMap('fields');
    writeField(fields, 'balance', 500);
    await waitFor(() => events.length === 1);
    // Tom wrote a minute earlier while offline, without seeing Sarah's write: it arrives, is kept beside hers, and loses.
    const offline = new Y.Doc();
    writeField(offline.getMap('fields'), 'balance', 400, { now: Date.now() - 60_000 });
    const tom = hocuspocusClient(server, 'account-2', await mintToken({ sub: 'tom', tenant: 'acme', docs: { '*': 'write' } }), { doc: offline });
    await tom.whenSynced();
    await waitFor(() => fieldEntries(fields, 'balance').length === 2);
    expect(readField(fields, 'balance')).toBe(500);
    writeField(fields, 'balance', 510);
    await waitFor(() => events.length === 2);
    expect(events.map(({ payload }) => [payload.value, payload.previous ?? null, payload.by])).toEqual([
      [500, null, 'sarah'],
      [510, 500, 'sarah'],
    ]);
  });

  it('publish the field of records in a collection, for new records too, to the channel of the template', async () => {
    const server = await startTestServer({ lifecycle });
    const events = await listen(server, 'project-9-tasks');
    const sarah = await editor(server, 'project-9', 'sarah');
    const tasks = sarah.doc.getMap<Y.Map<unknown>>('tasks');
    sarah.doc.transact(() => {
      const task = new Y.Map<unknown>();
      tasks.set('t1', task);
      task.set('title', 'Pay invoice');
      task.set('status', 'todo');
    });
    await waitFor(() => events.length === 1);
    tasks.get('t1')?.set('title', 'Pay the invoice');
    tasks.get('t1')?.set('status', 'done');
    await waitFor(() => events.length === 2);
    expect(events.map(({ payload }) => [payload.record, payload.value, payload.previous ?? null])).toEqual([
      ['t1', 'todo', null],
      ['t1', 'done', 'todo'],
    ]);
    expect(events[1]?.payload).toMatchObject({ document: 'project-9', root: 'tasks', field: 'status', by: 'sarah' });
  });

  it('notify the user a field names, in their inbox', async () => {
    const server = await startTestServer({ lifecycle });
    const sarah = await editor(server, 'project-9', 'sarah');
    const tasks = sarah.doc.getMap<Y.Map<unknown>>('tasks');
    sarah.doc.transact(() => {
      const task = new Y.Map<unknown>();
      tasks.set('t7', task);
      task.set('assignee', 'bob');
    });
    const inbox = await editor(server, 'inbox:bob', 'bob');
    const notifications = inbox.doc.getMap<Y.Map<unknown>>('notifications');
    await waitFor(() => notifications.size === 1);
    expect(readFields([...notifications.values()][0]!)).toMatchObject({
      kind: 'assignment',
      title: 'sarah assigned you t7 in project-9',
      target: { document: 'project-9', record: 't7' },
    });
  });
});
