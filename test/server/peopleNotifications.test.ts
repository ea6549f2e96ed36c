/**
 * Notifications derived from what people do (server/src/history/PeopleNotifier.ts), over a real server, read from the
 * recipients' inboxes as their own clients would:
 * - a comment mentioning two people notifies both (`mention`), not its author; a reply notifies the parent's author
 *   (`reply`), once even when it also mentions them;
 * - setting a task's `assignee` to someone notifies them (`assignment`, with the task's title), not when they assign
 *   themselves, and not for a change the backend API made (the backend notifies as it chooses);
 * - a comment edited to mention someone more notifies the newcomer only;
 * - a reply notifies whoever created the parent comment over their connection, whatever its `author` field claims
 *   (a forged one misdirects nothing); a comment the backend API wrote is taken at its `author` field;
 * - a user who switched a kind off gets none of it.
 */
import { CommentRecord, defineDocument, defineRecord, FIELDS_ROOT, InboxDocument, inboxDocumentName, preferenceField, writeFields } from '@concord/engine';
import { expect, test } from 'vitest';
import { z } from 'zod';
import { hocuspocusClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';

const Task = defineDocument('task', {
  fields: defineRecord('task', { title: z.string(), assignee: z.string().optional() }),
  collections: { comments: CommentRecord, subtasks: defineRecord('subtask', { title: z.string(), assignee: z.string().optional() }) },
});

async function person(server: TestServer, name: string, sub: string) {
  const client = hocuspocusClient(server, name, await mintToken({ sub, name: sub[0]!.toUpperCase() + sub.slice(1), tenant: 'acme', docs: { 'task-*': 'write' } }));
  await client.whenSynced();
  return { client, task: Task.open(client.doc) };
}

/** A user's inbox, as their own client sees it. */
async function inbox(server: TestServer, user: string) {
  const client = hocuspocusClient(server, inboxDocumentName(user), await mintToken({ sub: user, tenant: 'acme', docs: {} }));
  await client.whenSynced();
  const notifications = () => InboxDocument.open(client.doc).collection('notifications');
  return {
    client,
    list: () => notifications().ids().map((id) => notifications().get(id)!.toJSON() as Record<string, unknown>),
  };
}

const comment = (author: string, text: string, extra: { parent?: string; mentions?: string[] } = {}) => ({
  text,
  author,
  authorName: author,
  createdAt: Date.now(),
  ...extra,
});

test('mentions and replies notify the people concerned, once each, never the author', async () => {
  const server = await startTestServer();
  const [ann, bob] = [await person(server, 'task-1', 'ann'), await person(server, 'task-1', 'bob')];
  const inboxes = { ann: await inbox(server, 'ann'), bob: await inbox(server, 'bob'), cat: await inbox(server, 'cat') };

  ann.task.collection('comments').create(comment('ann', 'Can you two look at this?', { mentions: ['bob', 'cat', 'ann'] }), 'c1');
  await waitFor(() => inboxes.bob.list().length === 1 && inboxes.cat.list().length === 1);
  expect(inboxes.bob.list()[0]).toMatchObject({ kind: 'mention', title: 'Ann mentioned you', body: 'Can you two look at this?', target: { document: 'task-1', record: 'c1' }, actor: 'ann' });
  expect(inboxes.cat.list()[0]).toMatchObject({ kind: 'mention', actor: 'ann' });

  await waitFor(() => bob.task.collection('comments').get('c1') !== undefined);
  bob.task.collection('comments').create(comment('bob', 'On it, @Ann', { parent: 'c1', mentions: ['ann'] }), 'c2');
  await waitFor(() => inboxes.ann.list().length >= 1);
  bob.task.collection('comments').create(comment('bob', 'Done.', { parent: 'c1' }), 'c3');
  await waitFor(() => inboxes.ann.list().length === 2);
  const kinds = inboxes.ann.list().map((n) => [n.kind, n.body]).sort();
  expect(kinds, 'mentioned in a reply: one mention, not a mention and a reply').toEqual([
    ['mention', 'On it, @Ann'],
    ['reply', 'Done.'],
  ]);
  expect(inboxes.ann.list().find((n) => n.kind === 'reply')).toMatchObject({ title: 'Bob replied to your comment', target: { document: 'task-1', record: 'c3' } });
  // Bob replying to his own comment notifies nobody; nothing reached the authors for their own comments.
  bob.task.collection('comments').create(comment('bob', 'Also…', { parent: 'c2' }), 'c4');
  ann.task.collection('comments').create(comment('ann', 'marker', { mentions: ['cat'] }), 'c5');
  await waitFor(() => inboxes.cat.list().length === 2);
  expect(inboxes.bob.list()).toHaveLength(1);
  expect(inboxes.ann.list()).toHaveLength(2);
});

test('an assignee set by someone else notifies them, with the title; not themselves, not the backend API', async () => {
  const server = await startTestServer({ apiKey: API_KEY });
  const ann = await person(server, 'task-2', 'ann');
  const cat = await person(server, 'task-2', 'cat');
  const inboxes = { bob: await inbox(server, 'bob'), cat: await inbox(server, 'cat') };
  ann.task.fields.set('title', 'Ship it');
  ann.task.fields.set('assignee', 'bob');
  await waitFor(() => inboxes.bob.list().length === 1);
  expect(inboxes.bob.list()[0]).toMatchObject({ kind: 'assignment', title: "Ann assigned you 'Ship it'", target: { document: 'task-2' }, actor: 'ann' });

  // A record given an assignee notifies; one that arrives with it set (as a device re-sends what it holds) does not.
  ann.task.collection('subtasks').create({ title: 'Print posters', assignee: 'cat' }, 's1');
  ann.task.collection('subtasks').create({ title: 'Book the hall' }, 's2');
  await waitFor(() => cat.task.collection('subtasks').get('s2') !== undefined);
  ann.task.collection('subtasks').get('s2')!.set('assignee', 'cat');
  await waitFor(() => inboxes.cat.list().length === 1);
  expect(inboxes.cat.list().map((n) => [n.title, (n.target as { record?: string }).record])).toEqual([["Ann assigned you 'Book the hall'", 's2']]);

  // Cat takes the task herself; then the backend API assigns it to Bob: neither notifies.
  await waitFor(() => cat.task.fields.get('assignee') === 'bob');
  cat.task.fields.set('assignee', 'cat');
  const viaApi = await fetch(`${server.url}/api/documents/task-2/changes?tenant=acme`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ fields: { assignee: 'bob' } }),
  });
  expect(viaApi.status).toBe(200);
  // A later mention of Cat is the marker that everything before it was handled.
  ann.task.collection('comments').create(comment('ann', 'marker', { mentions: ['cat'] }), 'm1');
  await waitFor(() => inboxes.cat.list().length === 2);
  expect(inboxes.cat.list().map((n) => n.kind).sort()).toEqual(['assignment', 'mention']);
  expect(inboxes.bob.list()).toHaveLength(1);
});

