/**
 * PostgresStore: the DocumentStore contract on a real PostgreSQL, each test in a schema of its own; migrations;
 * clear start-up failures; and several instances (several servers) appending to and compacting one document at once.
 */
import { migrate, MIGRATIONS, PostgresFileStore, PostgresStore, type DocumentStore, type StoredEntry } from '@concord/server';
import * as prng from 'lib0/prng';
import pg from 'pg';
import { expect, test } from 'vitest';
import * as Y from 'yjs';
import { onCleanup } from '../support/cleanup.js';
import { DATABASE_URL, describePostgres, freshSchema, withSearchPath } from '../support/postgres.js';
import { seededRandom } from '../support/random.js';
import { waitFor } from '../support/wait.js';
import { runDocumentStoreContract } from './contract.js';
import { runChannelStoreContract } from './channelContract.js';
import { runLastSeenStoreContract } from './lastSeenContract.js';
import { runRevocationStoreContract } from './revocationContract.js';
import { runVersionStoreContract } from './versionContract.js';
import { runFileStoreContract } from './fileContract.js';

const urls = new WeakMap<object, string>();

async function open(url: string): Promise<PostgresStore> {
  const store = await PostgresStore.open(url);
  urls.set(store, url);
  onCleanup(() => store.close());
  return store;
}

function rebuild(entries: readonly StoredEntry[]): Y.Doc {
  const doc = new Y.Doc();
  for (const { update } of entries) Y.applyUpdate(doc, update);
  return doc;
}

const seqsOf = (entries: readonly StoredEntry[]) => entries.map((entry) => entry.seq);

/** Loads `name` and replaces everything loaded by one snapshot, as the server's compaction does. */
async function compactAll(store: DocumentStore, name: string): Promise<void> {
  const entries = await store.load(name);
  if (entries.length < 2) return;
  const snapshot = Y.encodeStateAsUpdate(rebuild(entries));
  await store.compact(name, snapshot, entries.map((e) => e.seq));
}

/** A store on a schema of its own, for the contract suites. */
async function openOnFreshSchema(): Promise<PostgresStore> {
  const { url } = await freshSchema();
  const store = await PostgresStore.open(url);
  urls.set(store, url);
  return store;
}

/** Another instance on `store`'s schema, `store` staying open (the version contract's `share`). */
async function shareSchema<S extends object>(store: S): Promise<S> {
  const url = urls.get(store)!;
  const another = await PostgresStore.open(url);
  urls.set(another, url);
  return another as unknown as S;
}

/** Closes `store` and opens its schema again (the contract suites' `reopen`). */
async function reopenSchema<S extends { close(): Promise<void> }>(store: S): Promise<S> {
  await store.close();
  const url = urls.get(store)!;
  const reopened = await PostgresStore.open(url);
  urls.set(reopened, url);
  return reopened as unknown as S;
}

