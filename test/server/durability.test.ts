/**
 * Acknowledged means durable (issue 3): a client's update is acknowledged only once storage has it, while other
 * clients see it at once; updates arriving during a write go in the next one (group commit); when writes fail the
 * server keeps everything in memory, says it is degraded, retries, and loses nothing.
 */
import { COMPACT_AFTER_ENTRIES, COMPACT_MIN_TAIL_BYTES, LevelStore } from '@concord/server';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { createSyncClient } from '@concord/client';
import 'fake-indexeddb/auto';
import { hocuspocusClient, serverDocument, yClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { FaultyStore } from '../support/faultyStore.js';
import { contentOf, randomEdit, seededRandom } from '../support/random.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const token = () => mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });

async function faultyLevel() {
  const store = new FaultyStore(await LevelStore.open(await makeTempDir('concord-faulty-')));
  onCleanup(() => store.close());
  return store;
}

async function metric(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = pattern.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

describe('acknowledgements', () => {
  test('wait for the durable write; other clients see the change at once', async () => {
    const store = await faultyLevel();
    const server = await startTestServer({ store });
    const writer = hocuspocusClient(server, 'doc', await token());
    const reader = hocuspocusClient(server, 'doc', await token());
    await Promise.all([writer.whenSynced(), reader.whenSynced()]);
    await waitFor(() => writer.provider.unsyncedChanges === 0);

    store.hold();
    writer.doc.getText('t').insert(0, 'typed');
    await waitFor(() => reader.doc.getText('t').toString() === 'typed');
    expect(writer.provider.unsyncedChanges).toBe(1);
    store.release();
    await waitFor(() => writer.provider.unsyncedChanges === 0);
  });

  test('updates arriving during a write are written together (group commit), in order', async () => {
    const store = await faultyLevel();
    const server = await startTestServer({ store });
    const writers = await Promise.all(Array.from({ length: 5 }, async () => hocuspocusClient(server, 'doc', await token())));
    await Promise.all(writers.map((w) => w.whenSynced()));
    await waitFor(() => writers.every((w) => w.provider.unsyncedChanges === 0));
    const attemptsBefore = store.attempts;
    store.hold();
    for (let i = 0; i < 40; i++) for (const [n, w] of writers.entries()) w.doc.getArray('a').push([`${n}:${i}`]);
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getArray('a').length === 200);
    store.release();
    await waitFor(() => writers.every((w) => w.provider.unsyncedChanges === 0));
    // 200 updates, and the ones that queued behind the held write went out in very few writes.
    expect(store.attempts - attemptsBefore).toBeLessThan(10);
    await server.stop();
    const stored = new Y.Doc();
    for (const { update } of await store.load('acme/doc')) Y.applyUpdate(stored, update);
    expect(stored.getArray('a').length).toBe(200);
  });
});

describe('storage outage', () => {
  test('failed writes: not acknowledged, degraded, kept loaded, retried, nothing lost', async () => {
    const store = await faultyLevel();
    const server = await startTestServer({ store });
    const writer = hocuspocusClient(server, 'doc', await token());
    const reader = hocuspocusClient(server, 'doc', await token());
    await Promise.all([writer.whenSynced(), reader.whenSynced()]);
    const notices: string[] = [];
    reader.provider.on('stateless', ({ payload }: { payload: string }) => notices.push(payload));

    store.fail();
    writer.doc.getText('t').insert(0, 'written during the outage');
    await waitFor(() => reader.doc.getText('t').toString() === 'written during the outage');
    await waitFor(async () => (await (await fetch(`${server.url}/healthz`)).json()).status === 'degraded');
    const health = await (await fetch(`${server.url}/healthz`)).json();
    expect(health.storage).toMatchObject({ healthy: false, lastError: 'injected failure: no space left on device' });
    expect(health.storage.backlog).toBeGreaterThan(0);
    expect(await metric(server.url, /^concord_store_healthy (\d+)/m)).toBe(0);
    await waitFor(() => notices.includes('{"concord":"storage","status":"degraded"}'));
    expect(writer.provider.unsyncedChanges).toBeGreaterThan(0);

    // Everyone leaves: the document stays loaded, because storage does not have its changes yet.
    writer.provider.destroy();
    reader.provider.destroy();
    await waitFor(() => server.current.hocuspocus.getConnectionsCount() === 0);
    await waitFor(async () => (await metric(server.url, /^concord_store_errors_total\{operation="append"\} (\d+)/m)) >= 2);
    expect(server.current.hocuspocus.getDocumentsCount()).toBe(1);

    // A newcomer during the outage gets every edit, from memory, and is told storage is degraded.
    const newcomer = hocuspocusClient(server, 'doc', await token());
    const told: string[] = [];
    newcomer.provider.on('stateless', ({ payload }: { payload: string }) => told.push(payload));
    await newcomer.whenSynced();
    expect(newcomer.doc.getText('t').toString()).toBe('written during the outage');
    await waitFor(() => told.includes('{"concord":"storage","status":"degraded"}'));
    newcomer.provider.destroy();

    store.heal();
    await waitFor(async () => (await (await fetch(`${server.url}/healthz`)).json()).status === 'ok', { timeoutMs: 15_000 });
    await waitFor(() => server.current.hocuspocus.getDocumentsCount() === 0, { message: 'the document was not unloaded after recovery' });
    await server.restart();
    const after = hocuspocusClient(server, 'doc', await token());
    await after.whenSynced();
    expect(after.doc.getText('t').toString()).toBe('written during the outage');
  });

  test('a client that reconnects during an outage and resends an edit the server holds is still not acknowledged', async () => {
    const store = await faultyLevel();
    const server = await startTestServer({ store });
    const writer = hocuspocusClient(server, 'doc', await token());
    await writer.whenSynced();
    store.fail();
    writer.doc.getText('t').insert(0, 'not stored yet');
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === 'not stored yet');
    // Reconnect: the provider sends the edit again; the server has it in memory already (no new update event).
    writer.provider.configuration.websocketProvider.disconnect();
    await waitFor(() => !writer.provider.isSynced);
    await writer.provider.configuration.websocketProvider.connect();
    await waitFor(() => writer.provider.isSynced);
    const probe = hocuspocusClient(server, 'doc', await token());
    await probe.whenSynced(); // the reconnected writer's resync has been handled by now
    expect(writer.provider.unsyncedChanges).toBeGreaterThan(0);
    store.heal();
    await waitFor(() => writer.provider.unsyncedChanges === 0, { timeoutMs: 15_000 });
  });

  test('C9 the Concord client shows degraded, keeps the change pending, and settles when storage is back', async () => {
    const store = await faultyLevel();
    const server = await startTestServer({ store });
    const client = createSyncClient({ url: server.syncUrl, token: await token(), persistence: false, maxReconnectDelayMs: 500 });
    onCleanup(() => client.destroy());
    const handle = client.open('doc');
    await handle.whenSynced();
    store.fail();
    handle.doc.getText('t').insert(0, 'kept');
    await waitFor(() => handle.status.state === 'degraded');
    expect(handle.status.pendingChanges).toBeGreaterThan(0);
    expect(handle.status.error).toMatch(/cannot store/);
    store.heal();
    await waitFor(() => handle.status.state === 'connected' && handle.status.synced && handle.status.pendingChanges === 0, {
      timeoutMs: 15_000,
    });
    expect(handle.status.error).toBeNull();
  });
});

