/**
 * SPEC §3 Scale-out, document updates: two real `concord serve` processes on one fresh PostgreSQL schema and a
 * private redis-server. A client on A types and a client on B sees it live, and the reverse, text and LWW fields;
 * each update is stored once (by the instance it arrived at, never again by the one it was relayed to); after both
 * instances restart, everything is there once. A client id claimed on A is owned on B too: another user on B cannot
 * write under it. A backend change POSTed to B, which loads the document for it alone and lets it go at once, reaches a
 * client on A, and so does a notification POSTed to B for an inbox open on A. Lifecycle hooks run once, on the
 * instance where a change arrived: a change relayed to another instance sends no second webhook from there.
 * Instances on different schemas use different Redis channels for the same document, and a document's channel is
 * left when it unloads.
 */
import { defineRecord, LwwRecord, readField } from '@concord/engine';
import { PostgresStore } from '@concord/server';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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

const API_KEY = 'cluster-api-key-that-is-long-enough-0123456789';
const WEBHOOK_SECRET = 'cluster-webhook-secret-that-is-long-enough-0123';

async function cluster(redisUrl: string, databaseUrl: string, more: readonly string[] = []): Promise<[ServerProcess, ServerProcess]> {
  const args = ['--api-key', API_KEY, ...more];
  return Promise.all([
    spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl, args }),
    spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl, args }),
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

    test('a backend change and a notification POSTed to B, which has neither document open, reach clients on A', async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const [a, b] = await cluster(redis.url, databaseUrl);
      const sarah = await mintToken({ sub: 'sarah', tenant: 'acme', docs: { '*': 'write' } });
      const viewer = hocuspocusClient(a, 'account-123', sarah);
      await viewer.whenSynced();
      const inbox = hocuspocusClient(a, 'inbox:sarah', sarah);
      await inbox.whenSynced();

      const post = (path: string, body: unknown) =>
        fetch(`${b.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const changed = await post('/api/documents/account-123/changes?tenant=acme', { fields: { balance: 750 } });
      expect(await changed.json()).toMatchObject({ applied: 1, durable: true });
      await waitFor(() => readField(viewer.doc.getMap('fields'), 'balance') === 750, { message: 'the change on A' });

      const notifications = inbox.doc.getMap('notifications');
      expect(notifications.size).toBe(0);
      const notified = await post('/api/users/sarah/notifications?tenant=acme', { kind: 'mention', title: 'You were mentioned' });
      expect(await notified.json()).toMatchObject({ delivered: true, durable: true });
      await waitFor(() => notifications.size === 1, { message: 'the notification in the inbox on A' });
      const [notification] = [...notifications.values()] as Y.Map<unknown>[];
      expect(readField(notification!, 'title')).toBe('You were mentioned');
    });

    test('a change relayed to another instance sends no second webhook from there', async () => {
      const received: string[] = [];
      const receiver = createServer((request, response) => {
        let body = '';
        request.setEncoding('utf8');
        request.on('data', (chunk: string) => (body += chunk));
        request.on('end', () => {
          received.push(body);
          response.writeHead(200).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      onCleanup(() => new Promise((resolve) => receiver.close(resolve)));
      const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const [a, b] = await cluster(redis.url, databaseUrl, ['--webhook-url', webhookUrl, '--webhook-secret', WEBHOOK_SECRET]);
      const alice = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
      const bob = await mintToken({ sub: 'bob', tenant: 'acme', docs: { '*': 'write' } });
      const onB = hocuspocusClient(b, 'doc', bob);
      await onB.whenSynced();
      const onA = hocuspocusClient(a, 'doc', alice);
      await onA.whenSynced();

      task(onA.doc).set('title', 'Relay updates');
      await waitFor(() => task(onB.doc).get('title') === 'Relay updates');
      await waitFor(() => received.length >= 1, { message: "A's webhook" });
      // B applied A's change before A's webhook left; B's own change comes a debounce later than any webhook B would
      // have sent for the relayed one.
      task(onB.doc).set('status', 'doing');
      await waitFor(() => received.some((body) => body.includes('"bob"')), { message: "B's webhook" });
      expect(received.map((body) => JSON.parse(body).by)).toEqual([['alice'], ['bob']]);
    });

    test('instances on different schemas never share a channel; a document\'s channel is left when it unloads', async () => {
      const redis = await startRedis();
      const [first, second] = [await freshSchema(), await freshSchema()];
      const a = await spawnServer({ dataDir: await makeTempDir(), databaseUrl: first.url, redisUrl: redis.url });
      const b = await spawnServer({ dataDir: await makeTempDir(), databaseUrl: second.url, redisUrl: redis.url });
      const token = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
      const onA = hocuspocusClient(a, 'doc', token);
      const onB = hocuspocusClient(b, 'doc', token);
      await Promise.all([onA.whenSynced(), onB.whenSynced()]);

      const channels = async () => (await redis.strings(['PUBSUB', 'CHANNELS', 'concord:*'])).filter((name) => name.endsWith(':d:acme/doc'));
      const both = await waitFor(async () => {
        const names = await channels();
        return names.length === 2 ? names : undefined;
      });
      expect(new Set(both.map((name) => name.split(':')[1])).size, 'two namespaces').toBe(2);

      onA.provider.destroy();
      onB.provider.destroy();
      await waitFor(async () => (await channels()).length === 0, { message: 'channels left after the unload' });
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
