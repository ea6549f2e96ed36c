/**
 * The benchmark's output: one summary table (systems × measurements, each with its ratio to stock Hocuspocus),
 * the detail behind it (every point, with CPU use), the cold-load table, the machine, and the issue's bar.
 */
import type { DiskProbe } from './disk.ts';
import type { System } from './systems.ts';
import type { PointResult } from './workload.ts';

export interface ColdResult {
  readonly buildSeconds: number;
  readonly loadMs: readonly number[];
  readonly bytesOnDisk: number;
  readonly bytesAtRest: number;
  readonly encodedBytes: number;
  readonly where: string;
}

export interface SystemResult {
  readonly system: System;
  /** Why the system did not run at all. */
  readonly skipped?: string;
  readonly points: readonly PointResult[];
  readonly cold?: ColdResult;
  /** Problems met on the way (a point or the cold load failed). */
  readonly problems: readonly string[];
}

export interface RunSettings {
  readonly writerCounts: readonly number[];
  readonly window: number;
  readonly typingPerSecond: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly saturatedMeasureMs: number;
  readonly rounds: number;
  readonly barRounds: number;
  readonly coldEdits: number;
  readonly coldRuns: number;
}

export interface Machine {
  readonly node: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly os: string;
  readonly postgres: string;
  readonly date: string;
  readonly versions: string;
  readonly disk: DiskProbe;
}

/** The issue's bar is set at this many writers. */
export const BAR_WRITERS = 10;

/** A point measured while other programs used this much CPU is marked noisy. */
const NOISY_CORES = 0.3;
const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : integer.format(value));
const cores = (value: number) => (Number.isNaN(value) ? 'n/a' : value.toFixed(2));

function bytes(value: number): string {
  if (value < 1024) return `${value} B`;
  if (value < 1024 * 1024) return `${(value / 1024).toFixed(1)} KiB`;
  return `${(value / 1024 / 1024).toFixed(2)} MiB`;
}

