/**
 * `npm run bench`: what users feel, Concord against stock Hocuspocus 4 in one run on one machine. Each row is a
 * scenario (fan-out to many viewers, typing teams, idle sockets, cursors, many documents, one saturating writer, cold
 * load, and across two instances joined by Redis: the hop and fan-out), measured in paired rounds against the stock
 * peer, and printed with Concord's ratio beside each figure; the tables go to test/bench/RESULTS.md. Not part of
 * `npm test`.
 *
 * Settings (environment): BENCH_SYSTEMS (keys, comma-separated: concord-leveldb, concord-postgres, stock),
 * BENCH_SECTIONS (scenarios, throughput, cold: all by default), BENCH_SCENARIOS (fanout, typing, idle, cursors, many, views, hop, http; hop-fanout: the cross-instance fan-out rows alone),
 * BENCH_VIEW_DOCUMENTS (documents of the live views row, 1000), BENCH_HTTP_MS (typing time of the HTTP fallback row, 10000),
 * BENCH_FANOUT (viewers, default 100,500,1000), BENCH_SCENARIO_ROUNDS (3), BENCH_IDLE_SOCKETS (5000),
 * BENCH_CURSOR_PEOPLE (300), BENCH_MANY_SOCKETS (1000, 10 documents each), BENCH_TYPING_MS (10000), BENCH_HOP_MS (10000),
 * BENCH_HOP_FANOUT (viewers of the cross-instance fan-out rows, default 100,500),
 * BENCH_REDIS_FANOUT (viewers of the fan-out row with Redis on, one instance, default 500), BENCH_WRITERS (default 1,10),
 * BENCH_WINDOW (edits in flight per saturating writer, 64), BENCH_TYPING_RATE (characters/s per typing writer, 20), BENCH_WARMUP_MS (1000),
 * BENCH_MEASURE_MS (typing points, 4000), BENCH_SATURATED_MEASURE_MS (3000), BENCH_ROUNDS (saturation rounds, 3),
 * BENCH_BAR_ROUNDS (saturation rounds at 10 writers, issue 3's bar, 9), BENCH_COLD_EDITS (100000), BENCH_COLD_RUNS (3),
 * BENCH_QUIET_BUDGET_MS (120000: total wait for a quiet machine), BENCH_OUT (results file), BENCH_NODE_FLAGS (Node flags for every server, Concord's and stock's), BENCH_CPU_PROF (directory
 * for server CPU profiles), BENCH_SERVER_LOG (directory for each server's output that is not JSON, e.g. `--trace-gc`'s, by pid), BENCH_PERF (directory for
 * `perf record` samples of each instance of a cluster fan-out round over its burst),
 * DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { CLUSTER_SYSTEMS } from './clusterSystems.ts';
import { clusterFanOut } from './clusterFanout.ts';
import { cursors } from './cursors.ts';
import { probeDisk } from './disk.ts';
import { fanOut } from './fanout.ts';
import { hop } from './hop.ts';
import { httpFallback } from './httpFallback.ts';
import { idleConnections } from './idle.ts';
import { manyDocuments } from './manyDocuments.ts';
import { databaseUrl } from './postgres.ts';
import { QUIET_CORES, waitForQuiet, type ServerProcess } from './processes.ts';
import { renderReport, type ColdResult, type Machine, type RunSettings, type SystemResult } from './report.ts';
import { redisVersion } from './redis.ts';
import { pairOf, runScenario, withRedis, type Scenario, type ScenarioResult } from './scenario.ts';
import { coldLoadAndDisk, startSystem, stopSystem, throughputAndLatency, type Running, type StorageRowsContext } from './storageRows.ts';
import { mintToken, SYSTEMS, type System } from './systems.ts';
import { typingTeams } from './typingTeams.ts';
import { liveViews } from './views.ts';

const env = process.env;
const numberSetting = (name: string, fallback: number) => {
  const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number; got ${JSON.stringify(env[name])}`);
  return value;
};
const listSetting = (name: string, fallback: string) => (env[name] || fallback).split(',').map((item) => item.trim()).filter(Boolean);

const settings: RunSettings = {
  writerCounts: listSetting('BENCH_WRITERS', '1,10').map(Number),
  window: numberSetting('BENCH_WINDOW', 64),
  typingPerSecond: numberSetting('BENCH_TYPING_RATE', 20),
  warmupMs: numberSetting('BENCH_WARMUP_MS', 1000),
  measureMs: numberSetting('BENCH_MEASURE_MS', 4000),
  saturatedMeasureMs: numberSetting('BENCH_SATURATED_MEASURE_MS', 3000),
  rounds: numberSetting('BENCH_ROUNDS', 3),
  barRounds: numberSetting('BENCH_BAR_ROUNDS', 9),
  coldEdits: numberSetting('BENCH_COLD_EDITS', 100_000),
  coldRuns: numberSetting('BENCH_COLD_RUNS', 3),
};
const sections = new Set(listSetting('BENCH_SECTIONS', 'scenarios,throughput,cold'));
const scenarioRounds = numberSetting('BENCH_SCENARIO_ROUNDS', 3);
const scenarioKinds = new Set(listSetting('BENCH_SCENARIOS', 'fanout,typing,idle,cursors,many,views,hop,http'));
const outFile = env.BENCH_OUT || fileURLToPath(new URL('./RESULTS.md', import.meta.url));
const log = (line: string) => console.error(`[bench] ${line}`);
/** How long, in all, the run may wait for other programs to quiet down before its points. */
const quietBudget = { leftMs: numberSetting('BENCH_QUIET_BUDGET_MS', 120_000) };

