/**
 * `npm run bench`: Concord's storage benchmark against stock Hocuspocus, in one run on one machine (issue 3,
 * point 7). For each system: acknowledged edits per second and acknowledgement latency at 1, 10 and 100 writers,
 * then the cold load and bytes on disk of a document of 100 000 single-character edits. Prints the tables and
 * writes them to test/bench/RESULTS.md. Not part of `npm test`.
 *
 * Settings (environment): BENCH_SYSTEMS (keys, comma-separated: concord-leveldb, concord-postgres, stock),
 * BENCH_WRITERS (default 1,10,100), BENCH_WINDOW (edits in flight per saturating writer, 64), BENCH_TYPING_RATE
 * (characters/s per typing writer, 20), BENCH_WARMUP_MS (1000), BENCH_MEASURE_MS (typing points, 4000),
 * BENCH_SATURATED_MEASURE_MS (3000), BENCH_ROUNDS (saturation rounds, 3), BENCH_BAR_ROUNDS (saturation rounds at
 * 10 writers, the bar, 9), BENCH_COLD_EDITS (100000),
 * BENCH_COLD_RUNS (3), BENCH_QUIET_BUDGET_MS (90000: total wait for a quiet machine),
 * BENCH_OUT (results file), BENCH_CPU_PROF (directory for server CPU profiles), DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { buildDocument, coldLoad } from './coldLoad.ts';
import { databaseUrl } from './postgres.ts';
import { probeDisk } from './disk.ts';
import { BAR_WRITERS, renderReport, type ColdResult, type Machine, type RunSettings, type SystemResult } from './report.ts';
import { QUIET_CORES, waitForQuiet, type ServerProcess } from './processes.ts';
import { mintToken, SYSTEMS, type Storage, type System } from './systems.ts';
import { measurePoint, type Drive, type PointResult, type Timing } from './workload.ts';
import { connectWriters } from './writers.ts';

const env = process.env;
const numberSetting = (name: string, fallback: number) => {
  const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number; got ${JSON.stringify(env[name])}`);
  return value;
};

const settings: RunSettings = {
  writerCounts: (env.BENCH_WRITERS ?? '1,10,100').split(',').map(Number),
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
const timing: Timing = { warmupMs: settings.warmupMs, measureMs: settings.measureMs, drainTimeoutMs: 60_000 };
const outFile = env.BENCH_OUT || fileURLToPath(new URL('./RESULTS.md', import.meta.url));
const log = (line: string) => console.error(`[bench] ${line}`);
/** How long, in all, the run may wait for other programs to quiet down before its points. */
const quietBudget = { leftMs: numberSetting('BENCH_QUIET_BUDGET_MS', 90_000) };

async function quietly(servers: readonly ServerProcess[]): Promise<void> {
  const cores = await waitForQuiet(servers, quietBudget);
  if (cores >= QUIET_CORES) log(`other programs are using ${cores.toFixed(2)} cores; measuring anyway (quiet budget left: ${Math.round(quietBudget.leftMs / 1000)} s)`);
}

interface Running {
  readonly system: System;
  readonly storage: Storage;
  readonly server: ServerProcess;
  readonly points: PointResult[];
  readonly problems: string[];
}

/**
 * Every system's server at once; the points alternate between systems, so background noise hits all alike. Typing
 * is measured once; saturation in several rounds spread over the run (capacity varies from minute to minute on a
 * shared two-core machine), on fresh documents each round. Each round runs the systems back to back, starting with
 * a different one each time, so a round's figures compare systems under the same conditions; the bar's point
 * (10 writers) gets more rounds than the others.
 */
