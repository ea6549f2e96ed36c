/**
 * Live views across the instances of a cluster (docs/live-views-design.md, "Scale-out"; server/src/views/ViewRecorder.ts)
 * with two real `concord serve` processes on one fresh PostgreSQL schema and a private redis-server. A view open on A only
 * shows changes applied on B to documents A does not have open — from a person on B and from the backend API on B —
 * announced by B once stored. Redis SIGKILLed while a person on B edits several documents, then restarted: A's view
 * equals a recomputation from the stored documents within 5 s, without any further edit. Seeded concurrent edits on
 * both instances (people and the backend API), on documents open on both instances, on one only, or on neither: every
 * view, open on one instance or on both, equals a recomputation.
 */
import type { View } from '@concord/client';
import { extractRows, viewExtraction, writeField, type ViewSpec } from '@concord/engine';
import { PostgresStore } from '@concord/server';
import * as prng from 'lib0/prng';
import { expect, test } from 'vitest';
import * as Y from 'yjs';
import { freshIndexedDB, makeClient } from '../client/harness.js';
import { onCleanup } from '../support/cleanup.js';
import { hocuspocusClient, sharedSocket, type HocuspocusClient } from '../support/clients.js';
import { healthz, startCluster } from '../support/cluster.js';
import { describePostgres } from '../support/postgres.js';
import { seededRandom } from '../support/random.js';
import { describeRedis, startRedis } from '../support/redis.js';
import type { ServerProcess } from '../support/serverProcess.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'cluster-api-key-that-is-long-enough-0123456789';
const TENANT = 'acme';
const STATUSES = ['open', 'doing', 'done'];
/** As for the documents themselves (test/cluster/outage.test.ts): converged within 5 s of Redis being back. */
const CONVERGED_WITHIN_MS = 5_000;
const BY_STATUS: ViewSpec = { documents: 'project-*', collection: 'tasks', groupBy: 'status' };

const tokenOf = (sub: string) => mintToken({ sub, name: sub, tenant: TENANT, docs: { '*': 'write' } });

/** A view's rows as `<document>/<id>` → values, comparable with toEqual. */
type Rows = Map<string, Record<string, unknown>>;
const rowsOf = (view: View): Rows => new Map(view.rows().map((row) => [`${row.document}/${row.id}`, row.values]));

async function post(server: ServerProcess, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, `POST ${path}`).toBe(200);
}

/** Sets `status` of task `id` of `document` through the backend API of `server` (resolves once stored). */
const setStatus = (server: ServerProcess, document: string, id: string, status: string) =>
  post(server, `/api/documents/${document}/changes?tenant=${TENANT}`, { records: { tasks: { [id]: { status } } } });

/** Stores `count` project documents of two tasks each through `server`'s backend API. */
async function storeProjects(server: ServerProcess, count: number): Promise<void> {
  for (let p = 0; p < count; p++) {
    const tasks = { t0: { status: STATUSES[p % 3], points: p }, t1: { status: STATUSES[(p + 1) % 3], points: 10 + p } };
    await post(server, `/api/documents/project-${p}/changes?tenant=${TENANT}`, { records: { tasks } });
  }
}

/** What `spec`'s rows must be: recomputed from the documents' stored logs. */
async function recomputed(databaseUrl: string, spec: ViewSpec, count: number): Promise<Rows> {
  const store = await PostgresStore.open(databaseUrl);
  onCleanup(() => store.close());
  const rows: Rows = new Map();
  for (let p = 0; p < count; p++) {
    const doc = new Y.Doc();
    for (const { update } of await store.load(`${TENANT}/project-${p}`)) Y.applyUpdate(doc, update);
    for (const [id, values] of Object.entries(extractRows(doc, viewExtraction(spec)))) rows.set(`project-${p}/${id}`, values);
  }
  await store.close();
  return rows;
}

/** Opens `spec` with a Concord client of `server` and waits until it is built. */
async function openView(server: ServerProcess, spec: ViewSpec, user: string): Promise<View> {
  const view = makeClient(server, { token: await tokenOf(user), localNamespace: user }).view(spec);
  await view.whenSynced();
  await waitFor(() => !view.updating && view.rows().length > 0, { message: `the view of ${user} is built` });
  return view;
}

