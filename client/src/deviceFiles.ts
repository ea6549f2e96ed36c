/**
 * Attached files on this device: their bytes, and the uploads still to do (docs/attachments-design.md, Client).
 *
 * The rule: a file is kept whole or not at all. Its bytes are written as they are read (`stage`: pieces of
 * `LOCAL_CHUNK_BYTES`, as `Uint8Array`s, which every IndexedDB stores, under a staging id), so a file larger than the
 * memory at hand is never held whole; then one transaction (`StagedFile.keep`) records the file (its pieces stay
 * where they were written), its description and its queued upload, so a crash or a full disk leaves either
 * everything or nothing, and a queued upload always finds its bytes. Pieces no file record points to (a crash or a
 * closed tab mid-way) are deleted the next time the database is opened, unless a tab still writes them (it holds a
 * Web Lock named after them while it does). The bytes of a file stay after its upload (the author's device shows it
 * without downloading); they go with the last document on this device that refers to them (`release`: its last
 * record there was removed; `forgetDocument`: the document was revoked) or with the namespace (`clearLocalData`).
 * Each namespace has its own database, `concord-files/<namespace>`, beside the documents'. Without IndexedDB
 * (persistence off, no namespace) the same contract holds in memory, for this session only.
 */
import * as idb from 'lib0/indexeddb';
import { uuidv4 } from 'lib0/random';

const DATABASE_PREFIX = 'concord-files';
/** Pieces the bytes are stored in: small enough for any IndexedDB value, large enough to be few. */
export const LOCAL_CHUNK_BYTES = 256 * 1024;
const FILES = 'files';
const CHUNKS = 'chunks';
const QUEUE = 'queue';
/** The start of a staging id: the pieces of a file written before it is kept, and after, are under `staged-<uuid>:<n>`. */
const STAGED_PREFIX = 'staged-';

export function filesDatabaseName(namespace: string): string {
  return `${DATABASE_PREFIX}/${encodeURIComponent(namespace)}`;
}

/** A file kept on this device. */
export interface DeviceFile {
  readonly hash: string;
  readonly size: number;
  readonly type: string;
  /** The documents on this device whose attachments refer to it. */
  readonly documents: readonly string[];
  /** The key prefix of its pieces: the staging id they were written under (absent: the hash, for files kept before). */
  readonly pieces?: string;
}

/** An upload still to do: one attachment record of one document. */
export interface QueuedUpload {
  readonly document: string;
  /** The attachment record's id. */
  readonly id: string;
  readonly hash: string;
  readonly name: string;
  readonly size: number;
  readonly type: string;
  readonly addedAt: number;
  /** The server's upload id, once it gave one (to ask it how far the upload is after a dropped connection). */
  readonly upload: string | null;
  /** The largest piece the server takes at once, as it said when it gave the upload id. */
  readonly chunkBytes: number | null;
}

export const queueKey = (upload: Pick<QueuedUpload, 'document' | 'id'>): string => `${upload.document}\u0000${upload.id}`;
const chunkKey = (prefix: string, index: number): string => `${prefix}:${index}`;
const piecesOf = (file: DeviceFile): string => file.pieces ?? file.hash;
/** Every piece key under `prefix` (`prefix:0` … `prefix:<n>`; ';' follows ':'). */
const piecesRange = (prefix: string): IDBKeyRange => IDBKeyRange.bound(`${prefix}:`, `${prefix};`, false, true);

/** A file being written to the device, piece by piece, before it is kept (see the rule above). */
export interface StagedFile {
  /** Appends the next piece (at most `LOCAL_CHUNK_BYTES`). */
  write(piece: Uint8Array): Promise<void>;
  /** Keeps the written bytes as `upload.hash` (unless kept already) for `upload.document`, and queues `upload`; all or nothing. */
  keep(upload: QueuedUpload): Promise<void>;
  /** Deletes what was written (the attaching failed). */
  discard(): Promise<void>;
}

/** The seam: IndexedDB on a device, memory without one. */
export interface DeviceFiles {
  /** What the Web Locks of its uploads are named after (its database); null when no other tab shares it (memory). */
  readonly scope: string | null;
  /** Starts writing a file's bytes (see `StagedFile`). */
  stage(): Promise<StagedFile>;
  file(hash: string): Promise<DeviceFile | undefined>;
  /** Bytes `from` (inclusive) to `to` (exclusive) of a kept file; throws when it is not kept. */
  read(hash: string, from: number, to: number): Promise<Uint8Array>;
  queued(): Promise<QueuedUpload[]>;
  /** Rewrites a queued upload (its server upload id); does nothing when it left the queue meanwhile. */
  update(upload: QueuedUpload): Promise<void>;
  /** Takes an upload off the queue (done, refused for good, or its record removed); the bytes stay. */
  dequeue(upload: Pick<QueuedUpload, 'document' | 'id'>): Promise<void>;
  /** Queues `upload` again if its bytes are kept here for its document (its record came back); false when they are not. */
  requeue(upload: QueuedUpload): Promise<boolean>;
  /** The document no longer refers to the file: its bytes go when no other document on this device does. */
  release(document: string, hash: string): Promise<void>;
  /** Removes the document's queued uploads, and the files no other document on this device refers to. */
  forgetDocument(document: string): Promise<void>;
  close(): Promise<void>;
}

