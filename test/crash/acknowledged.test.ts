/**
 * Acknowledged means durable, on the embedded LevelDB store (issue 3, point 6): 1000 acknowledged edits survive a
 * `kill -9` of the server 10 ms, 100 ms or 1 s after the last acknowledgement, with the writing client gone too.
 */
import { describe, expect, test } from 'vitest';
import { makeTempDir } from '../support/server.js';
import { expectedTags } from '../support/taggedEdits.js';
import { crashAfterAcknowledged } from './harness.js';

const EDITS = 1000;

describe('kill -9 after the last acknowledgement (LevelDB)', () => {
  test.each([10, 100, 1000])('%i ms after it, a fresh client sees every edit', async (delayMs) => {
    const dataDir = await makeTempDir('concord-crash-');
    const run = await crashAfterAcknowledged({ dataDir }, { edits: EDITS, delayMs, documentName: `crash-${delayMs}ms` });
    console.log(
      `[crash leveldb] SIGKILL ${run.killedAfterMs.toFixed(1)} ms after the last ack: ${run.survivors.count}/${EDITS} tags after restart (${(run.totalMs / 1000).toFixed(2)} s)`,
    );
    expect(run.signal).toBe('SIGKILL');
    expect(run.survivors.count).toBe(EDITS);
    expect(run.survivors.tags).toEqual(expectedTags(EDITS));
  });
});
