/**
 * SPEC §3 Scale-out, outages (docs/scale-out-design.md §3.9): "once Redis is back every instance's copy of every
 * loaded document converges without any further edit, within 5 s". Two real `concord serve` processes on one fresh
 * PostgreSQL schema and a private redis-server. People type on A and on B; Redis goes away; each side keeps typing (and
 * deleting) and sees only its own instance's edits; `/healthz` is `degraded` with `redis.healthy: false` and
 * `concord_redis_healthy` is 0 on both; Redis comes back; nobody edits; the viewers' documents on A and on B become
 * equal (content and state vector) within 5 s. Three ways to lose Redis, one cluster each:
 * - SIGKILL, then a new redis-server on the same port (connections reset: the bus notices at once);
 * - SIGSTOP, then SIGCONT (connections open, nothing answers: only the bus's PING watchdog notices);
 * - a TCP proxy between the instances and Redis that drops every byte without a reset, then forwards again (the
 *   watchdog too; the stalled connections never come back, new ones are made);
 * - the same proxy in front of A only: B never notices, so only A asks, and B gets A's edits only through A's push-back.
 * And a publish that Redis refuses while the connections stay healthy (an ACL that takes PUBLISH away): nothing is
 * degraded, A's edits do not cross; once PUBLISH is allowed again they reach B without any further edit. And a
 * document A's writer edits during the outage and leaves, so A unloads it before Redis is back: B, which still has it
 * loaded, gets those edits from storage on A's notice once Redis is back.
 */
import { expect, test } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { metricValue } from '../support/probes.js';
import { describeRedis, startRedis } from '../support/redis.js';
import { makeTempDir } from '../support/server.js';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

/** SPEC §3: converged within 5 s of Redis being back. */
const CONVERGED_WITHIN_MS = 5_000;

const tokenOf = (sub: string) => mintToken({ sub, name: sub, tenant: 'acme', docs: { '*': 'write' } });
const text = (doc: Y.Doc) => doc.getText('t').toString();
const fields = (doc: Y.Doc) => doc.getMap('fields').toJSON();
/** A state vector as sorted [client, clock] pairs, comparable with toEqual. */
const stateOf = (doc: Y.Doc) => [...Y.decodeStateVector(Y.encodeStateVector(doc))].sort(([a], [b]) => a - b);

interface Health {
  status: string;
  redis?: { healthy: boolean };
}

async function healthz(server: ServerProcess): Promise<Health> {
  return (await (await fetch(`${server.url}/healthz`)).json()) as Health;
}

