/**
 * A `kill -9` during compaction loses nothing and leaves a loadable store (issue 3, point 6). The server logs
 * `compacting` (debug) as a compaction starts; the test kills it then, or a seeded few milliseconds later so the
 * kill also lands while the snapshot is being built or written, while a client keeps typing. Rounds share one
 * document, so later compactions start from an earlier snapshot (or run on load, right after the restart).
 * After each kill the stored log is opened as it was left, then the server restarts: a fresh client must see every
 * edit that had been acknowledged, with no hole.
 */
import * as prng from 'lib0/prng';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { describePostgres } from '../support/postgres.js';
import { seededRandom } from '../support/random.js';
import { spawnServer, type ServerProcess } from '../support/serverProcess.js';
import { connectWriter, expectedTags, readSurvivors, TAGS } from '../support/taggedEdits.js';
import { LEVELDB, POSTGRES, type CrashBackend, type CrashStorage } from './harness.js';

/**
 * Extra wait after the `compacting` line, one round per range, a seeded value inside it. A compaction of ~700 padded
 * entries over a document of up to a megabyte takes tens to hundreds of milliseconds here while a client types, so
 * the kills land before, during and after its atomic write.
 */
const KILL_DELAY_RANGES_MS: ReadonlyArray<readonly [number, number]> = [
  [0, 0],
  [1, 40],
  [40, 120],
  [120, 300],
  [300, 600],
  [600, 1200],
];
/**
 * Each edit carries this much padding, so the log reaches the compaction threshold (128 KiB after the snapshot,
 * Compactor) in about 700 edits instead of thousands of bare tags.
 */
const PADDING_BYTES = 160;
/** About 700 entries go into one compaction; a log this short afterwards was compacted. */
const COMPACTED_BELOW_ENTRIES = 300;
/**
 * A round that has not seen a compaction by this many edits fails. A compaction waits for a tail half the snapshot's
 * size, so the document about doubles every round: in two CI runs of December 5 the PostgreSQL rounds typed ~800,
 * 1 700, 3 000, 5 400 and 10 200 edits in all, and the last round then needed 8 000 more in one run and over 8 000
 * (the bound then) in the other. Twice that leaves room.
 */
const MAX_EDITS_PER_ROUND = 16_000;
const MAX_IN_FLIGHT = 100;
const DOCUMENT = 'compacted-while-killed';

/** What the killed server left in storage, read directly. */
async function inspectStore(backend: CrashBackend, storage: CrashStorage): Promise<{ entries: number; tags: number; hasPending: boolean }> {
  const store = await backend.open(storage);
  try {
    const entries = await store.load(`acme/${DOCUMENT}`);
    const doc = new Y.Doc();
    for (const { update } of entries) Y.applyUpdate(doc, update);
    const result = {
      entries: entries.length,
      tags: doc.getArray(TAGS).length,
      hasPending: doc.store.pendingStructs !== null || doc.store.pendingDs !== null,
    };
    doc.destroy();
    return result;
  } finally {
    await store.close();
  }
}

function killDuringCompaction(backend: CrashBackend) {
  return () => {
    test(`${KILL_DELAY_RANGES_MS.length} kills at the start of or during a compaction lose no acknowledged edit`, { timeout: 180_000 }, async () => {
      const { gen } = seededRandom(`crash-compaction-${backend.name}`);
      const storage = await backend.storage();
      let survived = 0;
      const phases: string[] = [];

      for (const [round, [low, high]] of KILL_DELAY_RANGES_MS.entries()) {
        const delayMs = prng.int32(gen, low, high);
        let killedAt: number | null = null;
        const kill = (server: ServerProcess) => {
          killedAt ??= performance.now();
          void server.kill('SIGKILL');
        };
        let armed = false;
        const server = await spawnServer({
          ...storage,
          logLevel: 'debug',
          onLog: (entry, self) => {
            if (!armed || entry.msg !== 'compacting' || killedAt !== null) return;
            if (delayMs === 0) kill(self);
            else setTimeout(() => kill(self), delayMs);
          },
        });
        const writer = await connectWriter(server, DOCUMENT);
        expect(writer.doc.getArray(TAGS).length, 'the writer starts from what survived').toBe(survived);
        armed = true;
        await writer.type(survived, survived + MAX_EDITS_PER_ROUND, { stop: () => killedAt !== null, maxInFlight: MAX_IN_FLIGHT, paddingBytes: PADDING_BYTES });
        // No compaction started: stop the server, so the round fails below instead of waiting for a kill that never comes.
        if (killedAt === null) void server.kill('SIGTERM');
        const exit = await server.exited;
        expect(exit.signal, `round ${round}: no compaction after ${writer.typed()} edits`).toBe('SIGKILL');
        await writer.closed();
        const acknowledged = survived + writer.acknowledged();
        const compacted = server.logs.some((entry) => entry.msg === 'compacted');
        writer.destroy();

        const onDisk = await inspectStore(backend, storage);
        const restarted = await spawnServer(storage);
        const survivors = await readSurvivors(restarted, DOCUMENT);
        await restarted.kill('SIGTERM');
        const phase = compacted ? 'after it finished' : onDisk.entries < COMPACTED_BELOW_ENTRIES ? 'after its write' : 'before its write';
        phases.push(phase);
        console.log(
          `[crash compaction ${backend.name}] round ${round}: SIGKILL ${delayMs} ms after "compacting" (${phase}); ` +
            `${acknowledged} edits acknowledged of ${survived + writer.typed()} typed; log left with ${onDisk.entries} entries; ` +
            `${survivors.count} tags after restart`,
        );
        expect(onDisk.hasPending, 'the stored log has a hole').toBe(false);
        expect(survivors.hasPending, 'the loaded document has a hole').toBe(false);
        expect(survivors.tags, 'every tag once, in order, none missing').toEqual(expectedTags(survivors.count));
        expect(survivors.count, 'an acknowledged edit was lost').toBeGreaterThanOrEqual(acknowledged);
        survived = survivors.count;
      }
      // What the rounds are for: kills that land while a compaction is under way, not only after it finished.
      expect(phases.filter((phase) => phase !== 'after it finished'), `no kill landed during a compaction: ${phases.join(', ')}`).not.toEqual([]);
    });
  };
}

describe('kill -9 during compaction (LevelDB)', killDuringCompaction(LEVELDB));
// Skipped, with a loud notice, only where PostgreSQL is unreachable outside CI; under CI=true it fails instead
// (support/postgres.ts).
describePostgres('kill -9 during compaction (PostgreSQL)', killDuringCompaction(POSTGRES));