test('an edit that mentions someone more notifies the newcomer; a reply goes to who really wrote the parent', async () => {
  const server = await startTestServer({ apiKey: API_KEY });
  const [ann, bob] = [await person(server, 'task-4', 'ann'), await person(server, 'task-4', 'bob')];
  const inboxes = { ann: await inbox(server, 'ann'), bob: await inbox(server, 'bob'), cat: await inbox(server, 'cat'), dan: await inbox(server, 'dan') };

  // Ann mentions Cat, then edits the comment to mention Dan too: Dan is told, Cat not a second time.
  ann.task.collection('comments').create(comment('ann', 'Cat, have a look', { mentions: ['cat'] }), 'c1');
  await waitFor(() => inboxes.cat.list().length === 1);
  const c1 = ann.task.collection('comments').get('c1')!;
  c1.set('text', 'Cat and Dan, have a look');
  c1.set('mentions', ['cat', 'dan']);
  await waitFor(() => inboxes.dan.list().length === 1);
  expect(inboxes.dan.list()[0]).toMatchObject({ kind: 'mention', title: 'Ann mentioned you', body: 'Cat and Dan, have a look', target: { document: 'task-4', record: 'c1' }, actor: 'ann' });

  // Bob writes a comment claiming to be Cat's; Ann's reply to it notifies Bob, who wrote it, and not Cat.
  bob.task.collection('comments').create(comment('cat', 'Signed "Cat", written by Bob'), 'c2');
  await waitFor(() => ann.task.collection('comments').get('c2') !== undefined);
  ann.task.collection('comments').create(comment('ann', 'Thanks', { parent: 'c2' }), 'c3');
  await waitFor(() => inboxes.bob.list().length === 1);
  expect(inboxes.bob.list()[0]).toMatchObject({ kind: 'reply', title: 'Ann replied to your comment', target: { record: 'c3' } });

  // A comment the backend wrote on Dan's behalf: a reply to it notifies Dan.
  const viaApi = await fetch(`${server.url}/api/documents/task-4/changes?tenant=acme`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ records: { comments: { c4: comment('dan', 'Imported from email') } } }),
  });
  expect(viaApi.status).toBe(200);
  await waitFor(() => bob.task.collection('comments').get('c4') !== undefined);
  bob.task.collection('comments').create(comment('bob', 'Seen', { parent: 'c4' }), 'c5');
  await waitFor(() => inboxes.dan.list().length === 2);
  expect(inboxes.dan.list().map((n) => n.kind).sort()).toEqual(['mention', 'reply']);

  // A marker: everything before it was handled, and Cat got nothing more.
  ann.task.collection('comments').create(comment('ann', 'marker', { mentions: ['bob'] }), 'm1');
  await waitFor(() => inboxes.bob.list().length === 2);
  expect(inboxes.cat.list()).toHaveLength(1);
  expect(inboxes.ann.list()).toHaveLength(0);
});

test('a kind switched off is not delivered', async () => {
  const server = await startTestServer();
  const ann = await person(server, 'task-3', 'ann');
  const bob = await inbox(server, 'bob');
  writeFields(bob.client.doc.getMap(FIELDS_ROOT), [[preferenceField('mention'), { enabled: false, sound: false }]], { origin: null, force: true });
  await waitFor(() => bob.client.provider.unsyncedChanges === 0);
  ann.task.collection('comments').create(comment('ann', 'hello @bob', { mentions: ['bob'] }), 'c1');
  ann.task.fields.set('assignee', 'bob');
  await waitFor(() => bob.list().length === 1);
  expect(bob.list()[0]).toMatchObject({ kind: 'assignment' });
});
