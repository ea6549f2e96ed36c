/**
 * Version history across instances (README "Version history", history/Versions.ts): two real `concord serve`
 * processes on one fresh PostgreSQL schema and a private redis-server, with an API key and automatic versions after
 * 1 s (`--version-interval-seconds 1`, the flag of CONCORD_VERSION_INTERVAL_SECONDS: the processes see no environment).
 * - Versions are shared through PostgreSQL: a writer on A types, a named version saved through B's HTTP API holds the
 *   writer's text, read back from A.
 * - A restore POSTed to B (200, `durable: true`) reaches viewers on A and on B live, over their open connections; fresh
 *   clients on either instance load the restored text, while the document is loaded and again once both instances
 *   have unloaded it (from PostgreSQL); the version saved before the restore holds what it replaced.
 * - Writers on A and on B type into one document for a stretch: the cluster keeps one automatic `edits` version of
 *   it, not one per instance. Each instance arms its own timer at its own writer's first keystroke, so both try to
 *   save; the second finds a version newer than half an interval and is skipped, the check and the insert being one
 *   transaction under a per-document advisory lock (PostgresStore.saveVersion). When the second instance's attempt
 *   happens cannot be seen from outside (a skip leaves no trace), so the test holds that lock itself while the
 *   writers type: once PostgreSQL shows both instances' saves waiting on it, both timers have fired; the test lets go,
 *   waits until both transactions are over, and only then counts. That makes "exactly one" deterministic, given
 *   its precondition, which the test checks: the whole stretch (first to last keystroke, as seen on both instances)
 *   lasted under half an interval, so the instances' first changes were less than half an interval apart and no
 *   keystroke came after either timer fired (a keystroke after that starts a new stretch, rightly saved on its own).
 */
import type { VersionInfo } from '@concord/server';
import pg from 'pg';
import { expect, test } from 'vitest';
import * as Y from 'yjs';
import { onCleanup } from '../support/cleanup.js';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { startCluster } from '../support/cluster.js';
import { describePostgres } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import type { ServerProcess } from '../support/serverProcess.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'cluster-api-key-that-is-long-enough-0123456789';
const INTERVAL_MS = 1_000;
const ARGS = ['--api-key', API_KEY, '--version-interval-seconds', String(INTERVAL_MS / 1000)];
/** PostgresStore's advisory lock family for version saves (VERSION_LOCK). */
const VERSION_LOCK = 3;

const writeToken = (sub: string) => mintToken({ sub, name: sub.toUpperCase(), tenant: 'acme', docs: { '*': 'write' } });
const readToken = (sub: string) => mintToken({ sub, name: sub.toUpperCase(), tenant: 'acme', docs: { '*': 'read' } });
const text = (client: HocuspocusClient) => client.doc.getText('t').toString();

