/**
 * Live views across documents (docs/live-views-design.md) against a real server: a view built from storage (documents
 * stored before a restart and never opened since), changes from a client and from the backend API reaching a viewer as
 * entered/left/changed rows, the access rule (read on the whole pattern; the view is read-only), and seeded concurrent
 * edits on many documents after which the view equals a recomputation from the documents' own states.
 */
import type { View, ViewChange } from '@concord/client';
import { extractRows, viewDocumentName, writeField, type ViewRow } from '@concord/engine';
import * as prng from 'lib0/prng';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient, serverDocument } from '../support/clients.js';
import { seededRandom } from '../support/random.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const STATUSES = ['open', 'doing', 'done'];
const TENANT = 't1';
const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';

type Expected = Map<string, Record<string, unknown>>;

const keyOf = (row: { document: string; id: string }) => `${row.document}/${row.id}`;
const rowsOf = (view: View) => new Map(view.rows().map((row) => [keyOf(row), row.values]));
const keys = (rows: readonly ViewRow[]) => rows.map(keyOf).sort();

/** Stores `count` project documents of `tasks` tasks each through the backend API; returns every task's values. */
async function storeProjects(server: Awaited<ReturnType<typeof startTestServer>>, count: number, tasks: number): Promise<Expected> {
  const expected: Expected = new Map();
  for (let p = 0; p < count; p++) {
    const records: Record<string, { status: string; points: number; title: string }> = {};
    for (let t = 0; t < tasks; t++) {
      const values = { status: STATUSES[(p + t) % 3]!, points: p * 10 + t, title: `Task ${p}.${t}` };
      records[`t${t}`] = values;
      expected.set(`project-${p}/t${t}`, { status: values.status, points: values.points });
    }
    await server.current.changeDocument(`project-${p}`, { records: { tasks: records } }, { tenant: TENANT });
  }
  await server.current.changeDocument('other-1', { records: { tasks: { x: { status: 'open', points: 1 } } } }, { tenant: TENANT });
  return expected;
}

function changesOf(view: View): ViewChange[] {
  const seen: ViewChange[] = [];
  view.on('change', (change) => seen.push(change));
  return seen;
}

