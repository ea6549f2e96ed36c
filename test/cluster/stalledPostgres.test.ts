/**
 * Acknowledged means durable, across instances (docs/scale-out-design.md §5): instance A reaches the shared
 * PostgreSQL through a TCP proxy the test controls, B directly; both share a private redis-server. A's proxy is
 * black-holed (no RST, no answer: a network gone silent), for A only, while A's writer types.
 * - A's writer gets no acknowledgement while the stall lasts: an acknowledgement follows A's commit, never the Redis
 *   publish nor anything B holds;
 * - `/healthz` on A is degraded, storage unhealthy (a write unanswered for 3 s: GroupCommitter's STALLED_WRITE_MS), and
 *   B stays ok;
 * - B's viewer gets nothing typed during the stall: the relay publishes after the commit (DocumentRelay.ts), so what
 *   crosses to B is already stored. (With the design's publish-before-commit and its settle ledger, §3.4, B's viewer
 *   would see these edits live while A's writer still waited for its acknowledgements: this one assertion would turn
 *   around; the others hold either way.)
 * Once the network is back, A's stalled write fails on its query timeout (the proxy dropped its bytes for good) and is
 * retried: the acknowledgements arrive, A is ok again, B's viewer has every one of A's edits, and a fresh instance,
 * after both have stopped, reads all of them from PostgreSQL.
 */
import { expect, test } from 'vitest';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { healthz, startCluster } from '../support/cluster.js';
import { DATABASE_URL, describePostgres } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { connectWriter, expectedTags, readSurvivors, TAGS } from '../support/taggedEdits.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const DOCUMENT = 'stalled-shared';
const BEFORE = 200;
const DURING = 400;
/** Edits a typist has in flight at most. */
const IN_FLIGHT = 50;
/** GroupCommitter's STALLED_WRITE_MS (3 s) and a margin for a busy machine. */
const DEGRADED_WITHIN_MS = 10_000;
/** The stalled query fails on PostgresStore's QUERY_TIMEOUT_MS (30 s) and is retried at once. */
const RECOVERED_WITHIN_MS = 45_000;

function tagsOf(client: HocuspocusClient): string[] {
  return client.doc.getArray<string>(TAGS).toArray();
}

function postgresAddress(): { host: string; port: number } {
  const { hostname, port } = new URL(DATABASE_URL);
  return { host: hostname, port: Number(port || 5432) };
}

describePostgres('scale-out: PostgreSQL stalled for one instance', () => {
  describeRedis('two instances on one Redis', () => {
    test('A gets no acknowledgement while its PostgreSQL is black-holed, says degraded; once back, all acknowledged and stored, B has it all', { timeout: 120_000 }, async () => {
      const redis = await startRedis();
      const cluster = await startCluster(1, { redis });
      const b = cluster.servers[0]!;
      const proxy = await startTcpProxy(postgresAddress());
      const a = await cluster.add({ databaseUrl: throughProxy(cluster.databaseUrl, proxy) });

      const writer = await connectWriter(a, DOCUMENT);
      const viewer = hocuspocusClient(b, DOCUMENT, await mintToken({ sub: 'viewer', tenant: 'acme', docs: { '*': 'read' } }));
      await viewer.whenSynced();
      await writer.type(0, BEFORE, { maxInFlight: IN_FLIGHT });
      await writer.allAcknowledged();
      await waitFor(() => tagsOf(viewer).length === BEFORE, { message: 'B has the edits from before the stall' });

      proxy.blackhole();
      await writer.type(BEFORE, DURING);
      const degraded = await waitFor(
        async () => {
          const health = await healthz(a.url);
          return health.status === 'degraded' ? health : undefined;
        },
        { timeoutMs: DEGRADED_WITHIN_MS, message: '/healthz on A degraded' },
      );
      expect(degraded.storage).toMatchObject({ healthy: false, lastError: expect.stringContaining('no answer') });
      expect(degraded.redis?.healthy).toBe(true);
      expect((await healthz(b.url)).status).toBe('ok');
      // Seconds after the edits reached A, not one of them is acknowledged, and none has crossed to B.
      expect(writer.acknowledged()).toBe(BEFORE);
      expect(tagsOf(viewer)).toEqual(expectedTags(BEFORE));

      proxy.restore();
      const restoredAt = performance.now();
      await waitFor(() => writer.provider.unsyncedChanges === 0, { timeoutMs: RECOVERED_WITHIN_MS, intervalMs: 100, message: 'the acknowledgements came' });
      console.log(`[stalled postgres] acknowledgements ${((performance.now() - restoredAt) / 1000).toFixed(1)} s after the network was back`);
      await waitFor(async () => (await healthz(a.url)).status === 'ok', { message: '/healthz on A ok again' });
      await waitFor(() => tagsOf(viewer).length === DURING, { message: "B has every one of A's edits" });
      expect(tagsOf(viewer)).toEqual(expectedTags(DURING));

      writer.destroy();
      viewer.provider.destroy();
      await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
      const fresh = await cluster.add();
      const stored = await readSurvivors(fresh, DOCUMENT);
      expect(stored.hasPending).toBe(false);
      expect(stored.tags).toEqual(expectedTags(DURING));
    });
  });
});
