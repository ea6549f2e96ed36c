/**
 * Every DocumentStore implementation runs the same contract suite.
 */
import { LevelStore, MemoryStore } from '@concord/server';
import { makeTempDir } from '../support/server.js';
import { runDocumentStoreContract } from './contract.js';

runDocumentStoreContract('memory', { open: async () => new MemoryStore() });

runDocumentStoreContract('leveldb', {
  async open() {
    return LevelStore.open(await makeTempDir('concord-level-'));
  },
  async reopen(store) {
    await store.close();
    return LevelStore.open((store as LevelStore).directory);
  },
});