/** Types `typed` at `at`, one keystroke per event-loop turn, as a person does. */
async function type(doc: Y.Doc, at: number, typed: string): Promise<void> {
  for (const [offset, letter] of [...typed].entries()) {
    doc.getText('t').insert(at + offset, letter);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const acknowledged = (...clients: HocuspocusClient[]) => clients.every((client) => client.provider.unsyncedChanges === 0);

/** How Redis is taken away from the instances (both, or A only) and given back. */
interface Outage {
  readonly redisUrlOfA: string;
  readonly redisUrlOfB: string;
  /** B loses Redis too. */
  readonly both: boolean;
  cut(): Promise<void> | void;
  heal(): Promise<void> | void;
}

async function outageConvergesWithoutEdits(outage: Outage, databaseUrl: string, label: string): Promise<void> {
  const [a, b] = await Promise.all([
    spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: outage.redisUrlOfA }),
    spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: outage.redisUrlOfB }),
  ]);
  // Two documents: one both sides edit, one only A edits (B must still get it without asking for anything).
  const writerA = hocuspocusClient(a, 'notes', await tokenOf('alice'));
  const viewerA = hocuspocusClient(a, 'notes', await tokenOf('carol'));
  const writerB = hocuspocusClient(b, 'notes', await tokenOf('bob'));
  const viewerB = hocuspocusClient(b, 'notes', await tokenOf('dave'));
  const taskA = hocuspocusClient(a, 'task-7', await tokenOf('alice'));
  const taskB = hocuspocusClient(b, 'task-7', await tokenOf('dave'));
  await Promise.all([writerA, viewerA, writerB, viewerB, taskA, taskB].map((client) => client.whenSynced()));

  await type(writerA.doc, 0, 'shared before the outage.');
  taskA.doc.getMap('fields').set('status', 'todo');
  await waitFor(() => text(viewerB.doc) === 'shared before the outage.' && fields(taskB.doc).status === 'todo', {
    message: 'the cluster relays before the outage',
  });

  await outage.cut();
  for (const server of outage.both ? [a, b] : [a]) {
    await waitFor(
      async () => {
        const health = await healthz(server);
        return health.status === 'degraded' && health.redis?.healthy === false && (await metricValue(server.url, 'concord_redis_healthy')) === 0;
      },
      { message: `${server.url} degraded` },
    );
  }
  if (!outage.both) expect((await healthz(b)).status).toBe('ok');

  // Each side keeps editing: A deletes a word and types at the end, B types at the start; A changes a field.
  writerA.doc.getText('t').delete(0, 'shared '.length);
  await type(writerA.doc, writerA.doc.getText('t').length, ' A typed on.');
  await type(writerB.doc, 0, 'B typed on. ');
  taskA.doc.getMap('fields').set('status', 'doing');
  await waitFor(() => text(viewerA.doc) === 'before the outage. A typed on.', { message: "A's viewer sees A's edits" });
  await waitFor(() => text(viewerB.doc) === 'B typed on. shared before the outage.', { message: "B's viewer sees B's edits" });
  // Alone this takes a few seconds; under the whole suite's load it went past 10 s twice (CI runs of stops 23 and 25),
  // with the edits then acknowledged. What is checked is that they are, not how fast.
  await waitFor(() => acknowledged(writerA, writerB, taskA), { timeoutMs: 25_000, message: 'the edits are acknowledged (stored)' });
  // Only its own instance's edits, still: nothing crossed while Redis was away.
  expect(text(viewerA.doc)).toBe('before the outage. A typed on.');
  expect(text(viewerB.doc)).toBe('B typed on. shared before the outage.');
  expect(fields(taskB.doc).status).toBe('todo');

  await outage.heal();
  const backAt = Date.now();
  // No further edits from here on.
  await waitFor(
    () =>
      text(viewerA.doc) === text(viewerB.doc) &&
      JSON.stringify(stateOf(viewerA.doc)) === JSON.stringify(stateOf(viewerB.doc)) &&
      fields(taskB.doc).status === 'doing' &&
      JSON.stringify(stateOf(taskA.doc)) === JSON.stringify(stateOf(taskB.doc)),
    { timeoutMs: CONVERGED_WITHIN_MS, message: `A and B converged within ${CONVERGED_WITHIN_MS} ms of Redis being back` },
  );
  const tookMs = Date.now() - backAt;
  console.log(`outage (${label}): A and B converged ${tookMs} ms after Redis was back`);
  expect(text(viewerA.doc)).toBe('B typed on. before the outage. A typed on.');
  expect(stateOf(viewerA.doc)).toEqual(stateOf(viewerB.doc));
  expect(fields(taskA.doc)).toEqual(fields(taskB.doc));

  for (const server of outage.both ? [a, b] : [a]) {
    await waitFor(async () => (await healthz(server)).status === 'ok', { message: `${server.url} ok again` });
    expect(await metricValue(server.url, 'concord_bus_resyncs_total', 'reason="recovery"')).toBeGreaterThanOrEqual(2);
  }
  // The convergence time is recorded once the round is over (its retry at 1 s, then 2 s for answers).
  await waitFor(async () => (await metricValue(a.url, 'concord_cluster_convergence_seconds_count')) + (await metricValue(b.url, 'concord_cluster_convergence_seconds_count')) >= 1, {
    message: 'concord_cluster_convergence_seconds observed',
  });
}

/** The scenarios that wait for acknowledgements during an outage: the suite's default 30 s left no room under load. */
const OUTAGE_TEST_TIMEOUT_MS = 60_000;

