/**
 * Every DocumentStore implementation runs the same contract suite; LevelDB's file housekeeping is checked here too.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryFileStore, LevelStore, MemoryStore } from '@concord/server';
import * as prng from 'lib0/prng';
import { describe, expect, test } from 'vitest';
import { seededRandom } from '../support/random.js';
import { makeTempDir } from '../support/server.js';
import { waitFor } from '../support/wait.js';
import { runDocumentStoreContract } from './contract.js';
import { runChannelStoreContract } from './channelContract.js';
import { runLastSeenStoreContract } from './lastSeenContract.js';
import { runRevocationStoreContract } from './revocationContract.js';
import { runVersionStoreContract } from './versionContract.js';
import { runFileStoreContract } from './fileContract.js';

runDocumentStoreContract('memory', { open: async () => new MemoryStore() });
runRevocationStoreContract('memory', { open: async () => new MemoryStore() });
runChannelStoreContract('memory', { open: async () => new MemoryStore() });
runLastSeenStoreContract('memory', { open: async () => new MemoryStore() });
runVersionStoreContract('memory', { open: async () => new MemoryStore() });

runDocumentStoreContract('leveldb', {
  async open() {
    return LevelStore.open(await makeTempDir('concord-level-'));
  },
  async reopen(store) {
    await store.close();
    return LevelStore.open((store as LevelStore).directory);
  },
});

runRevocationStoreContract('leveldb', {
  async open() {
    return LevelStore.open(await makeTempDir('concord-level-'));
  },
  async reopen(store) {
    await store.close();
    return LevelStore.open(store.directory);
  },
});

runChannelStoreContract('leveldb', {
  async open() {
    return LevelStore.open(await makeTempDir('concord-level-'));
  },
  async reopen(store) {
    await store.close();
    return LevelStore.open(store.directory);
  },
});

runLastSeenStoreContract('leveldb', {
  async open() {
    return LevelStore.open(await makeTempDir('concord-level-'));
  },
  async reopen(store) {
    await store.close();
    return LevelStore.open(store.directory);
  },
});

runVersionStoreContract('leveldb', {
  async open() {
    return LevelStore.open(await makeTempDir('concord-level-'));
  },
  async reopen(store) {
    await store.close();
    return LevelStore.open(store.directory);
  },
});

runFileStoreContract('directory', {
  async open() {
    return DirectoryFileStore.open(await makeTempDir('concord-files-'));
  },
  async reopen(store) {
    await store.close();
    return DirectoryFileStore.open(store.directory);
  },
});

/** Size of a file LevelDB may delete between the listing and the stat (a compaction finishing): 0 once gone. */
async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

async function directoryBytes(directory: string): Promise<number> {
  let total = 0;
  for (const file of await readdir(directory)) total += await sizeOf(join(directory, file));
  return total;
}

/** Bytes of LevelDB's write-ahead log (what LevelDB has not yet written into its tables). */
async function logBytes(directory: string): Promise<number> {
  let total = 0;
  for (const file of await readdir(directory)) if (file.endsWith('.log')) total += await sizeOf(join(directory, file));
  return total;
}

/**
 * LevelDB keeps what a compaction deleted until its own compaction merges it away; the store tidies once writes
 * pause and on close. A fresh database is tidy after its first compaction too: the store's bracket keys keep a deeper
 * level under every document, so `CompactRange` reaches the tables LevelDB flushed straight to level 2.
 */
describe('LevelDB files', () => {
  const MiB = 1024 * 1024;

  /** Writes ~1 MiB of incompressible updates to `acme/doc`, then compacts its log into a 1 KiB snapshot. */
  async function fillAndCompact(store: LevelStore, gen: prng.PRNG): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const updates = Array.from({ length: 10 }, () => prng.uint8Array(gen, 1024));
      await store.append([{ name: 'acme/doc', updates }]);
    }
    const replaced = (await store.load('acme/doc')).map((entry) => entry.seq);
    await store.compact('acme/doc', prng.uint8Array(gen, 1024), replaced);
  }

  const tidied = (store: LevelStore) => waitFor(async () => (await logBytes(store.directory)) < 64 * 1024, { timeoutMs: 15_000 });

  test('stay near the documents once writes pause after compactions', async () => {
    const { gen } = seededRandom('leveldb-tidy-idle');
    const store = await LevelStore.open(await makeTempDir('concord-level-'));
    try {
      for (let round = 0; round < 3; round++) {
        await fillAndCompact(store, gen);
        expect(await logBytes(store.directory)).toBeGreaterThan(0.9 * MiB); // deleted, but still in LevelDB's log
        await tidied(store);
        if (round === 0) {
          // The tidy's own compaction finishes after the log is flushed; a fresh database ends near its one snapshot.
          await waitFor(async () => (await directoryBytes(store.directory)) < 0.25 * MiB, { timeoutMs: 15_000, message: 'the first compaction left its deleted records on disk' });
        }
      }
      expect(await directoryBytes(store.directory)).toBeLessThan(1.5 * MiB); // about 3 MiB were written
      expect((await store.load('acme/doc')).length).toBe(1);
    } finally {
      await store.close();
    }
  });

  test('are tidied on close when writes never paused', async () => {
    const { gen } = seededRandom('leveldb-tidy-close');
    const store = await LevelStore.open(await makeTempDir('concord-level-'));
    await fillAndCompact(store, gen);
    await tidied(store);
    await fillAndCompact(store, gen);
    await fillAndCompact(store, gen);
    expect(await directoryBytes(store.directory)).toBeGreaterThan(1.8 * MiB); // two fills deleted, not yet tidied
    await store.close();
    expect(await directoryBytes(store.directory)).toBeLessThan(1.5 * MiB);
    const reopened = await LevelStore.open(store.directory);
    try {
      expect((await reopened.load('acme/doc')).length).toBe(1);
    } finally {
      await reopened.close();
    }
  });
});
