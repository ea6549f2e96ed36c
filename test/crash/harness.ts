/**
 * Crash scenarios on real processes (issue 3, point 6): a `concord serve` process is killed with SIGKILL while or
 * after a client types tagged edits (support/taggedEdits.ts), the client is destroyed with it, and a fresh client on
 * a restarted server counts what survived.
 */
import { spawnServer, type ServerProcessOptions } from '../support/serverProcess.js';
import { connectWriter, readSurvivors, type Survivors } from '../support/taggedEdits.js';

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
  storage: Pick<ServerProcessOptions, 'dataDir' | 'databaseUrl'>,
  options: { edits: number; delayMs: number; documentName: string },
): Promise<AfterAckCrash> {
  const startedAt = performance.now();
  const first = await spawnServer(storage);
  const writer = await connectWriter(first, options.documentName);
  await writer.type(0, options.edits);
  const lastAckAt = await writer.allAcknowledged();
  const killedAt = await new Promise<number>((resolve) =>
    setTimeout(() => {
      const now = performance.now();
      void first.kill('SIGKILL');
      writer.destroy();
      resolve(now);
    }, options.delayMs),
  );
  const { signal } = await first.exited;

  const second = await spawnServer(storage);
  const survivors = await readSurvivors(second, options.documentName);
  await second.kill('SIGTERM');
  return { edits: options.edits, survivors, killedAfterMs: killedAt - lastAckAt, signal, totalMs: performance.now() - startedAt };
}
