/**
 * Acknowledged means durable, across instances (docs/scale-out-design.md §5): instance A reaches the shared
 * PostgreSQL through a TCP proxy the test controls, B directly; both share a private redis-server. A's proxy is
 * black-holed (no RST, no answer: a network gone silent), for A only, while A's writer types.
 * - A's writer gets no acknowledgement while the stall lasts: an acknowledgement follows A's commit, never the Redis
 *   publish nor anything B holds;
 * - `/healthz` on A is degraded, storage unhealthy (a write unanswered for 3 s: GroupCommitter's STALLED_WRITE_MS), and
 *   B stays ok;
 * - B's viewer sees them live all the same: the relay publishes a turn's updates before A's commit
 *   (cluster/DocumentRelay.ts);
 * - but B acknowledges nothing on that document meanwhile: a writer on B who types on top of A's edits gets no
 *   acknowledgement (although B stored its edits: a later writer on B, on another document, was acknowledged), because
 *   what it rests on is in no store yet (durability/RelayLedger.ts: B waits for A's durable mark).
 * Then, one of two ways:
 * - the network is back: A's stalled write fails on its query timeout (the proxy dropped its bytes for good) and is
 *   retried: the acknowledgements arrive on A and, once A reports its mark, on B; A is ok again; a third instance C
 *   that loaded the document during the stall (its log then held only what came before) is sent the rest once it is
 *   stored, with no further edit; and a fresh instance, after all have stopped, reads every edit from PostgreSQL;
 * - A is killed (`kill -9`) before it ever stored them: once B takes A for dead (3.5 s silent, cluster/Peers.ts), it
 *   stores A's edits itself and acknowledges its writer; a fresh instance reads A's edits (which A's writer never had
 *   acknowledged: they survive because B had shown them) and B's, with no hole in the log.
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
/** cluster/Peers.ts takes a peer silent for 3.5 s for dead (checked every 250 ms); then B's write, on a busy machine. */
const ADOPTED_WITHIN_MS = 10_000;
/** Edits B's writer types on top of A's, during the stall. */
const ON_TOP = 20;
const OTHER_DOCUMENT = 'stalled-other';

function tagsOf(client: HocuspocusClient): string[] {
  return client.doc.getArray<string>(TAGS).toArray();
}

function postgresAddress(): { host: string; port: number } {
  const { hostname, port } = new URL(DATABASE_URL);
  return { host: hostname, port: Number(port || 5432) };
}

/** B's writer's tags: `<b0>` .. */
function onTopTags(): string[] {
  return Array.from({ length: ON_TOP }, (_, n) => `<b${n}>`);
}

/**
 * Two instances, A's PostgreSQL through a proxy the test black-holes while A's writer types edits BEFORE..DURING; B's
 * viewer sees them live, B's writer types ON_TOP edits after them and is not acknowledged. Returns what the two ways out
 * need.
 */
async function stallOnA() {
  const redis = await startRedis();
  const cluster = await startCluster(1, { redis });
  const b = cluster.servers[0]!;
  const proxy = await startTcpProxy(postgresAddress());
  const a = await cluster.add({ databaseUrl: throughProxy(cluster.databaseUrl, proxy) });

  const writer = await connectWriter(a, DOCUMENT);
  const viewer = hocuspocusClient(b, DOCUMENT, await mintToken({ sub: 'viewer', tenant: 'acme', docs: { '*': 'read' } }));
  await viewer.whenSynced();
  // Connected before the stall: a connection's first sync is acknowledged like an edit.
  const onTop = await connectWriter(b, DOCUMENT);
  await writer.type(0, BEFORE, { maxInFlight: IN_FLIGHT });
  await writer.allAcknowledged();
  await waitFor(() => tagsOf(viewer).length === BEFORE, { message: 'B has the edits from before the stall' });

  proxy.blackhole();
  await writer.type(BEFORE, DURING);
  await waitFor(() => tagsOf(viewer).length === DURING, { message: "B's viewer sees A's edits live, before A stored them" });
  expect(tagsOf(viewer)).toEqual(expectedTags(DURING));
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
  // Seconds after the edits reached A, not one of them is acknowledged.
  expect(writer.acknowledged()).toBe(BEFORE);

  // B's writer types on top of A's edits, which B holds but nobody has stored.
  const onTopTagsOf = onTop.doc.getArray<string>(TAGS);
  for (const tag of onTopTags()) onTopTagsOf.push([tag]);
  await waitFor(() => tagsOf(viewer).length === DURING + ON_TOP, { message: "B's viewer sees B's writer's edits" });
  // B's committer writes in order: once a later edit on B (another document) is acknowledged, B has stored the writer's.
  const later = await connectWriter(b, OTHER_DOCUMENT);
  await later.type(0, 1);
  await later.allAcknowledged();
  expect(onTop.provider.unsyncedChanges).toBe(ON_TOP); // held: what they rest on is in no store
  later.destroy();
  return { cluster, a, b, proxy, writer, viewer, onTop };
}

