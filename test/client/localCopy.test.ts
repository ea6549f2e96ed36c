/**
 * The local copy you can trust (C11), on fake IndexedDB:
 * - storage stays bounded over 200 sessions (open, load, edit, close), where stock y-indexeddb keeps every record;
 * - a write that fails (quota) is reported on the status and by hasUnsavedChanges(), nothing is unhandled, and the
 *   retry stores everything, including the update whose write failed;
 * - compaction never drops what another client of the same browser stored and this one had not read.
 */
import { IDBObjectStore as FakeObjectStore } from 'fake-indexeddb';
import { IndexeddbPersistence } from 'y-indexeddb';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { onCleanup } from '../support/cleanup.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, storedUpdates, token } from './harness.js';

const SESSIONS = 200;

/** Makes every `add` to an object store fail with the browser's quota error until the returned function is called. */
function failWritesWithQuotaError(): () => void {
  const add = FakeObjectStore.prototype.add;
  FakeObjectStore.prototype.add = function () {
    throw new DOMException('the quota has been exceeded', 'QuotaExceededError');
  };
  const restore = () => {
    FakeObjectStore.prototype.add = add;
  };
  onCleanup(restore);
  return restore;
}

describe('C11 local copy', () => {
  it(`stays bounded over ${SESSIONS} sessions`, { timeout: 120_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    await server.stop(); // offline: every edit stays local
    const tokenOfAlice = await token('alice');
    for (let session = 0; session < SESSIONS; session++) {
      const client = makeClient(server, { token: tokenOfAlice });
      const handle = client.open('notes-1');
      await handle.whenLoaded();
      handle.doc.getText('t').insert(0, `session ${String(session).padStart(3, '0')} edit. `);
      handle.doc.getMap('fields').set('last', session);
      await waitFor(() => handle.status.localCopy === 'saved');
      await client.destroy();
    }
    const ours = await storedUpdates('concord/t1.alice/notes-1');

    const stockDoc = new Y.Doc();
    for (let session = 0; session < SESSIONS; session++) {
      const doc = new Y.Doc();
      const stock = new IndexeddbPersistence('stock', doc);
      await stock.whenSynced;
      doc.getText('t').insert(0, `session ${String(session).padStart(3, '0')} edit. `);
      doc.getMap('fields').set('last', session);
      await stock.destroy();
      if (session === SESSIONS - 1) Y.applyUpdate(stockDoc, Y.encodeStateAsUpdate(doc));
    }
    const stock = await storedUpdates('stock');
    const state = Y.encodeStateAsUpdate(stockDoc).byteLength;
    console.log(
      `after ${SESSIONS} sessions: Concord ${ours.records} records, ${ours.bytes} bytes; ` +
        `stock y-indexeddb ${stock.records} records, ${stock.bytes} bytes; the document's state is ${state} bytes`,
    );
    expect(ours.records).toBeLessThanOrEqual(20);
    expect(ours.bytes).toBeLessThan(4 * state);
    expect(stock.records).toBeGreaterThan(SESSIONS); // what the compaction saves
  });

  it('reports a failed write, warns of unsaved changes, and stores everything once writes work again', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const aliceToken = await token('alice');
    const client = makeClient(server, { token: aliceToken });
    const handle = client.open('notes-2');
    await handle.whenLoaded();
    handle.doc.getText('t').insert(0, 'stored. ');
    await waitFor(() => handle.status.localCopy === 'saved');
    expect(client.hasUnsavedChanges()).toBe(false);

    const writesWork = failWritesWithQuotaError();
    handle.doc.getText('t').insert(8, 'not stored yet.');
    await waitFor(() => handle.status.localCopy === 'failed');
    expect(handle.status.error).toBe('not saved on this device: the browser storage quota is used up');
    expect(client.hasUnsavedChanges()).toBe(true);

    writesWork();
    await waitFor(() => handle.status.localCopy === 'saved', { timeoutMs: 10_000 });
    expect(handle.status.error).toBeNull();
    expect(client.hasUnsavedChanges()).toBe(false);
    await client.destroy();

    globalThis.indexedDB = idb;
    const reloaded = makeClient(server, { token: aliceToken }).open('notes-2');
    await reloaded.whenLoaded();
    expect(reloaded.doc.getText('t').toString()).toBe('stored. not stored yet.');
  });

  it("compaction keeps what another client of the browser stored and this one had not read", async () => {
    const idb = freshIndexedDB();
    const channel = globalThis.BroadcastChannel;
    // Without cross-tab sharing, the only way the other client's edit reaches this one is through IndexedDB.
    (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel = undefined;
    onCleanup(() => {
      globalThis.BroadcastChannel = channel;
    });
    const server = await startTestServer();
    await server.stop();
    const aliceToken = await token('alice');
    const first = makeClient(server, { token: aliceToken }).open('notes-3');
    const second = makeClient(server, { token: aliceToken }).open('notes-3');
    await Promise.all([first.whenLoaded(), second.whenLoaded()]);
    second.doc.getText('t').insert(0, 'from the other tab. ');
    await waitFor(() => second.status.localCopy === 'saved');
    for (let i = 0; i < 120; i++) first.doc.getText('t').insert(first.doc.getText('t').length, '.');
    await waitFor(() => first.status.localCopy === 'saved');
    // The first client's compaction (after 100 appends) read the other's record before deleting what it covered.
    expect(first.doc.getText('t').toString()).toContain('from the other tab.');
    expect((await storedUpdates('concord/t1.alice/notes-3')).records).toBeLessThan(40);

    globalThis.indexedDB = idb;
    const reloaded = makeClient(server, { token: aliceToken }).open('notes-3');
    await reloaded.whenLoaded();
    expect(reloaded.doc.getText('t').toString()).toContain('from the other tab.');
    expect(reloaded.doc.getText('t').toString().replace('from the other tab. ', '')).toBe('.'.repeat(120));
  });
});
