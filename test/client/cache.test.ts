/**
 * The local cache stays small (client/src/cache.ts), on fake IndexedDB against a real server:
 * - 500 documents opened with `maxDocuments: 50`: at every checkpoint and at the end at most 50 unpinned documents
 *   without pending changes are stored; documents edited while the server is down are never evicted (however far
 *   over the bound) and reach the server when it is back; a pinned document is kept; an evicted one is not on the
 *   device offline, and opens again with the server's content;
 * - a document synced while empty reads `status.onDevice: true` when opened offline later (one never opened reads false);
 * - an evicted document opened offline reads `status.onDevice: false` (while `loadedLocally` is true) until the
 *   server's copy arrives, then true, and true offline from then on;
 * - `maxBytes`: the stored bytes stay under the bound, `cachedDocuments()` reports what the databases hold;
 * - an edit closed before the server acknowledged it (the connection went silent) keeps its copy until it is sent;
 * - a document open in another tab (same IndexedDB, same Web Locks) keeps its copy, and one opened while its copy is
 *   being evicted waits for the eviction before it touches its database;
 * - an evicted document's attached file (kept by its author's device) leaves the device with it;
 * - pins are kept on the device across a reload, and `unpin` lets the copy go.
 * The offline edits fall on documents chosen from a logged seed (CONCORD_TEST_SEED to replay one).
 */
import type { CachedDocument, SyncClient } from '@concord/client';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../support/cleanup.js';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, storedUpdates, token } from './harness.js';

const NAMESPACE_PREFIX = 'concord/t1.alice/';

/** The documents with a database on the device (what eviction deletes), as the browser lists them. */
async function storedNames(): Promise<string[]> {
  return (await indexedDB.databases()).flatMap((info) => (info.name?.startsWith(NAMESPACE_PREFIX) ? [info.name.slice(NAMESPACE_PREFIX.length)] : []));
}

/** Bytes in a document's `updates` store, read directly. */
async function bytesInDatabase(document: string): Promise<number> {
  return (await storedUpdates(`${NAMESPACE_PREFIX}${document}`)).bytes;
}

