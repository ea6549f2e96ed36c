/**
 * SPEC §3 Scale-out: "An instance killed with `kill -9` loses no acknowledged edit; its clients reconnect to another
 * instance" (docs/scale-out-design.md §3.10, §5). Three real `concord serve` processes on one fresh PostgreSQL schema
 * and a private redis-server, behind a round-robin TCP balancer (support/balancer.ts).
 *
 * A tagged writer (support/taggedEdits.ts) connects through the balancer; viewers sit on the two other instances, and
 * a client with a cursor is connected straight to the writer's instance (it has nowhere else to go once that dies).
 * That instance also holds a document nobody else has loaded. The writer's instance is SIGKILLed while the writer
 * types, with edits in flight. Then:
 * - the document only the dead instance had loaded opens on another instance at once (no lease, no hand-over: before
 *   the dead instance is even noticed) with every edit acknowledged on it;
 * - the stranded client's cursor goes from the viewers within 5 s (cluster/Peers.ts: silent 3.5 s while Redis is
 *   reachable = dead, its relayed cursors dropped), not after y-protocols' 30 s timeout; the survivors count one peer;
 * - the writer reconnects through the balancer to another instance, its unacknowledged edits are resent, it keeps
 *   typing, and every edit, those acknowledged before the kill first, is in the document and reaches both viewers;
 * - after every instance has stopped (the survivors gracefully: each hears the other's goodbye), a fresh instance
 *   reads every edit from PostgreSQL, with no hole in the log.
 */
import { expect, test } from 'vitest';
import { startBalancer } from '../support/balancer.js';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { healthz, startCluster } from '../support/cluster.js';
import { describePostgres } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import type { ServerProcess } from '../support/serverProcess.js';
import { connectWriter, expectedTags, readSurvivors, TAGS } from '../support/taggedEdits.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const DOCUMENT = 'kill-shared';
/** Loaded on the killed instance only. */
const SOLO = 'kill-solo';
/** Edits typed and acknowledged before the kill; then typing goes on and the kill comes at KILL_AT. */
const BEFORE = 300;
const KILL_AT = 400;
/** Typed through the kill (the writer keeps typing offline), then more once it is connected elsewhere. */
const THROUGH = 600;
const TOTAL = 700;
const SOLO_EDITS = 200;
/** Edits a typist has in flight at most (one that the server keeps up with). */
const IN_FLIGHT = 50;
/** Peers.ts: silent after 3.5 s, checked every 250 ms; plus a presence window and a hop. */
const CURSOR_GONE_WITHIN_MS = 5_000;
/** Under Peers.ts's 3.5 s: a document opens elsewhere before the dead instance is even noticed. */
const OPENS_WITHIN_MS = 3_000;

/** Tokens of the tagged writer's tenant. */
const viewerToken = (sub: string) => mintToken({ sub, tenant: 'acme', docs: { '*': 'read' } });

function tagsOf(client: HocuspocusClient): string[] {
  return client.doc.getArray<string>(TAGS).toArray();
}

function cursorOf(observer: HocuspocusClient, of: HocuspocusClient): number | undefined {
  const state = observer.provider.awareness?.getStates().get(of.doc.clientID) as { cursor?: { at: number } } | undefined;
  return state?.cursor?.at;
}

async function peerCounts(servers: readonly ServerProcess[]): Promise<number[]> {
  return Promise.all(servers.map(async (server) => (await healthz(server.url)).redis?.peers ?? -1));
}

async function peersGauge(server: ServerProcess): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = /^concord_cluster_peers (\d+)$/m.exec(text);
  return match ? Number(match[1]) : undefined;
}

