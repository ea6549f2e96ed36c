/**
 * Persistence on LevelDB through the real server: a graceful stop stores what was still being written, documents
 * come back after a restart for both protocols, a long edit history is compacted on disk without losing anything,
 * and a document its clients have left is compacted to one snapshot.
 *
 * Long histories are typed over y-websocket, which sends and stores every keystroke as an update of its own; the
 * Hocuspocus endpoint would apply keystrokes that arrive together as one update (see test/server/fanout.test.ts), and
 * these tests need many entries.
 */
import { COMPACT_ON_UNLOAD_MIN_BYTES, COMPACT_ON_UNLOAD_MIN_ENTRIES, LevelStore, type DocumentStore } from '@concord/server';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient, serverDocument, yClient, type YClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { makeTempDir, startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const token = () => mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });

/** The text `t` of document `name` as `store` holds it, and how many entries hold it. */
async function stored(store: LevelStore, name: string): Promise<{ text: string; entries: number }> {
  const entries = await store.load(name);
  const doc = new Y.Doc();
  for (const { update } of entries) Y.applyUpdate(doc, update);
  return { text: doc.getText('t').toString(), entries: entries.length };
}

/** The same, from the LevelDB directory of a stopped server. */
async function storedText(dataDir: string, name: string): Promise<{ text: string; entries: number }> {
  const store = await LevelStore.open(dataDir);
  try {
    return await stored(store, name);
  } finally {
    await store.close();
  }
}

test('stop() stores edits that were still waiting to be stored', async () => {
  const store = await LevelStore.open(await makeTempDir());
  onCleanup(() => store.close());
  // Writes wait at a gate the test opens once stop() has closed the sockets: stop() must wait for them.
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const events: string[] = [];
  let held = 0;
  const gated: DocumentStore = {
    kind: store.kind,
    load: (name) => store.load(name),
    names: (prefix) => store.names(prefix),
    append: async (batch) => {
      held += 1;
      await gate;
      await store.append(batch);
      events.push('written');
    },
    compact: (name, snapshot, replaced) => store.compact(name, snapshot, replaced),
    close: async () => {},
  };
  const server = await startTestServer({ store: gated });
  const client = hocuspocusClient(server, 'doc', await token());
  await client.whenSynced();
  client.doc.getText('t').insert(0, 'last words');
  await waitFor(() => held > 0, { message: 'the edit never reached storage' });
  const stopped = server.stop().then(() => events.push('stopped'));
  await waitFor(() => client.provider.configuration.websocketProvider.status !== 'connected', { message: 'stop() did not close the socket' });
  open();
  await stopped;
  // Every write (the edit, and its activity feed entry, in one group commit or two) finished before stop() did.
  expect(events.at(-1)).toBe('stopped');
  expect(events.slice(0, -1).length).toBeGreaterThanOrEqual(1);
  expect(new Set(events.slice(0, -1))).toEqual(new Set(['written']));
  expect((await stored(store, 'acme/doc')).text).toBe('last words');
});

test('several documents from both protocols survive a restart', async () => {
  const server = await startTestServer();
  const t = await token();
  const a = hocuspocusClient(server, 'project-1', t);
  const b = yClient(server, 'task-1', t);
  await Promise.all([a.whenSynced(), b.whenSynced()]);
  a.doc.getText('t').insert(0, 'project text');
  a.doc.getMap('fields').set('status', 'doing');
  b.doc.getText('t').insert(0, 'task text');
  await waitFor(() => serverDocument(server, 'acme', 'task-1')?.getText('t').toString() === 'task text');
  await waitFor(() => serverDocument(server, 'acme', 'project-1')?.getMap('fields').get('status') === 'doing');
  await server.restart();
  const a2 = yClient(server, 'project-1', t);
  const b2 = hocuspocusClient(server, 'task-1', t);
  await Promise.all([a2.whenSynced(), b2.whenSynced()]);
  expect(a2.doc.getText('t').toString()).toBe('project text');
  expect(a2.doc.getMap('fields').get('status')).toBe('doing');
  expect(b2.doc.getText('t').toString()).toBe('task text');
});

