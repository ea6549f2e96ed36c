/**
 * Server processes for the benchmark: each system under test runs in its own Node process (the benchmark's clients
 * get the other core), started with the Node running the benchmark, an environment of only PATH and HOME (no
 * developer `CONCORD_*` variables, no `.env`), and stdout read line by line until the JSON line that says where it
 * listens. Every process started is SIGKILLed if the benchmark exits without stopping it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 30_000;
/** Linux reports process CPU time in clock ticks; USER_HZ is 100 on every mainstream kernel. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ServerProcess {
  readonly pid: number;
  /** WebSocket URL a HocuspocusProvider connects to. */
  readonly syncUrl: string;
  /** CPU seconds (user + system) the process's threads have used so far, to the nanosecond. */
  cpuSeconds(): number;
  /**
   * The part of `cpuSeconds` that V8's worker threads used: the helpers of its garbage collector (a major collection
   * marks and sweeps mostly there) and its optimizing compilers.
   */
  v8WorkerCpuSeconds(): number;
  /** SIGTERM (graceful: every server here stores what it holds), then waits for the exit. */
  stop(): Promise<void>;
}

export interface SpawnOptions {
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Returns the sync URL when `entry` is the "listening" line, else undefined. */
  readonly listening: (entry: Record<string, unknown>) => string | undefined;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** BENCH_SERVER_LOG: a directory where each server process's lines that are not JSON (`--trace-gc`'s) are kept. */
const SERVER_LOG = process.env.BENCH_SERVER_LOG;
/**
 * BENCH_PERF: a directory where `perf record` (Linux perf, call graphs at PERF_HZ) writes what each server of a cluster
 * fan-out round did over its burst's CPU window, one file per server: which thread (`MainThread`, `V8Worker`) spent the
 * time on what. With `BENCH_NODE_FLAGS=--perf-basic-prof` the samples name JavaScript functions. perf slows the servers
 * it records: such a run's figures are not comparable with others.
 */
export const PERF_DIR = process.env.BENCH_PERF;
const PERF_HZ = 4999;

/** Starts `perf record` of process `pid` into `file`; the returned function stops it and resolves once the file is written. */
export function recordPerf(pid: number, file: string): () => Promise<void> {
  const perf = spawn('perf', ['record', '--quiet', '-F', String(PERF_HZ), '-g', '-p', String(pid), '-o', file], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve, reject) => {
    perf.once('error', (error) => reject(new Error(`BENCH_PERF: could not start perf (${error.message}); apt-get install linux-perf`)));
    perf.once('exit', () => resolve());
  });
  exited.catch(() => {}); // reported by the stop that awaits it (the round fails with the reason), not as an unhandled rejection
  return () => {
    perf.kill('SIGINT');
    return exited;
  };
}

/** What Node names the threads of V8's platform (garbage collection helpers, compilers): `/proc/<pid>/task/<tid>/comm`. */
const V8_WORKER_THREAD = 'V8Worker';

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

export async function spawnServer(options: SpawnOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...options.args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  let output = '';
  let partial = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not listen within ${START_TIMEOUT_MS} ms:\n${tail(output)}`)), START_TIMEOUT_MS);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (output += chunk));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          if (SERVER_LOG !== undefined) appendFileSync(`${SERVER_LOG}/${child.pid}.log`, `${Date.now()} ${line}\n`);
          output += `${line}\n`;
          continue;
        }
        if (typeof entry.level === 'number' && entry.level >= 50) output += `${line}\n`;
        const found = options.listening(entry);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`exited (code ${code}, signal ${signal}) before listening: ${tail(output, 5) || 'no output'}`));
    });
  });
  const pid = child.pid ?? -1;
  const threadTimes = new Map<string, number>();
  const workerTimes = new Map<string, number>();
  return {
    pid,
    syncUrl: url,
    cpuSeconds() {
      try {
        return threadCpuSeconds(pid, threadTimes);
      } catch {
        return Number.NaN;
      }
    },
    v8WorkerCpuSeconds() {
      try {
        return threadCpuSeconds(pid, workerTimes, V8_WORKER_THREAD);
      } catch {
        return Number.NaN;
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const { code, signal } = await exited;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`server ${pid} did not stop cleanly (code ${code}, signal ${signal}): ${tail(output, 5)}`);
    },
  };
}

/**
 * CPU seconds of the threads of `pid`, from `/proc/<pid>/task/<tid>/schedstat` (nanoseconds, where `/proc/<pid>/stat`
 * counts 10 ms ticks: too coarse for a burst that costs a server 50 ms). `seen` remembers every thread's last reading,
 * so a thread that ended (the merge worker stops when idle) keeps counting what it used. With `threadName`, only the
 * threads of that name count.
 */
export function threadCpuSeconds(pid: number, seen: Map<string, number>, threadName?: string): number {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (threadName !== undefined && readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== threadName) continue;
      seen.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
    } catch {
      // the thread ended meanwhile: its last reading stands
    }
  }
  let nanoseconds = 0;
  for (const time of seen.values()) nanoseconds += time;
  return nanoseconds / 1e9;
}

function processCpuSeconds(pid: number | string): number {
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/** CPU seconds used so far by each process named `name` (e.g. the PostgreSQL server and its backends), by pid. */
export function cpuSecondsByPid(name: string): Map<string, number> {
  const seconds = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name) seconds.set(pid, processCpuSeconds(pid));
    } catch {
      // the process ended meanwhile
    }
  }
  return seconds;
}

/** CPU seconds used between two `cpuSecondsByPid` readings (a process that ended in between counts for nothing). */
export function cpuSecondsBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** CPU seconds the whole machine (all cores) has been busy, from /proc/stat. */
export function machineBusySeconds(): number {
  const [cpu] = readFileSync('/proc/stat', 'utf8').split('\n');
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const values = (cpu ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return (total - idle) / CLOCK_TICKS_PER_SECOND;
}

const ownCpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

/** Cores busy outside the benchmark (its own process and `ours`) over `ms`. */
export async function foreignCores(ours: readonly ServerProcess[], ms: number): Promise<number> {
  const sample = () => machineBusySeconds() - ownCpuSeconds() - ours.reduce((sum, server) => sum + server.cpuSeconds(), 0);
  const before = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return Math.max(0, (sample() - before) / (ms / 1000));
}

/**
 * The machine has two cores, and other programs may be using them. Waits (within `budget`) until they use less than
 * `QUIET_CORES` for a moment, so a point is not measured against a neighbour's test run; returns what they used last.
 */
export const QUIET_CORES = 0.25;
const QUIET_SAMPLE_MS = 500;
const QUIET_MAX_WAIT_MS = 20_000;

export async function waitForQuiet(ours: readonly ServerProcess[], budget: { leftMs: number }): Promise<number> {
  const startedAt = performance.now();
  for (;;) {
    const cores = await foreignCores(ours, QUIET_SAMPLE_MS);
    const waited = performance.now() - startedAt;
    if (cores < QUIET_CORES || waited > QUIET_MAX_WAIT_MS || waited > budget.leftMs) {
      budget.leftMs = Math.max(0, budget.leftMs - waited);
      return cores;
    }
  }
}