function join(pieces: readonly Uint8Array[], firstOffset: number, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  let at = firstOffset;
  for (const piece of pieces) {
    const start = Math.max(from, at);
    const end = Math.min(to, at + piece.byteLength);
    if (end > start) out.set(piece.subarray(start - at, end - at), start - from);
    at += piece.byteLength;
  }
  return out;
}

/** The bytes of a queued upload are gone from the device (site data cleared by the browser or the person). */
export class MissingFileError extends Error {
  constructor(hash: string) {
    super(`the file ${hash} is no longer on this device`);
    this.name = 'MissingFileError';
  }
}

function missing(hash: string): Error {
  return new MissingFileError(hash);
}

/** Resolves once the transaction of `store` is committed (a request can succeed and its transaction still abort). */
function committed(store: IDBObjectStore): Promise<void> {
  const transaction = store.transaction;
  return new Promise((resolve, reject) => {
    transaction.addEventListener('complete', () => resolve());
    transaction.addEventListener('abort', () => reject(transaction.error ?? new DOMException('the write was aborted', 'AbortError')));
    transaction.addEventListener('error', () => reject(transaction.error ?? new DOMException('the write failed', 'UnknownError')));
  });
}

/** The Web Locks of this origin, where the browser has them (not in every runtime). */
function webLocks(): LockManager | undefined {
  return typeof navigator === 'undefined' ? undefined : navigator.locks;
}

/** Pieces are written whole: every one but the last has `LOCAL_CHUNK_BYTES` (reads find them by offset). */
class PieceCount {
  count = 0;
  size = 0;
  private ended = false;

  add(piece: Uint8Array): void {
    if (this.ended || piece.byteLength === 0 || piece.byteLength > LOCAL_CHUNK_BYTES) {
      throw new RangeError(`a piece of a file has up to ${LOCAL_CHUNK_BYTES} bytes, and only the last has fewer`);
    }
    this.ended = piece.byteLength < LOCAL_CHUNK_BYTES;
    this.count += 1;
    this.size += piece.byteLength;
  }
}

/** A piece as it is stored: its own buffer (a view would store its whole buffer). */
const own = (piece: Uint8Array): Uint8Array => (piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength ? piece : piece.slice());

class IndexedDBStaging implements StagedFile {
  private readonly pieces = new PieceCount();
  private readonly db: IDBDatabase;
  private readonly id: string;
  private readonly unlock: () => void;

  constructor(db: IDBDatabase, id: string, unlock: () => void) {
    this.db = db;
    this.id = id;
    this.unlock = unlock;
  }

  async write(piece: Uint8Array): Promise<void> {
    this.pieces.add(piece);
    const [chunks] = idb.transact(this.db, [CHUNKS]);
    const done = committed(chunks!);
    await idb.put(chunks!, own(piece) as never, chunkKey(this.id, this.pieces.count - 1));
    await done;
  }

  async keep(upload: QueuedUpload): Promise<void> {
    try {
      const [files, chunks, queue] = idb.transact(this.db, [FILES, CHUNKS, QUEUE]);
      const done = committed(files!);
      const written = await idb.count(chunks!, piecesRange(this.id));
      if (written !== this.pieces.count || upload.size !== this.pieces.size) {
        files!.transaction.abort();
        await done.catch(() => {});
        throw new Error('the file was not kept whole on this device (its pieces were deleted meanwhile): attach it again');
      }
      const kept = (await idb.get(files!, upload.hash)) as unknown as DeviceFile | undefined;
      if (kept) {
        if (!kept.documents.includes(upload.document)) {
          await idb.put(files!, { ...kept, documents: [...kept.documents, upload.document] } as never, upload.hash);
        }
        await idb.del(chunks!, piecesRange(this.id) as never); // the same bytes are kept already
      } else {
        const file: DeviceFile = { hash: upload.hash, size: upload.size, type: upload.type, documents: [upload.document], pieces: this.id };
        await idb.put(files!, file as never, upload.hash);
      }
      await idb.put(queue!, upload as never, queueKey(upload));
      await done;
    } finally {
      this.unlock();
    }
  }

  async discard(): Promise<void> {
    try {
      const [chunks] = idb.transact(this.db, [CHUNKS]);
      const done = committed(chunks!);
      await idb.del(chunks!, piecesRange(this.id) as never);
      await done;
    } finally {
      this.unlock();
    }
  }
}

