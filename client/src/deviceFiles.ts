/**
 * Attached files on this device: their bytes, and the uploads still to do (docs/attachments-design.md, Client).
 *
 * The rule: a file is kept whole or not at all. `add` writes the bytes (in `LOCAL_CHUNK_BYTES` pieces, as
 * `Uint8Array`s, which every IndexedDB stores), the file's description and its queued upload in one transaction, so a
 * crash or a full disk leaves either everything or nothing, and a queued upload always finds its bytes. The bytes of a
 * file stay after its upload (the author's device shows it without downloading); they go with the last document on
 * this device that refers to them (`forgetDocument`: the document was revoked) or with the namespace
 * (`clearLocalData`). Each namespace has its own database, `concord-files/<namespace>`, beside the documents'.
 * Without IndexedDB (persistence off, no namespace) the same contract holds in memory, for this session only.
 */
import * as idb from 'lib0/indexeddb';

const DATABASE_PREFIX = 'concord-files';
/** Pieces the bytes are stored in: small enough for any IndexedDB value, large enough to be few. */
export const LOCAL_CHUNK_BYTES = 256 * 1024;
const FILES = 'files';
const CHUNKS = 'chunks';
const QUEUE = 'queue';

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
const chunkKey = (hash: string, index: number): string => `${hash}:${index}`;

/** The seam: IndexedDB on a device, memory without one. */
export interface DeviceFiles {
  /** Keeps `bytes` (unless kept already) for `upload.document`, and queues `upload`; all or nothing. */
  add(upload: QueuedUpload, type: string, bytes: Uint8Array): Promise<void>;
  file(hash: string): Promise<DeviceFile | undefined>;
  /** Bytes `from` (inclusive) to `to` (exclusive) of a kept file; throws when it is not kept. */
  read(hash: string, from: number, to: number): Promise<Uint8Array>;
  queued(): Promise<QueuedUpload[]>;
  /** Rewrites a queued upload (its server upload id); does nothing when it left the queue meanwhile. */
  update(upload: QueuedUpload): Promise<void>;
  /** Takes an upload off the queue (done, or refused for good); the bytes stay. */
  dequeue(upload: Pick<QueuedUpload, 'document' | 'id'>): Promise<void>;
  /** Removes the document's queued uploads, and the files no other document on this device refers to. */
  forgetDocument(document: string): Promise<void>;
  close(): Promise<void>;
}

function split(bytes: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  // slice, not subarray: a view would store its whole buffer with every piece.
  for (let at = 0; at < bytes.byteLength; at += LOCAL_CHUNK_BYTES) pieces.push(bytes.slice(at, at + LOCAL_CHUNK_BYTES));
  return pieces;
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

export class IndexedDBFiles implements DeviceFiles {
  private readonly name: string;
  private db: Promise<IDBDatabase> | null = null;

  constructor(namespace: string) {
    this.name = filesDatabaseName(namespace);
  }

  async add(upload: QueuedUpload, type: string, bytes: Uint8Array): Promise<void> {
    const [files, chunks, queue] = idb.transact(await this.open(), [FILES, CHUNKS, QUEUE]);
    const done = committed(files!);
    const kept = (await idb.get(files!, upload.hash)) as unknown as DeviceFile | undefined;
    if (kept) {
      if (!kept.documents.includes(upload.document)) {
        await idb.put(files!, { ...kept, documents: [...kept.documents, upload.document] } as never, upload.hash);
      }
    } else {
      const pieces = split(bytes);
      await Promise.all(pieces.map((piece, index) => idb.put(chunks!, piece as never, chunkKey(upload.hash, index))));
      const file: DeviceFile = { hash: upload.hash, size: bytes.byteLength, type, documents: [upload.document] };
      await idb.put(files!, file as never, upload.hash);
    }
    await idb.put(queue!, upload as never, queueKey(upload));
    await done;
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
      const piece = await idb.get(chunks!, chunkKey(hash, index));
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

  async forgetDocument(document: string): Promise<void> {
    const [files, chunks, queue] = idb.transact(await this.open(), [FILES, CHUNKS, QUEUE]);
    const done = committed(files!);
    for (const upload of (await idb.getAll(queue!)) as unknown as QueuedUpload[]) {
      if (upload.document === document) await idb.del(queue!, queueKey(upload));
    }
    for (const file of (await idb.getAll(files!)) as unknown as DeviceFile[]) {
      if (!file.documents.includes(document)) continue;
      const documents = file.documents.filter((name) => name !== document);
      if (documents.length > 0) {
        await idb.put(files!, { ...file, documents } as never, file.hash);
        continue;
      }
      await idb.del(files!, file.hash);
      const pieces = Math.ceil(file.size / LOCAL_CHUNK_BYTES);
      for (let index = 0; index < pieces; index++) await idb.del(chunks!, chunkKey(file.hash, index));
    }
    await done;
  }

  async close(): Promise<void> {
    const db = this.db;
    this.db = null;
    if (db) (await db.catch(() => null))?.close();
  }

  private open(): Promise<IDBDatabase> {
    this.db ??= idb.openDB(this.name, (db) => idb.createStores(db, [[FILES], [CHUNKS], [QUEUE]]));
    const db = this.db;
    db.catch(() => {
      if (this.db === db) this.db = null; // try opening again next time
    });
    return db;
  }
}

/** The same contract in memory: a client without IndexedDB still uploads what is attached while it runs. */
export class MemoryFiles implements DeviceFiles {
  private readonly files = new Map<string, DeviceFile & { readonly bytes: Uint8Array }>();
  private readonly queue = new Map<string, QueuedUpload>();

  async add(upload: QueuedUpload, type: string, bytes: Uint8Array): Promise<void> {
    const kept = this.files.get(upload.hash);
    if (!kept) this.files.set(upload.hash, { hash: upload.hash, size: bytes.byteLength, type, documents: [upload.document], bytes: bytes.slice() });
    else if (!kept.documents.includes(upload.document)) this.files.set(upload.hash, { ...kept, documents: [...kept.documents, upload.document] });
    this.queue.set(queueKey(upload), upload);
  }

  async file(hash: string): Promise<DeviceFile | undefined> {
    const file = this.files.get(hash);
    return file && { hash: file.hash, size: file.size, type: file.type, documents: file.documents };
  }

  async read(hash: string, from: number, to: number): Promise<Uint8Array> {
    const file = this.files.get(hash);
    if (!file) throw missing(hash);
    return file.bytes.slice(from, Math.min(to, file.size));
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

  async forgetDocument(document: string): Promise<void> {
    for (const [key, upload] of this.queue) if (upload.document === document) this.queue.delete(key);
    for (const [hash, file] of this.files) {
      const documents = file.documents.filter((name) => name !== document);
      if (documents.length === 0) this.files.delete(hash);
      else if (documents.length !== file.documents.length) this.files.set(hash, { ...file, documents });
    }
  }

  async close(): Promise<void> {}
}