describePostgres('scale-out: an instance killed with kill -9', () => {
  describeRedis('three instances behind a balancer', () => {
    test('no acknowledged edit is lost, the writer goes on elsewhere, the dead instance\'s cursor goes within 5 s', { timeout: 90_000 }, async () => {
      const redis = await startRedis();
      const cluster = await startCluster(3, { redis });
      const balancer = await startBalancer(cluster.servers);
      await waitFor(async () => (await peerCounts(cluster.servers)).every((peers) => peers === 2), { message: 'every instance hears the two others' });
      expect(await peersGauge(cluster.servers[0]!)).toBe(2);

      const writer = await connectWriter(balancer, DOCUMENT);
      const home = cluster.servers.find((server) => balancer.openTo(server) === 1);
      if (home === undefined) throw new Error('the writer is on no instance');
      const others = cluster.servers.filter((server) => server !== home);
      const viewers = await Promise.all(
        others.map(async (server, at) => {
          const viewer = hocuspocusClient(server, DOCUMENT, await viewerToken(`viewer-${at}`));
          await viewer.whenSynced();
          return viewer;
        }),
      );
      const stranded = hocuspocusClient(home, DOCUMENT, await viewerToken('stranded'));
      await stranded.whenSynced();
      stranded.provider.setAwarenessField('cursor', { at: 7 });
      await waitFor(() => viewers.every((viewer) => cursorOf(viewer, stranded) === 7), { message: "the stranded client's cursor on both viewers" });

      const solo = await connectWriter(home, SOLO);
      await solo.type(0, SOLO_EDITS, { maxInFlight: IN_FLIGHT });
      await solo.allAcknowledged();

      await writer.type(0, BEFORE, { maxInFlight: IN_FLIGHT });
      await writer.allAcknowledged();
      let killedAt = 0;
      let acknowledgedAtKill = 0;
      await writer.type(BEFORE, THROUGH, {
        maxInFlight: IN_FLIGHT,
        stop: () => {
          if (killedAt === 0 && writer.typed() >= KILL_AT) {
            acknowledgedAtKill = writer.acknowledged();
            killedAt = performance.now();
            void home.kill('SIGKILL');
            solo.destroy();
          }
          return false;
        },
      });
      expect((await home.exited).signal).toBe('SIGKILL');
      console.log(`[instance kill] killed with ${KILL_AT - acknowledgedAtKill} of ${KILL_AT} edits unacknowledged`);
      expect(acknowledgedAtKill).toBeGreaterThanOrEqual(BEFORE);

      // The document only the dead instance had loaded: another instance loads it from PostgreSQL, at once.
      const soloRead = await readSurvivors(others[0]!, SOLO);
      const soloOpenedMs = performance.now() - killedAt;
      expect(soloRead.tags).toEqual(expectedTags(SOLO_EDITS));
      expect(soloOpenedMs).toBeLessThan(OPENS_WITHIN_MS);

      // The peers take the silent instance for dead and drop its client's cursor.
      await waitFor(() => viewers.every((viewer) => cursorOf(viewer, stranded) === undefined), {
        timeoutMs: Math.max(0, Math.round(CURSOR_GONE_WITHIN_MS - (performance.now() - killedAt))),
        message: "the dead instance's cursor gone from both viewers",
      });
      const cursorGoneMs = performance.now() - killedAt;
      await waitFor(async () => (await peerCounts(others)).every((peers) => peers === 1), { message: 'each survivor counts one peer' });
      stranded.provider.destroy();

      // The writer is elsewhere now, and goes on typing there.
      const newHome = await waitFor(() => others.find((server) => balancer.openTo(server) === 1), { message: 'the writer reconnected through the balancer' });
      await waitFor(() => writer.provider.isSynced, { message: 'the writer synced with its new instance' });
      await writer.type(THROUGH, TOTAL, { maxInFlight: IN_FLIGHT });
      await writer.allAcknowledged();
      console.log(`[instance kill] solo document open elsewhere ${soloOpenedMs.toFixed(0)} ms after the kill; cursor gone after ${cursorGoneMs.toFixed(0)} ms`);

      const live = await readSurvivors(newHome, DOCUMENT);
      expect(live.tags.slice(0, acknowledgedAtKill)).toEqual(expectedTags(acknowledgedAtKill));
      expect(live.tags).toEqual(expectedTags(TOTAL));
      for (const viewer of viewers) {
        await waitFor(() => tagsOf(viewer).length === TOTAL, { message: 'a viewer has every edit' });
        expect(tagsOf(viewer)).toEqual(expectedTags(TOTAL));
      }

      // Every instance stops (the survivors gracefully: the other one hears the goodbye); a fresh one reads PostgreSQL.
      writer.destroy();
      for (const viewer of viewers) viewer.provider.destroy();
      const [first, second] = others as [ServerProcess, ServerProcess];
      const firstId = (await healthz(first.url)).redis?.instance;
      await first.kill('SIGTERM');
      await waitFor(() => second.logs.some((entry) => entry.msg === 'a peer instance said goodbye' && entry.peer === firstId), {
        message: 'the goodbye of a stopping instance',
      });
      await second.kill('SIGTERM');
      const fresh = await cluster.add();
      const stored = await readSurvivors(fresh, DOCUMENT);
      expect(stored.hasPending).toBe(false);
      expect(stored.tags).toEqual(expectedTags(TOTAL));
      expect((await readSurvivors(fresh, SOLO)).tags).toEqual(expectedTags(SOLO_EDITS));
    });
  });
});
