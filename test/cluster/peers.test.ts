/**
 * Peers (cluster/Peers.ts, docs/scale-out-design.md §3.1): during a Redis outage every peer is silent, and none is
 * dead. Two real `concord serve` processes on one fresh PostgreSQL schema and a private redis-server: each counts the
 * other (`/healthz` `redis.peers`, `concord_cluster_peers`); while Redis is down both count 0; the outage lasts longer
 * than the 3.5 s after which a silent peer would be taken for dead were this instance's own bus healthy; once Redis is
 * back each counts the other again, neither took the other for dead, and a cursor from A is still on B (a peer taken
 * for dead has its clients' cursors dropped: see instanceKill.test.ts).
 */
import { expect, test } from 'vitest';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { healthz, startCluster } from '../support/cluster.js';
import { describePostgres } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import type { ServerProcess } from '../support/serverProcess.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

/** Peers.ts's SILENT_AFTER_MS and a second more: how long the outage lasts (the scenario, not a wait for a result). */
const OUTAGE_MS = 3_500 + 1_000;

function cursorOf(observer: HocuspocusClient, of: HocuspocusClient): number | undefined {
  const state = observer.provider.awareness?.getStates().get(of.doc.clientID) as { cursor?: { at: number } } | undefined;
  return state?.cursor?.at;
}

async function peersGauge(server: ServerProcess): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = /^concord_cluster_peers (\d+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

async function counts(servers: readonly ServerProcess[]): Promise<Array<{ healthy: boolean; peers: number; gauge: number | undefined }>> {
  return Promise.all(
    servers.map(async (server) => {
      const { redis } = await healthz(server.url);
      return { healthy: redis?.healthy ?? false, peers: redis?.peers ?? -1, gauge: await peersGauge(server) };
    }),
  );
}

describePostgres('scale-out: peers', () => {
  describeRedis('two instances on one Redis', () => {
    test('a Redis outage longer than the silence limit takes no peer for dead; each counts the other again after it', { timeout: 60_000 }, async () => {
      const redis = await startRedis();
      const { servers } = await startCluster(2, { redis });
      const [a, b] = servers as [ServerProcess, ServerProcess];
      await waitFor(async () => (await counts(servers)).every(({ peers, gauge }) => peers === 1 && gauge === 1), { message: 'each counts the other' });

      const token = (sub: string) => mintToken({ sub, tenant: 'acme', docs: { '*': 'read' } });
      const onA = hocuspocusClient(a, 'peers', await token('alice'));
      const onB = hocuspocusClient(b, 'peers', await token('bob'));
      await Promise.all([onA.whenSynced(), onB.whenSynced()]);
      onA.provider.setAwarenessField('cursor', { at: 3 });
      await waitFor(() => cursorOf(onB, onA) === 3, { message: "A's cursor on B" });

      await redis.kill();
      const downAt = performance.now();
      await waitFor(async () => (await counts(servers)).every(({ healthy, peers, gauge }) => !healthy && peers === 0 && gauge === 0), {
        message: 'both count no peer while Redis is down',
      });
      await waitFor(() => performance.now() - downAt >= OUTAGE_MS, { timeoutMs: OUTAGE_MS + 1_000, intervalMs: 100 });
      await redis.restart();
      await waitFor(async () => (await counts(servers)).every(({ healthy, peers, gauge }) => healthy && peers === 1 && gauge === 1), {
        message: 'each counts the other again',
      });

      for (const server of servers) {
        expect(server.logs.filter((entry) => String(entry.msg).includes('taken for dead'))).toEqual([]);
      }
      expect(cursorOf(onB, onA)).toBe(3);
    });
  });
});