export class IndexedDBFiles implements DeviceFiles {
  readonly scope: string;
  private readonly name: string;
  private db: Promise<IDBDatabase> | null = null;

  constructor(namespace: string) {
    this.name = filesDatabaseName(namespace);
    this.scope = this.name;
  }

  async stage(): Promise<StagedFile> {
    const db = await this.open();
    const id = `${STAGED_PREFIX}${uuidv4()}`;
    return new IndexedDBStaging(db, id, await this.hold(id));
  }

  async file(hash: string): Promise<DeviceFile | undefined> {
    const [files] = idb.transact(await this.open(), [FILES], 'readonly');
    return (await idb.get(files!, hash)) as unknown as DeviceFile | undefined;
  }

  async read(hash: string, from: number, to: number): Promise<Uint8Array> {
    const [files, chunks] = idb.transact(await this.open(), [FILES, CHUNKS], 'readonly');
    const file = (await idb.get(files!, hash)) as unknown as DeviceFile | undefined;
    if (!file) throw missing(hash);
    const end = Math.min(to, file.size);
    if (end <= from) return new Uint8Array(0);
    const first = Math.floor(from / LOCAL_CHUNK_BYTES);
    const last = Math.floor((end - 1) / LOCAL_CHUNK_BYTES);
    const pieces: Uint8Array[] = [];
    for (let index = first; index <= last; index++) {
      const piece = await idb.get(chunks!, chunkKey(piecesOf(file), index));
      if (!(piece instanceof Uint8Array)) throw missing(hash);
      pieces.push(piece);
    }
    return join(pieces, first * LOCAL_CHUNK_BYTES, from, end);
  }

  async queued(): Promise<QueuedUpload[]> {
    const [queue] = idb.transact(await this.open(), [QUEUE], 'readonly');
    return ((await idb.getAll(queue!)) as unknown as QueuedUpload[]).sort((a, b) => a.addedAt - b.addedAt);
  }

  async update(upload: QueuedUpload): Promise<void> {
    const [queue] = idb.transact(await this.open(), [QUEUE]);
    const done = committed(queue!);
    if ((await idb.get(queue!, queueKey(upload))) !== undefined) await idb.put(queue!, upload as never, queueKey(upload));
    await done;
  }

  async dequeue(upload: Pick<QueuedUpload, 'document' | 'id'>): Promise<void> {
    const [queue] = idb.transact(await this.open(), [QUEUE]);
    const done = committed(queue!);
    await idb.del(queue!, queueKey(upload));
    await done;
  }

  async requeue(upload: QueuedUpload): Promise<boolean> {
    const [files, queue] = idb.transact(await this.open(), [FILES, QUEUE]);
    const done = committed(files!);
    const kept = (await idb.get(files!, upload.hash)) as unknown as DeviceFile | undefined;
    const here = kept?.documents.includes(upload.document) === true;
    if (here && (await idb.get(queue!, queueKey(upload))) === undefined) await idb.put(queue!, upload as never, queueKey(upload));
    await done;
    return here;
  }

  async release(document: string, hash: string): Promise<void> {
    const [files, chunks] = idb.transact(await this.open(), [FILES, CHUNKS]);
    const done = committed(files!);
    const file = (await idb.get(files!, hash)) as unknown as DeviceFile | undefined;
    if (file) await this.drop(files!, chunks!, file, document);
    await done;
  }

  async forgetDocument(document: string): Promise<void> {
    const [files, chunks, queue] = idb.transact(await this.open(), [FILES, CHUNKS, QUEUE]);
    const done = committed(files!);
    for (const upload of (await idb.getAll(queue!)) as unknown as QueuedUpload[]) {
      if (upload.document === document) await idb.del(queue!, queueKey(upload));
    }
    for (const file of (await idb.getAll(files!)) as unknown as DeviceFile[]) await this.drop(files!, chunks!, file, document);
    await done;
  }

  /** Takes `document` off the file's documents; the file and its pieces go with the last one. */
  private async drop(files: IDBObjectStore, chunks: IDBObjectStore, file: DeviceFile, document: string): Promise<void> {
    if (!file.documents.includes(document)) return;
    const documents = file.documents.filter((name) => name !== document);
    if (documents.length > 0) {
      await idb.put(files, { ...file, documents } as never, file.hash);
      return;
    }
    await idb.del(files, file.hash);
    await idb.del(chunks, piecesRange(piecesOf(file)) as never);
  }

  /** Holds the Web Lock that keeps `id`'s pieces from the clean-up of other tabs; the function lets it go. */
  private async hold(id: string): Promise<() => void> {
    const locks = webLocks();
    if (!locks) return () => {};
    let unlock!: () => void;
    const released = new Promise<void>((resolve) => (unlock = resolve));
    await new Promise<void>((granted) => {
      void locks.request(`${this.name}/${id}`, () => {
        granted();
        return released;
      });
    });
    return unlock;
  }