describePostgres('scale-out: Redis outages', () => {
  describeRedis('two instances on one Redis', () => {
    test('Redis SIGKILLed, restarted on the same port: A and B converge without further edits within 5 s', async () => {
      const redis = await startRedis();
      const { url } = await freshSchema();
      const redisUrl = redis.url;
      await outageConvergesWithoutEdits({ redisUrlOfA: redisUrl, redisUrlOfB: redisUrl, both: true, cut: () => redis.kill(), heal: () => redis.restart() }, url, 'killed');
    }, OUTAGE_TEST_TIMEOUT_MS);

    test('Redis stalled (SIGSTOP), then SIGCONT: the watchdog notices, and A and B converge within 5 s', async () => {
      const redis = await startRedis();
      const { url } = await freshSchema();
      const redisUrl = redis.url;
      await outageConvergesWithoutEdits({ redisUrlOfA: redisUrl, redisUrlOfB: redisUrl, both: true, cut: () => redis.stall(), heal: () => redis.resume() }, url, 'stalled');
    }, OUTAGE_TEST_TIMEOUT_MS);

    test('Redis black-holed (no reset) between the instances and Redis, then restored: A and B converge within 5 s', async () => {
      const redis = await startRedis();
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: redis.port });
      const { url } = await freshSchema();
      const redisUrl = throughProxy(redis.url, proxy);
      await outageConvergesWithoutEdits(
        { redisUrlOfA: redisUrl, redisUrlOfB: redisUrl, both: true, cut: () => proxy.blackhole(), heal: () => proxy.restore() },
        url,
        'black-holed',
      );
    }, OUTAGE_TEST_TIMEOUT_MS);

    test('publishes refused while Redis stays reachable (ACL): once allowed again, B gets A\'s edits without further edits', async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const [a, b] = await Promise.all([
        spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: redis.url }),
        spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: redis.url }),
      ]);
      const writerA = hocuspocusClient(a, 'notes', await tokenOf('alice'));
      const viewerB = hocuspocusClient(b, 'notes', await tokenOf('dave'));
      await Promise.all([writerA.whenSynced(), viewerB.whenSynced()]);
      await type(writerA.doc, 0, 'crossed.');
      await waitFor(() => text(viewerB.doc) === 'crossed.', { message: 'the cluster relays before PUBLISH is refused' });

      await redis.strings(['ACL', 'SETUSER', 'default', '-publish']);
      await type(writerA.doc, writerA.doc.getText('t').length, ' Refused on the bus.');
      await waitFor(() => acknowledged(writerA), { message: "A's edits stored" });
      await waitFor(async () => (await metricValue(a.url, 'concord_bus_dropped_total', 'kind="update"')) >= 1, { message: 'the refused publish counted' });
      expect((await healthz(a)).status).toBe('ok');
      expect(text(viewerB.doc)).toBe('crossed.');

      await redis.strings(['ACL', 'SETUSER', 'default', '+publish']);
      const allowedAt = Date.now();
      await waitFor(() => text(viewerB.doc) === 'crossed. Refused on the bus.', {
        timeoutMs: CONVERGED_WITHIN_MS,
        message: "A's refused edits on B without further edits",
      });
      console.log(`outage (publish refused): B had A's edits ${Date.now() - allowedAt} ms after PUBLISH was allowed again`);
      expect(stateOf(viewerB.doc)).toEqual(stateOf(writerA.doc));
      expect(await metricValue(a.url, 'concord_bus_resyncs_total', 'reason="dropped"')).toBeGreaterThanOrEqual(1);
    });

    test('a document edited on A during the outage and unloaded there before Redis is back reaches B without further edits', async () => {
      const redis = await startRedis();
      const { url: databaseUrl } = await freshSchema();
      const [a, b] = await Promise.all([
        spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: redis.url }),
        spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: redis.url }),
      ]);
      const writerA = hocuspocusClient(a, 'left-early', await tokenOf('alice'));
      const viewerB = hocuspocusClient(b, 'left-early', await tokenOf('dave'));
      await Promise.all([writerA.whenSynced(), viewerB.whenSynced()]);
      await type(writerA.doc, 0, 'crossed.');
      await waitFor(() => text(viewerB.doc) === 'crossed.', { message: 'the cluster relays before the outage' });

      await redis.kill();
      await waitFor(async () => (await healthz(a)).redis?.healthy === false && (await healthz(b)).redis?.healthy === false, { message: 'both see Redis gone' });
      await type(writerA.doc, writerA.doc.getText('t').length, ' Typed on A alone.');
      await waitFor(() => acknowledged(writerA), { message: "A's edits stored" });
      writerA.provider.destroy();
      await waitFor(async () => (await metricValue(a.url, 'concord_documents_loaded')) === 0, { message: 'A unloaded the document' });
      expect(text(viewerB.doc)).toBe('crossed.');

      await redis.restart();
      const backAt = Date.now();
      await waitFor(() => text(viewerB.doc) === 'crossed. Typed on A alone.', {
        timeoutMs: CONVERGED_WITHIN_MS,
        message: "A's edits from the outage on B, although A no longer has the document",
      });
      console.log(`outage (unloaded on A): B had A's edits ${Date.now() - backAt} ms after Redis was back`);
    });

    test('Redis black-holed for A only: B stays healthy and never asks; A asks, and its push-back brings B its edits', async () => {
      const redis = await startRedis();
      const proxy = await startTcpProxy({ host: '127.0.0.1', port: redis.port });
      const { url } = await freshSchema();
      await outageConvergesWithoutEdits(
        { redisUrlOfA: throughProxy(redis.url, proxy), redisUrlOfB: redis.url, both: false, cut: () => proxy.blackhole(), heal: () => proxy.restore() },
        url,
        'A black-holed',
      );
    }, OUTAGE_TEST_TIMEOUT_MS);
  });
});