/** One call to the backend API of `server` with the API key, for tenant acme. */
async function api(server: ServerProcess, method: 'GET' | 'POST', path: string, payload?: unknown) {
  const response = await fetch(`${server.url}${path}${path.includes('?') ? '&' : '?'}tenant=acme`, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`, ...(payload === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: response.status, body: (json ? JSON.parse(new TextDecoder().decode(bytes)) : {}) as Record<string, unknown>, bytes };
}

async function versionsOf(server: ServerProcess, name: string): Promise<VersionInfo[]> {
  const { status, body } = await api(server, 'GET', `/api/documents/${name}/versions`);
  expect(status).toBe(200);
  return body.versions as VersionInfo[];
}

/** The text of version `id` of `name`, read through `server`. */
async function versionText(server: ServerProcess, name: string, id: string): Promise<string> {
  const { status, bytes } = await api(server, 'GET', `/api/documents/${name}/versions/${id}`);
  expect(status, `GET version ${id}`).toBe(200);
  const replica = new Y.Doc();
  Y.applyUpdate(replica, bytes);
  return replica.getText('t').toString();
}

/** Types `typed` at the end, one keystroke per event-loop turn, as a person does. */
async function type(client: HocuspocusClient, typed: string): Promise<void> {
  const t = client.doc.getText('t');
  for (const letter of typed) {
    t.insert(t.length, letter);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const stored = (...clients: HocuspocusClient[]) =>
  waitFor(() => clients.every((client) => client.provider.unsyncedChanges === 0), { message: 'every edit acknowledged (stored)' });

/** A client on `server` that syncs `name` and reads its text. */
async function freshText(server: ServerProcess, name: string, sub: string): Promise<string> {
  const client = hocuspocusClient(server, name, await readToken(sub));
  await client.whenSynced();
  const loaded = text(client);
  client.provider.destroy();
  return loaded;
}

describePostgres('scale-out: version history', () => {
  describeRedis('two instances on one Redis', () => {
    test('a named version saved through B holds what A\'s writer typed; a restore POSTed to B reaches A and B live and is stored', async () => {
      const redis = await startRedis();
      const { servers } = await startCluster(2, { redis, args: ARGS });
      const [a, b] = servers as [ServerProcess, ServerProcess];

      // 1. Typed on A (and stored), named through B, read back through A.
      const writer = hocuspocusClient(a, 'doc', await writeToken('alice'));
      await writer.whenSynced();
      await type(writer, 'first draft');
      await stored(writer);
      const named = await api(b, 'POST', '/api/documents/doc/versions', { name: 'Draft' });
      expect(named.status).toBe(201);
      expect(named.body).toMatchObject({ name: 'Draft', by: 'api', auto: false, reason: 'named' });
      const draft = named.body.id as string;
      expect((await versionsOf(a, 'doc')).map((v) => v.id), 'A lists the version B saved').toContain(draft);
      expect(await versionText(a, 'doc', draft), 'the version read through A').toBe('first draft');

      // 2. Viewers on A and on B; more typing on A, which both see (so B's copy holds it before the restore).
      const viewerA = hocuspocusClient(a, 'doc', await readToken('carol'));
      const viewerB = hocuspocusClient(b, 'doc', await readToken('dave'));
      await Promise.all([viewerA.whenSynced(), viewerB.whenSynced()]);
      let reconnects = 0;
      for (const viewer of [viewerA, viewerB]) viewer.provider.on('connect', () => reconnects++);
      await type(writer, ', revised on A');
      await stored(writer);
      await waitFor(() => text(viewerA) === 'first draft, revised on A' && text(viewerB) === 'first draft, revised on A', {
        message: 'the revision on both viewers',
      });

      const restored = await api(b, 'POST', `/api/documents/doc/versions/${draft}/restore`);
      expect(restored.status).toBe(200);
      expect(restored.body).toMatchObject({ restored: draft, durable: true, changed: true });
      await waitFor(() => text(viewerB) === 'first draft', { message: 'the restore live on B (viewer)' });
      await waitFor(() => text(viewerA) === 'first draft' && text(writer) === 'first draft', { message: 'the restore live on A (viewer, writer)' });
      expect(reconnects, 'the restore arrived over the open connections').toBe(0);
      expect(await versionText(a, 'doc', restored.body.before as string), 'the version saved before the restore').toBe('first draft, revised on A');

      // Fresh clients, while the document is loaded on both instances...
      expect(await freshText(a, 'doc', 'erin')).toBe('first draft');
      expect(await freshText(b, 'doc', 'frank')).toBe('first draft');
      // ...and once both have let it go: loaded from PostgreSQL. An instance listens on a document's Redis channel
      // while it has the document loaded.
      const listened = async () => (await redis.strings(['PUBSUB', 'CHANNELS', 'concord:*'])).some((channel) => channel.endsWith(':d:acme/doc'));
      expect(await listened(), "the document's channel while it is loaded").toBe(true);
      for (const client of [writer, viewerA, viewerB]) client.provider.destroy();
      await waitFor(async () => !(await listened()), { message: 'the document unloaded on A and B (its channel left)' });
      expect(await freshText(a, 'doc', 'gina')).toBe('first draft');
      expect(await freshText(b, 'doc', 'hank')).toBe('first draft');
    });

    test('writers on A and B typing one stretch: one automatic version across the cluster, not one per instance', async () => {
      const redis = await startRedis();
      const { databaseUrl, servers } = await startCluster(2, { redis, args: ARGS });
      const [a, b] = servers as [ServerProcess, ServerProcess];
      const writerA = hocuspocusClient(a, 'stretch', await writeToken('alice'));
      const writerB = hocuspocusClient(b, 'stretch', await writeToken('bob'));
      await Promise.all([writerA.whenSynced(), writerB.whenSynced()]);

      // The test holds the document's version lock, so both instances' saves wait on it (see the header).
      const db = new pg.Client({ connectionString: databaseUrl });
      await db.connect();
      onCleanup(() => db.end());
      await db.query('BEGIN');
      const { rows } = await db.query<{ key: string }>(`SELECT hashtextextended(current_schema() || '/' || $1, ${VERSION_LOCK})::text AS key`, [
        'acme/stretch',
      ]);
      const key = rows[0]!.key;
      await db.query('SELECT pg_advisory_xact_lock($1::bigint)', [key]);
      const lockers = async () => {
        const { rows: [row] } = await db.query<{ waiting: number; holding: number }>(
          `SELECT count(*) FILTER (WHERE NOT granted)::int AS waiting, count(*) FILTER (WHERE granted)::int AS holding FROM pg_locks
           WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND classid::bigint = (($1::bigint >> 32) & 4294967295) AND objid::bigint = ($1::bigint & 4294967295) AND objsubid = 1`,
          [key],
        );
        return row!;
      };
      expect(await lockers()).toEqual({ waiting: 0, holding: 1 });

      // One stretch: keystrokes on A and on B in turn, each seen on the other instance before the next.
      const started = Date.now();
      for (let i = 0; i < 5; i++) {
        for (const [writer, other, letter] of [[writerA, writerB, 'a'], [writerB, writerA, 'b']] as const) {
          await type(writer, letter);
          const length = text(writer).length;
          await waitFor(() => text(other).length === length, { intervalMs: 2, message: `keystroke ${letter}${i} relayed` });
        }
      }
      const typed = text(writerA);
      const lasted = Date.now() - started;
      expect(typed).toHaveLength(10);
      expect(text(writerB)).toBe(typed);
      expect(lasted, 'precondition: the stretch lasted under half an interval on both instances').toBeLessThan(INTERVAL_MS / 2);

      // Both instances' timers fire and their saves wait on the lock; nothing is saved meanwhile.
      await waitFor(async () => (await lockers()).waiting === 2, { message: "both instances' automatic saves waiting on the version lock" });
      expect(await versionsOf(a, 'stretch'), 'nothing saved while the lock is held').toEqual([]);
      await db.query('COMMIT');
      await waitFor(async () => {
        const { waiting, holding } = await lockers();
        return waiting === 0 && holding === 0;
      }, { message: 'both saves over' });

      const throughA = await versionsOf(a, 'stretch');
      const throughB = await versionsOf(b, 'stretch');
      expect(throughB, 'the same listing through either instance').toEqual(throughA);
      const edits = throughA.filter((version) => version.reason === 'edits');
      expect(edits, 'one automatic version for the stretch').toHaveLength(1);
      expect(throughA).toHaveLength(1);
      expect(edits[0]).toMatchObject({ auto: true, name: null });
      expect(['alice', 'bob']).toContain(edits[0]!.by);
      expect(await versionText(b, 'stretch', edits[0]!.id), 'the version holds the whole stretch').toBe(typed);
    });
  });
});
