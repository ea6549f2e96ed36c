/**
 * Typing teams: `documents` documents, each with `typists` people typing at `rate` keystrokes a second (open loop,
 * evenly phased, one update per keystroke) and `viewers` people watching; every client is a stock
 * `HocuspocusProvider` with its own socket. Measured: the delivery latency of every keystroke to every other client
 * of its document, from the typist's edit to the receiver having applied it (all clients live in this process, so
 * one clock serves both ends).
 *
 * A keystroke is one character, so it advances its typist's Yjs clock by one: the receiver's state for that client
 * (`Y.getState`) tells exactly which keystrokes have arrived.
 */
import { HocuspocusProvider } from '@hocuspocus/provider';
import { setTimeout as sleep } from 'node:timers/promises';
import * as Y from 'yjs';
import { settle, waitUntil, type Scenario } from './scenario.ts';
import { percentile } from './workload.ts';

const CONNECT_TIMEOUT_MS = 60_000;
const WARMUP_MS = 2_000;
const DRAIN_TIMEOUT_MS = 30_000;

/** Send times of one typist's keystrokes, by Yjs clock. */
export type SendTimes = number[];

/** Keystrokes sent inside [start, end) are sampled. */
export interface Window {
  start: number;
  end: number;
}

/** A client of one document that records, into `samples`, when each keystroke of the document's typists reached it. */
export class Peer {
  readonly doc = new Y.Doc();
  readonly provider: HocuspocusProvider;
  readonly text = this.doc.getText('text');
  /** Per typist of the document (their client id): the clock this peer has received up to. */
  private readonly received = new Map<number, number>();

  constructor(url: string, name: string, token: string, typists: ReadonlyMap<number, SendTimes>, window: Window, samples: number[]) {
    this.provider = new HocuspocusProvider({ url, name, token, document: this.doc });
    this.doc.on('update', () => {
      const now = performance.now();
      for (const [client, sent] of typists) {
        if (client === this.doc.clientID) continue;
        const from = this.received.get(client) ?? 0;
        const to = Y.getState(this.doc.store, client);
        if (to <= from) continue;
        this.received.set(client, to);
        for (let clock = from; clock < to; clock++) {
          const at = sent[clock];
          if (at !== undefined && at >= window.start && at < window.end) samples.push(now - at);
        }
      }
    });
  }

  /** Whether every keystroke of every other typist has arrived. */
  caughtUp(typists: ReadonlyMap<number, SendTimes>): boolean {
    for (const [client, sent] of typists) {
      if (client !== this.doc.clientID && Y.getState(this.doc.store, client) < sent.length) return false;
    }
    return true;
  }

  destroy(): void {
    this.provider.destroy();
    this.doc.destroy();
  }
}

export interface TypingTeamsOptions {
  readonly documents: number;
  readonly typists: number;
  readonly viewers: number;
  readonly perSecond: number;
  readonly measureMs: number;
  readonly rounds: number;
}

export function typingTeams(options: TypingTeamsOptions): Scenario {
  const { documents, typists, viewers, perSecond, measureMs, rounds } = options;
  const people = documents * typists;
  return {
    key: 'typing-teams',
    label: `Typing teams: ${people} typists, ${documents} documents`,
    meaning:
      `${people} people type ${perSecond} keystrokes a second, spread over ${documents} documents that ${viewers} more people each watch: ` +
      'how long a keystroke takes to reach everyone else on its document (p50 and p99 over every keystroke and receiver)',
    rounds,
    metrics: [
      { key: 'p50Ms', label: 'delivery p50', unit: 'ms', better: 'lower', goal: 1, digits: 1 },
      { key: 'p99Ms', label: 'delivery p99', unit: 'ms', better: 'lower', goal: 1, digits: 1 },
      { key: 'serverCores', label: 'server CPU', unit: 'cores', better: 'lower', digits: 2 },
    ],
    async run({ server, token, prefix }) {
      const window: Window = { start: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY };
      const samples: number[] = [];
      const teams: Array<{ typists: Peer[]; everyone: Peer[]; sent: Map<number, SendTimes> }> = [];
      try {
        for (let d = 0; d < documents; d++) {
          const name = `${prefix}-${d}`;
          const sent = new Map<number, SendTimes>();
          const everyone: Peer[] = [];
          for (let i = 0; i < typists + viewers; i++) everyone.push(new Peer(server.syncUrl, name, token, sent, window, samples));
          const team = everyone.slice(0, typists);
          for (const typist of team) sent.set(typist.doc.clientID, []);
          teams.push({ typists: team, everyone, sent });
        }
        const all = teams.flatMap((team) => team.everyone);
        await waitUntil(() => all.every((peer) => peer.provider.isSynced), CONNECT_TIMEOUT_MS, () => 'typing teams: clients not synced');
        await settle(server);

        const intervalMs = 1000 / perSecond;
        const typing = teams.flatMap((team) => team.typists.map((peer) => ({ peer, sent: team.sent.get(peer.doc.clientID)! })));
        const startedAt = performance.now();
        const next = typing.map((_, i) => startedAt + (intervalMs * i) / typing.length);
        const tick = () => {
          const now = performance.now();
          typing.forEach(({ peer, sent }, i) => {
            while (next[i]! <= now) {
              sent.push(performance.now());
              peer.text.insert(peer.text.length, 'x');
              next[i]! += intervalMs;
            }
          });
        };
        const timer = setInterval(tick, 2);
        await sleep(WARMUP_MS);
        const cpuBefore = server.cpuSeconds();
        window.start = performance.now();
        await sleep(measureMs);
        window.end = performance.now();
        const serverCores = (server.cpuSeconds() - cpuBefore) / ((window.end - window.start) / 1000);
        clearInterval(timer);
        await waitUntil(
          () => teams.every((team) => team.everyone.every((peer) => peer.caughtUp(team.sent))),
          DRAIN_TIMEOUT_MS,
          () => 'typing teams: keystrokes still missing after the typing stopped',
        );
        const sorted = Float64Array.from(samples).sort();
        return { p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99), serverCores, samples: sorted.length };
      } finally {
        for (const team of teams) for (const peer of team.everyone) peer.destroy();
      }
    },
  };
}
