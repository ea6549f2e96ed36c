/**
 * Crash scenarios on real processes (issue 3, point 6): a `concord serve` process is killed with SIGKILL while or
 * after a client types tagged edits (support/taggedEdits.ts), the client is destroyed with it, and a fresh client on
 * a restarted server counts what survived.
 */
import { LevelStore, PostgresStore, type DocumentStore } from '@concord/server';
import { freshSchema } from '../support/postgres.js';
import { makeTempDir } from '../support/server.js';
import { spawnServer, type ServerProcessOptions } from '../support/serverProcess.js';
import { connectWriter, readSurvivors, type Survivors } from '../support/taggedEdits.js';

export type CrashStorage = Pick<ServerProcessOptions, 'dataDir' | 'databaseUrl'>;

/** Where a crash test's server keeps its data, and how the test reads it directly. */
export interface CrashBackend {
  readonly name: string;
  /** Fresh, empty storage for one scenario (a temp directory, and for PostgreSQL a schema of its own). */
  storage(): Promise<CrashStorage>;
  /** The store itself, opened in the test process (no server may be running on it). */
  open(storage: CrashStorage): Promise<DocumentStore>;
}

export const LEVELDB: CrashBackend = {
  name: 'leveldb',
  storage: async () => ({ dataDir: await makeTempDir('concord-crash-') }),
  open: (storage) => LevelStore.open(storage.dataDir),
};

export const POSTGRES: CrashBackend = {
  name: 'postgres',
  // The data directory is still the server's working directory; nothing is stored in it.
  storage: async () => ({ dataDir: await makeTempDir('concord-crash-'), databaseUrl: (await freshSchema()).url }),
  open: (storage) => PostgresStore.open(storage.databaseUrl ?? ''),
};

export interface AfterAckCrash {
  readonly edits: number;
  readonly survivors: Survivors;
  /** From the last acknowledgement to the SIGKILL, as measured. */
  readonly killedAfterMs: number;
  /** How the first server process ended (SIGKILL, not a graceful exit). */
  readonly signal: NodeJS.Signals | null;
  /** From spawning the first server to the survivors being counted. */
  readonly totalMs: number;
}

/**
 * The scenario: `edits` tagged edits, every one acknowledged, SIGKILL `delayMs` after the last
 * acknowledgement with the client destroyed at the same moment, a restart on the same storage, a fresh client.
 */
export async function crashAfterAcknowledged(
  storage: CrashStorage,
  options: { edits: number; delayMs: number; documentName: string },
): Promise<AfterAckCrash> {
  const startedAt = performance.now();
  const first = await spawnServer(storage);
  const writer = await connectWriter(first, options.documentName);
  await writer.type(0, options.edits);
  const lastAckAt = await writer.allAcknowledged();
  // Timers may fire up to a millisecond early by performance.now(); the kill is never earlier than asked.
  const killedAt = await new Promise<number>((resolve) => {
    const killWhenDue = () => {
      const now = performance.now();
      if (now - lastAckAt < options.delayMs) {
        setTimeout(killWhenDue, Math.max(1, options.delayMs - (now - lastAckAt)));
        return;
      }
      void first.kill('SIGKILL');
      writer.destroy();
      resolve(now);
    };
    setTimeout(killWhenDue, options.delayMs);
  });
  const { signal } = await first.exited;

  const second = await spawnServer(storage);
  const survivors = await readSurvivors(second, options.documentName);
  await second.kill('SIGTERM');
  return { edits: options.edits, survivors, killedAfterMs: killedAt - lastAckAt, signal, totalMs: performance.now() - startedAt };
}