describePostgres('PostgreSQL storage', () => {
  runDocumentStoreContract('postgres', { open: openOnFreshSchema, reopen: reopenSchema });
  runRevocationStoreContract('postgres', { open: openOnFreshSchema, reopen: reopenSchema });
  runChannelStoreContract('postgres', { open: openOnFreshSchema, reopen: reopenSchema });
  runLastSeenStoreContract('postgres', { open: openOnFreshSchema, reopen: reopenSchema });
  runVersionStoreContract('postgres', { open: openOnFreshSchema, reopen: reopenSchema, share: shareSchema });
  runFileStoreContract('postgres', {
    async open() {
      const { url } = await freshSchema();
      const store = await PostgresFileStore.open(url);
      urls.set(store, url);
      return store;
    },
    async reopen(store) {
      await store.close();
      const reopened = await PostgresFileStore.open(urls.get(store)!);
      urls.set(reopened, urls.get(store)!);
      return reopened;
    },
  });

  test('migrations: instances starting together apply each one once, in the schema of the search_path', async () => {
    const { schema, url } = await freshSchema();
    await Promise.all(Array.from({ length: 4 }, () => open(url)));
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    onCleanup(() => client.end());
    const { rows } = await client.query(`SELECT version, name FROM ${schema}.concord_migrations`);
    expect(rows).toEqual([
      { version: 1, name: 'update log' },
      { version: 2, name: 'append in one statement' },
      { version: 3, name: 'records of several updates' },
      { version: 4, name: 'revocations' },
      { version: 5, name: 'channel logs' },
      { version: 6, name: 'last seen' },
      { version: 7, name: 'versions' },
      { version: 8, name: 'files' },
    ]);
    const tables = await client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      'concord_channel_events',
      'concord_channels',
      'concord_entries',
      'concord_file_chunks',
      'concord_file_references',
      'concord_file_uploads',
      'concord_files',
      'concord_last_seen',
      'concord_migrations',
      'concord_revocations',
      'concord_upload_chunks',
      'concord_versions',
    ]);
  });

  test('an upgrade keeps the rows written before it, and instances still on the old version keep appending safely', async () => {
    const { url } = await freshSchema();
    const old = new pg.Client({ connectionString: url });
    await old.connect();
    onCleanup(() => old.end());
    await migrate(old, MIGRATIONS.filter((m) => m.version <= 2));
    const writer = new Y.Doc();
    const typed = (text: string) =>
      [...text].map((char) => {
        let update!: Uint8Array;
        writer.once('update', (u: Uint8Array) => (update = u));
        writer.getText('t').insert(writer.getText('t').length, char);
        return update;
      });
    const oldAppend = (updates: Uint8Array[]) =>
      old.query('SELECT concord_append($1::text[], $2::bytea[])', [updates.map(() => 'acme/doc'), updates.map((u) => Buffer.from(u))]);
    await oldAppend(typed('abcde')); // one row per update, numbered 1..5

    const store = await open(url); // applies migration 3
    await store.append([{ name: 'acme/doc', updates: typed('fghij') }]); // one record of five
    await oldAppend(typed('kl')); // an instance not yet upgraded
    await store.append([{ name: 'acme/doc', updates: typed('mn') }]);

    const loaded = await store.load('acme/doc');
    expect(loaded).toHaveLength(14);
    expect(seqsOf(loaded)).toEqual([...seqsOf(loaded)].sort((a, b) => a - b));
    expect(new Set(seqsOf(loaded)).size).toBe(14);
    expect(rebuild(loaded).getText('t').toString()).toBe('abcdefghijklmn');

    // A compaction that saw all but one entry of the first record keeps that one, and everything else still loads.
    const hidden = loaded[6]!;
    const visible = loaded.filter((entry) => entry !== hidden);
    await store.compact('acme/doc', Y.encodeStateAsUpdate(rebuild(visible)), seqsOf(visible));
    const after = await store.load('acme/doc');
    expect(after.map((e) => e.seq)).toEqual([hidden.seq, Math.max(...seqsOf(visible))].sort((a, b) => a - b));
    expect(rebuild(after).getText('t').toString()).toBe('abcdefghijklmn');
    await oldAppend(typed('o'));
    await store.append([{ name: 'acme/doc', updates: typed('p') }]);
    await compactAll(store, 'acme/doc');
    expect(rebuild(await store.load('acme/doc')).getText('t').toString()).toBe('abcdefghijklmnop');
  });

  test('a schema migrated by a newer Concord is refused', async () => {
    const { schema, url } = await freshSchema();
    await open(url);
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    onCleanup(() => client.end());
    await client.query(`INSERT INTO ${schema}.concord_migrations (version, name) VALUES (99, 'from the future')`);
    await expect(PostgresStore.open(url)).rejects.toThrow(/at migration 99, newer than this Concord knows \(8\); upgrade Concord/);
  });

  test('start-up failures say where and why, never the password', async () => {
    const refused = PostgresStore.open('postgres://concord:s3cr3t-pw@127.0.0.1:1/nowhere');
    await expect(refused).rejects.toThrow(/^cannot connect to PostgreSQL at 127\.0\.0\.1:1\/nowhere: .*ECONNREFUSED/);
    await expect(refused).rejects.not.toThrow(/s3cr3t-pw/);
    const noDatabase = new URL(DATABASE_URL);
    noDatabase.pathname = '/concord_no_such_database';
    await expect(PostgresStore.open(noDatabase.toString())).rejects.toThrow(/database "concord_no_such_database" does not exist/);
    await expect(PostgresStore.open(withSearchPath(DATABASE_URL, 'concord_no_such_schema'))).rejects.toThrow(
      /cannot prepare the Concord tables .*no schema of the search_path exists/,
    );
  });

  test('two instances compacting one document at once, from different loads, both succeed and lose nothing', async () => {
    const { url } = await freshSchema();
    const [a, b] = [await open(url), await open(url)];
    const writer = new Y.Doc();
    const updates: Uint8Array[] = [];
    writer.on('update', (update: Uint8Array) => updates.push(update));
    const type = (n: number) => {
      for (let i = 0; i < n; i++) writer.getText('t').insert(writer.getText('t').length, String(i % 10));
    };
    const appendTyped = async (store: DocumentStore, n: number) => {
      const from = updates.length;
      type(n);
      await store.append([{ name: 'acme/doc', updates: updates.slice(from) }]);
    };
    for (const order of ['older first', 'newer first']) {
      await appendTyped(a, 10);
      const older = await a.load('acme/doc');
      await appendTyped(b, 10);
      const newer = await b.load('acme/doc');
      await appendTyped(a, 5); // committed after both loads: neither compaction may touch it
      const compactOlder = () => a.compact('acme/doc', Y.encodeStateAsUpdate(rebuild(older)), older.map((e) => e.seq));
      const compactNewer = () => b.compact('acme/doc', Y.encodeStateAsUpdate(rebuild(newer)), newer.map((e) => e.seq));
      if (order === 'older first') await Promise.all([compactOlder(), compactNewer()]);
      else await Promise.all([compactNewer(), compactOlder()]);
      expect(rebuild(await a.load('acme/doc')).getText('t').toString(), order).toBe(writer.getText('t').toString());
    }
  });

  test('an append that drew its number but commits late is never dropped by a compaction another instance loaded for', async () => {
    const { schema, url } = await freshSchema();
    const appName = (role: string) => `${url}&application_name=${role}_${schema}`;
    const [late, fast, loader] = [await open(appName('late')), await open(url), await open(appName('loader'))];
    const admin = new pg.Client({ connectionString: DATABASE_URL });
    await admin.connect();
    onCleanup(() => admin.end());
    // A gate the test holds: inserts by the `late` instance wait on it after their row drew its number.
    const gate = `hashtext('${schema}')`;
    await admin.query(`
      CREATE FUNCTION ${schema}.gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_setting('application_name') = 'late_${schema}' THEN PERFORM pg_advisory_xact_lock_shared(${gate}); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER gate BEFORE INSERT ON ${schema}.concord_entries FOR EACH ROW EXECUTE FUNCTION ${schema}.gate();`);
    const waiting = async (role: string) =>
      (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [`${role}_${schema}`]))
        .rowCount === 1;

    const writer = new Y.Doc();
    const edit = (text: string) => {
      let update!: Uint8Array;
      writer.once('update', (u: Uint8Array) => (update = u));
      writer.getText('t').insert(writer.getText('t').length, text);
      return update;
    };
    await fast.append([{ name: 'acme/doc', updates: [edit('a'), edit('b')] }]);
    await admin.query(`SELECT pg_advisory_lock(${gate})`);
    const lateAppend = late.append([{ name: 'acme/doc', updates: [edit('L')] }]);
    await waitFor(() => waiting('late'), { message: 'the late append never reached the gate' });
    await fast.append([{ name: 'acme/doc', updates: [edit('c')] }]); // a higher number, committed first
    let loaded: readonly StoredEntry[] | undefined;
    const load = loader.load('acme/doc').then((entries) => (loaded = entries));
    await waitFor(async () => loaded !== undefined || (await waiting('loader')), { message: 'the load neither finished nor waited' });
    await admin.query(`SELECT pg_advisory_unlock(${gate})`);
    await Promise.all([lateAppend, load]);
    await compactAll(fast, 'acme/doc'); // another instance compacts after the late commit...
    const snapshot = Y.encodeStateAsUpdate(rebuild(loaded!)); // ...then the first load's compaction lands
    await loader.compact('acme/doc', snapshot, loaded!.map((e) => e.seq));
    expect(rebuild(await fast.load('acme/doc')).getText('t').toString()).toBe('abLc');
  });

  test('two instances writing and compacting one document at once: every update survives, no load goes backwards', async () => {
    const { gen } = seededRandom('postgres-two-instances');
    const { url } = await freshSchema();
    const stores = [await open(url), await open(url)];
    const name = 'acme/shared';
    const ROUNDS = 60;
    const writers = [1, 2, 3, 4].map((clientID) => {
      const doc = new Y.Doc();
      doc.clientID = clientID;
      return { doc, store: stores[clientID % 2]!, acked: 0, sizes: Array.from({ length: ROUNDS }, () => prng.int32(gen, 1, 40)) };
    });
    let writing = true;
    let compactions = 0;
    let checkedLoads = 0;

    const write = async (writer: (typeof writers)[number]) => {
      for (const size of writer.sizes) {
        const updates: Uint8Array[] = [];
        const collect = (update: Uint8Array) => updates.push(update);
        writer.doc.on('update', collect);
        for (let i = 0; i < size; i++) writer.doc.getText('t').insert(0, String.fromCharCode(97 + writer.doc.clientID));
        writer.doc.off('update', collect);
        await writer.store.append([{ name, updates }]);
        writer.acked = writer.doc.getText('t').length; // one character per clock tick, all this client's
      }
    };
    // Each instance keeps loading and compacting while the writers run; each load must hold everything acknowledged
    // before it began.
    const compactLoop = async (store: PostgresStore) => {
      while (writing) {
        const acked = writers.map((w) => w.acked);
        const entries = await store.load(name);
        const doc = rebuild(entries);
        const stateVector = Y.decodeStateVector(Y.encodeStateVector(doc));
        writers.forEach((w, i) => expect(stateVector.get(w.doc.clientID) ?? 0).toBeGreaterThanOrEqual(acked[i]!));
        checkedLoads += 1;
        if (entries.length >= 2) {
          await store.compact(name, Y.encodeStateAsUpdate(doc), entries.map((e) => e.seq));
          compactions += 1;
        }
      }
    };
    const loops = Promise.all([compactLoop(stores[0]!), compactLoop(stores[1]!), compactLoop(stores[1]!)]);
    await Promise.all(writers.map(write)).finally(() => (writing = false));
    await loops;

    const expected = new Y.Doc();
    for (const w of writers) Y.applyUpdate(expected, Y.encodeStateAsUpdate(w.doc));
    const fresh = await open(url);
    await compactAll(fresh, name);
    const stored = rebuild(await fresh.load(name));
    console.log(`[postgres-two-instances] ${compactions} compactions, ${checkedLoads} loads checked`);
    expect(compactions).toBeGreaterThan(5);
    expect(stored.store.pendingStructs).toBeNull();
    expect(Y.encodeStateVector(stored)).toEqual(Y.encodeStateVector(expected));
    expect(stored.getText('t').toString()).toBe(expected.getText('t').toString());
  });
});
