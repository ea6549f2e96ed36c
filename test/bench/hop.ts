/**
 * The cross-instance hop (issue 15): what a keystroke's trip through Redis to another instance adds to its delivery,
 * Concord's cluster against stock Hocuspocus on `@hocuspocus/extension-redis`, two instances each.
 *
 * `documents` documents, each with one typist on instance 1 (`perSecond` keystrokes a second, open loop, evenly
 * phased) and `viewers` stock `HocuspocusProvider`s on instance 1 and as many on instance 2. Delivery latency is
 * measured per keystroke and receiver by Yjs clock, as the typing-teams row does (./typingTeams.ts: all clients in
 * this process, one clock): samples of viewers on instance 1 are "same instance", those of viewers on instance 2
 * "cross-instance", both from the same keystrokes in the same run. "Hop added" is cross minus same, at p50 and at p99
 * (a difference of percentiles): the goal is that Concord's hop adds at most half of what extension-redis's adds.
 *
 * What each hop is: Concord publishes a turn's updates once, as soon as they are applied (before the PostgreSQL group
 * commit, which the other instance's acknowledgements wait for instead: durability/RelayLedger.ts), and the other
 * instance applies them (one Redis traversal). Stock publishes a
 * state vector on every change; each peer answers with its own state vector and a diff, and the origin then sends the
 * diff that carries the change (three traversals, two encodes of the document per peer).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { REDIS_PAIR, settle, typeAtPace, waitUntil, type Scenario } from './scenario.ts';
import { Peer, type SendTimes, type Window } from './typingTeams.ts';
import { percentile } from './workload.ts';

const CONNECT_TIMEOUT_MS = 60_000;
const WARMUP_MS = 2_000;
const DRAIN_TIMEOUT_MS = 30_000;

export interface HopOptions {
  readonly documents: number;
  /** Viewers of each document on each instance. */
  readonly viewers: number;
  readonly perSecond: number;
  readonly measureMs: number;
  readonly rounds: number;
}

function sortedSamples(samples: readonly number[]): Float64Array {
  return Float64Array.from(samples).sort();
}

export function hop(options: HopOptions): Scenario {
  const { documents, viewers, perSecond, measureMs, rounds } = options;
  return {
    key: 'hop',
    label: `Cross-instance hop: ${documents} typists on instance 1, ${viewers * documents} viewers on each of 2 instances`,
    meaning:
      `${documents} people on instance 1 type ${perSecond} keystrokes a second, each into their own document, which ${viewers} people on instance 1 and ${viewers} on instance 2 watch ` +
      '(Concord: 2 `concord serve` on one PostgreSQL schema and one Redis; stock: 2 Hocuspocus servers with `@hocuspocus/extension-redis` and the Database extension on the same kind of PostgreSQL and Redis): ' +
      'delivery latency to a viewer on the same instance and to one on the other instance, and what the cross-instance hop adds (cross − same, at p50 and at p99; ' +
      'goal: Concord\'s hop adds at most half of what extension-redis\'s adds); server CPU is both instances\', Redis CPU the redis-server\'s',
    rounds,
    systems: REDIS_PAIR,
    instances: 2,
    metrics: [
      { key: 'sameP50Ms', label: 'same-instance delivery p50', unit: 'ms', better: 'lower', digits: 2 },
      { key: 'sameP99Ms', label: 'same-instance delivery p99', unit: 'ms', better: 'lower', digits: 2 },
      { key: 'crossP50Ms', label: 'cross-instance delivery p50', unit: 'ms', better: 'lower', digits: 2 },
      { key: 'crossP99Ms', label: 'cross-instance delivery p99', unit: 'ms', better: 'lower', digits: 2 },
      { key: 'addedP50Ms', label: 'hop added p50 (cross − same)', unit: 'ms', better: 'lower', goal: 0.5, digits: 2 },
      { key: 'addedP99Ms', label: 'hop added p99 (cross − same)', unit: 'ms', better: 'lower', goal: 0.5, digits: 2 },
      { key: 'serverCores', label: 'server CPU (both instances)', unit: 'cores', better: 'lower', digits: 2 },
      { key: 'redisCores', label: 'Redis CPU', unit: 'cores', better: 'lower', digits: 3 },
    ],
    async run({ servers, redis, token, prefix }) {
      const [home, other] = servers;
      if (!home || !other) throw new Error('hop: needs two instances');
      const window: Window = { start: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY };
      const same: number[] = [];
      const cross: number[] = [];
      const teams: Array<{ typist: Peer; everyone: Peer[]; sent: Map<number, SendTimes> }> = [];
      try {
        for (let d = 0; d < documents; d++) {
          const name = `${prefix}-${d}`;
          const sent = new Map<number, SendTimes>();
          const typist = new Peer(home.syncUrl, name, token, sent, window, []);
          sent.set(typist.doc.clientID, []);
          const everyone = [typist];
          for (let i = 0; i < viewers; i++) {
            everyone.push(new Peer(home.syncUrl, name, token, sent, window, same));
            everyone.push(new Peer(other.syncUrl, name, token, sent, window, cross));
          }
          teams.push({ typist, everyone, sent });
        }
        const all = teams.flatMap((team) => team.everyone);
        await waitUntil(() => all.every((peer) => peer.provider.isSynced), CONNECT_TIMEOUT_MS, () => 'hop: clients not synced');
        for (const server of servers) await settle(server);

        const timer = typeAtPace(teams.length, perSecond, (i) => {
          const { typist, sent } = teams[i]!;
          sent.get(typist.doc.clientID)!.push(performance.now());
          typist.text.insert(typist.text.length, 'x');
        });
        await sleep(WARMUP_MS);
        const cpuBefore = servers.reduce((sum, server) => sum + server.cpuSeconds(), 0);
        const redisBefore = redis?.cpuSeconds() ?? Number.NaN;
        window.start = performance.now();
        await sleep(measureMs);
        window.end = performance.now();
        const seconds = (window.end - window.start) / 1000;
        const serverCores = (servers.reduce((sum, server) => sum + server.cpuSeconds(), 0) - cpuBefore) / seconds;
        const redisCores = ((redis?.cpuSeconds() ?? Number.NaN) - redisBefore) / seconds;
        clearInterval(timer);
        await waitUntil(
          () => teams.every((team) => team.everyone.every((peer) => peer.caughtUp(team.sent))),
          DRAIN_TIMEOUT_MS,
          () => 'hop: keystrokes still missing after the typing stopped',
        );
        const sameSorted = sortedSamples(same);
        const crossSorted = sortedSamples(cross);
        const sameP50Ms = percentile(sameSorted, 0.5);
        const sameP99Ms = percentile(sameSorted, 0.99);
        const crossP50Ms = percentile(crossSorted, 0.5);
        const crossP99Ms = percentile(crossSorted, 0.99);
        return {
          sameP50Ms,
          sameP99Ms,
          crossP50Ms,
          crossP99Ms,
          addedP50Ms: crossP50Ms - sameP50Ms,
          addedP99Ms: crossP99Ms - sameP99Ms,
          serverCores,
          redisCores,
          samples: sameSorted.length + crossSorted.length,
        };
      } finally {
        for (const team of teams) for (const peer of team.everyone) peer.destroy();
      }
    },
  };
}