describe('live views', () => {
  it('builds a view over 30 documents from storage, including documents stored before a restart and never opened since', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const expected = await storeProjects(server, 29, 3);
    // One written by a person: stored with the log of its client ids beside it (`<name>!clients`), which is no document.
    const doc = new Y.Doc();
    const tasks = doc.getMap<Y.Map<unknown>>('tasks');
    doc.transact(() => {
      for (let t = 0; t < 3; t++) {
        const task = new Y.Map<unknown>();
        tasks.set(`t${t}`, task);
        writeField(task, 'status', STATUSES[(29 + t) % 3]);
        writeField(task, 'points', 290 + t);
        expected.set(`project-29/t${t}`, { status: STATUSES[(29 + t) % 3], points: 290 + t });
      }
    });
    const person = hocuspocusClient(server, 'project-29', await token('bob'), { doc });
    await person.whenSynced();
    await waitFor(() => !person.provider.hasUnsyncedChanges);
    person.provider.destroy();
    await server.restart();
    expect(serverDocument(server, TENANT, 'project-7')).toBeUndefined();

    const viewer = makeClient(server, { token: await token('ada', { docs: { 'project-*': 'read' } }) });
    const view = viewer.view({ documents: 'project-*', collection: 'tasks', groupBy: 'status', aggregate: ['count', 'sum:points', 'max:points'] });
    expect(view.name).toBe(viewDocumentName({ documents: 'project-*', collection: 'tasks', fields: ['points', 'status'] }));
    await view.whenSynced();
    await waitFor(() => !view.updating && view.rows().length === 90, { message: `rows ${view.rows().length}` });
    expect(rowsOf(view)).toEqual(expected);
    // Read from storage, not loaded into the server.
    expect(serverDocument(server, TENANT, 'project-7')).toBeUndefined();
    const points = [...expected.values()].map((values) => values.points as number);
    expect(view.totals()).toEqual({ count: 90, 'sum:points': points.reduce((a, b) => a + b, 0), 'max:points': Math.max(...points) });
    expect(view.groups().map((group) => [group.key, group.rows.length, group.totals.count])).toEqual([
      ['doing', 30, 30],
      ['done', 30, 30],
      ['open', 30, 30],
    ]);
  });

  it('a change to one document, from a client or the backend API, reaches a viewer as entered, left and changed rows', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    await storeProjects(server, 5, 3);
    const viewer = makeClient(server, { token: await token('ada', { docs: { '*': 'read' } }) });
    const view = viewer.view({ documents: 'project-*', collection: 'tasks', where: { status: { eq: 'open' } }, aggregate: ['count'], fields: ['points'] });
    await view.whenSynced();
    await waitFor(() => !view.updating && view.rows().length === 5);
    const changes = changesOf(view);
    const updating: boolean[] = [];
    view.on('updating', (value) => updating.push(value));

    // The backend opens a task: it enters.
    expect(rowsOf(view).has('project-1/t1')).toBe(false);
    await server.current.changeDocument('project-1', { records: { tasks: { t1: { status: 'open' } } } }, { tenant: TENANT });
    await waitFor(() => changes.length === 1);
    expect(changes[0]).toMatchObject({ left: [], changed: [] });
    expect(keys(changes[0]!.entered)).toEqual(['project-1/t1']);
    expect(view.totals()).toEqual({ count: 6 });
    expect(updating).toContain(true);
    expect(view.updating).toBe(false);

    // A person closes one open task (it leaves) and re-estimates another (it changes), in one transaction.
    const editor = makeClient(server, { token: await token('bob') });
    const handle = editor.open('project-2');
    await handle.whenSynced();
    const tasks = handle.doc.getMap<Y.Map<unknown>>('tasks');
    const rows = extractRows(handle.doc, { documents: 'project-*', collection: 'tasks', fields: ['status'] });
    const [first] = Object.entries(rows).filter(([, values]) => values.status === 'open').map(([id]) => id);
    expect(first).toBeDefined();
    handle.doc.transact(() => writeField(tasks.get(first!)!, 'points', 99));
    await waitFor(() => changes.length === 2);
    expect(changes[1]).toMatchObject({ entered: [], left: [] });
    expect(changes[1]!.changed.map((row) => [keyOf(row), row.values.points])).toEqual([[`project-2/${first}`, 99]]);
    handle.doc.transact(() => writeField(tasks.get(first!)!, 'status', 'done'));
    await waitFor(() => changes.length === 3);
    expect(changes[2]).toMatchObject({ entered: [], changed: [] });
    expect(keys(changes[2]!.left)).toEqual([`project-2/${first}`]);
    expect(view.totals()).toEqual({ count: 5 });

    // A change to a document outside the pattern, or to a field the view does not read, changes nothing.
    await server.current.changeDocument('other-1', { records: { tasks: { y: { status: 'open' } } } }, { tenant: TENANT });
    await server.current.changeDocument('project-3', { records: { tasks: { t0: { title: 'Renamed' } } } }, { tenant: TENANT });
    await server.current.changeDocument('project-4', { records: { tasks: { t9: { status: 'open' } } } }, { tenant: TENANT });
    await waitFor(() => changes.length === 4);
    expect(keys(changes[3]!.entered)).toEqual(['project-4/t9']);
    expect(changes).toHaveLength(4);
  });

  it('refuses a token without read on the whole pattern, and the view is read-only for those let in', async () => {
    const server = await startTestServer();
    await storeProjects(server, 3, 1);
    const name = viewDocumentName({ documents: 'project-*', collection: 'tasks', fields: ['status'] });

    const partial = hocuspocusClient(server, name, await token('eve', { docs: { 'project-1': 'write', 'project-{1,2}': 'write', 'project-?': 'read' } }));
    await waitFor(() => partial.failures.length > 0);
    expect(partial.failures[0]).toMatch(/forbidden/i);
    const narrower = hocuspocusClient(server, viewDocumentName({ documents: '*', collection: 'tasks', fields: ['status'] }), await token('eve', { docs: { 'project-*': 'write' } }));
    await waitFor(() => narrower.failures.length > 0);

    const reader = hocuspocusClient(server, name, await token('ada', { docs: { 'project-*': 'read' } }));
    await reader.whenSynced();
    expect(reader.scope()).toBe('readonly');
    await waitFor(() => (reader.doc.getMap('rows').size === 3 ? true : undefined));
    const writer = hocuspocusClient(server, name, await token('bob', { docs: { '*': 'write' } }));
    await writer.whenSynced();
    expect(writer.scope()).toBe('readonly');
    writer.doc.getMap('rows').set('project-1', { forged: { status: 'open' } });
    // The server never applies it: the reader keeps the real rows (a later server write proves the connection lives).
    await server.current.changeDocument('project-2', { records: { tasks: { t0: { status: 'changed' } } } }, { tenant: TENANT });
    await waitFor(() => ((reader.doc.getMap('rows').get('project-2') as Record<string, { status: string }>)?.t0?.status === 'changed' ? true : undefined));
    expect(reader.doc.getMap('rows').get('project-1')).not.toHaveProperty('forged');
    expect(serverDocument(server, TENANT, name)?.getMap('rows').get('project-1')).not.toHaveProperty('forged');
  });

  it('a revocation of one covered document ends the view\'s sessions, and a token issued before it is refused', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    await storeProjects(server, 3, 1);
    const name = viewDocumentName({ documents: 'project-*', collection: 'tasks', fields: ['status'] });
    const mallory = await token('mallory', { docs: { 'project-*': 'read' } });
    const viewer = hocuspocusClient(server, name, mallory);
    const bystander = hocuspocusClient(server, name, await token('ada', { docs: { 'project-*': 'read' } }));
    await Promise.all([viewer.whenSynced(), bystander.whenSynced()]);
    const response = await fetch(`${server.url}/api/revocations?tenant=${TENANT}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ user: 'mallory', documents: 'project-2' }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { sessions: number }).sessions).toBe(1);
    // Only the bystander's session is left.
    await waitFor(() => server.current.hocuspocus.documents.get(`${TENANT}/${name}`)?.getConnections().length === 1);
    const again = hocuspocusClient(server, name, mallory);
    await waitFor(() => again.failures.length > 0);
    // Others' views go on.
    await server.current.changeDocument('project-1', { records: { tasks: { t0: { status: 'moved' } } } }, { tenant: TENANT });
    await waitFor(() => ((bystander.doc.getMap('rows').get('project-1') as Record<string, { status: string }>)?.t0?.status === 'moved' ? true : undefined));
  });

  it('seeded concurrent edits on many documents: the view equals a recomputation from the documents', async () => {
    freshIndexedDB();
    const { gen } = seededRandom('live views');
    const server = await startTestServer();
    const DOCUMENTS = 12;
    await storeProjects(server, DOCUMENTS, 2);
    const viewer = makeClient(server, { token: await token('ada') });
    const view = viewer.view({ documents: 'project-*', collection: 'tasks', aggregate: ['count'], fields: ['points', 'status'] });
    await view.whenSynced();
    await waitFor(() => !view.updating && view.rows().length === DOCUMENTS * 2);

    const editors = await Promise.all(['bob', 'cy', 'dee'].map(async (user) => makeClient(server, { token: await token(user), localNamespace: user })));
    const handles = editors.map((editor) => Array.from({ length: DOCUMENTS }, (_, p) => editor.open(`project-${p}`)));
    await Promise.all(handles.flat().map((handle) => handle.whenSynced()));
    const backend: Promise<unknown>[] = [];
    for (let step = 0; step < 150; step++) {
      const p = prng.int32(gen, 0, DOCUMENTS - 1);
      const id = `t${prng.int32(gen, 0, 4)}`;
      const action = prng.int32(gen, 0, 9);
      if (action === 0) {
        backend.push(server.current.changeDocument(`project-${p}`, { records: { tasks: { [id]: { status: prng.oneOf(gen, STATUSES) } } } }, { tenant: TENANT }));
        continue;
      }
      const doc = prng.oneOf(gen, handles)[p]!.doc;
      const tasks = doc.getMap<Y.Map<unknown>>('tasks');
      doc.transact(() => {
        if (action === 1) {
          tasks.delete(id);
          return;
        }
        let task = tasks.get(id);
        if (!(task instanceof Y.Map)) tasks.set(id, (task = new Y.Map()));
        if (action < 6) writeField(task, 'status', prng.oneOf(gen, STATUSES));
        else writeField(task, 'points', prng.int32(gen, 0, 100));
      });
      if (step % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(backend);
    const extraction = { documents: 'project-*', collection: 'tasks', fields: ['points', 'status'] };
    const recomputed = (): Expected => {
      const expected: Expected = new Map();
      for (let p = 0; p < DOCUMENTS; p++) {
        const doc = serverDocument(server, TENANT, `project-${p}`)!;
        for (const [id, values] of Object.entries(extractRows(doc, extraction))) expected.set(`project-${p}/${id}`, values);
      }
      return expected;
    };
    // Every editor converged with the server, and the view with the documents.
    await waitFor(() => {
      for (const list of handles) list.forEach((handle, p) => expect(extractRows(handle.doc, extraction)).toEqual(extractRows(serverDocument(server, TENANT, `project-${p}`)!, extraction)));
      return true;
    });
    await waitFor(() => {
      expect(rowsOf(view)).toEqual(recomputed());
      return !view.updating;
    });
    expect(view.totals()).toEqual({ count: recomputed().size });
  });
});
