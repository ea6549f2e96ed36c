/**
 * Document lifecycle safety (issue 3, point 5): a cold document is loaded from storage once however many clients
 * ask for it at the same moment; a client arriving while the document is being unloaded sees every edit; a graceful
 * stop stores what is in flight, so an acknowledged edit is never lost and an applied one is kept.
 */
import { LevelStore, type StoredEntry } from '@concord/server';
import * as prng from 'lib0/prng';
import { describe, expect, test } from 'vitest';
import { hocuspocusClient, serverDocument } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { FaultyStore } from '../support/faultyStore.js';
import { seededRandom } from '../support/random.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { connectWriter, expectedTags, readSurvivors, TAGS } from '../support/taggedEdits.js';
import { mintToken } from '../support/tokens.js';
import { nextEvent, waitFor } from '../support/wait.js';

const token = () => mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });

/** Storage loads so far, from /metrics (a histogram shows a label only once it has observed something). */
async function storeLoads(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  expect(text).toContain('# TYPE concord_store_duration_seconds histogram');
  const match = /^concord_store_duration_seconds_count\{operation="load"\} (\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** A LevelDB store whose loads can be held, so that every client is sure to ask while the first load runs. */
class GatedLoadStore extends FaultyStore {
  loads = 0;
  private loadGate: { promise: Promise<void>; open: () => void } | null = null;

  holdLoads(): void {
    let open!: () => void;
    this.loadGate = { promise: new Promise<void>((resolve) => (open = resolve)), open };
  }

  releaseLoads(): void {
    this.loadGate?.open();
    this.loadGate = null;
  }

  override async load(name: string): Promise<readonly StoredEntry[]> {
    // Loads of documents' logs; who owns a document's client ids is loaded beside it (`<document>!clients`).
    if (!name.endsWith('!clients')) this.loads += 1;
    if (this.loadGate) await this.loadGate.promise;
    return super.load(name);
  }
}

async function levelStore<T extends FaultyStore>(Wrapper: new (inner: LevelStore) => T): Promise<T> {
  const store = new Wrapper(await LevelStore.open(await makeTempDir('concord-lifecycle-')));
  onCleanup(() => store.close());
  return store;
}

describe('loading', () => {
  test('200 clients connecting to a cold document at once cause exactly one load, and all see the same content', { timeout: 60_000 }, async () => {
    const CLIENTS = 200;
    const store = await levelStore(GatedLoadStore);
    const server = await startTestServer({ store });
    const writer = await connectWriter(server, 'cold');
    writer.doc.getText('t').insert(0, 'written before the restart');
    await writer.type(0, 50);
    await writer.allAcknowledged();
    writer.destroy();
    await server.restart();
    expect(await storeLoads(server.url), 'a fresh server has loaded nothing').toBe(0);

    store.loads = 0;
    store.holdLoads();
    const jwt = await token();
    const clients = Array.from({ length: CLIENTS }, () => hocuspocusClient(server, 'cold', jwt));
    // The server replies "authenticated" just before it asks for the document, so by then every request is in.
    await waitFor(() => clients.every((client) => client.scope() === 'read-write'), { timeoutMs: 30_000, message: 'not every client authenticated' });
    store.releaseLoads();
    await Promise.all(clients.map((client) => client.whenSynced()));

    expect(await storeLoads(server.url)).toBe(1);
    expect(store.loads).toBe(1);
    const contents = new Set(clients.map((client) => JSON.stringify([client.doc.getText('t').toString(), client.doc.getArray(TAGS).toJSON()])));
    expect([...contents]).toEqual([JSON.stringify(['written before the restart', expectedTags(50)])]);
  });
});

describe('unloading', () => {
  test('a client arriving while the last one left and the document waits for its write to unload sees every edit', async () => {
    const store = await levelStore(FaultyStore);
    const server = await startTestServer({ store });
    const first = hocuspocusClient(server, 'doc', await token());
    await first.whenSynced();
    store.hold();
    first.doc.getText('t').insert(0, 'typed, then the tab closed');
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === 'typed, then the tab closed');
    first.provider.destroy();
    // The last client left with its edit still being written: the server is unloading the document.
    await waitFor(() => server.current.hocuspocus.unloadingDocuments.has('acme/doc'), { message: 'the document is not unloading' });

    const second = hocuspocusClient(server, 'doc', await token());
    await second.whenSynced();
    expect(second.doc.getText('t').toString()).toBe('typed, then the tab closed');
    store.release();
    await waitFor(() => !server.current.hocuspocus.unloadingDocuments.has('acme/doc'));
    second.doc.getText('t').insert(0, 'and more: ');
    await waitFor(() => second.provider.unsyncedChanges === 0);
    second.provider.destroy();
    await waitFor(() => server.current.hocuspocus.getDocumentsCount() === 0, { message: 'the document was never unloaded' });

    await server.restart();
    const third = hocuspocusClient(server, 'doc', await token());
    await third.whenSynced();
    expect(third.doc.getText('t').toString()).toBe('and more: typed, then the tab closed');
  });

  test('clients leaving and arriving at seeded moments around the unload never miss an edit', { timeout: 60_000 }, async () => {
    const ROUNDS = 40;
    const { gen } = seededRandom('lifecycle-unload-race');
    const server = await startTestServer();
    let edits = 0;
    const arrivals = { loaded: 0, unloading: 0, unloaded: 0 };
    let writer = await connectWriter(server, 'doc');
    for (let round = 0; round < ROUNDS; round++) {
      // Type a few edits and leave at once, acknowledged or not: the server applied them, so it must keep them.
      const count = prng.int32(gen, 1, 5);
      await writer.type(edits, edits + count);
      edits += count;
      await waitFor(() => (serverDocument(server, 'acme', 'doc')?.getArray(TAGS).length ?? 0) === edits);
      writer.destroy();
      const delayMs = prng.int32(gen, 0, 8);
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const { hocuspocus } = server.current;
      const state = hocuspocus.unloadingDocuments.has('acme/doc') ? 'unloading' : hocuspocus.documents.has('acme/doc') ? 'loaded' : 'unloaded';
      arrivals[state] += 1;
      writer = await connectWriter(server, 'doc');
      expect(writer.doc.getArray(TAGS).toArray(), `round ${round}: a client arriving ${delayMs} ms after the last one left`).toEqual(
        expectedTags(edits),
      );
    }
    console.log(`[lifecycle unload] ${ROUNDS} arrivals, by the document's state as the client set out: ${JSON.stringify(arrivals)}`);
    await writer.allAcknowledged();
    writer.destroy();
    await server.restart();
    const after = await readSurvivors(server, 'doc');
    expect(after.tags).toEqual(expectedTags(edits));
  });
});

describe('graceful stop', () => {
  test('right after the acknowledgement: every edit is there after a restart', async () => {
    const server = await startTestServer();
    const writer = await connectWriter(server, 'doc');
    await writer.type(0, 300);
    await writer.allAcknowledged();
    await server.stop();
    writer.destroy();
    await server.start();
    const after = await readSurvivors(server, 'doc');
    expect(after.tags).toEqual(expectedTags(300));
  });

  test('while edits are in flight: every edit the server applied is stored, so no acknowledged edit is lost', async () => {
    const server = await startTestServer();
    const writer = await connectWriter(server, 'doc');
    const typing = writer.type(0, 1000);
    // Stop as soon as the server has applied an edit whose acknowledgement the client has not received yet.
    await waitFor(() => (serverDocument(server, 'acme', 'doc')?.getArray(TAGS).length ?? 0) > 0 && writer.provider.unsyncedChanges > 0, {
      intervalMs: 1,
    });
    const applied = () => serverDocument(server, 'acme', 'doc')?.getArray(TAGS).length ?? 0;
    const appliedAtStop = applied();
    const stopping = server.current.stop();
    await writer.closed();
    const acknowledged = writer.acknowledged();
    await typing;
    writer.destroy();
    await stopping;
    await server.stop();
    await server.start();
    const after = await readSurvivors(server, 'doc');
    console.log(
      `[lifecycle stop] stop() with ${appliedAtStop} edits applied and ${acknowledged} acknowledged by the time the socket closed; ${after.count} after restart`,
    );
    expect(after.tags).toEqual(expectedTags(after.count));
    expect(after.count).toBeGreaterThanOrEqual(appliedAtStop);
    expect(after.count).toBeGreaterThanOrEqual(acknowledged);
  });

  test('while a write is held: stop waits for it, so an edit applied but never acknowledged is kept', async () => {
    const store = await levelStore(FaultyStore);
    const server = await startTestServer({ store });
    const writer = hocuspocusClient(server, 'doc', await token());
    await writer.whenSynced();
    store.hold();
    writer.doc.getText('t').insert(0, 'in flight at shutdown');
    await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === 'in flight at shutdown');
    const closed = nextEvent(writer.provider, 'close');
    const stopping = server.current.stop();
    await closed;
    expect(writer.provider.unsyncedChanges, 'acknowledged before it was stored').toBe(1);
    writer.provider.destroy();
    store.release();
    await stopping;
    await server.stop();
    await server.start();
    const reader = hocuspocusClient(server, 'doc', await token());
    await reader.whenSynced();
    expect(reader.doc.getText('t').toString()).toBe('in flight at shutdown');
  });
});