async function quietly(servers: readonly ServerProcess[]): Promise<void> {
  const cores = await waitForQuiet(servers, quietBudget);
  if (cores >= QUIET_CORES) log(`other programs are using ${cores.toFixed(2)} cores; measuring anyway (quiet budget left: ${Math.round(quietBudget.leftMs / 1000)} s)`);
}

/** The scenarios of this run, in the order they run. */
function scenarios(): Scenario[] {
  const list: Scenario[] = [];
  if (scenarioKinds.has('fanout')) for (const viewers of listSetting('BENCH_FANOUT', '100,500,1000').map(Number)) list.push(fanOut(viewers, scenarioRounds));
  if (scenarioKinds.has('typing')) {
    list.push(typingTeams({ documents: 10, typists: 10, viewers: 10, perSecond: 5, measureMs: numberSetting('BENCH_TYPING_MS', 10_000), rounds: scenarioRounds }));
  }
  if (scenarioKinds.has('idle')) list.push(idleConnections({ sockets: numberSetting('BENCH_IDLE_SOCKETS', 5000), documents: 50, rounds: scenarioRounds }));
  if (scenarioKinds.has('cursors')) list.push(cursors({ people: numberSetting('BENCH_CURSOR_PEOPLE', 300), perSecond: 10, measureMs: 5000, rounds: scenarioRounds }));
  if (scenarioKinds.has('many')) list.push(manyDocuments({ sockets: numberSetting('BENCH_MANY_SOCKETS', 1000), perSocket: 10, rounds: scenarioRounds }));
  if (scenarioKinds.has('views')) {
    list.push(liveViews({ documents: numberSetting('BENCH_VIEW_DOCUMENTS', 1000), tasks: 20, changes: 50, rounds: scenarioRounds }));
  }
  const clusterFanOuts = listSetting('BENCH_HOP_FANOUT', '100,500').map((viewers) => clusterFanOut(Number(viewers), scenarioRounds));
  if (scenarioKinds.has('hop')) {
    list.push(hop({ documents: 10, viewers: 2, perSecond: 5, measureMs: numberSetting('BENCH_HOP_MS', 10_000), rounds: scenarioRounds }));
    list.push(...clusterFanOuts);
    list.push(withRedis(fanOut(numberSetting('BENCH_REDIS_FANOUT', 500), scenarioRounds)));
    list.push(withRedis(typingTeams({ documents: 10, typists: 10, viewers: 10, perSecond: 5, measureMs: numberSetting('BENCH_TYPING_MS', 10_000), rounds: scenarioRounds })));
  } else if (scenarioKinds.has('hop-fanout')) {
    list.push(...clusterFanOuts);
  }
  if (scenarioKinds.has('http')) {
    list.push(httpFallback({ documents: 10, perSecond: 5, measureMs: numberSetting('BENCH_HTTP_MS', 10_000), rounds: scenarioRounds }));
  }
  return list;
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${rows[0]?.server_version.split(' ')[0]}`;
  } catch {
    return 'PostgreSQL unreachable';
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The installed version of `name` (from the package.json above its entry point: not every package exports it). */
function versionOf(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version: string };
      if (manifest.name === name) return manifest.version;
    } catch {
      // no package.json here: keep climbing
    }
    if (dirname(dir) === dir) return 'unknown';
    dir = dirname(dir);
  }
}

function versions(): string {
  const of = versionOf;
  return (
    `@hocuspocus/server ${of('@hocuspocus/server')}, @hocuspocus/provider ${of('@hocuspocus/provider')}, ` +
    `@hocuspocus/extension-redis ${of('@hocuspocus/extension-redis')}, yjs ${of('yjs')}, redis-server ${redisVersion()}`
  );
}

function os(): string {
  try {
    return execFileSync('sh', ['-c', '. /etc/os-release && echo "$PRETTY_NAME"'], { encoding: 'utf8' }).trim() + `, Linux ${release()}`;
  } catch {
    return `Linux ${release()}`;
  }
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const wanted = env.BENCH_SYSTEMS?.split(',').map((key) => key.trim());
  const systems = SYSTEMS.filter((system) => !wanted || wanted.includes(system.key));
  const machine: Machine = {
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    os: os(),
    postgres: await postgresVersion(),
    date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    versions: versions(),
    disk: await probeDisk(),
  };
  log(`disk: fdatasync p50 ${machine.disk.p50Ms.toFixed(2)} ms, p99 ${machine.disk.p99Ms.toFixed(1)} ms, max ${machine.disk.maxMs.toFixed(0)} ms`);
  log(`Node ${machine.node}, ${machine.cpus} CPUs; systems: ${systems.map((s) => s.key).join(', ')}`);
  const context: StorageRowsContext = { settings, timing: { warmupMs: settings.warmupMs, measureMs: settings.measureMs, drainTimeoutMs: 60_000 }, log, quietly };

  // Throughput, latency, cold load and disk on every storage.
  const started = sections.has('throughput') ? await Promise.all(systems.map(startSystem)) : systems.map((system) => ({ system, points: [], problems: [] }) as SystemResult);
  const running = started.filter((entry): entry is Running => 'server' in entry);
  for (const entry of started) if ('skipped' in entry && entry.skipped) log(`${entry.system.key} skipped: ${entry.skipped}`);
  try {
    await throughputAndLatency(running, context);
  } finally {
    for (const entry of running) await stopSystem(entry, log);
  }
  const results: SystemResult[] = [];
  for (const entry of started) {
    if ('skipped' in entry && entry.skipped) {
      results.push(entry);
      continue;
    }
    const { system, points } = entry;
    const problems = [...entry.problems];
    let cold: ColdResult | undefined;
    if (sections.has('cold') && !(await system.unavailable())) {
      try {
        cold = await coldLoadAndDisk(system, context);
      } catch (error) {
        problems.push(`cold load: ${(error as Error).message}`);
      }
    }
    results.push({ system, points, problems, ...(cold ? { cold } : {}) });
  }
  // Scenarios: each pairs two systems (Concord as it ships, LevelDB, against stock; the cross-instance rows a Concord
  // cluster against stock on extension-redis), each round on fresh servers. After the storage rows: those are measured
  // by writers in this process, which the scenarios' thousands of clients would leave with a heap to sweep.
  // BENCH_SYSTEMS chooses among SYSTEMS; the cluster systems run whenever a scenario that pairs them is chosen.
  const scenarioResults: ScenarioResult[] = [];
  if (sections.has('scenarios')) {
    const available = new Map<string, System | undefined>();
    const usable = async (key: string) => {
      if (!available.has(key)) {
        const system = [...systems, ...CLUSTER_SYSTEMS].find((s) => s.key === key);
        const skipped = system ? await system.unavailable() : 'not among BENCH_SYSTEMS';
        if (skipped) log(`${key} skipped in the scenarios: ${skipped}`);
        available.set(key, skipped ? undefined : system);
      }
      return available.get(key);
    };
    for (const scenario of scenarios()) {
      const paired = [];
      for (const key of pairOf(scenario)) {
        const system = await usable(key);
        if (system) paired.push(system);
      }
      scenarioResults.push(await runScenario(scenario, { systems: paired, mintToken, log, quietly }));
    }
  }

  const report = renderReport(results, scenarioResults, settings, machine, (performance.now() - startedAt) / 1000);
  console.log(report);
  await writeFile(outFile, report);
  log(`written to ${outFile}`);
}

await main();
