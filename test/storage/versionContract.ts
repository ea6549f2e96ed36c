/**
 * The VersionStore contract (server/src/storage/VersionStore.ts), as a suite every implementation runs:
 * `runVersionStoreContract(name, harness)`; persistent stores also show that versions survive a reopen, and stores
 * several instances share (PostgreSQL) that instances saving at once keep one version.
 */
import { newVersionId, type VersionInfo, type VersionStore } from '@concord/server';
import * as prng from 'lib0/prng';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { onCleanup } from '../support/cleanup.js';

type Store = VersionStore & { close(): Promise<void> };

export interface VersionStoreHarness<S extends Store> {
  open(): Promise<S>;
  /** For persistent stores: close and open again over the same data. */
  reopen?: (store: S) => Promise<S>;
  /** For stores several instances share: another instance over the same data, `store` staying open. */
  share?: (store: S) => Promise<S>;
}

const T0 = 1_760_000_000_000;
const MiB = 1024 * 1024;

/** A version id for `at` whose random part is `fraction` (0 ≤ fraction < 1), so tests choose how ids compare. */
const idAt = (at: number, fraction = Math.random()) => newVersionId(at, () => fraction);

const version = (at: number, fields: Partial<VersionInfo> = {}): VersionInfo => ({
  id: idAt(at),
  name: null,
  at,
  by: 'bob',
  byName: 'Bob',
  auto: true,
  reason: 'edits',
  bytes: 0,
  ...fields,
});

/** A real Yjs state: a document holding `text` (and, with `blobBytes`, that many incompressible bytes). */
function stateOf(text: string, blobBytes = 0): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  if (blobBytes > 0) doc.getMap('m').set('blob', prng.uint8Array(prng.create(7), blobBytes));
  return Y.encodeStateAsUpdate(doc);
}

const textOf = (state: Uint8Array) => {
  const doc = new Y.Doc();
  Y.applyUpdate(doc, state);
  return doc.getText('t').toString();
};

/** Byte for byte, whatever Uint8Array subclass comes back. */
function expectSameBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual!.byteLength).toBe(expected.byteLength);
  expect(Buffer.from(actual!.buffer, actual!.byteOffset, actual!.byteLength).equals(Buffer.from(expected))).toBe(true);
}

