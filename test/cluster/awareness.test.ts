/**
 * SPEC §3 Scale-out, presence: two real `concord serve` processes on one fresh PostgreSQL schema and a private
 * redis-server (one cluster for the file). A cursor set by a client on A shows on B, for a client that joins B later
 * (B asks A on load) and as it moves, and the reverse; when the client on A disconnects, its cursor goes from B at once
 * (not after the 30 s presence timeout). A burst of 50 cursor moves on A crosses as about one bus frame per presence
 * window (`concord_bus_messages_total{direction="out",kind="awareness"}` on A), not one per move. A workspace member
 * on A is online in the workspace room on B, and offline there with a last-seen time once they leave A. A cursor moved
 * while Redis was down shows on the other instance once Redis is back, without moving again (the instances ask each
 * other on recovery). The states one instance relayed can be dropped by its instance id on another (the entry point
 * for a goodbye or a dead peer), there only.
 */
import type { Member, SyncClient } from '@concord/client';
import { beforeAll, expect, test } from 'vitest';
import { freshIndexedDB, makeClient, token } from '../client/harness.js';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { describeRedis, startRedis, type PrivateRedis } from '../support/redis.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { waitFor } from '../support/wait.js';

/** The servers' presence window (their default). */
const PRESENCE_WINDOW_MS = 100;
/** Cursor moves in the burst. */
const MOVES = 50;
/** Between moves of the burst: a person dragging a selection (pacing the load generator, not waiting for a result). */
const MOVE_EVERY_MS = 4;
/** Well under y-protocols' 30 s presence timeout, and under the 15 s renewal of a client's state. */
const SOON_MS = 5_000;

let redis: PrivateRedis;
let databaseUrl: string;
let a: ServerProcess;
let b: ServerProcess;

interface Cursor {
  at: number;
}

function cursorOf(observer: HocuspocusClient, of: HocuspocusClient): number | undefined {
  const state = observer.provider.awareness?.getStates().get(of.doc.clientID) as { cursor?: Cursor } | undefined;
  return state?.cursor?.at;
}

function moveCursor(client: HocuspocusClient, at: number): void {
  client.provider.setAwarenessField('cursor', { at } satisfies Cursor);
}

