/**
 * The outbox is exact (issue 13): a seeded random walk of Bob's edits, network drops of each kind (a silent loss, a
 * reset, the browser going offline), reconnects and reloads, checked against the server's own copy after every step.
 *
 * - While Bob is cut off, every change the server lacks is listed: each record he added or removed and each field
 *   whose value differs from the server's has its entry, text he changed has one, and the outbox is empty only
 *   when the server lacks nothing of his (its state vector covers his and it has every deletion he made).
 * - `pendingChanges` always equals the number of entries.
 * - A reload (a new client over the same IndexedDB) lists the same entries.
 * - Once the network is back, the outbox empties and the server holds exactly Bob's content.
 *
 * Alice edits the same document directly while Bob is online, so remote changes flow through Bob's outbox too (and
 * must never be listed). Replay a run with CONCORD_TEST_SEED.
 */
import type { DocumentHandle, SyncClient } from '@concord/client';
import { defineDocument, defineRecord } from '@concord/engine';
import * as prng from 'lib0/prng';
import { isDeepStrictEqual } from 'node:util';
import { expect, it } from 'vitest';
import * as Y from 'yjs';
import { z } from 'zod';
import { serverDocument } from '../support/clients.js';
import { seededRandom } from '../support/random.js';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, setNavigatorOnLine, startTestServer, token } from './harness.js';

const Project = defineDocument('project', {
  fields: defineRecord('project', { name: z.string() }),
  collections: { tasks: defineRecord('task', { title: z.string(), status: z.string() }) },
  texts: ['notes'],
});
const NAME = 'project-walk';
const STEPS = 60;
const STATUSES = ['todo', 'doing', 'done'];

type Drop = 'silent' | 'reset' | 'browser offline';

/**
 * What the server's copy lacks of `local`: items beyond its state vector that are still there (an item typed and
 * deleted again before the server saw it changed nothing), or deletions it has not made.
 */
function serverLacks(local: Y.Doc, server: Y.Doc): boolean {
  const serverVector = Y.decodeStateVector(Y.encodeStateVector(server));
  for (const [client, structs] of local.store.clients) {
    const known = serverVector.get(client) ?? 0;
    if (structs.some((struct) => struct.id.clock + struct.length > known && !struct.deleted)) return true;
  }
  const serverDeletes = Y.snapshot(server).ds;
  for (const [client, ranges] of Y.snapshot(local).ds.clients) {
    const known = serverVector.get(client) ?? 0;
    for (const { clock, len } of ranges) {
      for (let c = clock; c < Math.min(clock + len, known); c++) if (!Y.isDeleted(serverDeletes, Y.createID(client, c))) return true;
    }
  }
  return false;
}

type Content = ReturnType<typeof contentOf>;
function contentOf(doc: Y.Doc) {
  const typed = Project.open(doc);
  return { name: typed.fields.get('name'), tasks: typed.collection('tasks').toJSON(), notes: typed.text('notes').toString() };
}

/** Every difference Bob made that the server lacks, as the outbox should name it: `record:<id>`, `field:<id>.<field>`, … */
function differences(local: Content, server: Content): string[] {
  const out: string[] = [];
  if (local.name !== server.name) out.push('field:.name');
  for (const id of new Set([...Object.keys(local.tasks), ...Object.keys(server.tasks)])) {
    const mine = local.tasks[id];
    const theirs = server.tasks[id];
    if (!mine || !theirs) {
      out.push(`record:${id}`);
      continue;
    }
    for (const field of ['title', 'status'] as const) if (mine[field] !== theirs[field]) out.push(`field:${id}.${field}`);
  }
  if (local.notes !== server.notes) out.push('text:notes');
  return out.sort();
}

function listed(handle: DocumentHandle): Set<string> {
  return new Set(
    handle.outbox().map((entry) => (entry.kind === 'text' ? `text:${entry.root}` : `${entry.kind}:${entry.kind === 'record' ? entry.record : `${entry.record ?? ''}.${entry.field}`}`)),
  );
}

