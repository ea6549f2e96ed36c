/**
 * Issue 18 point 1 across instances: clients on the HTTP fallback behind a real load balancer in front of two
 * `concord serve` processes (one PostgreSQL schema, a private Redis). An HTTP session lives on the instance that opened
 * it (README "Scale-out", "Clients on the HTTP fallback"), so the balancer must send its later requests there: nginx
 * by client address, HAProxy by a stick table on the `Concord-Session` header. Both run with the README's own
 * configuration (support/loadBalancers.ts).
 *
 * For each: two clients that only speak HTTP edit one document and see each other's edits, through held polls that
 * outlast a few heartbeats, and each opens exactly one session (a request routed to the wrong instance gets 404 and the
 * client would open another). Behind HAProxy the two sessions are on different instances, so the edits cross Redis.
 */
import type { DocumentHandle, SyncClient } from '@concord/client';
import * as Y from 'yjs';
import { expect, test } from 'vitest';
import { freshIndexedDB, makeClient, token } from '../client/harness.js';
import { startCluster } from '../support/cluster.js';
import { describeBalancer, startHaproxy, startNginx, type BalancerKind, type RunningBalancer } from '../support/loadBalancers.js';
import { describePostgres } from '../support/postgres.js';
import { describeRedis, startRedis } from '../support/redis.js';
import type { ServerProcess } from '../support/serverProcess.js';
import { waitFor } from '../support/wait.js';

const DOCUMENT = 'http-across';
/** Edits each client types, one at a time, before and after the polls have been held a few times. */
const EDITS = 10;
/** Polls answered per session once typing has stopped: each is held up to a heartbeat, and is
 * answered by the heartbeat's Ping frame or empty, through the balancer. */
const HELD_POLLS = 3;

/** The value of one `concord_http_sync_requests_total` series on an instance. */
async function syncRequests(server: ServerProcess, kind: string, status: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith('concord_http_sync_requests_total{') && row.includes(`kind="${kind}"`) && row.includes(`status="${status}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const answeredPolls = async (server: ServerProcess) => (await syncRequests(server, 'poll', '200')) + (await syncRequests(server, 'poll', '204'));
const opened = (servers: readonly ServerProcess[]) => Promise.all(servers.map((server) => syncRequests(server, 'open', '201')));
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

async function httpClient(balancer: RunningBalancer, user: string): Promise<{ client: SyncClient; handle: DocumentHandle }> {
  const client = makeClient({ syncUrl: `${balancer.url.replace(/^http/, 'ws')}/sync` }, { token: await token(user), transport: 'http' });
  const handle = client.open(DOCUMENT);
  await handle.whenSynced();
  return { client, handle };
}

/** Each of `typists` appends `count` numbered lines, one edit at a time; everyone must end with every line. */
async function typeAndConverge(people: readonly { client: SyncClient; handle: DocumentHandle }[], round: string): Promise<void> {
  for (let i = 0; i < EDITS; i += 1) {
    for (const [at, person] of people.entries()) person.handle.doc.getArray<string>('lines').push([`${round}:${at}:${i}`]);
  }
  const expected = people.length * EDITS;
  const linesOf = (doc: Y.Doc) => doc.getArray<string>('lines').toArray().filter((line) => line.startsWith(`${round}:`));
  for (const [at, person] of people.entries()) {
    await waitFor(() => linesOf(person.handle.doc).length === expected, { message: `client ${at} to hold every ${round} line`, timeoutMs: 15_000 });
    await waitFor(() => person.handle.status.pendingChanges === 0, { message: `client ${at}'s ${round} edits acknowledged`, timeoutMs: 15_000 });
    expect(person.client.transport).toBe('http');
  }
  expect(linesOf(people[0]!.handle.doc)).toEqual(linesOf(people[1]!.handle.doc));
}

const START: Record<BalancerKind, (targets: readonly { port: number }[]) => Promise<RunningBalancer>> = { nginx: startNginx, haproxy: startHaproxy };

describePostgres('HTTP fallback across instances', () => {
  describeRedis('two instances on one Redis behind a load balancer', () => {
    for (const kind of ['nginx', 'haproxy'] as const) {
      describeBalancer(kind, kind, () => {
        test(`behind ${kind} with the README's configuration, HTTP clients edit together and keep one session each`, { timeout: 60_000 }, async () => {
          freshIndexedDB();
          const redis = await startRedis();
          const cluster = await startCluster(2, { redis });
          const balancer = await START[kind](cluster.servers.map((server) => ({ port: Number(new URL(server.url).port) })));

          const people = [await httpClient(balancer, 'alice'), await httpClient(balancer, 'bob')];
          await typeAndConverge(people, 'first');

          // Polls held for a heartbeat pass through the balancer, and the sessions live on.
          const sessionsOn = await opened(cluster.servers);
          for (const [i, home] of cluster.servers.entries()) {
            if (sessionsOn[i] === 0) continue;
            const before = await answeredPolls(home);
            await waitFor(async () => (await answeredPolls(home)) >= before + HELD_POLLS * sessionsOn[i]!, { message: `${HELD_POLLS} held polls answered`, timeoutMs: 20_000 });
          }
          await typeAndConverge(people, 'second');

          const sessions = await opened(cluster.servers);
          expect(sum(sessions), `sessions opened per instance: ${sessions.join(', ')}`).toBe(2);
          expect(await Promise.all(cluster.servers.map((server) => syncRequests(server, 'poll', '404'))), 'polls that found no session').toEqual([0, 0]);
          // HAProxy balances the two openings round robin, so the edits cross instances; nginx hashes the one client address.
          if (kind === 'haproxy') expect(sessions).toEqual([1, 1]);
        });
      });
    }
  });
});