  /** Deletes pieces no file points to and no tab is writing (left by a crash or a tab closed while it attached). */
  private async cleanUp(db: IDBDatabase): Promise<void> {
    const writing = new Set(((await webLocks()?.query())?.held ?? []).map((lock) => lock.name));
    const [files, chunks] = idb.transact(db, [FILES, CHUNKS]);
    const done = committed(files!);
    const kept = new Set(((await idb.getAll(files!)) as unknown as DeviceFile[]).map(piecesOf));
    const staged = IDBKeyRange.bound(STAGED_PREFIX, `${STAGED_PREFIX}\uffff`);
    const left = new Set(((await idb.getAllKeys(chunks!, staged)) as string[]).map((key) => key.slice(0, key.lastIndexOf(':'))));
    for (const prefix of left) {
      if (!kept.has(prefix) && !writing.has(`${this.name}/${prefix}`)) await idb.del(chunks!, piecesRange(prefix) as never);
    }
    await done;
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = null;
    if (db) (await db.catch(() => null))?.close();
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= idb
      .openDB(this.name, (db) => idb.createStores(db, [[FILES], [CHUNKS], [QUEUE]]))
      .then((db) => this.cleanUp(db).then(() => db, () => db));
    const db = this.db;
    db.catch(() => {
      if (this.db === db) this.db = null; // try opening again next time
    });
    return db;
  }
}

/** The same contract in memory: a client without IndexedDB still uploads what is attached while it runs. */
export class MemoryFiles implements DeviceFiles {
  readonly scope = null;
  private readonly files = new Map<string, DeviceFile & { readonly chunks: readonly Uint8Array[] }>();
  private readonly queue = new Map<string, QueuedUpload>();

  async stage(): Promise<StagedFile> {
    const chunks: Uint8Array[] = [];
    const pieces = new PieceCount();
    return {
      write: async (piece) => {
        pieces.add(piece);
        chunks.push(piece.slice());
      },
      keep: async (upload) => {
        if (upload.size !== pieces.size) throw new Error(`the file has ${upload.size} bytes, ${pieces.size} were written`);
        const kept = this.files.get(upload.hash);
        if (!kept) this.files.set(upload.hash, { hash: upload.hash, size: upload.size, type: upload.type, documents: [upload.document], chunks });
        else if (!kept.documents.includes(upload.document)) this.files.set(upload.hash, { ...kept, documents: [...kept.documents, upload.document] });
        this.queue.set(queueKey(upload), upload);
      },
      discard: async () => {
        chunks.length = 0;
      },
    };
  }

  async file(hash: string): Promise<DeviceFile | undefined> {
    const file = this.files.get(hash);
    return file && { hash: file.hash, size: file.size, type: file.type, documents: file.documents };
  }

  async read(hash: string, from: number, to: number): Promise<Uint8Array> {
    const file = this.files.get(hash);
    if (!file) throw missing(hash);
    const end = Math.min(to, file.size);
    if (end <= from) return new Uint8Array(0);
    const first = Math.floor(from / LOCAL_CHUNK_BYTES);
    return join(file.chunks.slice(first, Math.floor((end - 1) / LOCAL_CHUNK_BYTES) + 1), first * LOCAL_CHUNK_BYTES, from, end);
  }

  async queued(): Promise<QueuedUpload[]> {
    return [...this.queue.values()].sort((a, b) => a.addedAt - b.addedAt);
  }

  async update(upload: QueuedUpload): Promise<void> {
    if (this.queue.has(queueKey(upload))) this.queue.set(queueKey(upload), upload);
  }

  async dequeue(upload: Pick<QueuedUpload, 'document' | 'id'>): Promise<void> {
    this.queue.delete(queueKey(upload));
  }

  async requeue(upload: QueuedUpload): Promise<boolean> {
    const here = this.files.get(upload.hash)?.documents.includes(upload.document) === true;
    if (here && !this.queue.has(queueKey(upload))) this.queue.set(queueKey(upload), upload);
    return here;
  }

  async release(document: string, hash: string): Promise<void> {
    const file = this.files.get(hash);
    if (!file) return;
    const documents = file.documents.filter((name) => name !== document);
    if (documents.length === 0) this.files.delete(hash);
    else if (documents.length !== file.documents.length) this.files.set(hash, { ...file, documents });
  }

  async forgetDocument(document: string): Promise<void> {
    for (const [key, upload] of this.queue) if (upload.document === document) this.queue.delete(key);
    for (const hash of [...this.files.keys()]) await this.release(document, hash);
  }

  async close(): Promise<void> {}
}