/** The `tasks` record `id` of a person's copy of a document (made when missing). */
function taskOf(doc: Y.Doc, id: string): Y.Map<unknown> {
  const tasks = doc.getMap<Y.Map<unknown>>('tasks');
  let task = tasks.get(id);
  if (!(task instanceof Y.Map)) tasks.set(id, (task = new Y.Map()));
  return task;
}

const acknowledged = (clients: readonly HocuspocusClient[]) => clients.every((client) => client.provider.unsyncedChanges === 0);

describePostgres('scale-out: live views', () => {
  describeRedis('two instances on one Redis', () => {
    test('changes applied on B, by a person and by the backend API, to documents A does not have open reach a view on A', async () => {
      freshIndexedDB();
      const redis = await startRedis();
      const { servers } = await startCluster(2, { redis, args: ['--api-key', API_KEY] });
      const [a, b] = servers as [ServerProcess, ServerProcess];
      await storeProjects(b, 6);
      const view = await openView(a, BY_STATUS, 'ada');
      expect(rowsOf(view).get('project-3/t0')).toEqual({ status: 'open' });

      // A person on B moves a task of project-3 and adds one to project-5; A has neither document open.
      const project3 = hocuspocusClient(b, 'project-3', await tokenOf('bob'));
      const project5 = hocuspocusClient(b, 'project-5', await tokenOf('bob'));
      await Promise.all([project3.whenSynced(), project5.whenSynced()]);
      project3.doc.transact(() => writeField(taskOf(project3.doc, 't0'), 'status', 'done'));
      project5.doc.transact(() => writeField(taskOf(project5.doc, 'new'), 'status', 'doing'));
      await waitFor(() => rowsOf(view).get('project-3/t0')?.status === 'done' && rowsOf(view).get('project-5/new')?.status === 'doing', {
        message: "B's changes in A's view",
      });
      const done = view.groups().find((group) => group.key === 'done');
      expect(done?.rows.map((row) => `${row.document}/${row.id}`)).toContain('project-3/t0');
      expect(view.groups().find((group) => group.key === 'doing')?.rows.map((row) => `${row.document}/${row.id}`)).toContain('project-5/new');

      // The backend API on B, which loads the document for this change alone.
      await setStatus(b, 'project-1', 't1', 'blocked');
      await waitFor(() => rowsOf(view).get('project-1/t1')?.status === 'blocked', { message: "B's backend change in A's view" });
      await waitFor(() => !view.updating);
      expect(view.groups().find((group) => group.key === 'blocked')?.rows.map((row) => `${row.document}/${row.id}`)).toEqual(['project-1/t1']);
    }, 60_000);

    test('Redis SIGKILLed while a person on B edits several documents, then restarted: A\'s view converges without further edits', async () => {
      freshIndexedDB();
      const redis = await startRedis();
      const { servers, databaseUrl } = await startCluster(2, { redis, args: ['--api-key', API_KEY] });
      const [a, b] = servers as [ServerProcess, ServerProcess];
      const DOCUMENTS = 6;
      await storeProjects(b, DOCUMENTS);
      const view = await openView(a, BY_STATUS, 'ada');
      const socket = sharedSocket(b);
      const token = await tokenOf('bob');
      const writers = Array.from({ length: DOCUMENTS }, (_, p) => hocuspocusClient(b, `project-${p}`, token, { websocket: socket }));
      await Promise.all(writers.map((writer) => writer.whenSynced()));

      await redis.kill();
      for (const server of [a, b]) await waitFor(async () => (await healthz(server.url)).redis?.healthy === false, { message: `${server.url} sees Redis gone` });
      writers.forEach((writer, p) => {
        writer.doc.transact(() => {
          writeField(taskOf(writer.doc, 't0'), 'status', 'done');
          writeField(taskOf(writer.doc, `outage-${p}`), 'status', 'open');
        });
      });
      writers[2]!.doc.transact(() => writers[2]!.doc.getMap('tasks').delete('t1'));
      await waitFor(() => acknowledged(writers), { message: "B's edits are stored" });
      const expected = await recomputed(databaseUrl, BY_STATUS, DOCUMENTS);
      expect(expected.get('project-2/t1')).toBeUndefined();
      expect(expected.get('project-4/outage-4')).toEqual({ status: 'open' });

      await redis.restart();
      const backAt = Date.now();
      const convergedDuringOutage = JSON.stringify([...rowsOf(view)].sort()) === JSON.stringify([...expected].sort());
      // No further edits from here on.
      await waitFor(
        () => {
          expect(rowsOf(view)).toEqual(expected);
          return !view.updating;
        },
        { timeoutMs: CONVERGED_WITHIN_MS, message: `A's view converged within ${CONVERGED_WITHIN_MS} ms of Redis being back` },
      );
      console.log(`views outage: A's view equal to the stored documents ${Date.now() - backAt} ms after Redis was back (already during the outage: ${convergedDuringOutage})`);
      for (const server of [a, b]) await waitFor(async () => (await healthz(server.url)).redis?.healthy === true, { message: `${server.url} rejoined Redis` });
    }, 60_000);

    test('seeded concurrent edits on both instances: every view, open on one instance or on both, equals a recomputation', async () => {
      freshIndexedDB();
      const { gen } = seededRandom('views across instances');
      const redis = await startRedis();
      const { servers, databaseUrl } = await startCluster(2, { redis, args: ['--api-key', API_KEY] });
      const [a, b] = servers as [ServerProcess, ServerProcess];
      const DOCUMENTS = 10;
      await storeProjects(a, DOCUMENTS);
      // One view open on both instances, one on A only, one on B only (three extractions, three view documents).
      const onlyA: ViewSpec = { documents: 'project-*', collection: 'tasks', groupBy: 'status', aggregate: ['count', 'sum:points'] };
      const onlyB: ViewSpec = { documents: 'project-*', collection: 'tasks', fields: ['points'] };
      const views: [string, ViewSpec, View][] = [
        ['by status on A', BY_STATUS, await openView(a, BY_STATUS, 'ada')],
        ['by status on B', BY_STATUS, await openView(b, BY_STATUS, 'ben')],
        ['points by status on A', onlyA, await openView(a, onlyA, 'amy')],
        ['points on B', onlyB, await openView(b, onlyB, 'bea')],
      ];

      // Documents 0-3 open on both instances, 4-6 on A only, 7-9 on B only; the backend API writes to any, through either.
      const openOn = (side: number, p: number) => p < 4 || (side === 0 ? p < 7 : p >= 7);
      const writers = await Promise.all(
        [a, b].map(async (server, side) => {
          const socket = sharedSocket(server);
          const token = await tokenOf(side === 0 ? 'alice' : 'bob');
          return Array.from({ length: DOCUMENTS }, (_, p) => (openOn(side, p) ? hocuspocusClient(server, `project-${p}`, token, { websocket: socket }) : null));
        }),
      );
      const open = writers.flat().filter((writer) => writer !== null);
      await Promise.all(open.map((writer) => writer.whenSynced()));
      const backend: Promise<void>[] = [];
      for (let step = 0; step < 200; step++) {
        const side = prng.int32(gen, 0, 1);
        const id = `t${prng.int32(gen, 0, 4)}`;
        const action = prng.int32(gen, 0, 9);
        if (action === 0) {
          backend.push(setStatus(side === 0 ? a : b, `project-${prng.int32(gen, 0, DOCUMENTS - 1)}`, id, prng.oneOf(gen, STATUSES)));
          continue;
        }
        const doc = prng.oneOf(gen, writers[side]!.filter((writer) => writer !== null)).doc;
        doc.transact(() => {
          if (action === 1) doc.getMap('tasks').delete(id);
          else if (action < 6) writeField(taskOf(doc, id), 'status', prng.oneOf(gen, STATUSES));
          else writeField(taskOf(doc, id), 'points', prng.int32(gen, 0, 100));
        });
        if (step % 10 === 0) await new Promise((resolve) => setTimeout(resolve, prng.int32(gen, 0, 20)));
      }
      await Promise.all(backend);
      await waitFor(() => acknowledged(open), { message: 'every edit is stored' });

      for (const [label, spec, view] of views) {
        const expected = await recomputed(databaseUrl, spec, DOCUMENTS);
        await waitFor(
          () => {
            expect(rowsOf(view), label).toEqual(expected);
            return !view.updating;
          },
          { message: `${label} equals a recomputation` },
        );
      }
    }, 90_000);
  });
});
