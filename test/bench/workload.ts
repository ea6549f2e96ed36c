/**
 * One measurement point: writers driven one of two ways, a warm-up, a measured window, then a drain until every
 * edit sent has been acknowledged (so late acknowledgements count in the latencies).
 *
 * - Saturation (`window`): each writer keeps `window` edits unacknowledged, sending the next the moment one is
 *   acknowledged. The server is never idle, so acknowledged edits per second is its capacity; latencies include the
 *   queueing that load causes.
 * - Typing (`rate`): each writer types at a fixed rate (open loop, never slowed by acknowledgements), writers evenly
 *   phased. Latencies are what a user typing at that speed sees.
 *
 * CPU use in the window is recorded for the server process, this (client) process, PostgreSQL, and the rest of the
 * machine (other programs: a busy neighbour makes the point noisy).
 */
import { cpuSecondsBetween, cpuSecondsByPid, machineBusySeconds, type ServerProcess } from './processes.ts';
import { drain, type Recorder, type Writer } from './writers.ts';

export type Drive = { readonly kind: 'window'; readonly window: number } | { readonly kind: 'rate'; readonly perSecond: number };

export interface Timing {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly drainTimeoutMs: number;
}

export interface PointResult {
  readonly round: number;
  readonly writers: number;
  readonly drive: Drive;
  readonly seconds: number;
  readonly acked: number;
  readonly ackedPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly samples: number;
  /** Cores used in the window (1 = one core busy all the time). */
  readonly serverCores: number;
  readonly clientCores: number;
  readonly postgresCores: number;
  /** Everything else on the machine (other programs: noise). */
  readonly otherCores: number;
  /** Set when the drain timed out. */
  readonly error?: string;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function startDriving(writers: readonly Writer[], drive: Drive): () => void {
  if (drive.kind === 'window') {
    let driving = true;
    for (const writer of writers) {
      writer.onAck = () => {
        if (driving && writer.outstanding < drive.window) writer.type();
      };
      while (writer.outstanding < drive.window) writer.type();
    }
    return () => {
      driving = false;
      for (const writer of writers) writer.onAck = undefined;
    };
  }
  const intervalMs = 1000 / drive.perSecond;
  const start = performance.now();
  const next = writers.map((_, i) => start + (intervalMs * i) / writers.length);
  const tick = () => {
    const now = performance.now();
    writers.forEach((writer, i) => {
      while (next[i]! <= now) {
        writer.type();
        next[i]! += intervalMs;
      }
    });
  };
  const timer = setInterval(tick, 1);
  tick();
  return () => clearInterval(timer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function measurePoint(writers: readonly Writer[], drive: Drive, timing: Timing, server: ServerProcess, round: number): Promise<PointResult> {
  const recorder: Recorder = { start: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY, latencies: [], acks: 0 };
  for (const writer of writers) writer.recorder = recorder;
  const stop = startDriving(writers, drive);
  await sleep(timing.warmupMs);

  const before = { server: server.cpuSeconds(), client: process.cpuUsage(), machine: machineBusySeconds(), postgres: cpuSecondsByPid('postgres') };
  recorder.start = performance.now();
  await sleep(timing.measureMs);
  recorder.end = performance.now();
  const seconds = (recorder.end - recorder.start) / 1000;
  const serverCores = (server.cpuSeconds() - before.server) / seconds;
  const client = process.cpuUsage(before.client);
  const clientCores = (client.user + client.system) / 1e6 / seconds;
  const machineCores = (machineBusySeconds() - before.machine) / seconds;
  const postgresCores = cpuSecondsBetween(before.postgres, cpuSecondsByPid('postgres')) / seconds;
  stop();

  let error: string | undefined;
  try {
    await drain(writers, timing.drainTimeoutMs);
  } catch (cause) {
    error = (cause as Error).message;
  }
  for (const writer of writers) writer.recorder = undefined;

  const sorted = Float64Array.from(recorder.latencies).sort();
  return {
    round,
    writers: writers.length,
    drive,
    seconds,
    acked: recorder.acks,
    ackedPerSecond: recorder.acks / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    samples: sorted.length,
    serverCores,
    clientCores,
    postgresCores,
    otherCores: Math.max(0, machineCores - serverCores - clientCores - postgresCores),
    ...(error ? { error } : {}),
  };
}