describePostgres('scale-out: PostgreSQL stalled for one instance', () => {
  describeRedis('two instances on one Redis', () => {
    test('A gets no acknowledgement while its PostgreSQL is black-holed, says degraded; B shows its edits but acknowledges nothing on top of them; once back, all acknowledged and stored', { timeout: 120_000 }, async () => {
      const { cluster, a, b, proxy, writer, viewer, onTop } = await stallOnA();
      // A third instance loads the document now: its log has only what was stored before the stall, and the others
      // send it what it lacks only once that is stored.
      const c = await cluster.add();
      const late = hocuspocusClient(c, DOCUMENT, await mintToken({ sub: 'late', tenant: 'acme', docs: { '*': 'read' } }));
      await late.whenSynced();
      expect(tagsOf(late)).toEqual(expectedTags(BEFORE));

      proxy.restore();
      const restoredAt = performance.now();
      await waitFor(() => writer.provider.unsyncedChanges === 0, { timeoutMs: RECOVERED_WITHIN_MS, intervalMs: 100, message: 'the acknowledgements came' });
      console.log(`[stalled postgres] acknowledgements ${((performance.now() - restoredAt) / 1000).toFixed(1)} s after the network was back`);
      await waitFor(() => onTop.provider.unsyncedChanges === 0, { message: "B's writer acknowledged once A reported its edits stored" });
      await waitFor(async () => (await healthz(a.url)).status === 'ok', { message: '/healthz on A ok again' });
      expect(tagsOf(viewer)).toEqual([...expectedTags(DURING), ...onTopTags()]);
      // C gets what it lacked with no further edit (it asked once loaded; the answers left once stored).
      await waitFor(() => tagsOf(late).length === DURING + ON_TOP, { message: 'C has every edit made before it loaded the document' });
      expect(tagsOf(late)).toEqual([...expectedTags(DURING), ...onTopTags()]);

      writer.destroy();
      onTop.destroy();
      viewer.provider.destroy();
      late.provider.destroy();
      await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM'), c.kill('SIGTERM')]);
      const fresh = await cluster.add();
      const stored = await readSurvivors(fresh, DOCUMENT);
      expect(stored.hasPending).toBe(false);
      expect(stored.tags).toEqual([...expectedTags(DURING), ...onTopTags()]);
    });

    test('A killed before it stored what B showed: B stores it, then acknowledges its own writer; nothing is missing after a restart', { timeout: 120_000 }, async () => {
      const { cluster, a, b, writer, viewer, onTop } = await stallOnA();

      const killedAt = performance.now();
      await a.kill('SIGKILL');
      writer.destroy();
      await waitFor(() => onTop.provider.unsyncedChanges === 0, { timeoutMs: ADOPTED_WITHIN_MS, intervalMs: 50, message: "B's writer acknowledged once B stored A's edits" });
      console.log(`[stalled postgres] B's writer acknowledged ${((performance.now() - killedAt) / 1000).toFixed(1)} s after A was killed`);
      expect(tagsOf(viewer)).toEqual([...expectedTags(DURING), ...onTopTags()]);

      onTop.destroy();
      viewer.provider.destroy();
      await b.kill('SIGTERM');
      const fresh = await cluster.add();
      const stored = await readSurvivors(fresh, DOCUMENT);
      expect(stored.hasPending).toBe(false);
      expect(stored.tags).toEqual([...expectedTags(DURING), ...onTopTags()]);
    });
  });
});