it('the outbox lists exactly what the server lacks, through random edits, drops of each kind and reloads', { timeout: 240_000 }, async () => {
  const { seed, gen } = seededRandom('outbox-walk');
  const context = `seed ${seed}`;
  const idb = freshIndexedDB();
  const server = await startTestServer();
  let proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
  const bobToken = await token('bob');
  const alice = makeClient(server, { token: await token('alice'), persistence: false }).open(NAME);
  await alice.whenSynced();

  let client: SyncClient = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: bobToken });
  let bob = client.open(NAME);
  await bob.whenSynced();
  let dropped: Drop | null = null;
  let nextId = 1;
  const log: string[] = [];

  const serverDoc = () => serverDocument(server, 't1', NAME)!;
  const check = (step: string) => {
    const where = `${context}, after ${step} (steps: ${log.join(' · ')})`;
    expect(bob.status.pendingChanges, where).toBe(bob.outbox().length);
    if (!dropped) return;
    const lacks = serverLacks(bob.doc, serverDoc());
    expect(bob.outbox().length > 0, `${where}: the outbox is empty exactly when the server lacks nothing`).toBe(lacks);
    const names = listed(bob);
    for (const difference of differences(contentOf(bob.doc), contentOf(serverDoc()))) {
      const [kind, rest] = difference.split(':') as [string, string];
      const covered = names.has(difference) || (kind === 'field' && names.has(`record:${rest.split('.')[0]}`));
      expect(covered, `${where}: ${difference} is not in the outbox [${[...names].join(', ')}]`).toBe(true);
    }
  };

  const settle = async (why: string) => {
    await waitFor(() => bob.status.state === 'connected' && bob.status.synced && bob.outbox().length === 0, {
      timeoutMs: 20_000,
      message: `${context}: Bob's outbox never emptied after ${why}`,
    });
    await waitFor(() => isDeepStrictEqual(contentOf(serverDoc()), contentOf(bob.doc)), {
      message: `${context}: the server never held Bob's content after ${why} (steps: ${log.join(' · ')}): server ${JSON.stringify(contentOf(serverDoc()))}, Bob ${JSON.stringify(contentOf(bob.doc))}, Alice ${JSON.stringify(contentOf(alice.doc))}`,
    });
  };

  for (let step = 0; step < STEPS; step++) {
    const tasks = bob.typed(Project).collection('tasks');
    const ids = tasks.ids();
    const roll = prng.int32(gen, 0, 99);
    let what: string;
    if (roll < 50 || (roll < 70 && dropped)) {
      const notes = bob.typed(Project).text('notes');
      switch (prng.int32(gen, 0, 5)) {
        case 0:
          what = 'create';
          tasks.create({ title: `task ${nextId}`, status: 'todo' }, `t${nextId++}`);
          break;
        case 1:
          what = 'delete';
          if (ids.length > 0) tasks.delete(prng.oneOf(gen, ids));
          break;
        case 2:
          what = 'status';
          if (ids.length > 0) tasks.get(prng.oneOf(gen, ids))!.set('status', prng.oneOf(gen, STATUSES));
          break;
        case 3:
          what = 'title';
          if (ids.length > 0) tasks.get(prng.oneOf(gen, ids))!.set('title', prng.word(gen, 3, 8));
          break;
        case 4:
          what = 'name';
          bob.typed(Project).fields.set('name', prng.word(gen, 3, 8));
          break;
        default:
          what = 'type';
          if (notes.length > 0 && prng.bool(gen)) notes.delete(prng.int32(gen, 0, notes.length - 1), 1);
          else notes.insert(prng.int32(gen, 0, notes.length), prng.word(gen, 1, 5));
      }
    } else if (roll < 60 && !dropped) {
      what = 'alice';
      const theirs = alice.typed(Project).collection('tasks');
      const id = prng.oneOf(gen, [...theirs.ids(), 'new']);
      if (id === 'new') theirs.create({ title: `alice ${nextId}`, status: 'todo' }, `t${nextId++}`);
      else theirs.get(id)!.set('status', prng.oneOf(gen, STATUSES));
      await waitFor(() => alice.status.synced && isDeepStrictEqual(contentOf(alice.doc), contentOf(serverDoc())), {
        message: `${context}: Alice's edit never reached the server`,
      });
      await settle('Alice edited');
    } else if (roll < 80 && !dropped) {
      dropped = prng.oneOf(gen, ['silent', 'reset', 'browser offline'] as const);
      what = `drop (${dropped})`;
      if (dropped === 'reset') proxy.cut();
      else proxy.blackhole();
      if (dropped === 'browser offline') setNavigatorOnLine(false);
    } else if (roll < 90 && dropped) {
      what = 'back online';
      dropped = null;
      setNavigatorOnLine(true);
      proxy.cut(); // connections the outage left behind are reset
      proxy.restore();
      client.syncNow();
      await settle('coming back');
    } else {
      what = 'reload';
      const before = bob.outbox().map((entry) => entry.summary);
      await client.destroy();
      globalThis.indexedDB = idb;
      client = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: bobToken });
      bob = client.open(NAME);
      await bob.whenLoaded();
      if (dropped) expect(bob.outbox().map((entry) => entry.summary), `${context}: a reload lists the same entries`).toEqual(before);
      else await settle('a reload');
    }
    log.push(what);
    check(what);
  }

  setNavigatorOnLine(true);
  proxy.cut();
  proxy.restore();
  client.syncNow();
  await settle('the end');
});