describe('compaction', () => {
  // Edits go over y-websocket, which sends and stores each one as an update of its own (the Hocuspocus endpoint
  // applies edits that arrive together as one update), so the log grows by one entry per edit.

  test('storage stays near the document size and every edit survives (seeded random edits)', async () => {
    const { gen } = seededRandom('compaction-bound');
    const server = await startTestServer();
    const client = yClient(server, 'doc', await token());
    await client.whenSynced();
    for (let round = 0; round < 60; round++) {
      for (let i = 0; i < 100; i++) randomEdit(gen, client.doc);
      const sent = contentOf(client.doc);
      await waitFor(() => JSON.stringify(contentOf(serverDocument(server, 'acme', 'doc')!)) === JSON.stringify(sent), { timeoutMs: 20_000 });
    }
    const expected = contentOf(client.doc);
    const encoded = Y.encodeStateAsUpdate(client.doc).byteLength;
    await waitFor(async () => (await metric(server.url, /^concord_store_duration_seconds_count\{operation="compact"\} (\d+)/m)) >= 1);
    await server.stop();
    const store = await LevelStore.open(server.dataDir);
    onCleanup(() => store.close());
    const entries = await store.load('acme/doc');
    const stored = entries.reduce((sum, entry) => sum + entry.update.byteLength, 0);
    console.log(`[compaction-bound] 6000 edits: ${entries.length} entries, ${stored} bytes stored, document ${encoded} bytes`);
    // Compactor: a snapshot plus entries weighing at most half the snapshot or 128 KiB.
    expect(entries.length).toBeLessThan(6000);
    expect(stored).toBeLessThanOrEqual(1.5 * encoded + COMPACT_MIN_TAIL_BYTES);
    const rebuilt = new Y.Doc();
    for (const { update } of entries) Y.applyUpdate(rebuilt, update);
    expect(contentOf(rebuilt)).toEqual(expected);
  });

  test(`a log of ${COMPACT_AFTER_ENTRIES} small entries is compacted although it weighs little next to its snapshot`, async () => {
    // The document starts as one large stored entry (its snapshot), so the small entries typed after it never reach
    // half its weight: only their number can trigger a compaction. The store is read while the document is loaded
    // (unloading would compact it anyway).
    const store = await LevelStore.open(await makeTempDir());
    onCleanup(() => store.close());
    const seed = new Y.Doc();
    seed.getText('t').insert(0, 'a large document. '.repeat(40_000));
    await store.append([{ name: 'acme/doc', updates: [Y.encodeStateAsUpdate(seed)] }]);
    const server = await startTestServer({ store });
    const client = yClient(server, 'doc', await token());
    await client.whenSynced();
    const text = client.doc.getText('t');
    const edits = COMPACT_AFTER_ENTRIES + 500;
    for (let i = 0; i < edits; i++) text.insert(i % 1000, 'x');
    const expected = text.toString();
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === expected, { timeoutMs: 30_000 });
    // Every edit stored, in fewer entries than edits: without the count trigger all ${edits} would stay in the log.
    let entries: Awaited<ReturnType<LevelStore['load']>> = [];
    const rebuilt = () => {
      const doc = new Y.Doc();
      for (const { update } of entries) Y.applyUpdate(doc, update);
      return doc.getText('t').toString();
    };
    await waitFor(
      async () => {
        entries = await store.load('acme/doc');
        return entries.length <= COMPACT_AFTER_ENTRIES + 1 && rebuilt() === expected;
      },
      { timeoutMs: 20_000, message: `the log of ${edits} small entries was not compacted` },
    );
    const tailBytes = entries.slice(1).reduce((sum, entry) => sum + entry.update.byteLength, 0);
    console.log(`[compaction-count] ${edits} edits after a ${entries[0]?.update.byteLength}-byte snapshot: ${entries.length} entries, ${tailBytes} bytes after it`);
  });
});
