/**
 * Deadline notifications (server/src/history/Deadlines.ts) over a real server with LevelDB on disk, a lead time of one
 * minute and tasks due a minute and a few seconds from now, read from the assignee's inbox as their client sees it:
 * - a task with `due` and `assignee` notifies the assignee once, with its title, before it is due;
 * - the schedule survives a restart: armed, stopped before it fired, started again: it fires once; started again after
 *   it fired: it does not fire again;
 * - a changed due date arms it again; a task without an assignee or due date notifies nobody;
 * - no token, of any tenant or grant, opens the schedule.
 */
import { defineDocument, defineRecord, InboxDocument, inboxDocumentName } from '@concord/engine';
import { expect, test } from 'vitest';
import { z } from 'zod';
import { hocuspocusClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const Project = defineDocument('project', {
  collections: { tasks: defineRecord('task', { title: z.string(), assignee: z.string().optional(), due: z.string().optional() }) },
});

const LEAD_MINUTES = 1;
/** Due so that the notification (a minute before) goes out `inMs` from now. */
const dueIn = (inMs: number) => new Date(Date.now() + LEAD_MINUTES * 60_000 + inMs).toISOString();

async function writer(server: TestServer) {
  const client = hocuspocusClient(server, 'project-1', await mintToken({ sub: 'ann', name: 'Ann', tenant: 'acme', docs: { '*': 'write' } }));
  await client.whenSynced();
  return { client, tasks: Project.open(client.doc).collection('tasks') };
}

async function inbox(server: TestServer, user: string) {
  const client = hocuspocusClient(server, inboxDocumentName(user), await mintToken({ sub: user, tenant: 'acme', docs: {} }));
  await client.whenSynced();
  const notifications = () => InboxDocument.open(client.doc).collection('notifications');
  const list = () => notifications().ids().map((id): Record<string, unknown> & { id: string } => ({ ...(notifications().get(id)!.toJSON() as Record<string, unknown>), id })).filter((n) => n.kind === 'deadline');
  return Object.assign(list, {
    /** Reads notification `id`, as the user's client does, and waits until the server has it. */
    async markRead(id: string) {
      notifications().get(id)!.set('readAt', Date.now());
      await waitFor(() => client.provider.unsyncedChanges === 0);
    },
  });
}

/** The server's schedule entry for task `record` of project-1, as stored (the schedule is loaded for the read). */
async function scheduled(server: TestServer, record: string): Promise<{ fired: number | null; dueAt: number } | undefined> {
  const connection = await server.current.hocuspocus.openDirectConnection('system/server:deadlines', {});
  try {
    for (const [key, value] of connection.document?.getMap('tasks') ?? []) {
      if (key.endsWith(`\u0000tasks\u0000${record}`)) return value as { fired: number | null; dueAt: number };
    }
    return undefined;
  } finally {
    await connection.disconnect();
  }
}

test('a task due soon notifies its assignee once, with its title; a changed due date arms it again', async () => {
  const server = await startTestServer({ deadlineLeadMinutes: LEAD_MINUTES });
  const ann = await writer(server);
  const bob = await inbox(server, 'bob');
  const due = dueIn(1_500);
  ann.tasks.create({ title: 'Pay invoice', assignee: 'bob', due }, 't1');
  ann.tasks.create({ title: 'Nobody on it', due: dueIn(1_000) }, 't2');
  await waitFor(() => bob().length === 1, { timeoutMs: 15_000 });
  expect(bob()[0]).toMatchObject({ kind: 'deadline', title: `'Pay invoice' is due ${due}`, target: { document: 'project-1', record: 't1' } });
  await waitFor(async () => (await scheduled(server, 't1'))?.fired === Date.parse(due));
  expect(await scheduled(server, 't2'), 'no assignee: nothing scheduled').toBeUndefined();

  const later = dueIn(1_500);
  ann.tasks.get('t1')!.set('due', later);
  await waitFor(() => bob().length === 2, { timeoutMs: 15_000 });
  expect(bob().map((n) => n.title).sort()).toEqual([`'Pay invoice' is due ${due}`, `'Pay invoice' is due ${later}`].sort());
});

test('the schedule survives a restart, and what fired does not fire again', async () => {
  const server = await startTestServer({ deadlineLeadMinutes: LEAD_MINUTES });
  const ann = await writer(server);
  ann.tasks.create({ title: 'Renew the domain', assignee: 'bob', due: dueIn(4_000) }, 't1');
  await waitFor(async () => (await scheduled(server, 't1')) !== undefined);
  expect((await scheduled(server, 't1'))!.fired).toBeNull();
  ann.client.provider.destroy();
  await server.restart(); // before it fires

  const bob = await inbox(server, 'bob');
  await waitFor(() => bob().length === 1, { timeoutMs: 15_000 });
  expect(bob()[0]).toMatchObject({ title: expect.stringMatching(/^'Renew the domain' is due /) });
  await waitFor(async () => typeof (await scheduled(server, 't1'))?.fired === 'number');
  await bob.markRead(bob()[0]!.id);

  await server.restart(); // after it fired
  const bobAgain = await inbox(server, 'bob');
  // Another task due after it: once its notification is in, every tick that could refire the first has run.
  const ann2 = await writer(server);
  ann2.tasks.create({ title: 'Marker', assignee: 'bob', due: dueIn(2_000) }, 't9');
  await waitFor(() => bobAgain().length === 2, { timeoutMs: 15_000 });
  expect(bobAgain().map((n) => String(n.title).split(' is due')[0]).sort()).toEqual(["'Marker'", "'Renew the domain'"]);
  // Not sent again either (a second send of the same notification would have written it over, unread).
  expect(bobAgain().find((n) => String(n.title).startsWith("'Renew"))!.readAt, 'the notification read before the restart is still read').toEqual(expect.any(Number));
});

test('no token opens the schedule', async () => {
  const server = await startTestServer();
  for (const tenant of ['system', 'acme']) {
    const client = hocuspocusClient(server, 'server:deadlines', await mintToken({ sub: 'mallory', tenant, docs: { '*': 'write' } }));
    await waitFor(() => client.failures.length > 0);
    expect(client.doc.getMap('tasks').size).toBe(0);
  }
});