test('a long history is compacted on disk and loads whole', async () => {
  const server = await startTestServer();
  const client = yClient(server, 'doc', await token());
  await client.whenSynced();
  // Enough typing to pass the compaction threshold (128 KiB after the snapshot).
  const keystrokes = 8000;
  for (let i = 0; i < keystrokes; i++) client.doc.getText('t').insert(i, String(i % 10));
  const expected = client.doc.getText('t').toString();
  await waitFor(async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    return /concord_store_duration_seconds_count\{operation="compact"\} [1-9]/.test(metrics);
  }, { timeoutMs: 20_000, message: 'no compaction ran' });
  await waitFor(() => serverDocument(server, 'acme', 'doc')?.getText('t').toString() === expected);
  await server.stop();
  const stored = await storedText(server.dataDir, 'acme/doc');
  expect(stored.text).toBe(expected);
  expect(stored.entries).toBeLessThan(keystrokes / 2);
  await server.start();
  const fresh = hocuspocusClient(server, 'doc', await token());
  await fresh.whenSynced();
  expect(fresh.doc.getText('t').toString()).toBe(expected);
});

describe('a document at rest is one snapshot', () => {
  async function typeInto(server: TestServer, store: LevelStore, name: string, keystrokes: number): Promise<YClient> {
    const client = yClient(server, name, await token());
    await client.whenSynced();
    for (let i = 0; i < keystrokes; i++) client.doc.getText('t').insert(i, String(i % 10));
    const expected = client.doc.getText('t').toString();
    await waitFor(async () => (await stored(store, `acme/${name}`)).text === expected, { message: `${name}: edits not stored` });
    return client;
  }

  test(`once its last client leaves, a document with ${COMPACT_ON_UNLOAD_MIN_ENTRIES}+ entries after its snapshot is compacted; fewer are kept as they are`, async () => {
    const store = await LevelStore.open(await makeTempDir());
    onCleanup(() => store.close());
    const server = await startTestServer({ store });
    const long = await typeInto(server, store, 'long', COMPACT_ON_UNLOAD_MIN_ENTRIES + 50);
    const short = await typeInto(server, store, 'short', 20);
    const texts = { long: long.doc.getText('t').toString(), short: short.doc.getText('t').toString() };
    expect((await stored(store, 'acme/long')).entries).toBeGreaterThan(COMPACT_ON_UNLOAD_MIN_ENTRIES);

    long.provider.destroy();
    short.provider.destroy();
    // The server is still running: the unload did it, not a stop.
    await waitFor(async () => (await stored(store, 'acme/long')).entries === 1, { message: 'the long log was not compacted' });
    expect((await stored(store, 'acme/long')).text).toBe(texts.long);

    await waitFor(() => server.current.hocuspocus.getDocumentsCount() === 0, { message: 'the documents did not unload' });
    await server.stop(); // waits for compactions in flight, so the short log's count is final
    const rest = await stored(store, 'acme/short');
    expect(rest.entries).toBeGreaterThan(1);
    expect(rest.text).toBe(texts.short);
  });

  test(`a few large entries (${COMPACT_ON_UNLOAD_MIN_BYTES / 1024} KiB or more after the snapshot) are compacted when the last client leaves`, async () => {
    const store = await LevelStore.open(await makeTempDir());
    onCleanup(() => store.close());
    const server = await startTestServer({ store });
    const client = yClient(server, 'pasted', await token());
    await client.whenSynced();
    const text = client.doc.getText('t');
    for (let paste = 0; paste < 4; paste++) text.insert(text.length, `paste ${paste}: ${'lorem ipsum dolor sit amet '.repeat(250)}`);
    const expected = text.toString();
    await waitFor(async () => (await stored(store, 'acme/pasted')).text === expected, { message: 'the pastes were not stored' });
    expect((await stored(store, 'acme/pasted')).entries).toBeLessThan(COMPACT_ON_UNLOAD_MIN_ENTRIES);
    client.provider.destroy();
    await waitFor(async () => (await stored(store, 'acme/pasted')).entries === 1, { message: 'the large entries were not compacted' });
    expect((await stored(store, 'acme/pasted')).text).toBe(expected);
  });
});