function ratio(value: number, stock: number | undefined): string {
  if (stock === undefined || !Number.isFinite(value) || !Number.isFinite(stock) || stock === 0) return '';
  return ` (${value / stock >= 10 ? (value / stock).toFixed(0) : (value / stock).toFixed(2)}×)`;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Every round of one point, slowest first. */
function rounds(result: SystemResult, kind: 'window' | 'rate', writers: number): PointResult[] {
  return result.points.filter((p) => p.drive.kind === kind && p.writers === writers).sort((a, b) => a.ackedPerSecond - b.ackedPerSecond);
}

/** The round with the median throughput (the lower middle one of an even count). */
function point(result: SystemResult, kind: 'window' | 'rate', writers: number): PointResult | undefined {
  const all = rounds(result, kind, writers);
  return all[Math.floor((all.length - 1) / 2)];
}

/**
 * Throughput relative to stock, round by round: a round runs every system back to back, so its ratio compares them
 * under the same conditions, while the machine's speed drifts between rounds (±25 % here). Undefined without rounds
 * in common.
 */
function pairedRatios(result: SystemResult, stock: SystemResult, writers: number): number[] {
  const stockRounds = new Map(rounds(stock, 'window', writers).map((p) => [p.round, p.ackedPerSecond]));
  return rounds(result, 'window', writers)
    .filter((p) => stockRounds.has(p.round) && !p.error)
    .sort((a, b) => a.round - b.round)
    .map((p) => p.ackedPerSecond / stockRounds.get(p.round)!);
}

function times(value: number): string {
  return `${value >= 10 ? value.toFixed(0) : value.toFixed(2)}×`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function summary(results: readonly SystemResult[], settings: RunSettings): string {
  const stock = results.find((r) => r.system.key === 'stock' && !r.skipped);
  const header = [
    'System',
    ...settings.writerCounts.map((n) => `acked edits/s, ${n} writer${n === 1 ? '' : 's'} (saturated)`),
    ...settings.writerCounts.map((n) => `ack p50 / p99 ms, ${n} typing`),
    `cold load, ${integer.format(settings.coldEdits)} edits`,
    'bytes on disk',
  ];
  const rows = results.map((result) => {
    const name = result.system.label;
    if (result.skipped) return [name, `skipped: ${result.skipped}`, ...header.slice(2).map(() => '')];
    const isStock = result === stock;
    const rel = (value: number, of: number | undefined) => (isStock ? '' : ratio(value, of));
    const throughput = settings.writerCounts.map((n) => {
      const p = point(result, 'window', n);
      const paired = !isStock && stock ? median(pairedRatios(result, stock, n)) : Number.NaN;
      return p ? `${integer.format(p.ackedPerSecond)}${Number.isNaN(paired) ? '' : ` (${times(paired)})`}` : 'failed';
    });
    const latency = settings.writerCounts.map((n) => {
      const p = point(result, 'rate', n);
      const s = stock && point(stock, 'rate', n);
      return p ? `${ms(p.p50Ms)}${rel(p.p50Ms, s?.p50Ms)} / ${ms(p.p99Ms)}${rel(p.p99Ms, s?.p99Ms)}` : 'failed';
    });
    const cold = result.cold;
    const load = cold ? `${ms(median(cold.loadMs))} ms${rel(median(cold.loadMs), stock?.cold && median(stock.cold.loadMs))}` : 'failed';
    const disk = cold ? `${bytes(cold.bytesOnDisk)}${rel(cold.bytesOnDisk, stock?.cold?.bytesOnDisk)}` : 'failed';
    return [name, ...throughput, ...latency, load, disk];
  });
  return table(header, rows);
}

function details(results: readonly SystemResult[], settings: RunSettings): string {
  const header = ['System', 'writers', 'workload', 'acked edits/s (median; every round in order)', 'p50 ms', 'p99 ms', 'max ms', 'server µs CPU / edit', 'server cores', 'client cores', 'PostgreSQL cores', 'other cores'];
  const rows: string[][] = [];
  for (const result of results) {
    for (const kind of ['rate', 'window'] as const) {
      for (const writers of settings.writerCounts) {
        const p = point(result, kind, writers);
        if (!p) continue;
        const all = rounds(result, kind, writers);
        const workload = p.drive.kind === 'window' ? `saturated (${p.drive.window} in flight each)` : `typing ${p.drive.perSecond}/s each`;
        const errors = all.flatMap((r) => (r.error ? [r.error] : []));
        rows.push([
          result.system.label,
          String(writers),
          workload + (errors.length ? ` — ${errors.join('; ')}` : ''),
          integer.format(p.ackedPerSecond) + (all.length > 1 ? ` (${[...all].sort((a, b) => a.round - b.round).map((r) => integer.format(r.ackedPerSecond)).join(' · ')})` : ''),
          ms(p.p50Ms),
          ms(p.p99Ms),
          ms(p.maxMs),
          integer.format((p.serverCores / p.ackedPerSecond) * 1e6),
          cores(p.serverCores),
          cores(p.clientCores),
          cores(p.postgresCores),
          p.otherCores >= NOISY_CORES ? `**${cores(p.otherCores)}** (noisy)` : cores(p.otherCores),
        ]);
      }
    }
  }
  return table(header, rows);
}

function coldTable(results: readonly SystemResult[]): string {
  const header = ['System', 'build (s)', 'cold loads (ms)', 'encoded document', 'bytes on disk as written', 'at rest', 'at rest / document', 'measured'];
  const rows = results
    .filter((r) => r.cold)
    .map((r) => {
      const c = r.cold!;
      return [
        r.system.label,
        c.buildSeconds.toFixed(1),
        c.loadMs.map(ms).join(', '),
        bytes(c.encodedBytes),
        `${bytes(c.bytesOnDisk)} (${(c.bytesOnDisk / c.encodedBytes).toFixed(1)}×)`,
        bytes(c.bytesAtRest),
        `${(c.bytesAtRest / c.encodedBytes).toFixed(1)}×`,
        c.where,
      ];
    });
  return table(header, rows);
}

/** Whether Concord's durable throughput at 10 writers reaches stock's in-memory one (the issue's bar). */
function bar(results: readonly SystemResult[]): string {
  const stock = results.find((r) => r.system.key === 'stock' && !r.skipped);
  if (!stock || !point(stock, 'window', BAR_WRITERS)) return `- The bar (${BAR_WRITERS} writers, Concord ≥ stock) could not be checked: no stock figure at ${BAR_WRITERS} writers.`;
  return results
    .filter((r) => r !== stock)
    .map((r) => {
      const ratios = pairedRatios(r, stock, BAR_WRITERS);
      if (r.skipped || ratios.length === 0) return `- ${r.system.label}: not measured${r.skipped ? ` (${r.skipped})` : ''}.`;
      const middle = median(ratios);
      const verdict = middle >= 1 ? 'meets the bar' : 'does NOT meet the bar';
      const won = ratios.filter((x) => x >= 1).length;
      return `- ${r.system.label}: ${times(middle)} stock's throughput at ${BAR_WRITERS} writers (median of ${ratios.length} rounds: ${ratios.map(times).join(' · ')}; ahead in ${won} of ${ratios.length}): ${verdict}.`;
    })
    .join('\n');
}

export function renderReport(results: readonly SystemResult[], settings: RunSettings, machine: Machine, runSeconds: number): string {
  const problems = results.flatMap((r) => r.problems.map((p) => `- ${r.system.label}: ${p}`));
  return [
    '# Concord storage benchmark',
    '',
    `Run ${machine.date} by \`npm run bench\` in ${Math.round(runSeconds)} s. Node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.os}, ${machine.postgres}. ${machine.versions}.`,
    '',
    `Disk: a 200-byte write made durable (\`fdatasync\`, ${machine.disk.syncs} probes before the run) takes ${ms(machine.disk.p50Ms)} ms at p50, ${ms(machine.disk.p99Ms)} ms at p99, ${ms(machine.disk.maxMs)} ms at most. Every durable acknowledgement waits for one (shared by a whole group commit), so Concord's p99 under light load follows the disk's tail; stock Hocuspocus acknowledges from memory and does not see it.`,
    '',
    summary(results, settings),
    '',
    'Ratios are to stock Hocuspocus in the same run (throughput: higher is better; latency, load time, bytes: lower is better).',
    '',
    '**What is compared.** Concord acknowledges an edit only once it is durable (LevelDB batch written with `sync`, or a',
    'committed PostgreSQL transaction; group commit). Stock Hocuspocus acknowledges once the edit is applied in memory and',
    'stores the whole document 2–10 s later (Database extension, upsert of the full state), so its acknowledged edits',
    'are not durable. Stock runs without an authentication hook; Concord verifies a JWT per connection. Clients use Node\'s',
    'own WebSocket, which offers permessage-deflate as browsers do: Concord accepts it (frames under 1 KiB go uncompressed),',
    'stock Hocuspocus does not.',
    '',
    '**How.** Each system is its own server process; this process drives stock `HocuspocusProvider` clients, one socket',
    'and one document per writer, every edit a single-character insert in its own update message, sent without waiting',
    'for acknowledgements. Latency is from an edit\'s send to its `SyncStatus` acknowledgement (the provider\'s',
    '`unsyncedChanges` count; servers acknowledge a connection\'s updates in order).',
    `- *Saturated*: each writer keeps ${settings.window} edits unacknowledged and sends the next as one is acknowledged; acked edits/s is capacity.`,
    `  Measured in ${settings.rounds} rounds spread over the run (${Math.max(settings.rounds, settings.barRounds)} at ${BAR_WRITERS} writers), ${settings.saturatedMeasureMs / 1000} s each; a round runs the systems back to back,`,
    '  starting with a different one each round. Tables show the median round (all rounds in the detail); the ratio to stock is',
    "  the median of the rounds' ratios, which cancels the machine's drift between rounds.",
    `- *Typing*: each writer types ${settings.typingPerSecond} characters/s (open loop), writers evenly phased; p50/p99 are what a typist sees`,
    `  (one typist gives only ${Math.round((settings.typingPerSecond * settings.measureMs) / 1000)} samples: its p99 is about its maximum).`,
    `- Each point: ${settings.warmupMs / 1000} s warm-up, then the measured window (typing: ${settings.measureMs / 1000} s), then every edit is waited for.`,
    `- Cold load: a document typed from ${integer.format(settings.coldEdits)} single-character edits (cursor jumps every 5–50 keys) through the`,
    `  server, the server stopped (SIGTERM), then ${settings.coldRuns}× a fresh server process and a fresh client, timed from the client's creation to`,
    '  `synced` (connect, authenticate, load, first sync); the text is checked. Bytes on disk (summary): as written, after the',
    '  build and a graceful stop; "at rest" (cold-load table): after the cold loads, PostgreSQL schemas after `VACUUM FULL`.',
    '',
    '## The bar (issue 3): durable acknowledged-edit throughput at 10 writers ≥ stock in memory',
    '',
    bar(results),
    '',
    '## Every point',
    '',
    details(results, settings),
    '',
    `Server µs CPU / edit: the server process's CPU time (all its threads) per acknowledged edit. Saturated points: every column but the rounds is from the median round. Cores: CPU time in the measured window divided by its length (the machine has 2). PostgreSQL counts every backend on the machine. "Other" is everything else: programs outside the benchmark; at ${NOISY_CORES} cores or more the point is marked noisy (each point first waits, within a budget, for the machine to quiet down).`,
    '',
    '## Cold load and storage',
    '',
    coldTable(results),
    ...(problems.length ? ['', '## Problems', '', ...problems] : []),
    '',
  ].join('\n');
}
