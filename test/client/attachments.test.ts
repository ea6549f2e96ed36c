/**
 * Attachments from the client (docs/attachments-design.md, Client), against a real server: `handle.attach` keeps the
 * file on the device, writes its `attachments` record (`pending`) and queues the upload, offline too; the queue
 * uploads whenever the client is connected, in the server's chunks, resuming from the server's offset after a cut (no
 * byte the server has is sent again), and after a reload; the record turns `uploaded` on every copy and another person
 * reads the same bytes through `client.fileUrl`; a file the server refuses for good ends `failed` with its reason and
 * leaves the outbox; a revoked document's files leave the device.
 *
 * File requests are watched by wrapping `fetch` (`watchFileRequests`): each one is logged with its offset, its bytes
 * and its answer, and a test can hold a request or lose its answer. The offset-resume test cuts the TCP proxy right
 * after the server answered a chunk and hands the client a network error instead of that answer: the server stored
 * the chunk, the client does not know it (the case of a connection cut while the answer travels, made deterministic).
 */
import { createHash } from 'node:crypto';
import type { AttachmentProgress, DocumentHandle, SyncClient } from '@concord/client';
import { ATTACHMENTS_COLLECTION, AttachmentRecord, RecordCollection } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../support/cleanup.js';
import type { TestServer } from '../support/server.js';
import { startTcpProxy, throughProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const MIB = 1024 * 1024;
const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';
const SIGNATURES: Record<string, number[]> = {
  'image/png': [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  'image/jpeg': [0xff, 0xd8, 0xff, 0xe0],
};

/** `size` bytes that start with `type`'s signature (the server checks it) and go on with a pattern from `seed`. */
function fileBytes(size: number, type: string, seed: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  bytes.set(SIGNATURES[type] ?? [], 0);
  return bytes;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function record(handle: DocumentHandle, id: string) {
  return new RecordCollection(AttachmentRecord, handle.doc.getMap(ATTACHMENTS_COLLECTION)).get(id)?.toJSON();
}

function progressOf(handle: DocumentHandle): AttachmentProgress[] {
  const events: AttachmentProgress[] = [];
  handle.on('attachment', (progress) => events.push(progress));
  return events;
}

interface FileRequest {
  readonly method: string;
  readonly path: string;
  readonly offset: number | null;
  readonly bytes: number;
  /** The server's status; 0 when it never answered. */
  status: number;
  /** The answer reached the server but was withheld from the client. */
  lost: boolean;
}

interface FileRequests {
  readonly log: FileRequest[];
  /** Holds every file request until the returned function is called. */
  hold(): () => void;
  /** Lets the server answer the first request `matches` accepts, then runs `then` and gives the client a network error. */
  loseAnswer(matches: (request: FileRequest) => boolean, then: () => void): void;
  patches(): FileRequest[];
}

/** Wraps `fetch` for this test: every request to `…/files…` is logged (see `FileRequests`). */
function watchFileRequests(): FileRequests {
  const original = globalThis.fetch;
  const log: FileRequest[] = [];
  let held: Promise<void> | null = null;
  let lose: { matches: (request: FileRequest) => boolean; then: () => void } | null = null;
  globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    if (!url.pathname.includes('/files')) return original(input, init);
    if (held) await held;
    const headers = new Headers(init?.headers);
    const body = init?.body;
    const entry: FileRequest = {
      method: init?.method ?? 'GET',
      path: url.pathname,
      offset: headers.has('Upload-Offset') ? Number(headers.get('Upload-Offset')) : null,
      bytes: body instanceof Uint8Array ? body.byteLength : 0,
      status: 0,
      lost: false,
    };
    log.push(entry);
    const response = await original(input, init);
    entry.status = response.status;
    if (lose?.matches(entry)) {
      const { then } = lose;
      lose = null;
      entry.lost = true;
      then();
      throw new TypeError('fetch failed');
    }
    return response;
  };
  onCleanup(() => {
    globalThis.fetch = original;
  });
  return {
    log,
    hold() {
      let release!: () => void;
      held = new Promise((resolve) => (release = resolve));
      return () => {
        held = null;
        release();
      };
    },
    loseAnswer(matches, then) {
      lose = { matches, then };
    },
    patches: () => log.filter((request) => request.method === 'PATCH'),
  };
}

/** What another person reads of the file: a signed URL from the server, fetched without credentials. */
async function download(server: Pick<TestServer, 'syncUrl'>, document: string, hash: string): Promise<{ url: string; bytes: Uint8Array }> {
  const reader: SyncClient = makeClient(server, { token: await token('bob'), persistence: false });
  const url = await reader.fileUrl(document, hash);
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return { url, bytes: new Uint8Array(await response.arrayBuffer()) };
}

const summaries = (handle: DocumentHandle) => handle.outbox().map((entry) => entry.summary);

/** The pieces attaching reads a file in (the client's `LOCAL_CHUNK_BYTES`). */
const PIECE_BYTES = 256 * 1024;

/**
 * A Blob that refuses to be read more than one piece at a time: reading it whole (`arrayBuffer`, `bytes`, `text`,
 * `stream`) or slicing more than `PIECE_BYTES` throws, as a phone out of memory would. Counts the pieces read.
 */
class PieceByPieceBlob extends Blob {
  slices = 0;

  override slice(start?: number, end?: number, type?: string): Blob {
    const piece = super.slice(start, end, type);
    if (piece.size > PIECE_BYTES) throw new RangeError(`asked for ${piece.size} bytes at once`);
    this.slices += 1;
    return piece;
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    throw new RangeError(`asked for the whole file (${this.size} bytes) at once`);
  }

  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    throw new RangeError(`asked for the whole file (${this.size} bytes) at once`);
  }

  override text(): Promise<string> {
    throw new RangeError(`asked for the whole file (${this.size} bytes) at once`);
  }

  override stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    throw new RangeError(`asked for the whole file (${this.size} bytes) at once`);
  }
}

