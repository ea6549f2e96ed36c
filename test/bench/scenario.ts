/**
 * Scenarios: what users of a sync server feel (many viewers of one writer, typing teams, idle sockets, cursors, many
 * documents), each measured against stock Hocuspocus in paired rounds. A round starts a fresh server process of every
 * system back to back (a different one first each round), runs the scenario on it and stops it, so memory figures
 * (peak RSS) belong to that scenario alone and the machine's drift between rounds cancels out in the ratios: each
 * metric's ratio to stock is the median of the rounds' own ratios.
 *
 * A scenario names the two systems it pairs (default: Concord on LevelDB against stock) and how many server instances
 * each runs (default one): the cross-instance rows pair a Concord cluster with stock Hocuspocus on extension-redis,
 * two instances each on one Redis (clusterSystems.ts).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerProcess } from './processes.ts';
import type { System } from './systems.ts';

export interface Metric {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  /** Which way is better for users. */
  readonly better: 'lower' | 'higher';
  /** The goal as a ratio to stock (lower metrics: at most; higher: at least); undefined when the row sets none. */
  readonly goal?: number;
  /** Figures shown with this many decimals (default: 0 from 100 on, 1 from 10, else 2). */
  readonly digits?: number;
}

export interface ScenarioContext {
  /** The system measured in this round (its key). */
  readonly system: string;
  /** The first instance (the only one unless the scenario asks for more). */
  readonly server: ServerProcess;
  /** Every instance of the system, `scenario.instances` of them. */
  readonly servers: readonly ServerProcess[];
  /** The Redis the instances share, for cluster systems. */
  readonly redis?: { cpuSeconds(): number };
  readonly token: string;
  /** Fresh document names for this round and system. */
  readonly prefix: string;
  readonly log: (line: string) => void;
}

export interface Scenario {
  readonly key: string;
  /** The row's name in the table. */
  readonly label: string;
  /** What the figures mean to a user (printed under the table). */
  readonly meaning: string;
  readonly rounds: number;
  readonly metrics: readonly Metric[];
  /** The system measured and the stock peer it is paired with (their keys); default `DEFAULT_PAIR`. */
  readonly systems?: readonly [concord: string, stock: string];
  /** Server instances of each system per round (default 1); more need a system that can start them. */
  readonly instances?: number;
  run(context: ScenarioContext): Promise<Record<string, number>>;
}

export interface RoundResult {
  readonly round: number;
  readonly system: string;
  readonly values: Readonly<Record<string, number>>;
  readonly error?: string;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly rounds: readonly RoundResult[];
}

/** Concord as it ships (LevelDB) against stock Hocuspocus. */
export const DEFAULT_PAIR = ['concord-leveldb', 'stock'] as const;

/** A Concord cluster on PostgreSQL and Redis against stock Hocuspocus on extension-redis (clusterSystems.ts). */
export const REDIS_PAIR = ['concord-cluster', 'stock-redis'] as const;

/**
 * `scenario` on one instance of each cluster system: what turning Redis on costs a server whose documents nobody on
 * another instance has open (the common case behind a balancer that keeps a document's people together).
 */
export function withRedis(scenario: Scenario): Scenario {
  return {
    ...scenario,
    key: `${scenario.key}-redis`,
    label: `${scenario.label}, Redis on (1 instance)`,
    meaning: `${scenario.meaning}; here on one instance of each cluster (Concord on PostgreSQL and Redis, stock on extension-redis), with no other instance running`,
    systems: REDIS_PAIR,
    instances: 1,
  };
}

/** The keys of the systems `scenario` pairs: [Concord's, stock's]. */
export function pairOf(scenario: Scenario): readonly [concord: string, stock: string] {
  return scenario.systems ?? DEFAULT_PAIR;
}

/** A line of /proc/<pid>/status in MiB (VmRSS: now, VmHWM: peak). */
export function processMemoryMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** Polls `condition` every `everyMs` until it holds; throws `message` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs: number, message: () => string, everyMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(message());
    await sleep(everyMs);
  }
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Every round's ratio of `system` to the scenario's stock peer for one metric, in round order. A round whose stock
 * figure is not above zero has no ratio (a difference such as the hop's added latency can come out at or below zero
 * in a noisy round, and dividing by it would say nothing).
 */