/** Whether the device keeps the bytes of the file `hash` (client/src/deviceFiles.ts). */
async function keptFile(hash: string): Promise<boolean> {
  const db: IDBDatabase = await new Promise((resolve, reject) => {
    const request = indexedDB.open('concord-files/t1.alice');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const file: unknown = await new Promise((resolve, reject) => {
    const request = db.transaction('files').objectStore('files').get(hash);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return file !== undefined;
}

/** A small seeded generator (xorshift32), so a failing choice of documents can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** Opens `name`, writes `text` (unless null), waits until the server has it when `online`, and closes it. */
async function use(client: SyncClient, name: string, text: string | null, online: boolean): Promise<void> {
  const handle = client.open(name);
  await handle.whenLoaded();
  if (text !== null) handle.doc.getText('t').insert(0, text);
  if (online) await waitFor(() => handle.status.synced && handle.status.pendingChanges === 0);
  else await waitFor(() => handle.status.localCopy === 'saved');
  await handle.close();
}

const unpinnedSettled = (documents: CachedDocument[]) => documents.filter((document) => !document.pinned && !document.pending);

describe('local cache', () => {
  it('500 documents with maxDocuments 50: the bound holds, pending and pinned documents stay, evicted ones load from the server', { timeout: 300_000 }, async () => {
    const seed = Number(process.env.CONCORD_TEST_SEED ?? Date.now() % 1_000_000);
    console.log(`cache test seed ${seed} (CONCORD_TEST_SEED=${seed} to replay)`);
    const next = random(seed);
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice'), cache: { maxDocuments: 50 } });

    await alice.pin('my-tasks');
    await use(alice, 'my-tasks', 'pinned content', true); // used first: the least recent of all
    const offlineEdits = new Set<string>();
    const check = async (at: number) => {
      const cached = await alice.cachedDocuments();
      expect(unpinnedSettled(cached).length, `after document ${at}`).toBeLessThanOrEqual(50);
      const names = new Set(await storedNames());
      for (const name of offlineEdits) expect(names.has(name), `${name} has pending changes and was evicted (after ${at})`).toBe(true);
      expect(names.has('my-tasks'), `the pinned document was evicted (after ${at})`).toBe(true);
    };

    for (let i = 0; i < 500; i++) {
      if (i === 350) {
        await server.stop();
        await waitFor(() => alice.state === 'offline');
      }
      const online = i < 350;
      const name = `doc-${i}`;
      // Online, every document has content; offline, about one in ten is edited (pending) and the others only read.
      const edited = online || next() < 0.1;
      if (!online && edited) offlineEdits.add(name);
      await use(alice, name, edited ? `content of ${name}` : null, online);
      if (i % 25 === 24) await check(i);
    }
    await check(500);
    console.log(`${offlineEdits.size} documents edited offline`);
    expect(offlineEdits.size).toBeGreaterThan(0);

    const cached = await alice.cachedDocuments();
    const stored = await storedNames();
    expect(stored.length).toBe(cached.length);
    expect(stored.length).toBeLessThanOrEqual(50 + 1 + offlineEdits.size);
    expect(stored.length).toBeGreaterThan(50); // over the bound: only by what may not go
    expect(cached.filter((document) => document.pending).map((document) => document.name).sort()).toEqual([...offlineEdits].sort());
    expect(cached.find((document) => document.name === 'my-tasks')).toMatchObject({ pinned: true, pending: false });
    expect(stored).not.toContain('doc-0');

    // Offline, the pinned document is there; an evicted one is not (empty, offline, not synced).
    const tasks = alice.open('my-tasks');
    await tasks.whenLoaded();
    expect(tasks.doc.getText('t').toString()).toBe('pinned content');
    await tasks.close();
    const evicted = alice.open('doc-0');
    await evicted.whenLoaded();
    expect(evicted.doc.getText('t').toString()).toBe('');
    expect(evicted.status).toMatchObject({ synced: false, pendingChanges: 0 });
    expect(['connecting', 'offline']).toContain(evicted.status.state);

    // The server is back: the offline edits reach it, and the evicted document shows the server's content.
    await server.start();
    await waitFor(() => evicted.status.synced, { timeoutMs: 15_000 });
    expect(evicted.doc.getText('t').toString()).toBe('content of doc-0');
    await evicted.close();
    await waitFor(async () => (await alice.pendingDocuments()).length === 0, { timeoutMs: 30_000, message: 'the offline edits to be sent' });
    const bob = makeClient(server, { token: await token('bob'), persistence: false });
    for (const name of offlineEdits) {
      const handle = bob.open(name);
      await handle.whenSynced();
      expect(handle.doc.getText('t').toString()).toBe(`content of ${name}`);
      await handle.close();
    }
  });

  it('an evicted document opened offline says it is not on the device (status.onDevice false) until the server\'s copy arrives', { timeout: 60_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice'), cache: { maxDocuments: 1 } });
    await use(alice, 'evicted', 'the server\'s content', true);
    await use(alice, 'kept', 'kept content', true); // over the bound: `evicted` goes
    await waitFor(async () => !(await storedNames()).includes('evicted'), { message: "'evicted' to be evicted" });

    await server.stop();
    await waitFor(() => alice.state === 'offline', { message: 'alice to be offline' });
    // The document whose copy is here: on the device, with its content.
    const kept = alice.open('kept');
    await kept.whenLoaded();
    expect(kept.status).toMatchObject({ loadedLocally: true, onDevice: true, synced: false });
    expect(kept.doc.getText('t').toString()).toBe('kept content');
    await kept.close();

    // The evicted one: loaded (there was nothing to load), empty, and not on the device.
    const evicted = alice.open('evicted');
    const seen: Array<{ onDevice: boolean; text: string }> = [];
    evicted.on('status', (status) => seen.push({ onDevice: status.onDevice, text: evicted.doc.getText('t').toString() }));
    await evicted.whenLoaded();
    expect(evicted.status).toMatchObject({ loadedLocally: true, onDevice: false, synced: false, pendingChanges: 0 });
    expect(['offline', 'connecting']).toContain(evicted.status.state);
    expect(evicted.doc.getText('t').toString()).toBe('');
    // A change made here meanwhile is kept and counted, but the document's content is still not here.
    evicted.doc.getText('notes').insert(0, 'written offline');
    await waitFor(() => evicted.status.localCopy === 'saved' && evicted.status.pendingChanges === 1, { message: 'the offline change to be saved' });
    expect(evicted.status.onDevice).toBe(false);

    // Back online: the server's copy arrives, and the status says so once the content is there (never before).
    await server.start();
    await waitFor(() => evicted.status.onDevice && evicted.status.synced, { timeoutMs: 15_000, message: "the server's copy to arrive" });
    expect(evicted.doc.getText('t').toString()).toBe('the server\'s content');
    expect(evicted.doc.getText('notes').toString()).toBe('written offline');
    const firstOnDevice = seen.find((status) => status.onDevice);
    expect(firstOnDevice?.text, 'the content when onDevice first read true').toBe('the server\'s content');
    expect(seen.filter((status, i) => i > 0 && status.onDevice !== seen[i - 1]!.onDevice).length, 'onDevice turned once, false to true').toBe(1);
    await evicted.close();

    // It is saved here now: opened offline again, it is on the device with the server's content.
    await server.stop();
    await waitFor(() => alice.state === 'offline', { message: 'alice to be offline again' });
    const again = alice.open('evicted');
    await again.whenLoaded();
    expect(again.status.onDevice).toBe(true);
    expect(again.doc.getText('t').toString()).toBe('the server\'s content');
  });

  it('a document synced while empty is on the device when opened offline later; one never opened here is not', { timeout: 60_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice') });
    const blank = alice.open('blank');
    await blank.whenSynced();
    expect(blank.status).toMatchObject({ synced: true, onDevice: true });
    expect(blank.doc.getText('t').toString()).toBe('');
    await blank.close();

    await server.stop();
    await waitFor(() => alice.state === 'offline', { message: 'alice to be offline' });
    // Empty because it is empty: the server's copy was here, with nothing in it.
    const again = alice.open('blank');
    await again.whenLoaded();
    expect(again.status).toMatchObject({ loadedLocally: true, onDevice: true, synced: false });
    await again.close();
    // Empty because nothing of it is here.
    const never = alice.open('never-opened');
    await never.whenLoaded();
    expect(never.status).toMatchObject({ loadedLocally: true, onDevice: false, synced: false });
    await never.close();
  });

  it('an edit closed before the server acknowledged it keeps its copy until it is sent', { timeout: 60_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const alice = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: await token('alice'), cache: { maxDocuments: 1 } });
    const late = alice.open('sent-late');
    await late.whenSynced();
    proxy.blackhole(); // the connection looks open; the edit goes nowhere and no acknowledgement comes
    late.doc.getText('t').insert(0, 'closed before the ack');
    await late.close();
    for (let i = 0; i < 5; i++) await use(alice, `other-${i}`, null, false);

    expect(await storedNames()).toContain('sent-late');
    expect((await alice.cachedDocuments()).find((document) => document.name === 'sent-late')).toMatchObject({ pending: true });

    proxy.cut();
    proxy.restore();
    await waitFor(async () => (await alice.pendingDocuments()).length === 0, { timeoutMs: 20_000, message: 'the edit to be sent' });
    const bob = makeClient(server, { token: await token('bob'), persistence: false }).open('sent-late');
    await bob.whenSynced();
    await waitFor(() => bob.doc.getText('t').toString() === 'closed before the ack', { message: "the edit on the server" });
  });

  it('a document open in another tab keeps its copy; once closed everywhere it can go', { timeout: 60_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const aliceToken = await token('alice');
    // Two tabs of one browser: one IndexedDB, one set of Web Locks; nothing closed is kept.
    const tabA = makeClient(server, { token: aliceToken, cache: { maxDocuments: 0 } });
    const tabB = makeClient(server, { token: aliceToken, cache: { maxDocuments: 0 } });
    const inA = tabA.open('shared-doc');
    await inA.whenSynced();
    await use(tabB, 'shared-doc', 'from B. ', true); // closed in B: B's eviction must leave it to A
    await use(tabB, 'other', 'other', true);
    expect(await storedNames()).toContain('shared-doc');
    expect((await tabB.cachedDocuments()).map((document) => document.name)).toEqual(['shared-doc']);

    inA.doc.getText('t').insert(0, 'from A. ');
    await waitFor(() => inA.status.synced && inA.status.localCopy === 'saved');
    expect(inA.status.error).toBeNull();
    expect(await bytesInDatabase('shared-doc')).toBeGreaterThan(0);
    await inA.close();
    await waitFor(async () => !(await storedNames()).includes('shared-doc'), { message: 'the copy to go once no tab has it open' });
  });

  it('a document opened while its copy is being evicted waits for the eviction, then loads from the server', { timeout: 60_000 }, async () => {
    const factory = freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice'), cache: { maxDocuments: 1 } });
    await use(alice, 'first', 'first content', true);

    // The deletion of `first`'s database is held until the test lets it go.
    const deleteDatabase = factory.deleteDatabase.bind(factory);
    let deleting = false;
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    onCleanup(() => letGo()); // a failing test still lets the deletion end
    factory.deleteDatabase = (name: string) => {
      if (!name.endsWith('/first')) return deleteDatabase(name);
      deleting = true;
      const request = { onsuccess: null, onerror: null } as unknown as IDBOpenDBRequest;
      void held.then(() => {
        const real = deleteDatabase(name);
        real.onsuccess = (event) => request.onsuccess?.call(real, event);
        real.onerror = (event) => request.onerror?.call(real, event);
      });
      return request;
    };
    await use(alice, 'second', 'second content', true); // over the bound: `first` is evicted
    await waitFor(() => deleting, { message: "the eviction of 'first' to start" });

    const again = alice.open('first');
    let loaded = false;
    void again.whenLoaded().then(() => (loaded = true));
    await new Promise((resolve) => setTimeout(resolve, 200)); // what must not happen: loading during the deletion
    expect(loaded).toBe(false);
    letGo();
    await again.whenSynced();
    await waitFor(() => again.doc.getText('t').toString() === 'first content', { message: "the server's content" });
    again.doc.getText('t').insert(0, 'again: ');
    await waitFor(() => again.status.synced && again.status.localCopy === 'saved');
    expect(again.status.error).toBeNull();
    expect(await storedNames()).toContain('first');
    expect(await bytesInDatabase('first')).toBeGreaterThan(0);
  });

  it("an evicted document's attached file leaves the device with it", { timeout: 60_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice'), cache: { maxDocuments: 1 } });
    const handle = alice.open('with-file');
    await handle.whenSynced();
    const png = new Uint8Array(3_000).map((_, i) => (i * 7) & 0xff);
    png.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const { hash } = await handle.attach(new File([png as BlobPart], 'diagram.png', { type: 'image/png' }));
    await waitFor(async () => (await alice.pendingDocuments()).length === 0 && handle.status.synced, { message: 'the upload' });
    await handle.close();
    expect(await keptFile(hash)).toBe(true); // the author's device keeps the bytes it uploaded
    expect((await alice.cachedDocuments()).map((document) => document.name)).toEqual(['with-file']);

    await use(alice, 'next', 'next', true);
    expect((await alice.cachedDocuments()).map((document) => document.name)).toEqual(['next']);
    expect(await keptFile(hash)).toBe(false);
  });

  it('maxBytes: the stored bytes stay under the bound, as cachedDocuments() measures them from the databases', { timeout: 60_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const maxBytes = 20_000;
    const alice = makeClient(server, { token: await token('alice'), cache: { maxDocuments: Infinity, maxBytes } });
    for (let i = 0; i < 40; i++) await use(alice, `big-${i}`, `${i} `.padEnd(2_000, 'x'), true);

    const cached = await alice.cachedDocuments();
    const total = cached.reduce((sum, document) => sum + document.bytes, 0);
    console.log(`40 documents of ~2 KB, maxBytes ${maxBytes}: ${cached.length} kept, ${total} bytes`);
    expect(total).toBeLessThanOrEqual(maxBytes);
    expect(cached.length).toBeGreaterThan(3);
    expect(cached.length).toBeLessThan(40);
    expect(cached.map((document) => document.name)).toContain('big-39'); // the most recent stays
    expect(cached.map((document) => document.name)).not.toContain('big-0');
    for (const document of cached) {
      expect(document.bytes).toBe(await bytesInDatabase(document.name));
      expect(document.bytes).toBeGreaterThan(2_000);
    }
    expect((await storedNames()).sort()).toEqual(cached.map((document) => document.name).sort());
  });

  it('a pin is kept on the device across a reload; unpin lets the copy go', { timeout: 60_000 }, async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    const aliceToken = await token('alice');
    const first = makeClient(server, { token: aliceToken, cache: { maxDocuments: 1 } });
    await use(first, 'project-1', 'recent project', true);
    await first.pin('project-1');
    await first.destroy();

    globalThis.indexedDB = idb;
    const reloaded = makeClient(server, { token: aliceToken, cache: { maxDocuments: 1 } });
    for (let i = 0; i < 5; i++) await use(reloaded, `other-${i}`, `other ${i}`, true);
    expect((await reloaded.cachedDocuments()).map(({ name, pinned }) => [name, pinned])).toEqual([
      ['other-4', false],
      ['project-1', true],
    ]);

    await reloaded.unpin('project-1');
    await waitFor(async () => !(await storedNames()).includes('project-1'), { message: 'the unpinned copy to go' });
    expect((await reloaded.cachedDocuments()).map(({ name }) => name)).toEqual(['other-4']);
  });

  it('refuses a cache bound that is not a number ≥ 0', async () => {
    const server = await startTestServer();
    expect(() => makeClient(server, { token: 'x', cache: { maxDocuments: -1 } })).toThrow('cache.maxDocuments must be a number ≥ 0');
    expect(() => makeClient(server, { token: 'x', cache: { maxBytes: Number.NaN } })).toThrow('cache.maxBytes must be a number ≥ 0');
  });
});