/** `count` pieces of `PIECE_BYTES` (the last `last` bytes long), each its own pattern, the first a PNG signature. */
function largeFile(count: number, last: number): { pieces: Uint8Array[]; hash: string; size: number } {
  const pieces = Array.from({ length: count }, (_, index) => fileBytes(index === count - 1 ? last : PIECE_BYTES, index === 0 ? 'image/png' : '', 100 + index));
  const hash = pieces.reduce((digest, piece) => digest.update(piece), createHash('sha256')).digest('hex');
  return { pieces, hash, size: pieces.reduce((sum, piece) => sum + piece.byteLength, 0) };
}

/** The device's copy of a file, as `client.fileUrl` shows it. */
async function deviceCopy(client: SyncClient, document: string, hash: string): Promise<Uint8Array> {
  const url = await client.fileUrl(document, hash);
  expect(url).toMatch(/^blob:/);
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  URL.revokeObjectURL(url);
  return bytes;
}

describe('client attachments', () => {
  it('attached online: another copy sees the record pending, then uploaded, and reads the same bytes', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const requests = watchFileRequests();
    const alice = makeClient(server, { token: await token('alice') });
    const mine = alice.open('project-1');
    const bob = makeClient(server, { token: await token('bob'), persistence: false }).open('project-1');
    await Promise.all([mine.whenSynced(), bob.whenSynced()]);
    const seen: string[] = [];
    bob.doc.getMap(ATTACHMENTS_COLLECTION).observeDeep(() => {
      const state = [...new RecordCollection(AttachmentRecord, bob.doc.getMap(ATTACHMENTS_COLLECTION)).entries()][0]?.[1].get('state');
      if (state && seen.at(-1) !== state) seen.push(state);
    });
    const progress = progressOf(mine);

    const bytes = fileBytes(300 * 1024, 'image/png', 1);
    const release = requests.hold(); // the upload waits until Bob has seen the record pending
    const info = await mine.attach(new File([bytes as BlobPart], 'diagram.png', { type: 'image/png' }), { record: 'task-1' });
    expect(info).toEqual({ id: info.id, name: 'diagram.png', size: bytes.byteLength, type: 'image/png', hash: sha256(bytes), state: 'pending' });
    expect(record(mine, info.id)).toMatchObject({ name: 'diagram.png', state: 'pending', record: 'task-1', addedBy: 'alice', hash: info.hash });
    await waitFor(() => seen[0] === 'pending', { message: 'Bob to see the record pending' });
    release();

    await waitFor(() => record(bob, info.id)?.state === 'uploaded', { message: 'Bob to see the record uploaded' });
    expect(seen).toEqual(['pending', 'uploaded']);
    expect(record(bob, info.id)).toMatchObject({ name: 'diagram.png', size: bytes.byteLength, type: 'image/png', addedBy: 'alice' });
    await waitFor(() => mine.status.synced);
    expect(mine.outbox()).toEqual([]);
    expect(progress.at(-1)).toEqual({ id: info.id, hash: info.hash, name: 'diagram.png', state: 'uploaded', sent: bytes.byteLength, total: bytes.byteLength });
    expect(progress.map((p) => p.state)).toContain('uploading');

    const { url, bytes: read } = await download(server, 'project-1', info.hash);
    expect(url).toMatch(new RegExp(`^${server.url}/api/documents/project-1/files/${info.hash}\\?`));
    expect(sha256(read)).toBe(info.hash);
    // The author's device shows its own copy, without the network.
    const local = await alice.fileUrl('project-1', info.hash);
    expect(local).toMatch(/^blob:/);
    expect(sha256(new Uint8Array(await (await fetch(local)).arrayBuffer()))).toBe(info.hash);
    URL.revokeObjectURL(local);
  });

  it('attached offline: record and outbox entry at once, listed by pendingDocuments, nothing sent; uploaded by itself once online', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const requests = watchFileRequests();
    const alice = makeClient(server, { token: await token('alice') });
    const handle = alice.open('project-2');
    await handle.whenLoaded();

    const bytes = fileBytes(2_202_010, 'image/jpeg', 2); // 2.1 MB: three chunks of the server's 1 MiB
    const info = await handle.attach(new File([bytes as BlobPart], 'photo.jpg', { type: 'image/jpeg' }));
    expect(record(handle, info.id)).toMatchObject({ state: 'pending', addedBy: 'alice', size: bytes.byteLength });
    expect(summaries(handle)).toEqual(['photo.jpg (2.1 MB) waiting to upload']);
    expect(handle.outbox()[0]).toMatchObject({ kind: 'file', root: 'attachments', record: info.id, label: 'photo.jpg' });
    expect(handle.status.pendingChanges).toBe(1);
    await waitFor(async () => (await alice.pendingDocuments()).some((d) => d.name === 'project-2'));
    expect((await alice.pendingDocuments()).map((d) => [d.name, d.entries.map((e) => e.summary)])).toEqual([
      ['project-2', ['photo.jpg (2.1 MB) waiting to upload']],
    ]);
    await handle.close(); // the upload goes on with no screen open
    expect(requests.log).toEqual([]);

    await server.start();
    await waitFor(async () => (await alice.pendingDocuments()).length === 0, { timeoutMs: 20_000, message: 'the file to upload' });
    expect(requests.patches().map((p) => p.offset)).toEqual([0, MIB, 2 * MIB]);
    const bob = makeClient(server, { token: await token('bob'), persistence: false }).open('project-2');
    await waitFor(() => record(bob, info.id)?.state === 'uploaded', { message: 'the record to say uploaded' });
    expect(sha256((await download(server, 'project-2', info.hash)).bytes)).toBe(info.hash);
    expect(alice.documents()).toEqual([]); // opened to write the ending, closed again
  });

  it('a transfer cut mid-upload resumes from the offset the server has: no byte it stored is sent twice', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const requests = watchFileRequests();
    const alice = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: await token('alice') });
    const handle = alice.open('project-3');
    await handle.whenSynced();
    const progress = progressOf(handle);

    // The server stores the second chunk; the cut takes its answer: the client only knows the first one landed.
    requests.loseAnswer((request) => request.method === 'PATCH' && request.offset === MIB && request.status === 200, () => proxy.cut());
    const bytes = fileBytes(Math.round(2.5 * MIB), 'image/png', 3);
    const info = await handle.attach(new File([bytes as BlobPart], 'scan.png', { type: 'image/png' }));
    await waitFor(() => handle.status.state === 'offline', { message: 'the cut to reach the client' });
    await waitFor(() => progress.some((p) => p.state === 'waiting' && p.error !== undefined), { message: 'the upload to wait' });
    expect(record(handle, info.id)?.state).toBe('pending');
    expect(summaries(handle)).toEqual(['scan.png (2.5 MB) waiting to upload']);
    const beforeRestore = requests.log.length;

    proxy.restore();
    await waitFor(() => record(handle, info.id)?.state === 'uploaded', { timeoutMs: 20_000, message: 'the upload to resume and end' });
    const after = requests.log.slice(beforeRestore).filter((request) => request.status !== 0);
    expect(after[0]).toMatchObject({ method: 'HEAD', status: 200 }); // asks the server how far it got
    const stored = requests.patches().filter((request) => request.status !== 0);
    expect(stored.map((p) => [p.offset, p.bytes])).toEqual([
      [0, MIB],
      [MIB, MIB],
      [2 * MIB, bytes.byteLength - 2 * MIB],
    ]);
    expect(stored.reduce((sum, p) => sum + p.bytes, 0)).toBe(bytes.byteLength);
    expect(stored.some((p) => p.lost)).toBe(true);
    await waitFor(() => handle.outbox().length === 0);
    expect(sha256((await download(server, 'project-3', info.hash)).bytes)).toBe(info.hash);
  });

  it('a file refused for good (too large, a type not allowed) ends failed with the reason and leaves the outbox', async () => {
    freshIndexedDB();
    const server = await startTestServer({ maxFileBytes: 100_000 });
    const alice = makeClient(server, { token: await token('alice') });
    const handle = alice.open('project-4');
    await handle.whenSynced();
    const progress = progressOf(handle);
    const failures: string[] = [];
    alice.on('attachment', (document, p) => {
      if (p.state === 'failed') failures.push(`${document}: ${p.name}`);
    });

    const big = await handle.attach(new File([fileBytes(150_000, 'image/png', 4) as BlobPart], 'poster.png', { type: 'image/png' }));
    const binary = await handle.attach(new File([fileBytes(1000, 'application/x-msdownload', 5) as BlobPart], 'setup.exe', { type: 'application/x-msdownload' }));
    // The record is written before the upload leaves the queue and its `failed` event goes: wait for both.
    await waitFor(
      () => record(handle, big.id)?.state === 'failed' && record(handle, binary.id)?.state === 'failed' && progress.filter((p) => p.state === 'failed').length === 2,
      { message: 'both to fail' },
    );
    expect(record(handle, big.id)?.error).toMatch(/100000|too large|larger|over/i);
    expect(record(handle, binary.id)?.error).toMatch(/application\/x-msdownload/);
    const ended = progress.filter((p) => p.state === 'failed');
    expect(ended.map((p) => [p.id, p.error])).toEqual([
      [big.id, record(handle, big.id)?.error],
      [binary.id, record(handle, binary.id)?.error],
    ]);
    expect(failures).toEqual(['project-4: poster.png', 'project-4: setup.exe']);
    await waitFor(() => handle.outbox().length === 0 && handle.status.synced, { message: 'the outbox to empty' });
    expect(await alice.pendingDocuments()).toEqual([]);
  });

  it('a reload (a new client over the same IndexedDB) resumes a queued upload without opening the document', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const aliceToken = await token('alice');
    const first = makeClient(server, { token: aliceToken });
    const handle = first.open('project-5');
    await handle.whenLoaded();
    const bytes = fileBytes(40_000, 'image/png', 6);
    const info = await handle.attach(new File([bytes as BlobPart], 'chart.png', { type: 'image/png' }));
    await waitFor(() => handle.status.localCopy === 'saved');
    await first.destroy();

    globalThis.indexedDB = idb;
    const requests = watchFileRequests();
    const reloaded = makeClient(server, { token: aliceToken });
    expect((await reloaded.pendingDocuments()).map((d) => d.entries.map((e) => e.summary))).toEqual([['chart.png (39.1 KB) waiting to upload']]);
    const again = reloaded.open('project-5');
    await again.whenLoaded();
    expect(summaries(again)).toEqual(['chart.png (39.1 KB) waiting to upload']);
    await again.close();

    await server.start();
    await waitFor(async () => (await reloaded.pendingDocuments()).length === 0, { timeoutMs: 20_000, message: 'the upload to resume' });
    expect(requests.patches().map((p) => [p.offset, p.bytes])).toEqual([[0, bytes.byteLength]]);
    const bob = makeClient(server, { token: await token('bob'), persistence: false }).open('project-5');
    await waitFor(() => record(bob, info.id)?.state === 'uploaded');
    expect(sha256((await download(server, 'project-5', info.hash)).bytes)).toBe(info.hash);
  });

  it('a large file (20 MB) is read, hashed and kept a piece at a time: the device reads back the same bytes, the server gets the same SHA-256', { timeout: 60_000 }, async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice') });
    const handle = alice.open('project-7');
    await handle.whenSynced();
    const { pieces, hash, size } = largeFile(80, PIECE_BYTES - 1000);
    const file = new PieceByPieceBlob(pieces as BlobPart[], { type: 'image/png' });

    const info = await handle.attach(file, { name: 'video.png' });
    expect(info).toMatchObject({ size, hash, state: 'pending' });
    expect(file.slices).toBe(80);
    const kept = await deviceCopy(alice, 'project-7', hash);
    expect(kept.byteLength).toBe(size);
    expect(sha256(kept)).toBe(hash);
    await waitFor(() => record(handle, info.id)?.state === 'uploaded', { timeoutMs: 40_000, message: 'the upload to end' });
    expect(sha256((await download(server, 'project-7', hash)).bytes)).toBe(hash);
    // Nothing staged is left beside the kept pieces.
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = idb.open('concord-files/t1.alice');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const keys = await new Promise<IDBValidKey[]>((resolve) => {
      const request = db.transaction('chunks', 'readonly').objectStore('chunks').getAllKeys();
      request.onsuccess = () => resolve(request.result);
    });
    db.close();
    expect(keys).toHaveLength(80);
  });

  it('pieces a crash left mid-attach (staged, never kept) are deleted when the files database next opens', async () => {
    const idb = freshIndexedDB();
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = idb.open('concord-files/t1.alice');
      open.onupgradeneeded = () => ['files', 'chunks', 'queue'].forEach((store) => open.result.createObjectStore(store));
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    await new Promise<void>((resolve) => {
      const transaction = db.transaction('chunks', 'readwrite');
      transaction.objectStore('chunks').put(new Uint8Array(PIECE_BYTES), 'staged-crashed:0');
      transaction.objectStore('chunks').put(new Uint8Array(10), 'staged-crashed:1');
      transaction.oncomplete = () => resolve();
    });
    db.close();
    const server = await startTestServer();
    await server.stop();
    const alice = makeClient(server, { token: await token('alice') });
    const handle = alice.open('project-11');
    await handle.whenLoaded();
    const info = await handle.attach(new File([fileBytes(2000, 'image/png', 12) as BlobPart], 'after.png', { type: 'image/png' }));
    const reopened = await new Promise<IDBDatabase>((resolve) => {
      const open = idb.open('concord-files/t1.alice');
      open.onsuccess = () => resolve(open.result);
    });
    const keys = await new Promise<IDBValidKey[]>((resolve) => {
      const request = reopened.transaction('chunks', 'readonly').objectStore('chunks').getAllKeys();
      request.onsuccess = () => resolve(request.result);
    });
    reopened.close();
    expect(keys).toHaveLength(1);
    expect(String(keys[0])).toMatch(/^staged-[0-9a-f-]{36}:0$/);
    expect(sha256(await deviceCopy(alice, 'project-11', info.hash))).toBe(info.hash);
  });

  it('without IndexedDB (in memory) a file is read a piece at a time too, and never whole', async () => {
    const server = await startTestServer();
    await server.stop();
    const client = makeClient(server, { token: await token('alice'), persistence: false });
    const handle = client.open('project-8');
    await handle.whenLoaded();
    const { pieces, hash, size } = largeFile(9, 12_345);
    const file = new PieceByPieceBlob(pieces as BlobPart[], { type: 'image/png' });
    const info = await handle.attach(file, { name: 'clip.png' });
    expect(info).toMatchObject({ size, hash });
    expect(file.slices).toBe(9);
    expect(sha256(await deviceCopy(client, 'project-8', hash))).toBe(hash);
    expect(summaries(handle)).toEqual([`clip.png (${(size / MIB).toFixed(1)} MB) waiting to upload`]);
  });

  it('a record removed while its file waits (detach) cancels the upload: nothing is sent once online, and the bytes leave the device at close', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const requests = watchFileRequests();
    const alice = makeClient(server, { token: await token('alice') });
    const handle = alice.open('project-9');
    await handle.whenLoaded();
    const kept = await handle.attach(new File([fileBytes(3000, 'image/png', 9) as BlobPart], 'keep.png', { type: 'image/png' }));
    const removed = await handle.attach(new File([fileBytes(5000, 'image/png', 10) as BlobPart], 'drop.png', { type: 'image/png' }));
    expect(summaries(handle)).toHaveLength(2);

    expect(handle.detach(removed.id)).toBe(true);
    expect(record(handle, removed.id)).toBeUndefined();
    await waitFor(() => summaries(handle).length === 1, { message: 'the removed file to leave the outbox' });
    expect(summaries(handle)).toEqual(['keep.png (2.9 KB) waiting to upload']);

    await server.start();
    await waitFor(() => record(handle, kept.id)?.state === 'uploaded', { timeoutMs: 20_000, message: 'the kept file to upload' });
    await waitFor(() => handle.status.synced && handle.outbox().length === 0);
    expect(requests.log.filter((request) => request.method === 'POST').length).toBe(1);
    expect(requests.patches().map((p) => p.bytes)).toEqual([3000]);
    expect(await alice.fileUrl('project-9', removed.hash)).toMatch(/^blob:/); // kept while the document is open

    await handle.close();
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const open = idb.open('concord-files/t1.alice');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const files = await new Promise<IDBValidKey[]>((resolve) => {
      const request = db.transaction('files', 'readonly').objectStore('files').getAllKeys();
      request.onsuccess = () => resolve(request.result);
    });
    db.close();
    expect(files).toEqual([kept.hash]);
  });

  it('undoing an attach while it waits cancels its upload; redo queues it again', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const requests = watchFileRequests();
    const alice = makeClient(server, { token: await token('alice') });
    const handle = alice.open('project-10');
    await handle.whenLoaded();
    const info = await handle.attach(new File([fileBytes(4000, 'image/png', 11) as BlobPart], 'again.png', { type: 'image/png' }));
    handle.history.undo();
    await waitFor(() => handle.outbox().length === 0, { message: 'the undone file to leave the outbox' });
    handle.history.redo();
    await waitFor(() => summaries(handle).includes('again.png (3.9 KB) waiting to upload'), { message: 'the redone file to wait again' });
    await server.start();
    await waitFor(() => record(handle, info.id)?.state === 'uploaded', { timeoutMs: 20_000, message: 'the redone file to upload' });
    expect(requests.patches().map((p) => p.bytes)).toEqual([4000]);
  });

  it('a revoked document takes its waiting files off the device: reported as unsendable, queue and bytes deleted', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer({ apiKey: API_KEY });
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const requests = watchFileRequests();
    const client = makeClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, { token: await token('mallory') });
    const handle = client.open('project-6');
    const unsendable: string[] = [];
    handle.on('access', (change) => unsendable.push(...change.unsendable.map((entry) => entry.summary)));
    await handle.whenSynced();
    proxy.hangUp();
    await waitFor(() => handle.status.state === 'offline');
    const info = await handle.attach(new File([fileBytes(5000, 'image/png', 7) as BlobPart], 'secret.png', { type: 'image/png' }));
    expect(await client.fileUrl('project-6', info.hash)).toMatch(/^blob:/);

    const response = await fetch(`${server.url}/api/revocations?tenant=t1`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ user: 'mallory', documents: '*' }),
    });
    expect(response.status).toBe(200);
    proxy.restore();
    await waitFor(() => handle.status.state === 'unauthorized', { timeoutMs: 15_000 });
    expect(unsendable).toContain('secret.png (4.9 KB) waiting to upload');
    expect(handle.outbox()).toEqual([]);
    const stored = await waitFor(async () => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = idb.open('concord-files/t1.mallory');
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const count = (store: string) =>
        new Promise<number>((resolve) => {
          const request = db.transaction(store, 'readonly').objectStore(store).count();
          request.onsuccess = () => resolve(request.result);
        });
      const counts = [await count('queue'), await count('files'), await count('chunks')];
      db.close();
      return counts.every((n) => n === 0) ? counts : null;
    }, { message: 'the files of the revoked document to be deleted' });
    expect(stored).toEqual([0, 0, 0]);
    expect(requests.patches()).toEqual([]);
  });
});
