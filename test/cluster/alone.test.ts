/**
 * SPEC §3 Scale-out, a document open on one instance only: Redis's reply to a PUBLISH says nobody else listens, so the
 * instance stops publishing the document's changes (a Redis write and its echo per keystroke, for nobody). Real
 * `concord serve` processes on one PostgreSQL schema and a private redis-server:
 * - alone, forty keystrokes cost a handful of publishes at most (one each without the feature);
 * - a second instance that opens the document while the first goes on typing ends with every character, including
 *   those typed alone and not yet stored when it loaded, and then sees keystrokes live (publishing resumed);
 * - once the second instance lets the document go, the first stops publishing again;
 * - presence the same: cursor moves alone are not published, an instance opening the document shows the cursor where
 *   it was left and then follows its moves;
 * - a document that unloads with changes left unpublished sends a `Stored` notice on its channel once they are stored,
 *   so an instance whose load read the log before that reads it again; none once another instance was heard (it has
 *   them, and the notice would have it read the whole log again).
 */
import { BusKind } from '@concord/server';
import { expect, test } from 'vitest';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { startCluster } from '../support/cluster.js';
import { describePostgres } from '../support/postgres.js';
import { metricValue } from '../support/probes.js';
import { describeRedis, startRedis, subscribe, type PrivateRedis } from '../support/redis.js';
import type { ServerProcess } from '../support/serverProcess.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

/** Update frames this instance published to the bus so far. */
function updatesPublished(server: ServerProcess): Promise<number> {
  return metricValue(server.url, 'concord_bus_messages_total', 'direction="out",kind="update"');
}

/** A token of `user` that may write every document of tenant acme. */
function writeToken(user: string): Promise<string> {
  return mintToken({ sub: user, tenant: 'acme', docs: { '*': 'write' } });
}

/** `count` instances on one private Redis, and Alice's client on the first, synced with document `doc`. */
async function aliceOnA(count: number): Promise<{ redis: PrivateRedis; servers: readonly ServerProcess[]; onA: HocuspocusClient }> {
  const redis = await startRedis();
  const { servers } = await startCluster(count, { redis });
  const onA = hocuspocusClient(servers[0]!, 'doc', await writeToken('alice'));
  await onA.whenSynced();
  return { redis, servers, onA };
}

/** One keystroke at the end of the text, acknowledged (stored) before it resolves. */
async function keystroke(client: HocuspocusClient, char: string): Promise<void> {
  const text = client.doc.getText('t');
  text.insert(text.length, char);
  await waitFor(() => client.provider.unsyncedChanges === 0, { message: `keystroke ${text.length} acknowledged` });
}

async function type(client: HocuspocusClient, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await keystroke(client, String.fromCharCode(97 + (i % 26)));
}

/** The document's channel, once `subscribers` subscriptions (instances, or this test's own) listen on it. */
async function documentChannel(redis: PrivateRedis, subscribers: number): Promise<string> {
  return waitFor(
    async () => {
      const [channel] = await redis.strings(['PUBSUB', 'CHANNELS', 'concord:*:d:acme/doc']);
      if (channel === undefined) return undefined;
      const [, count] = await redis.strings(['PUBSUB', 'NUMSUB', channel]);
      return Number(count) === subscribers ? channel : undefined;
    },
    { message: `${subscribers} subscription(s) on the document's channel` },
  );
}