async function throughputAndLatency(running: readonly Running[]): Promise<void> {
  const token = await mintToken();
  const roundsFor = (count: number) => (count === BAR_WRITERS ? Math.max(settings.rounds, settings.barRounds) : settings.rounds);
  const lastRound = Math.max(...settings.writerCounts.map(roundsFor));
  for (let round = 1; round <= lastRound; round++) {
    const order = running.map((_, i) => running[(i + round - 1) % running.length]!);
    for (const count of settings.writerCounts) {
      if (round > roundsFor(count)) continue;
      for (const { system, server, points, problems } of order) {
        let writers;
        try {
          writers = await connectWriters(server.syncUrl, token, `load-${count}w-r${round}`, count);
        } catch (error) {
          problems.push(`${count} writers, round ${round}: ${(error as Error).message}`);
          continue;
        }
        try {
          const drives: Drive[] = [{ kind: 'window', window: settings.window }];
          if (round === 1) drives.unshift({ kind: 'rate', perSecond: settings.typingPerSecond });
          for (const drive of drives) {
            await quietly(running.map((entry) => entry.server));
            const measureMs = drive.kind === 'rate' ? settings.measureMs : settings.saturatedMeasureMs;
            const result = await measurePoint(writers, drive, { ...timing, measureMs }, server, round);
            if (result.error) problems.push(`${count} writers, ${drive.kind}, round ${round}: ${result.error}`);
            points.push(result);
            log(
              `${system.key} ${count} writers ${drive.kind} (round ${round}): ${Math.round(result.ackedPerSecond)} acked/s, p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms; cores: server ${result.serverCores.toFixed(2)}, client ${result.clientCores.toFixed(2)}, postgres ${result.postgresCores.toFixed(2)}, other ${result.otherCores.toFixed(2)}`,
            );
          }
        } finally {
          for (const writer of writers) writer.destroy();
        }
      }
    }
  }
}

async function coldLoadAndDisk(system: System): Promise<ColdResult> {
  const storage = await system.createStorage('cold');
  try {
    const token = await mintToken();
    const name = 'cold-doc';
    const builder = await storage.start();
    let built;
    try {
      built = await buildDocument(builder.syncUrl, token, name, { edits: settings.coldEdits, window: settings.window });
    } finally {
      await builder.stop();
    }
    log(`${system.key} built ${settings.coldEdits} edits in ${built.seconds.toFixed(1)} s`);
    const bytesOnDisk = await storage.bytesOnDisk();
    const loadMs: number[] = [];
    for (let run = 0; run < settings.coldRuns; run++) {
      const server = await storage.start();
      try {
        await quietly([server]);
        loadMs.push(await coldLoad(server.syncUrl, token, name, built.text));
      } finally {
        await server.stop();
      }
    }
    const bytesAtRest = await storage.bytesAtRest();
    log(`${system.key} cold loads: ${loadMs.map((t) => t.toFixed(0)).join(', ')} ms; ${bytesOnDisk} bytes on disk, ${bytesAtRest} at rest`);
    return { buildSeconds: built.seconds, loadMs, bytesOnDisk, bytesAtRest, encodedBytes: built.encodedBytes, where: storage.where };
  } finally {
    await storage.dispose();
  }
}

/** Starts a system's server on fresh storage, or says why it cannot run. */
async function startSystem(system: System): Promise<Running | SystemResult> {
  const skipped = await system.unavailable();
  if (skipped) return { system, skipped, points: [], problems: [] };
  const storage = await system.createStorage('load');
  try {
    return { system, storage, server: await storage.start(), points: [], problems: [] };
  } catch (error) {
    await storage.dispose();
    // A server that cannot start at all (e.g. its storage has not landed yet) makes the whole row a skip.
    return { system, skipped: (error as Error).message.replace(/\s+/g, ' ').slice(0, 300), points: [], problems: [] };
  }
}

async function stopSystem({ system, storage, server, problems }: Running): Promise<void> {
  try {
    await server.stop();
  } catch (error) {
    problems.push(`stop: ${(error as Error).message}`);
  }
  await storage.dispose();
  log(`${system.key} stopped`);
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
  return `@hocuspocus/server ${of('@hocuspocus/server')}, @hocuspocus/provider ${of('@hocuspocus/provider')}, yjs ${of('yjs')}`;
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
  const started = await Promise.all(systems.map(startSystem));
  const running = started.filter((entry): entry is Running => 'server' in entry);
  for (const entry of started) if (!('server' in entry)) log(`${entry.system.key} skipped: ${entry.skipped}`);
  try {
    await throughputAndLatency(running);
  } finally {
    for (const entry of running) await stopSystem(entry);
  }
  const results: SystemResult[] = [];
  for (const entry of started) {
    if (!('server' in entry)) {
      results.push(entry);
      continue;
    }
    const { system, points, problems } = entry;
    let cold: ColdResult | undefined;
    try {
      cold = await coldLoadAndDisk(system);
    } catch (error) {
      problems.push(`cold load: ${(error as Error).message}`);
    }
    results.push({ system, points, problems, ...(cold ? { cold } : {}) });
  }
  const report = renderReport(results, settings, machine, (performance.now() - startedAt) / 1000);
  console.log(report);
  await writeFile(outFile, report);
  log(`written to ${outFile}`);
}

await main();
