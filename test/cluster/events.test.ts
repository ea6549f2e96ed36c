/**
 * SPEC §3 Scale-out, instance-wide events (docs/scale-out-design.md §3.6): two real `concord serve` processes on one
 * fresh PostgreSQL schema and a private redis-server. A revocation POSTed to A reaches B within 1 s: `none` ends
 * Mallory's sessions there (PermissionDenied `revoked` on `/sync`, close 4403 on `/y/`) and B refuses her old tokens
 * from then on; `read` makes her session on B read-only, so her later edits are not applied. The answer's `sessions`
 * counts A's sessions only. A lost instance-wide message is noticed by the gap in its sender's numbers (or by the
 * mark a sender sends when its Redis is back), and B then reads the revocations it missed from PostgreSQL. With Redis killed, a revocation made on A still reaches B within about a second, read
 * from PostgreSQL. A notification POSTed to B shows in the Concord client's inbox on A (the inbox is a stored
 * document, relayed like any other).
 */
import type { Inbox } from '@concord/client';
import { BusKind, PostgresStore } from '@concord/server';
import { beforeAll, expect, test } from 'vitest';
import * as Y from 'yjs';
import { freshIndexedDB, makeClient } from '../client/harness.js';
import { onCleanup } from '../support/cleanup.js';
import { hocuspocusClient, yClient, type HocuspocusClient } from '../support/clients.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { describeRedis, startRedis, type PrivateRedis } from '../support/redis.js';
import { makeTempDir } from '../support/server.js';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'cluster-api-key-that-is-long-enough-0123456789';
/** SPEC §3: a revocation changes the affected sessions within 1 s, on every instance. */
const WITHIN_MS = 1_000;
/** With Redis down, revocations are read from PostgreSQL every 500 ms: within 1 s plus the time to notice the loss. */
const WITHIN_WITHOUT_REDIS_MS = 2_000;

const tokenOf = (sub: string) => mintToken({ sub, name: sub, tenant: 'acme', docs: { '*': 'write' } });
const text = (doc: Y.Doc) => doc.getText('t').toString();

async function post(server: ServerProcess, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, `POST ${path}`).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

const revoke = (server: ServerProcess, body: Record<string, unknown>) => post(server, '/api/revocations?tenant=acme', body);

/**
 * A frame on the cluster channel as another instance (sender `gap-test`) would send it: `[version 1][kind (cluster)]
 * [sender, 8 bytes][seq][event kind][json]`, numbers and lengths under 128 (one byte each), so it is plain text.
 */
function clusterFrame(seq: number, kind: string, json: string): string {
  return `\x01${String.fromCharCode(BusKind.Cluster)}gap-test${String.fromCharCode(seq)}${String.fromCharCode(kind.length)}${kind}${String.fromCharCode(json.length)}${json}`;
}

let probes = 0;
/** Resolves once B handled everything `from` sent so far (see test/security/revocations.test.ts `handledAfter`). */
async function handledAfter(from: HocuspocusClient, to: HocuspocusClient): Promise<void> {
  const probe = ++probes;
  from.provider.setAwarenessField('probe', probe);
  await waitFor(() => (to.provider.awareness?.getStates().get(from.doc.clientID) as { probe?: number } | undefined)?.probe === probe, {
    message: 'the awareness probe to arrive',
  });
}