export function runVersionStoreContract<S extends Store>(name: string, harness: VersionStoreHarness<S>): void {
  describe(`VersionStore contract: ${name}`, () => {
    async function open(): Promise<S> {
      const store = await harness.open();
      onCleanup(() => store.close().catch(() => undefined));
      return store;
    }

    /** Saves `info` with a state of its own (`bytes` set to its size); returns the description as saved. */
    async function save(store: S, document: string, info: VersionInfo, text = `${document} ${info.id}`): Promise<VersionInfo> {
      const state = stateOf(text);
      const saved = { ...info, bytes: state.byteLength };
      expect(await store.saveVersion(document, saved, state)).toBe(true);
      return saved;
    }

    test('a new store holds no versions', async () => {
      const store = await open();
      expect(await store.listVersions('acme/doc')).toEqual([]);
      expect(await store.loadVersion('acme/doc', idAt(T0))).toBeUndefined();
      expect(await store.pruneVersions('acme/doc', T0)).toBe(0);
    });

    test('versions list back field for field, newest first; equal times, the greater id first', async () => {
      const store = await open();
      const named = await save(store, 'acme/doc', version(T0 + 20, { id: idAt(T0 + 20, 0.5), name: 'Ünïcode: draft #2 / "final"', auto: false, reason: 'named', by: 'ünï user/with:odd', byName: 'Ünï Ödd' }));
      const oldest = await save(store, 'acme/doc', version(T0, { id: idAt(T0, 0.3) }));
      const tieLow = await save(store, 'acme/doc', version(T0 + 10, { id: idAt(T0 + 10, 0.1), reason: 'restore', by: 'carol', byName: 'Carol' }));
      const newest = await save(store, 'acme/doc', version(T0 + 30, { id: idAt(T0 + 30, 0.2) }));
      const tieHigh = await save(store, 'acme/doc', version(T0 + 10, { id: idAt(T0 + 10, 0.9) }));
      // An id that sorts below the others of its time although saved later: the order is by `at`, not by id or save.
      const late = await save(store, 'acme/doc', version(T0 + 25, { id: idAt(T0 + 5, 0.99) }));
      expect(tieHigh.id > tieLow.id).toBe(true);

      const listed = await store.listVersions('acme/doc');
      expect(listed).toStrictEqual([newest, late, named, tieHigh, tieLow, oldest]);
      expect(listed[2]!.name).toBe('Ünïcode: draft #2 / "final"');
    });

    test('a version loads back byte for byte, a large one too; an id the document does not have loads undefined', async () => {
      const store = await open();
      const small = stateOf('hello, versions — ünïcode ✓');
      const large = stateOf('large', MiB);
      expect(large.byteLength).toBeGreaterThan(MiB);
      const a = version(T0, { bytes: small.byteLength });
      const b = version(T0 + 1, { bytes: large.byteLength, name: 'big', auto: false, reason: 'named' });
      expect(await store.saveVersion('acme/doc', a, small)).toBe(true);
      expect(await store.saveVersion('acme/doc', b, large)).toBe(true);

      const loadedSmall = await store.loadVersion('acme/doc', a.id);
      expectSameBytes(loadedSmall, small);
      expect(textOf(loadedSmall!)).toBe('hello, versions — ünïcode ✓');
      const loadedLarge = await store.loadVersion('acme/doc', b.id);
      expectSameBytes(loadedLarge, large);
      expect(textOf(loadedLarge!)).toBe('large');
      expect((await store.listVersions('acme/doc')).map((v) => v.bytes)).toEqual([large.byteLength, small.byteLength]);

      expect(await store.loadVersion('acme/doc', idAt(T0 + 2))).toBeUndefined();
      expect(await store.loadVersion('acme/other', a.id)).toBeUndefined();
      expect(await store.loadVersion('acme/doc', '')).toBeUndefined();
    });

    test('documents never see each other\'s versions, whatever their names', async () => {
      const store = await open();
      // Odd names, names that are prefixes of others, and one id in several documents (ids are unique per document).
      const documents = ['acme/ünï:code doc', '__proto__', 'acme/doc', 'acme/doc2', 'acme/doc:2', 'acme/doc;', 'globex/doc'];
      const id = idAt(T0, 0.5);
      const saved = new Map<string, VersionInfo>();
      for (const [i, document] of documents.entries()) {
        saved.set(document, await save(store, document, version(T0 + i, { id, by: `user-${i}` }), `state of ${document}`));
      }
      for (const document of documents) {
        expect(await store.listVersions(document), document).toStrictEqual([saved.get(document)]);
        expect(textOf((await store.loadVersion(document, id))!), document).toBe(`state of ${document}`);
      }
      expect(await store.listVersions('acme')).toEqual([]);
      expect(await store.listVersions('acme/')).toEqual([]);

      // A prune (or a conditional save) of one document leaves the others alone.
      expect(await store.pruneVersions('acme/doc', T0 + 1_000)).toBe(1);
      // acme/doc2's own version is at T0 + 3: those of acme/doc:2 and acme/doc; (above the bound) do not count.
      expect(await store.saveVersion('acme/doc2', version(T0 + 100), stateOf('x'), { unlessNewerThan: T0 + 3 })).toBe(true);
      for (const document of documents.filter((d) => d !== 'acme/doc' && d !== 'acme/doc2')) {
        expect(await store.listVersions(document), document).toStrictEqual([saved.get(document)]);
        expect(textOf((await store.loadVersion(document, id))!), document).toBe(`state of ${document}`);
      }
      expect(await store.listVersions('acme/doc')).toEqual([]);
      expect(await store.loadVersion('acme/doc', id)).toBeUndefined();
    });

    test('unlessNewerThan: nothing is saved, and false returned, when the document has a version above it', async () => {
      const store = await open();
      const document = 'acme/doc';
      // No version at all: saved.
      const first = version(T0, { bytes: 1 });
      expect(await store.saveVersion(document, first, stateOf('first'), { unlessNewerThan: T0 - 1 })).toBe(true);
      // A named version counts as much as an automatic one.
      const named = await save(store, document, version(T0 + 100, { name: 'v1', auto: false, reason: 'named' }));

      const skipped = version(T0 + 200);
      expect(await store.saveVersion(document, skipped, stateOf('skipped'), { unlessNewerThan: T0 + 99 })).toBe(false);
      expect(await store.loadVersion(document, skipped.id)).toBeUndefined();
      expect(await store.listVersions(document)).toStrictEqual([named, first]);

      // A version exactly at the bound is not above it; bounds need not be whole milliseconds.
      const atBound = version(T0 + 200);
      expect(await store.saveVersion(document, atBound, stateOf('at bound'), { unlessNewerThan: T0 + 100 })).toBe(true);
      const fractionalSkipped = version(T0 + 300);
      expect(await store.saveVersion(document, fractionalSkipped, stateOf('x'), { unlessNewerThan: T0 + 199.5 })).toBe(false);
      const fractionalSaved = version(T0 + 300);
      expect(await store.saveVersion(document, fractionalSaved, stateOf('saved'), { unlessNewerThan: T0 + 200.5 })).toBe(true);

      expect(await store.listVersions(document)).toStrictEqual([fractionalSaved, atBound, named, first]);
      expect(textOf((await store.loadVersion(document, fractionalSaved.id))!)).toBe('saved');
      expect(await store.loadVersion(document, fractionalSkipped.id)).toBeUndefined();
      // Without the option, a save never checks.
      const plain = version(T0 + 50);
      expect(await store.saveVersion(document, plain, stateOf('plain'))).toBe(true);
      expect((await store.listVersions(document)).map((v) => v.id)).toContain(plain.id);
    });

    test('saves unlessNewerThan at once keep exactly one version', async () => {
      const first = await open();
      const second = harness.share ? await harness.share(first) : first;
      if (second !== first) onCleanup(() => second.close().catch(() => undefined));
      const stores = [first, second];
      for (let round = 0; round < 5; round++) {
        const document = `acme/race-${round}`;
        const old = await save(first, document, version(T0));
        const contenders = Array.from({ length: 5 }, (_, i) => version(T0 + 1_000 + i));
        const results = await Promise.all(
          contenders.map((v, i) => stores[i % 2]!.saveVersion(document, v, stateOf(`contender ${i}`), { unlessNewerThan: T0 + 500 })),
        );
        expect(results.filter(Boolean), `round ${round}: ${JSON.stringify(results)}`).toHaveLength(1);
        const winner = contenders[results.indexOf(true)]!;
        expect(await first.listVersions(document)).toStrictEqual([winner, old]);
        for (const [i, v] of contenders.entries()) {
          const loaded = await second.loadVersion(document, v.id);
          if (v === winner) expect(textOf(loaded!)).toBe(`contender ${i}`);
          else expect(loaded).toBeUndefined();
        }
      }
    });

    test('a prune deletes the automatic versions below its bound, states too, and says how many; named ones stay', async () => {
      const store = await open();
      const document = 'acme/doc';
      const oldEdits = await save(store, document, version(T0));
      const oldRestore = await save(store, document, version(T0 + 10, { reason: 'restore' }));
      const oldNamed = await save(store, document, version(T0 + 5, { name: 'keep me', auto: false, reason: 'named' }));
      const atBound = await save(store, document, version(T0 + 20));
      const recent = await save(store, document, version(T0 + 30));

      expect(await store.pruneVersions(document, T0 + 20)).toBe(2);
      expect(await store.listVersions(document)).toStrictEqual([recent, atBound, oldNamed]);
      expect(await store.loadVersion(document, oldEdits.id)).toBeUndefined();
      expect(await store.loadVersion(document, oldRestore.id)).toBeUndefined();
      expect(textOf((await store.loadVersion(document, oldNamed.id))!)).toBe(`${document} ${oldNamed.id}`);
      expect(textOf((await store.loadVersion(document, atBound.id))!)).toBe(`${document} ${atBound.id}`);
      expect(await store.pruneVersions(document, T0 + 20)).toBe(0);

      // Bounds need not be whole milliseconds; a bound past everything still keeps the named ones.
      expect(await store.pruneVersions(document, T0 + 20.5)).toBe(1);
      expect(await store.listVersions(document)).toStrictEqual([recent, oldNamed]);
      expect(await store.pruneVersions(document, T0 + 1_000_000)).toBe(1);
      expect(await store.listVersions(document)).toStrictEqual([oldNamed]);
      expect(await store.loadVersion(document, recent.id)).toBeUndefined();
      expect(await store.pruneVersions('acme/nothing', T0 + 1_000_000)).toBe(0);
    });

    // Only persistent stores can reopen; a memory store has no such test (rather than one that passes doing nothing).
    const reopen = harness.reopen;
    if (reopen) {
      test('a save resolves once durable: versions are there after a reopen, a prune stays done', async () => {
        let store = await open();
        const large = stateOf('large', MiB);
        const named = version(T0 + 1, { name: 'release', auto: false, reason: 'named', bytes: large.byteLength });
        expect(await store.saveVersion('acme/ünï:code doc', named, large)).toBe(true);
        const auto = await save(store, 'acme/ünï:code doc', version(T0 + 2));
        const pruned = await save(store, 'acme/ünï:code doc', version(T0));
        expect(await store.pruneVersions('acme/ünï:code doc', T0 + 1)).toBe(1);
        store = await reopen(store);
        onCleanup(() => store.close().catch(() => undefined));
        expect(await store.listVersions('acme/ünï:code doc')).toStrictEqual([auto, named]);
        expectSameBytes(await store.loadVersion('acme/ünï:code doc', named.id), large);
        expect(textOf((await store.loadVersion('acme/ünï:code doc', auto.id))!)).toBe(`acme/ünï:code doc ${auto.id}`);
        expect(await store.loadVersion('acme/ünï:code doc', pruned.id)).toBeUndefined();
      });
    }
  });
}
