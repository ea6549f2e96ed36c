/**
 * Version history from the Concord client against a real server: `handle.saveVersion`, `handle.versions`,
 * `handle.version` (a preview built from its update) and `handle.restore`, which reaches another person's open copy
 * as an edit, through a typed document (fields, records, text); restoring `before` undoes the restore; a read grant
 * lists but cannot restore (ApiError 403); offline, the calls reject at once.
 */
import { ApiError } from '@concord/client';
import { defineDocument, defineRecord } from '@concord/engine';
import { expect, it } from 'vitest';
import * as Y from 'yjs';
import { z } from 'zod';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, setNavigatorOnLine, startTestServer, token } from './harness.js';

const Project = defineDocument('project', {
  fields: defineRecord('project', { name: z.string(), status: z.string() }),
  collections: { tasks: defineRecord('task', { title: z.string() }) },
  texts: ['notes'],
});

it('saves, lists, previews and restores; the restore reaches another copy live and can itself be undone', async () => {
  const server = await startTestServer();
  freshIndexedDB();
  const alice = makeClient(server, { token: await token('alice') }).open('project-1');
  const bob = makeClient(server, { token: await token('bob') }).open('project-1');
  await Promise.all([alice.whenSynced(), bob.whenSynced()]);
  const project = alice.typed(Project);
  project.fields.set('name', 'Launch');
  project.fields.set('status', 'draft');
  project.collection('tasks').create({ title: 'Write copy' }, 't1');
  project.text('notes').insert(0, 'first notes');
  await waitFor(() => alice.status.synced);

  const saved = await alice.saveVersion('Draft');
  expect(saved).toMatchObject({ name: 'Draft', by: 'alice', byName: 'ALICE', auto: false, reason: 'named' });

  project.fields.set('status', 'final');
  project.collection('tasks').delete('t1');
  project.collection('tasks').create({ title: 'Ship it' }, 't2');
  project.text('notes').insert(0, 'rewritten: ');
  await waitFor(() => alice.status.synced);
  await waitFor(() => bob.typed(Project).fields.get('status') === 'final');

  expect((await bob.versions()).map((v) => v.name)).toEqual(['Draft']);
  const preview = new Y.Doc();
  Y.applyUpdate(preview, await bob.version(saved.id));
  const old = Project.open(preview);
  expect([old.fields.get('status'), old.collection('tasks').ids(), old.text('notes').toString()]).toEqual(['draft', ['t1'], 'first notes']);

  const result = await bob.restore(saved.id);
  expect(result).toMatchObject({ restored: saved.id, changed: true, durable: true });
  const seen = (handle: typeof alice) => {
    const typed = handle.typed(Project);
    return [typed.fields.get('status'), typed.collection('tasks').ids(), typed.text('notes').toString()];
  };
  await waitFor(() => JSON.stringify(seen(alice)) === JSON.stringify(['draft', ['t1'], 'first notes']));
  expect(seen(bob)).toEqual(['draft', ['t1'], 'first notes']);
  expect(project.collection('tasks').get('t1')?.get('title')).toBe('Write copy');

  await alice.restore(result.before);
  await waitFor(() => JSON.stringify(seen(bob)) === JSON.stringify(['final', ['t2'], 'rewritten: first notes']));
});

it('a read grant lists but cannot restore; offline the calls reject at once', async () => {
  const server = await startTestServer();
  freshIndexedDB();
  const writer = makeClient(server, { token: await token('alice') }).open('project-2');
  await writer.whenSynced();
  writer.typed(Project).fields.set('name', 'Read only test');
  await waitFor(() => writer.status.synced);
  const saved = await writer.saveVersion('v1');
  const reader = makeClient(server, { token: await token('rita', { docs: { '*': 'read' } }) }).open('project-2');
  await reader.whenSynced();
  expect((await reader.versions()).map((v) => v.id)).toEqual([saved.id]);
  const refused = await reader.restore(saved.id).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(ApiError);
  expect(refused).toMatchObject({ status: 403, message: 'the token does not grant write on project-2' });
  setNavigatorOnLine(false);
  await expect(writer.versions()).rejects.toMatchObject({ status: 0, message: 'offline: version history needs the network' });
});
