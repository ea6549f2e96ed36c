/**
 * SPEC §3 Scale-out, document updates: two real `concord serve` processes on one fresh PostgreSQL schema and a
 * private redis-server. A client on A types and a client on B sees it live, and the reverse, text and LWW fields;
 * each update is stored once (by the instance it arrived at, never again by the one it was relayed to); after both
 * instances restart, everything is there once. A client id claimed on A is owned on B too: another user on B cannot
 * write under it.
 */
import { defineRecord, LwwRecord } from '@concord/engine';
import { PostgresStore } from '@concord/server';
import { expect, test } from 'vitest';
import * as Y from 'yjs';
import { z } from 'zod';
import { onCleanup } from '../support/cleanup.js';
import { frames, hocuspocusClient, rawSocket } from '../support/clients.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import { makeTempDir } from '../support/server.js';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const Task = defineRecord('Task', { title: z.string().optional(), status: z.enum(['todo', 'doing', 'done']).optional() });
const task = (doc: Y.Doc) => new LwwRecord(Task, doc.getMap('task'));

async function cluster(redisUrl: string, databaseUrl: string): Promise<[ServerProcess, ServerProcess]> {
  return Promise.all([
    spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl }),
    spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl }),
  ]);
}

/** Per client id, how many clock units the stored log of `document` holds (twice the state if stored twice). */
async function storedClocks(databaseUrl: string, document: string): Promise<Map<number, number>> {
  const store = await PostgresStore.open(databaseUrl);
  onCleanup(() => store.close());
  const clocks = new Map<number, number>();
  for (const { update } of await store.load(document)) {
    for (const struct of Y.decodeUpdate(update).structs) {
      clocks.set(struct.id.client, (clocks.get(struct.id.client) ?? 0) + struct.length);
    }
  }
  return clocks;
}

describePostgres('scale-out: document updates', () => {
  describeRedis('two instances on one Redis', () => {
    test('text and fields typed on A show live on B and the reverse; stored once; both restarted, all there once', async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const [a, b] = await cluster(redis.url, databaseUrl);
      const alice = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
      const bob = await mintToken({ sub: 'bob', tenant: 'acme', docs: { '*': 'write' } });

      const onB = hocuspocusClient(b, 'doc', bob);
      await onB.whenSynced();
      const onA = hocuspocusClient(a, 'doc', alice);
      await onA.whenSynced();

      onA.doc.getText('t').insert(0, 'typed on A');
      task(onA.doc).set('title', 'Relay updates');
      await waitFor(() => onB.doc.getText('t').toString() === 'typed on A' && task(onB.doc).get('title') === 'Relay updates', {
        message: 'A → B',
      });

      onB.doc.getText('t').insert(10, ', then B');
      task(onB.doc).set('status', 'doing');
      await waitFor(() => onA.doc.getText('t').toString() === 'typed on A, then B' && task(onA.doc).get('status') === 'doing', {
        message: 'B → A',
      });

      // Keystrokes one per turn, as typed: every one arrives, in order.
      for (const letter of '!!!') {
        onA.doc.getText('t').insert(onA.doc.getText('t').length, letter);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await waitFor(() => onB.doc.getText('t').toString() === 'typed on A, then B!!!');
      await waitFor(() => onA.provider.unsyncedChanges === 0 && onB.provider.unsyncedChanges === 0);

      const state = Y.encodeStateVector(onA.doc);
      const stored = await storedClocks(databaseUrl, 'acme/doc');
      for (const [client, clock] of Y.decodeStateVector(state)) expect(stored.get(client), `client ${client} stored once`).toBe(clock);

      await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
      onA.provider.destroy();
      onB.provider.destroy();
      const [a2, b2] = await cluster(redis.url, databaseUrl);
      for (const server of [a2, b2]) {
        const fresh = hocuspocusClient(server, 'doc', bob);
        await fresh.whenSynced();
        expect(fresh.doc.getText('t').toString()).toBe('typed on A, then B!!!');
        expect(task(fresh.doc).toJSON()).toEqual({ title: 'Relay updates', status: 'doing' });
      }
    });

    test('a client id claimed on A is owned on B: another user writing under it there is refused (4400)', async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const [a, b] = await cluster(redis.url, databaseUrl);
      const alice = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
      const mallory = await mintToken({ sub: 'mallory', tenant: 'acme', docs: { '*': 'write' } });

      // B loads the document before Alice claims her client id on A.
      const onB = hocuspocusClient(b, 'doc', mallory);
      await onB.whenSynced();
      const onA = hocuspocusClient(a, 'doc', alice);
      await onA.whenSynced();
      onA.doc.getText('t').insert(0, 'alice');
      await waitFor(() => onB.doc.getText('t').toString() === 'alice');

      // Mallory continues Alice's client id on B.
      const forged = new Y.Doc();
      Y.applyUpdate(forged, Y.encodeStateAsUpdate(onA.doc));
      forged.clientID = onA.doc.clientID; // after the apply, or Yjs picks a new id on seeing its own structs
      const before = Y.encodeStateVector(forged);
      forged.getText('t').insert(5, ' (forged)');
      const socket = await rawSocket(b.syncUrl);
      socket.send(frames.auth('doc', mallory));
      await waitFor(() => socket.received.some(frames.isAuthenticated));
      socket.send(frames.update('doc', Y.encodeStateAsUpdate(forged, before)));
      const closed = await socket.closed;
      expect(closed.code).toBe(4400);
      expect(closed.reason).toMatch(/which another user owns/);
      expect(onA.doc.getText('t').toString()).toBe('alice');
    });
  });
});
