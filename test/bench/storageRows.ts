/**
 * The rows measured on every storage, with the servers of all systems running side by side: acknowledged-edit
 * throughput (saturating writers, in paired rounds) and acknowledgement latency (typing writers), then the cold load
 * and bytes on disk of a document built from 100 000 single-character edits (a fresh server process per load).
 */
import { BAR_WRITERS, type ColdResult, type RunSettings, type SystemResult } from './report.ts';
import { buildDocument, coldLoad } from './coldLoad.ts';
import type { ServerProcess } from './processes.ts';
import { mintToken, type Storage, type System } from './systems.ts';
import { measurePoint, type Drive, type PointResult, type Timing } from './workload.ts';
import { connectWriters } from './writers.ts';

export interface StorageRowsContext {
  readonly settings: RunSettings;
  readonly timing: Timing;
  readonly log: (line: string) => void;
  /** Waits for a quiet machine before a measurement (given the servers running). */
  readonly quietly: (servers: readonly ServerProcess[]) => Promise<void>;
}

export interface Running {
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
export async function throughputAndLatency(running: readonly Running[], { settings, timing, log, quietly }: StorageRowsContext): Promise<void> {
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

export async function coldLoadAndDisk(system: System, { settings, log, quietly }: StorageRowsContext): Promise<ColdResult> {
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
    // One load first, not measured: the client side (this process decoding the document) is then warm for every
    // system alike, whichever runs first.
    for (let run = -1; run < settings.coldRuns; run++) {
      const server = await storage.start();
      try {
        await quietly([server]);
        const ms = await coldLoad(server.syncUrl, token, name, built.text);
        if (run >= 0) loadMs.push(ms);
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
export async function startSystem(system: System): Promise<Running | SystemResult> {
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

export async function stopSystem({ system, storage, server, problems }: Running, log: (line: string) => void): Promise<void> {
  try {
    await server.stop();
  } catch (error) {
    problems.push(`stop: ${(error as Error).message}`);
  }
  await storage.dispose();
  log(`${system.key} stopped`);
}