export function pairedRatios(result: ScenarioResult, system: string, metric: string): number[] {
  const [, stockKey] = pairOf(result.scenario);
  const stock = new Map(result.rounds.filter((r) => r.system === stockKey && !r.error).map((r) => [r.round, r.values[metric]!]));
  return result.rounds
    .filter((r) => r.system === system && !r.error && stock.has(r.round) && stock.get(r.round)! > 0)
    .map((r) => r.values[metric]! / stock.get(r.round)!)
    .filter((ratio) => Number.isFinite(ratio));
}

/** The median of a system's rounds for one metric. */
export function medianValue(result: ScenarioResult, system: string, metric: string): number {
  return median(result.rounds.filter((r) => r.system === system && !r.error).map((r) => r.values[metric]!));
}

export interface RunOptions {
  readonly systems: readonly System[];
  readonly mintToken: () => Promise<string>;
  readonly log: (line: string) => void;
  /** Waits for a quiet machine before a measurement (given the servers running). */
  readonly quietly: (servers: readonly ServerProcess[]) => Promise<void>;
}

/** Runs `scenario` in paired rounds on fresh servers of every system. */
export async function runScenario(scenario: Scenario, options: RunOptions): Promise<ScenarioResult> {
  const rounds: RoundResult[] = [];
  const { systems, log } = options;
  for (let round = 1; round <= scenario.rounds; round++) {
    const order = systems.map((_, i) => systems[(i + round - 1) % systems.length]!);
    for (const system of order) {
      const storage = await system.createStorage(`${scenario.key}_r${round}`);
      const instances = scenario.instances ?? 1;
      const servers: ServerProcess[] = [];
      try {
        if (instances === 1) servers.push(await storage.start());
        else if (storage.startInstances) servers.push(...(await storage.startInstances(instances)));
        else throw new Error(`${system.key} cannot run ${instances} instances`);
        await options.quietly(servers);
        const context = { system: system.key, server: servers[0]!, servers, ...(storage.redis ? { redis: storage.redis } : {}) };
        const values = await scenario.run({ ...context, token: await options.mintToken(), prefix: `${scenario.key}-r${round}`, log });
        rounds.push({ round, system: system.key, values });
        log(`${scenario.key} round ${round} ${system.key}: ${Object.entries(values).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(2)}`).join(', ')}`);
      } catch (error) {
        const message = (error as Error).message.replace(/\s+/g, ' ').slice(0, 300);
        rounds.push({ round, system: system.key, values: {}, error: message });
        log(`${scenario.key} round ${round} ${system.key} FAILED: ${message}`);
      } finally {
        for (const server of servers) await server.stop().catch((error: Error) => log(`${system.key} did not stop cleanly: ${error.message}`));
        await storage.dispose();
      }
    }
  }
  return { scenario, rounds };
}

/** Waits (at most `timeoutMs`) until the server uses under 5 % of a core over 300 ms: joins and first syncs are done. */
export async function settle(server: ServerProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const before = server.cpuSeconds();
    await sleep(300);
    if ((server.cpuSeconds() - before) / 0.3 < 0.05 || performance.now() > deadline) return;
  }
}

/**
 * Each of `typists` types one key `perSecond` times a second, their keys staggered evenly across the interval, from
 * now until the returned timer is cleared; `type(i)` makes typist i's keystroke.
 */
export function typeAtPace(typists: number, perSecond: number, type: (typist: number) => void): NodeJS.Timeout {
  const intervalMs = 1000 / perSecond;
  const startedAt = performance.now();
  const next = Array.from({ length: typists }, (_, i) => startedAt + (intervalMs * i) / typists);
  return setInterval(() => {
    const now = performance.now();
    for (let i = 0; i < typists; i++) {
      while (next[i]! <= now) {
        type(i);
        next[i]! += intervalMs;
      }
    }
  }, 2);
}