// Skipped, with a loud notice, only where PostgreSQL is unreachable or redis-server is missing outside CI; under
// CI=true either gate fails instead (support/postgres.ts, support/redis.ts).
describePostgres('scale-out: a document open on one instance only', () => {
  describeRedis('instances on one Redis', () => {
    test('alone it is not published; a second instance opening it mid-typing gets all of it, then live; alone again after', { timeout: 60_000 }, async () => {
      const {
        redis,
        servers: [a, b],
        onA,
      } = await aliceOnA(2);

      await type(onA, 40);
      const alone = await updatesPublished(a!);
      console.log(`alone: 40 keystrokes, ${alone} update frame(s) published`);
      expect(alone, 'update frames published for 40 keystrokes with nobody listening').toBeLessThanOrEqual(3);

      // B opens the document while A keeps typing: what A typed alone, stored or not yet, and what follows.
      let typing = true;
      const typed = (async () => {
        while (typing) await keystroke(onA, 'x');
      })();
      const onB = hocuspocusClient(b!, 'doc', await writeToken('bob'));
      await onB.whenSynced();
      await waitFor(() => onB.doc.getText('t').length >= 45, { message: 'B has more than what A typed alone' });
      typing = false;
      await typed;
      await type(onA, 20); // after B is there: these go out live
      const expected = onA.doc.getText('t').toString();
      await waitFor(() => onB.doc.getText('t').toString() === expected, { message: `B has all ${expected.length} characters A typed` });
      const resumed = await updatesPublished(a!);
      expect(resumed - alone, 'update frames published once B listens').toBeGreaterThanOrEqual(20);

      // B lets the document go: A is alone again.
      onB.provider.destroy();
      await documentChannel(redis, 1);
      await type(onA, 1); // this publish learns that nobody listens
      const before = await updatesPublished(a!);
      await type(onA, 30);
      const after = await updatesPublished(a!);
      console.log(`alone again: 30 keystrokes, ${after - before} update frame(s) published`);
      expect(after - before, 'update frames published for 30 keystrokes alone again').toBeLessThanOrEqual(2);
    });

    test('presence alone is not published; an instance opening the document shows the cursor, then its moves live', { timeout: 60_000 }, async () => {
      const redis = await startRedis();
      const {
        servers: [a, b],
      } = await startCluster(2, { redis });
      const alice = await writeToken('alice');
      const onA = hocuspocusClient(a!, 'doc', alice);
      const watcherOnA = hocuspocusClient(a!, 'doc', alice);
      await Promise.all([onA.whenSynced(), watcherOnA.whenSynced()]);
      const cursorSeenBy = (client: HocuspocusClient) =>
        (client.provider.awareness?.getStates().get(onA.doc.clientID)?.['cursor'] as { at: number } | undefined)?.at;
      const move = async (at: number, seenBy: HocuspocusClient) => {
        onA.provider.setAwarenessField('cursor', { at });
        await waitFor(() => cursorSeenBy(seenBy) === at, { message: `the cursor at ${at}` });
      };

      for (let at = 1; at <= 20; at++) await move(at, watcherOnA); // each seen on A: its presence window was flushed
      const alone = await metricValue(a!.url, 'concord_bus_messages_total', 'direction="out",kind="awareness"');
      console.log(`alone: 20 cursor moves, ${alone} presence frame(s) published`);
      expect(alone, 'presence frames published for 20 moves with nobody listening').toBeLessThanOrEqual(3);

      const onB = hocuspocusClient(b!, 'doc', await writeToken('bob'));
      await onB.whenSynced();
      await waitFor(() => cursorSeenBy(onB) === 20, { message: "B shows A's cursor where it was left" });
      for (let at = 21; at <= 25; at++) await move(at, onB);
    });

    test('a document that heard another instance since it was alone sends no Stored notice when it unloads', { timeout: 60_000 }, async () => {
      const {
        redis,
        servers: [a, b],
        onA,
      } = await aliceOnA(2);
      await type(onA, 10); // alone: left unpublished

      const onB = hocuspocusClient(b!, 'doc', await writeToken('bob'));
      await onB.whenSynced();
      await waitFor(() => onB.doc.getText('t').length === 10, { message: 'B has what A typed alone' });
      await keystroke(onA, '!');
      await waitFor(() => onB.doc.getText('t').length === 11, { message: 'B sees the next keystroke live' });

      // A lets the document go (its unsubscribe follows any notice it sends, in the same turn): B holds all of it
      // already, so no notice has it read the whole log again.
      onA.provider.destroy();
      await documentChannel(redis, 1);
      expect(await metricValue(a!.url, 'concord_bus_messages_total', 'direction="out",kind="stored"'), 'Stored notices sent by A').toBe(0);
      expect(onB.doc.getText('t').toString()).toBe(onA.doc.getText('t').toString());
    });

    test('a document that unloads with changes left unpublished sends a Stored notice on its channel', { timeout: 60_000 }, async () => {
      const {
        redis,
        servers: [a],
        onA,
      } = await aliceOnA(1);
      await type(onA, 10);

      // This test's own subscription only listens: nothing on the channel tells A that anyone is there.
      const listener = await subscribe(redis.port, await documentChannel(redis, 1));
      await type(onA, 10);
      const kinds = () => listener.messages.map((frame) => frame[1]);
      expect(kinds(), 'no update frame of the keystrokes typed alone').not.toContain(BusKind.Update);

      onA.provider.destroy(); // the last client leaves: A stores and unloads the document
      await waitFor(() => kinds().includes(BusKind.Stored), { timeoutMs: 15_000, message: 'a Stored notice once the document unloaded' });
      listener.close();
    });
  });
});
