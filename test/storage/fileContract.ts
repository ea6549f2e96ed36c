/**
 * The FileStore contract (server/src/storage/FileStore.ts), as a suite every implementation runs:
 * `runFileStoreContract(name, harness)`: uploads in chunks that complete into a file read back byte for byte, one
 * upload per document, hash and caller, writes only at the upload's offset (of two racing, one wins), nothing kept of
 * bytes past the declared size or of a refused file, one file per hash and tenant and none across tenants, references
 * (firm, and provisional ones that lapse at the sweep unless made firm) and the sweep, and (with `reopen`) files and upload offsets that survive closing and opening the store again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { UploadOffsetError, type FileStore, type UploadDeclaration } from '@concord/server';
import * as prng from 'lib0/prng';
import { describe, expect, test } from 'vitest';
import { onCleanup } from '../support/cleanup.js';

export interface FileStoreHarness<S extends FileStore> {
  open(): Promise<S>;
  /** For persistent stores: close and open again over the same data. */
  reopen?: (store: S) => Promise<S>;
}

const T0 = 1_760_000_000_000;
const DAY = 24 * 3600 * 1000;
const KiB = 1024;

const bytesOf = (length: number, seed = length) => prng.uint8Array(prng.create(seed), length);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const accept = () => undefined;

function declaration(bytes: Uint8Array, fields: Partial<UploadDeclaration> = {}): UploadDeclaration {
  return { document: 'task-1', hash: sha256(bytes), size: bytes.byteLength, type: 'application/octet-stream', by: 'ann', ...fields };
}

async function readAll(store: FileStore, tenant: string, hash: string): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  for await (const piece of store.read(tenant, hash)) pieces.push(piece);
  return Buffer.concat(pieces);
}

/** Uploads `bytes` in chunks of `chunk` bytes and completes; returns the file. */
async function upload(store: FileStore, tenant: string, bytes: Uint8Array, chunk = 64 * KiB, fields: Partial<UploadDeclaration> = {}) {
  const started = await store.startUpload(tenant, declaration(bytes, fields), T0);
  let offset = started.offset;
  do {
    const part = bytes.subarray(offset, offset + chunk);
    offset = (await store.write(tenant, started.id, offset, part, T0)).offset;
  } while (offset < bytes.byteLength);
  return store.complete(tenant, started.id, accept, T0);
}