describePostgres('scale-out: instance-wide events', () => {
  describeRedis('two instances on one Redis', () => {
    let redis: PrivateRedis;
    let databaseUrl: string;
    let a: ServerProcess;
    let b: ServerProcess;

    beforeAll(async () => {
      redis = await startRedis();
      ({ url: databaseUrl } = await freshSchema());
      const options = { databaseUrl, redisUrl: redis.url, args: ['--api-key', API_KEY] };
      [a, b] = await Promise.all([
        spawnServer({ dataDir: await makeTempDir(), ...options }),
        spawnServer({ dataDir: await makeTempDir(), ...options }),
      ]);
    });

    test('a revocation POSTed to A ends the session on B within 1 s: "revoked" on /sync, 4403 on /y/; B refuses old tokens', async () => {
      const token = await tokenOf('mallory');
      const onSync = hocuspocusClient(b, 'project-1', token);
      const onY = yClient({ yUrl: b.syncUrl.replace(/\/sync$/, '/y') }, 'project-2', token);
      const bystander = hocuspocusClient(b, 'project-1', await tokenOf('alice'));
      await Promise.all([onSync.whenSynced(), onY.whenSynced(), bystander.whenSynced()]);

      const answer = await revoke(a, { user: 'mallory', documents: 'project-*' });
      const answered = Date.now();
      expect(answer, 'sessions: those of A only (none)').toMatchObject({ user: 'mallory', documents: 'project-*', access: 'none', sessions: 0 });
      await waitFor(() => onSync.failures.includes('revoked') && onY.closes.length > 0, {
        timeoutMs: WITHIN_MS,
        message: 'both of Mallory\'s sessions on B to end',
      });
      console.log(`revocation on A ended the sessions on B ${Date.now() - answered} ms after A answered`);
      expect(onY.closes[0]).toEqual({ code: 4403, reason: 'revoked' });
      expect(bystander.failures).toEqual([]);

      // B applies the iat rule too: the old token is refused on the revoked documents, not elsewhere.
      const again = hocuspocusClient(b, 'project-3', token);
      await waitFor(() => again.failures.length > 0);
      expect(again.failures).toEqual(['revoked']);
      const elsewhere = hocuspocusClient(b, 'notes-0', token);
      await elsewhere.whenSynced();
      expect(elsewhere.failures).toEqual([]);
    });

    test('a downgrade to read POSTed to A makes the session on B read-only within 1 s: its later edits are refused', async () => {
      const mallory = hocuspocusClient(b, 'notes-1', await tokenOf('trudy'));
      const alice = hocuspocusClient(b, 'notes-1', await tokenOf('alice'));
      await Promise.all([mallory.whenSynced(), alice.whenSynced()]);
      mallory.doc.getText('t').insert(0, 'before ');
      await waitFor(() => text(alice.doc) === 'before ');

      await revoke(a, { user: 'trudy', documents: 'notes-*', access: 'read' });
      await waitFor(() => mallory.scope() === 'readonly', { timeoutMs: WITHIN_MS, message: 'the session on B to be told readonly' });

      mallory.doc.getText('t').insert(text(mallory.doc).length, 'sneaky');
      await handledAfter(mallory, alice);
      expect(mallory.provider.unsyncedChanges, 'the edit is never acknowledged').toBeGreaterThan(0);
      alice.doc.getText('t').insert(0, 'later ');
      await waitFor(() => text(mallory.doc).startsWith('later '), { message: "Alice's edit to reach the read-only session" });
      expect(text(alice.doc)).toBe('later before ');
      expect(mallory.failures).toEqual([]);
    });

    test('a notification POSTed to B shows in the inbox of a Concord client on A', async () => {
      freshIndexedDB();
      const client = makeClient(a, { token: await tokenOf('sarah') });
      const inbox: Inbox = await client.openInbox();
      await inbox.handle.whenSynced();
      const titles: string[] = [];
      inbox.on('notification', (notification) => titles.push(notification.title));

      const sent = await post(b, '/api/users/sarah/notifications?tenant=acme', { kind: 'mention', title: 'You were mentioned on B' });
      expect(sent).toMatchObject({ user: 'sarah', delivered: true, durable: true });
      await waitFor(() => inbox.unreadCount === 1, { message: 'the notification in the inbox on A' });
      expect(titles).toEqual(['You were mentioned on B']);
      expect(inbox.notifications()[0]).toMatchObject({ id: sent.id, kind: 'mention', read: false });
    });

    test('a lost instance-wide message shows as a gap in its sender\'s numbers, and B reads what it missed from PostgreSQL', async () => {
      const [channel] = await redis.strings(['PUBSUB', 'CHANNELS', 'concord:*:c']);
      expect(channel, "the cluster channel").toMatch(/^concord:[0-9a-f]{8}:c$/);
      const publish = (frame: string) => redis.strings(['PUBLISH', channel!, frame]);
      const store = await PostgresStore.open(databaseUrl);
      onCleanup(() => store.close());
      // An instance stores a revocation and its message is lost: a peer heard its message 1, and hears 3 next.
      const session = hocuspocusClient(b, 'gap-1', await tokenOf('oscar'));
      await session.whenSynced();
      await publish(clusterFrame(1, 'later-kind', '{}'));
      await store.saveRevocation({ tenant: 'acme', user: 'oscar', documents: 'gap-*', access: 'none', at: Date.now() });
      await publish(clusterFrame(3, 'later-kind', '{}'));
      await waitFor(() => session.failures.includes('revoked'), { timeoutMs: WITHIN_MS, message: 'the gap to make B read the revocation' });

      // The same instance's Redis comes back after it failed to publish message 4: its mark says 4.
      const other = hocuspocusClient(b, 'gap-2', await tokenOf('olga'));
      await other.whenSynced();
      await store.saveRevocation({ tenant: 'acme', user: 'olga', documents: 'gap-*', access: 'none', at: Date.now() });
      await publish(clusterFrame(4, '', ''));
      await waitFor(() => other.failures.includes('revoked'), { timeoutMs: WITHIN_MS, message: 'the mark to make B read the revocation' });
    });

    // Last: it kills the file's Redis.
    test('with Redis killed, a revocation on A still reaches B within about a second (read from PostgreSQL)', async () => {
      const session = hocuspocusClient(b, 'outage-1', await tokenOf('eve'));
      await session.whenSynced();
      await redis.kill();
      const unhealthy = async (server: ServerProcess) =>
        ((await (await fetch(`${server.url}/healthz`)).json()) as { redis: { healthy: boolean } }).redis.healthy === false;
      await waitFor(async () => (await unhealthy(a)) && (await unhealthy(b)), { message: 'both instances to notice Redis is gone' });

      await revoke(a, { user: 'eve', documents: 'outage-*' });
      const answered = Date.now();
      await waitFor(() => session.failures.includes('revoked'), {
        timeoutMs: WITHIN_WITHOUT_REDIS_MS,
        message: 'the session on B to end while Redis is down',
      });
      console.log(`without Redis, the revocation on A ended the session on B ${Date.now() - answered} ms after A answered`);
    });
  });
});