/** The value of a counter of this instance's `/metrics`, at the series carrying every label of `labels` (0 if none yet). */
async function counter(server: ServerProcess, name: string, labels: readonly string[]): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}{`) && labels.every((label) => entry.includes(label)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Awareness frames this instance published to the bus so far. */
function awarenessFramesOut(server: ServerProcess): Promise<number> {
  return counter(server, 'concord_bus_messages_total', ['direction="out"', 'kind="awareness"']);
}

/** Awareness frames this instance could not publish (Redis unreachable) so far. */
function awarenessFramesDropped(server: ServerProcess): Promise<number> {
  return counter(server, 'concord_bus_dropped_total', ['kind="awareness"']);
}

async function redisHealth(server: ServerProcess): Promise<{ healthy: boolean; instance: string } | undefined> {
  const body = (await (await fetch(`${server.url}/healthz`)).json()) as { redis?: { healthy: boolean; instance: string } };
  return body.redis;
}

async function redisHealthy(server: ServerProcess): Promise<boolean> {
  return (await redisHealth(server))?.healthy === true;
}

function member(client: SyncClient, id: string): Member | undefined {
  return client.workspace().members().find((entry) => entry.user.id === id);
}

describePostgres('scale-out: presence', () => {
  describeRedis('two instances on one Redis', () => {
    beforeAll(async () => {
      redis = await startRedis();
      ({ url: databaseUrl } = await freshSchema());
      const args = ['--presence-window-ms', String(PRESENCE_WINDOW_MS)];
      [a, b] = await Promise.all([
        spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: redis.url, args }),
        spawnServer({ dataDir: await makeTempDir(), databaseUrl, redisUrl: redis.url, args }),
      ]);
    });

    test('a cursor on A shows on B (joining later, and as it moves), the reverse too; it goes from B when its client leaves A', async () => {
      const alice = await token('alice');
      const onA = hocuspocusClient(a, 'cursors', alice);
      await onA.whenSynced();
      const published = await awarenessFramesOut(a);
      moveCursor(onA, 1);
      await waitFor(async () => (await awarenessFramesOut(a)) > published, { message: "A published the cursor's window" });

      // B loads the document after A published the cursor (to nobody): B asks, A answers.
      const onB = hocuspocusClient(b, 'cursors', await token('bob'));
      await onB.whenSynced();
      await waitFor(() => cursorOf(onB, onA) === 1, { message: "A's cursor on B, after B loaded the document" });

      moveCursor(onA, 5);
      await waitFor(() => cursorOf(onB, onA) === 5, { message: "A's cursor moving on B" });
      moveCursor(onB, 9);
      await waitFor(() => cursorOf(onA, onB) === 9, { message: "B's cursor on A" });

      // A's last client leaves, and A unloads the document: the removal still crosses.
      onA.provider.destroy();
      await waitFor(() => !onB.provider.awareness?.getStates().has(onA.doc.clientID), {
        timeoutMs: SOON_MS,
        message: "A's cursor gone from B",
      });
      expect(cursorOf(onB, onB)).toBe(9);
    });

    test(`${MOVES} cursor moves on A cross as about one bus frame per presence window`, async () => {
      const writer = hocuspocusClient(a, 'burst', await token('alice'));
      const viewer = hocuspocusClient(b, 'burst', await token('bob'));
      await Promise.all([writer.whenSynced(), viewer.whenSynced()]);
      moveCursor(writer, 0);
      await waitFor(() => cursorOf(viewer, writer) === 0);

      const before = await awarenessFramesOut(a);
      const started = Date.now();
      for (let move = 1; move <= MOVES; move++) {
        moveCursor(writer, move);
        await new Promise((resolve) => setTimeout(resolve, MOVE_EVERY_MS));
      }
      await waitFor(() => cursorOf(viewer, writer) === MOVES, { message: 'the last move on B' });
      const elapsedMs = Date.now() - started;
      const frames = (await awarenessFramesOut(a)) - before;
      const windows = Math.ceil(elapsedMs / PRESENCE_WINDOW_MS);
      console.log(`[awareness relay] ${MOVES} moves in ${elapsedMs} ms → ${frames} awareness frames on the bus (${windows} windows)`);
      expect(frames).toBeGreaterThanOrEqual(1);
      expect(frames).toBeLessThanOrEqual(windows + 2);
      expect(frames).toBeLessThan(MOVES / 4);
    });

    test('a workspace member on A is online in the room on B, and offline with a last-seen time once they leave A', async () => {
      freshIndexedDB();
      const alice = makeClient(a, { token: await token('alice') });
      const bob = makeClient(b, { token: await token('bob') });
      alice.workspace().setPage('/board');
      bob.workspace();
      await waitFor(() => member(bob, 'alice')?.status === 'online' && member(bob, 'alice')?.page === '/board', {
        message: 'alice (on A) online on B',
      });
      await waitFor(() => member(alice, 'bob')?.status === 'online', { message: 'bob (on B) online on A' });

      const beforeLeaving = Date.now();
      await alice.destroy();
      const gone = await waitFor(() => (member(bob, 'alice')?.status === 'offline' ? member(bob, 'alice') : undefined), {
        timeoutMs: SOON_MS,
        message: 'alice offline on B',
      });
      expect(gone.lastSeenAt).toBeGreaterThanOrEqual(beforeLeaving);
    });

    test("an instance's relayed states can be dropped by its id, here only (for a goodbye or a dead peer)", async () => {
      // A third instance, in this process, to reach its awareness relay.
      const c = await startTestServer({ databaseUrl, redisUrl: redis.url, presenceWindowMs: PRESENCE_WINDOW_MS });
      const relay = c.current.hocuspocus.configuration.extensions.find(
        (extension) => extension.extensionName === 'concord-awareness-relay',
      ) as unknown as { dropInstance(instance: string): void };
      const onA = hocuspocusClient(a, 'dropped', await token('alice'));
      const onB = hocuspocusClient(b, 'dropped', await token('bob'));
      const onC = hocuspocusClient(c, 'dropped', await token('carol'));
      await Promise.all([onA.whenSynced(), onB.whenSynced(), onC.whenSynced()]);
      moveCursor(onA, 1);
      moveCursor(onB, 2);
      await waitFor(() => cursorOf(onC, onA) === 1 && cursorOf(onC, onB) === 2 && cursorOf(onB, onA) === 1);

      relay.dropInstance((await redisHealth(a))!.instance);
      await waitFor(() => !onC.provider.awareness?.getStates().has(onA.doc.clientID), { timeoutMs: SOON_MS, message: "A's cursor gone from C" });
      expect(cursorOf(onC, onB)).toBe(2);
      // Not published: once C's next move has reached B, B still shows A's cursor.
      moveCursor(onC, 3);
      await waitFor(() => cursorOf(onB, onC) === 3);
      expect(cursorOf(onB, onA)).toBe(1);
    });

    test("a dead peer's workspace members go offline with a last-seen time on the other instances", async () => {
      freshIndexedDB();
      // A third instance, in this process, to reach its awareness relay (as a peer taken for dead does: cluster/Peers.ts).
      const c = await startTestServer({ databaseUrl, redisUrl: redis.url, presenceWindowMs: PRESENCE_WINDOW_MS });
      const relay = c.current.hocuspocus.configuration.extensions.find(
        (extension) => extension.extensionName === 'concord-awareness-relay',
      ) as unknown as { dropInstance(instance: string): void };
      const alice = makeClient(a, { token: await token('alice') });
      const carol = makeClient(c, { token: await token('carol') });
      alice.workspace();
      carol.workspace();
      await waitFor(() => member(carol, 'alice')?.status === 'online', { message: 'alice (on A) online on C' });

      const beforeDrop = Date.now();
      relay.dropInstance((await redisHealth(a))!.instance);
      const gone = await waitFor(() => (member(carol, 'alice')?.status === 'offline' ? member(carol, 'alice') : undefined), {
        timeoutMs: SOON_MS,
        message: 'alice offline on C, A taken for dead',
      });
      expect(gone.lastSeenAt).toBeGreaterThanOrEqual(beforeDrop);
      await alice.destroy();
      await carol.destroy();
    });

    // Last: it takes Redis away from both instances.
    test('a cursor moved while Redis was down shows on the other instance once Redis is back, with no further move', async () => {
      const onA = hocuspocusClient(a, 'outage', await token('alice'));
      const onB = hocuspocusClient(b, 'outage', await token('bob'));
      await Promise.all([onA.whenSynced(), onB.whenSynced()]);
      moveCursor(onA, 1);
      await waitFor(() => cursorOf(onB, onA) === 1);

      await redis.kill();
      await waitFor(async () => !(await redisHealthy(a)) && !(await redisHealthy(b)), { message: 'both instances see Redis gone' });
      const dropped = await awarenessFramesDropped(a);
      moveCursor(onA, 2);
      await waitFor(async () => (await awarenessFramesDropped(a)) > dropped, { message: 'the move is lost to the bus' });
      await redis.restart();
      await waitFor(async () => (await redisHealthy(a)) && (await redisHealthy(b)), { message: 'both instances rejoined' });
      await waitFor(() => cursorOf(onB, onA) === 2, { timeoutMs: SOON_MS, message: "A's cursor from the outage on B" });
    });
  });
});