export function runFileStoreContract<S extends FileStore>(name: string, harness: FileStoreHarness<S>): void {
  describe(`FileStore contract: ${name}`, () => {
    /** Each store opened, and the newest over its data (closed when the test ends). */
    const handles = new WeakMap<object, { current: S }>();
    async function open(): Promise<S> {
      const store = await harness.open();
      const handle = { current: store };
      handles.set(store, handle);
      onCleanup(() => handle.current.close());
      return store;
    }
    async function reopen(store: S): Promise<S> {
      const handle = handles.get(store)!;
      handle.current = await harness.reopen!(store);
      handles.set(handle.current, handle);
      return handle.current;
    }

    test('an upload in chunks completes into the file, read back byte for byte; the upload is gone', async () => {
      const store = await open();
      const bytes = bytesOf(300 * KiB + 7);
      const started = await store.startUpload('acme', declaration(bytes), T0);
      expect(started).toMatchObject({ offset: 0, size: bytes.byteLength, document: 'task-1', by: 'ann' });
      expect(started.id).toMatch(/^[0-9a-f-]{36}$/);
      let offset = 0;
      for (const length of [100 * KiB, 100 * KiB, 100 * KiB + 7]) {
        const after = await store.write('acme', started.id, offset, bytes.subarray(offset, offset + length), T0 + offset);
        offset += length;
        expect(after.offset).toBe(offset);
        expect((await store.upload('acme', started.id))?.offset).toBe(offset);
      }
      expect(await store.file('acme', sha256(bytes))).toBeUndefined();
      let seen: { digest: string; head: Uint8Array } | undefined;
      const file = await store.complete('acme', started.id, (digest, head) => void (seen = { digest, head }), T0);
      expect(seen?.digest).toBe(sha256(bytes));
      expect(Buffer.from(seen!.head).equals(Buffer.from(bytes.subarray(0, seen!.head.byteLength)))).toBe(true);
      expect(seen!.head.byteLength).toBeGreaterThanOrEqual(16);
      expect(file).toEqual({ hash: sha256(bytes), size: bytes.byteLength, type: 'application/octet-stream' });
      expect(await store.file('acme', sha256(bytes))).toEqual(file);
      expect((await readAll(store, 'acme', file.hash)).equals(Buffer.from(bytes))).toBe(true);
      expect(await store.upload('acme', started.id)).toBeUndefined();
    });

    test('an empty file completes too', async () => {
      const store = await open();
      const file = await upload(store, 'acme', new Uint8Array(0));
      expect(file.size).toBe(0);
      expect((await readAll(store, 'acme', file.hash)).byteLength).toBe(0);
    });

    test('the same document, hash and caller get the same upload and its offset; another caller its own', async () => {
      const store = await open();
      const bytes = bytesOf(10 * KiB);
      const first = await store.startUpload('acme', declaration(bytes), T0);
      await store.write('acme', first.id, 0, bytes.subarray(0, 4 * KiB), T0);
      const again = await store.startUpload('acme', declaration(bytes), T0 + 1);
      expect(again.id).toBe(first.id);
      expect(again.offset).toBe(4 * KiB);
      const other = await store.startUpload('acme', declaration(bytes, { by: 'bob' }), T0);
      expect(other.id).not.toBe(first.id);
      expect(other.offset).toBe(0);
      const elsewhere = await store.startUpload('acme', declaration(bytes, { document: 'task-2' }), T0);
      expect(elsewhere.id).not.toBe(first.id);
    });

    test('a write at another offset than the upload\'s fails with the offset; of two racing at one, one wins', async () => {
      const store = await open();
      const bytes = bytesOf(64 * KiB);
      const started = await store.startUpload('acme', declaration(bytes), T0);
      await store.write('acme', started.id, 0, bytes.subarray(0, 16 * KiB), T0);
      await expect(store.write('acme', started.id, 0, bytes.subarray(0, 16 * KiB), T0)).rejects.toMatchObject({ offset: 16 * KiB });
      await expect(store.write('acme', started.id, 20 * KiB, bytes.subarray(20 * KiB, 24 * KiB), T0)).rejects.toBeInstanceOf(UploadOffsetError);
      const racing = await Promise.allSettled([
        store.write('acme', started.id, 16 * KiB, bytes.subarray(16 * KiB, 32 * KiB), T0),
        store.write('acme', started.id, 16 * KiB, bytes.subarray(16 * KiB, 40 * KiB), T0),
      ]);
      expect(racing.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = racing.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toBeInstanceOf(UploadOffsetError);
      const offset = (await store.upload('acme', started.id))!.offset;
      expect([32 * KiB, 40 * KiB]).toContain(offset);
      await store.write('acme', started.id, offset, bytes.subarray(offset), T0);
      const file = await store.complete('acme', started.id, accept, T0);
      expect((await readAll(store, 'acme', file.hash)).equals(Buffer.from(bytes))).toBe(true);
    });

    test('bytes past the declared size are refused and none of them kept', async () => {
      const store = await open();
      const bytes = bytesOf(8 * KiB);
      const started = await store.startUpload('acme', declaration(bytes), T0);
      await store.write('acme', started.id, 0, bytes.subarray(0, 4 * KiB), T0);
      await expect(store.write('acme', started.id, 4 * KiB, bytesOf(5 * KiB), T0)).rejects.toThrow();
      expect((await store.upload('acme', started.id))!.offset).toBe(4 * KiB);
      await store.write('acme', started.id, 4 * KiB, bytes.subarray(4 * KiB), T0);
      const file = await store.complete('acme', started.id, accept, T0);
      expect((await readAll(store, 'acme', file.hash)).equals(Buffer.from(bytes))).toBe(true);
    });

    test('a file refused on completion is not stored, and its upload is discarded', async () => {
      const store = await open();
      const bytes = bytesOf(8 * KiB);
      const started = await store.startUpload('acme', declaration(bytes), T0);
      await store.write('acme', started.id, 0, bytes, T0);
      const refusal = new Error('not what was declared');
      await expect(store.complete('acme', started.id, () => { throw refusal; }, T0)).rejects.toBe(refusal);
      expect(await store.file('acme', sha256(bytes))).toBeUndefined();
      expect(await store.upload('acme', started.id)).toBeUndefined();
      await expect(store.write('acme', started.id, 8 * KiB, new Uint8Array(0), T0)).rejects.toThrow(/upload/);
    });

    test('an upload completes only once all of it is there', async () => {
      const store = await open();
      const bytes = bytesOf(8 * KiB);
      const started = await store.startUpload('acme', declaration(bytes), T0);
      await store.write('acme', started.id, 0, bytes.subarray(0, KiB), T0);
      await expect(store.complete('acme', started.id, accept, T0)).rejects.toMatchObject({ offset: KiB });
    });

    test('one file per hash and tenant: a second upload of the same bytes keeps the first; tenants never share', async () => {
      const store = await open();
      const bytes = bytesOf(20 * KiB);
      await upload(store, 'acme', bytes, 8 * KiB, { type: 'image/png' });
      const second = await upload(store, 'acme', bytes, 8 * KiB, { document: 'task-2', type: 'image/png' });
      expect(second).toEqual({ hash: sha256(bytes), size: bytes.byteLength, type: 'image/png' });
      expect((await readAll(store, 'acme', second.hash)).equals(Buffer.from(bytes))).toBe(true);
      expect(await store.file('globex', sha256(bytes))).toBeUndefined();
      await expect(readAll(store, 'globex', sha256(bytes))).rejects.toThrow();
      await store.addReference('acme', sha256(bytes), 'task-1');
      expect(await store.refers('acme', sha256(bytes), 'task-1')).toBe(true);
      expect(await store.refers('globex', sha256(bytes), 'task-1')).toBe(false);
      expect(await store.upload('globex', randomUUID())).toBeUndefined();
    });

    test('references: the sweep removes a file unreferenced since the cutoff, keeps referenced and recent ones', async () => {
      const store = await open();
      const kept = bytesOf(4 * KiB, 1);
      const dropped = bytesOf(4 * KiB, 2);
      const neverReferenced = bytesOf(4 * KiB, 3);
      for (const bytes of [kept, dropped]) await store.addReference('acme', sha256(bytes), 'task-1');
      for (const bytes of [kept, dropped, neverReferenced]) await upload(store, 'acme', bytes);
      await store.addReference('acme', sha256(kept), 'task-2');
      await store.dropReference('acme', sha256(kept), 'task-1', T0 + DAY);
      await store.dropReference('acme', sha256(dropped), 'task-1', T0 + DAY);
      await store.dropReference('acme', sha256(dropped), 'task-1', T0 + 5 * DAY); // again: still unreferenced since day 1
      expect(await store.refers('acme', sha256(kept), 'task-1')).toBe(false);
      expect(await store.refers('acme', sha256(kept), 'task-2')).toBe(true);

      expect(await store.sweep(T0 + DAY - 1)).toMatchObject({ files: 1 }); // completed unreferenced at T0
      expect(await store.file('acme', sha256(neverReferenced))).toBeUndefined();
      expect(await store.file('acme', sha256(dropped))).toBeDefined();
      expect(await store.sweep(T0 + DAY)).toMatchObject({ files: 1 });
      expect(await store.file('acme', sha256(dropped))).toBeUndefined();
      await expect(readAll(store, 'acme', sha256(dropped))).rejects.toThrow();
      expect(await store.file('acme', sha256(kept))).toBeDefined();
      expect(await store.sweep(T0 + 100 * DAY)).toMatchObject({ files: 0 });
      expect((await readAll(store, 'acme', sha256(kept))).equals(Buffer.from(kept))).toBe(true);

      // Referenced again before the sweep: kept, and its clock starts over when it goes again.
      await store.dropReference('acme', sha256(kept), 'task-2', T0 + 10 * DAY);
      expect(await store.sweep(T0 + 9 * DAY)).toMatchObject({ files: 0 }); // unreferenced since day 10, not day 1
      await store.addReference('acme', sha256(kept), 'task-3');
      expect(await store.sweep(T0 + 100 * DAY)).toMatchObject({ files: 0 });
      await store.dropReference('acme', sha256(kept), 'task-3', T0 + 50 * DAY);
      expect(await store.sweep(T0 + 49 * DAY)).toMatchObject({ files: 0 });
      expect(await store.sweep(T0 + 50 * DAY)).toMatchObject({ files: 1 });
    });

    test('provisional references: one lapses at the sweep past its time and its file goes; one made firm stays; made again, its time is renewed', async () => {
      const store = await open();
      const lapsing = bytesOf(4 * KiB, 21);
      const confirmed = bytesOf(4 * KiB, 22);
      const renewed = bytesOf(4 * KiB, 23);
      const abandoned = bytesOf(4 * KiB, 24);
      for (const bytes of [lapsing, confirmed, renewed]) {
        await store.addReference('acme', sha256(bytes), 'task-1', { provisionalAt: T0 }); // an upload start
        await upload(store, 'acme', bytes);
      }
      await store.startUpload('acme', declaration(abandoned), T0);
      await store.addReference('acme', sha256(abandoned), 'task-1', { provisionalAt: T0 });
      expect(await store.refers('acme', sha256(lapsing), 'task-1')).toBe(true); // readable through it at once
      await store.addReference('acme', sha256(confirmed), 'task-2', { provisionalAt: T0 }); // a dedup answer
      await store.addReference('acme', sha256(confirmed), 'task-1'); // its record: firm now
      await store.addReference('acme', sha256(confirmed), 'task-1', { provisionalAt: T0 + DAY }); // another start: still firm
      await store.addReference('acme', sha256(renewed), 'task-1', { provisionalAt: T0 + 3 * DAY }); // started again
      await store.addReference('acme', sha256(renewed), 'task-1', { provisionalAt: T0 + DAY }); // never made earlier

      expect(await store.sweep(T0 - 1)).toEqual({ files: 0, uploads: 0 });
      expect(await store.refers('acme', sha256(lapsing), 'task-1')).toBe(true);
      // Lapsed at T0: `lapsing` is unreferenced since then and goes in the same sweep; `abandoned` was never stored.
      expect(await store.sweep(T0)).toEqual({ files: 1, uploads: 1 });
      expect(await store.file('acme', sha256(lapsing))).toBeUndefined();
      expect(await store.refers('acme', sha256(lapsing), 'task-1')).toBe(false);
      expect(await store.refers('acme', sha256(abandoned), 'task-1')).toBe(false);
      expect(await store.refers('acme', sha256(confirmed), 'task-2')).toBe(false);
      expect(await store.refers('acme', sha256(confirmed), 'task-1')).toBe(true);
      expect(await store.refers('acme', sha256(renewed), 'task-1')).toBe(true);

      expect(await store.sweep(T0 + 3 * DAY - 1)).toEqual({ files: 0, uploads: 0 });
      expect(await store.file('acme', sha256(renewed))).toBeDefined();
      expect(await store.sweep(T0 + 3 * DAY)).toEqual({ files: 1, uploads: 0 });
      expect(await store.file('acme', sha256(renewed))).toBeUndefined();

      expect(await store.sweep(T0 + 100 * DAY)).toEqual({ files: 0, uploads: 0 });
      expect((await readAll(store, 'acme', sha256(confirmed))).equals(Buffer.from(confirmed))).toBe(true);
      // A provisional reference dropped (its record removed) goes at once, as a firm one does.
      await store.addReference('acme', sha256(confirmed), 'task-3', { provisionalAt: T0 + 200 * DAY });
      await store.dropReference('acme', sha256(confirmed), 'task-1', T0 + 101 * DAY);
      await store.dropReference('acme', sha256(confirmed), 'task-3', T0 + 102 * DAY);
      expect(await store.refers('acme', sha256(confirmed), 'task-3')).toBe(false);
      expect(await store.sweep(T0 + 101 * DAY)).toEqual({ files: 0, uploads: 0 });
      expect(await store.sweep(T0 + 102 * DAY)).toEqual({ files: 1, uploads: 0 });
    });

    test('the sweep removes uploads not written to since the cutoff', async () => {
      const store = await open();
      const stale = await store.startUpload('acme', declaration(bytesOf(KiB, 1)), T0);
      const fresh = await store.startUpload('acme', declaration(bytesOf(KiB, 2)), T0);
      await store.write('acme', fresh.id, 0, bytesOf(KiB, 2).subarray(0, 10), T0 + DAY);
      expect(await store.sweep(T0 + 1)).toEqual({ files: 0, uploads: 1 });
      expect(await store.upload('acme', stale.id)).toBeUndefined();
      expect((await store.upload('acme', fresh.id))?.offset).toBe(10);
    });

    if (harness.reopen) {
      test('files, references and upload offsets survive closing and opening the store again', async () => {
        let store = await open();
        const whole = bytesOf(200 * KiB, 9);
        const file = await upload(store, 'acme', whole);
        await store.addReference('acme', file.hash, 'task-1');
        await store.addReference('acme', file.hash, 'task-2', { provisionalAt: T0 + DAY });
        const partial = bytesOf(100 * KiB, 10);
        const started = await store.startUpload('acme', declaration(partial), T0);
        await store.write('acme', started.id, 0, partial.subarray(0, 60 * KiB), T0);

        store = await reopen(store);
        expect((await readAll(store, 'acme', file.hash)).equals(Buffer.from(whole))).toBe(true);
        expect(await store.refers('acme', file.hash, 'task-1')).toBe(true);
        expect(await store.refers('acme', file.hash, 'task-2')).toBe(true);
        const resumed = await store.startUpload('acme', declaration(partial), T0 + 1);
        expect(resumed).toMatchObject({ id: started.id, offset: 60 * KiB });
        await store.write('acme', started.id, 60 * KiB, partial.subarray(60 * KiB), T0);
        const completed = await store.complete('acme', started.id, accept, T0);
        expect((await readAll(store, 'acme', completed.hash)).equals(Buffer.from(partial))).toBe(true);
        await store.sweep(T0 + DAY - 1);
        expect(await store.refers('acme', file.hash, 'task-2')).toBe(true); // still provisional, since day 1
        await store.sweep(T0 + DAY);
        expect(await store.refers('acme', file.hash, 'task-2')).toBe(false);
        expect(await store.refers('acme', file.hash, 'task-1')).toBe(true);
      });
    }
  });
}
