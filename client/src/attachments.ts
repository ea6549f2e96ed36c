/**
 * Attaching a file to a document (docs/attachments-design.md, Client): what `handle.attach` writes, how a waiting
 * file reads in the outbox, and where `client.fileUrl` finds a file.
 *
 * The rule: attaching needs no network. The file's bytes are read in pieces of `LOCAL_CHUNK_BYTES` (never the whole
 * file at once: a video may be larger than the memory at hand), each hashed (SHA-256, incrementally) and written to
 * the device as it is read; the file is kept with its queued upload in one step once all is read (deviceFiles.ts), and
 * only then is the record added to the document's `attachments` collection (engine `AttachmentRecord`, state
 * `pending`): a record on the device always has its bytes there too. A record removed (`detach`, another person,
 * an undo) cancels its queued upload, and the device's copy goes once no record of the document refers to it. The record's later states are written by the upload queue (uploads.ts) with `UPLOAD_ORIGIN`, which is
 * not this user's undo history: undo takes back the attaching, never an upload's ending. While a file waits, the
 * outbox lists it as one entry ("photo.jpg (2.1 MB) waiting to upload") that stands for its record too. An upload
 * that ends while its document is closed opens it to write the ending, and closes it again once the server has that.
 */
import {
  ATTACHMENTS_COLLECTION,
  AttachmentRecord,
  AttachmentState,
  ConcordError,
  ErrorKind,
  INBOX_PREFIX,
  RecordCollection,
  SERVER_DOCUMENT_PREFIX,
  validateField,
} from '@concord/engine';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { uuidv4 } from 'lib0/random';
import type * as Y from 'yjs';
import { BACKGROUND_SYNC_TIMEOUT_MS } from './background.js';
import { LOCAL_CHUNK_BYTES, type QueuedUpload } from './deviceFiles.js';
import type { SyncedDocument } from './document.js';
import type { UploadEnding, UploadQueue } from './uploads.js';
import type { AttachmentInfo, AttachOptions, OutboxEntry } from './types.js';

/** The origin of the upload queue's writes to attachment records: not an edit of the user's (no undo step). */
export const UPLOAD_ORIGIN = Object.freeze({ source: 'local', upload: true });
/**
 * The origin of `detach`: the user's, but no undo step, since a file removed before it was uploaded has lost its
 * queued upload and (once the document closes) its bytes, which an undo could not bring back.
 */
export const DETACH_ORIGIN = Object.freeze({ source: 'local', detach: true });
const DEFAULT_TYPE = 'application/octet-stream';
const DEFAULT_NAME = 'file';

/** "512 B", "340.2 KB", "2.1 MB" (binary units, one decimal). */
export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

/** The outbox entry of a file waiting to upload. */
export function fileEntry(upload: QueuedUpload): OutboxEntry {
  return Object.freeze({
    kind: 'file',
    root: ATTACHMENTS_COLLECTION,
    record: upload.id,
    field: null,
    value: undefined,
    removed: false,
    inserted: 0,
    deleted: 0,
    label: upload.name,
    summary: `${upload.name} (${formatBytes(upload.size)}) waiting to upload`,
  });
}

/** The document's outbox with its waiting files: after the document's own entries, in the order they were attached. */
export function withFiles(entries: readonly OutboxEntry[], waiting: readonly QueuedUpload[]): readonly OutboxEntry[] {
  if (waiting.length === 0) return entries;
  const files = new Set(waiting.map((upload) => upload.id));
  // A file's record added here is part of "photo.jpg … waiting to upload".
  const own = entries.filter((entry) => !(entry.kind === 'record' && !entry.removed && entry.root === ATTACHMENTS_COLLECTION && files.has(entry.record!)));
  return Object.freeze([...own, ...waiting.map(fileEntry)]);
}

export function attachments(doc: Y.Doc): RecordCollection<typeof AttachmentRecord.fields> {
  return new RecordCollection(AttachmentRecord, doc.getMap(ATTACHMENTS_COLLECTION));
}

export interface AttachTarget {
  readonly name: string;
  readonly doc: Y.Doc;
  readonly uploads: UploadQueue;
  readonly user: string;
  readonly now: number;
}

/** `handle.attach`: keeps the bytes and queues the upload, then writes the record (see the rule above). */
export async function attachFile(target: AttachTarget, file: Blob, options: AttachOptions = {}): Promise<AttachmentInfo> {
  if (target.name.startsWith(INBOX_PREFIX) || target.name.startsWith(SERVER_DOCUMENT_PREFIX)) {
    throw new ConcordError(ErrorKind.InvalidField, `${target.name} takes no files (inbox and server documents do not)`);
  }
  const name = options.name ?? ((file as Partial<File>).name || DEFAULT_NAME);
  const type = file.type || DEFAULT_TYPE;
  const size = file.size;
  const described = {
    name,
    size,
    type,
    state: AttachmentState.Pending,
    ...(options.record === undefined ? {} : { record: options.record }),
    addedBy: target.user,
    addedAt: target.now,
  };
  // Refused before anything is kept: a name the record cannot hold writes nothing anywhere.
  for (const [field, value] of Object.entries(described)) validateField(AttachmentRecord, field as keyof typeof described, value);
  const staged = await target.uploads.stage();
  let hash: string;
  try {
    const digest = sha256.create();
    for (let at = 0; at < size; at += LOCAL_CHUNK_BYTES) {
      const piece = new Uint8Array(await file.slice(at, Math.min(size, at + LOCAL_CHUNK_BYTES)).arrayBuffer());
      digest.update(piece);
      await staged.write(piece);
    }
    hash = bytesToHex(digest.digest());
    const id = uuidv4();
    await target.uploads.add({ document: target.name, id, hash, name, size, type, addedAt: target.now, upload: null, chunkBytes: null }, staged);
    attachments(target.doc).create({ ...described, hash }, id);
    return Object.freeze({ id, name, size, type, hash, state: AttachmentState.Pending });
  } catch (error) {
    await staged.discard().catch(() => {});
    throw error;
  }
}

/** `handle.detach`: removes the attachment record (its upload and device copy follow: `AttachedFiles`). */
export function detachFile(doc: Y.Doc, id: string): boolean {
  const collection = attachments(doc);
  if (!collection.has(id)) return false;
  collection.delete(id, DETACH_ORIGIN);
  return true;
}

/**
 * What the device does when a document's attachment records come and go: a record removed (by anyone, or an undo of
 * its attaching) cancels its queued upload at once; its bytes stay while the document is open (a redo brings the record
 * back, queued again) and go when it closes, unless another record of the document refers to them.
 */
export class AttachedFiles {
  private readonly removed = new Set<string>();
  /** The hash of each record seen (a removed record's fields can no longer be read). */
  private readonly hashes = new Map<string, string>();
  private readonly stop: () => void;
  private readonly document: string;
  private readonly doc: Y.Doc;
  private readonly uploads: UploadQueue;

  constructor(document: string, doc: Y.Doc, uploads: UploadQueue) {
    this.document = document;
    this.doc = doc;
    this.uploads = uploads;
    const map = doc.getMap(ATTACHMENTS_COLLECTION);
    for (const [id, record] of attachments(doc).entries()) this.seen(id, record.get('hash'));
    const observer = (event: Y.YMapEvent<unknown>) => {
      for (const [id, change] of event.changes.keys) {
        if (change.action === 'delete') {
          const hash = this.hashes.get(id);
          if (hash !== undefined) this.removed.add(hash);
          void this.uploads.cancel({ document, id }).catch(() => {});
        } else if (change.action === 'add') {
          this.restored(id);
        }
      }
    };
    map.observe(observer);
    this.stop = () => map.unobserve(observer);
  }

  /** The document closes: the bytes of removed files no record refers to leave the device. */
  async close(): Promise<void> {
    this.stop();
    const referred = new Set([...attachments(this.doc).entries()].map(([, record]) => record.get('hash')));
    await Promise.all([...this.removed].filter((hash) => !referred.has(hash)).map((hash) => this.uploads.release(this.document, hash)));
  }

  private seen(id: string, hash: string | undefined): void {
    if (hash !== undefined) this.hashes.set(id, hash);
  }

  private restored(id: string): void {
    const values = attachments(this.doc).get(id)?.toJSON();
    this.seen(id, values?.hash);
    if (values?.state !== AttachmentState.Pending || !values.hash || values.size === undefined || !values.name || !values.type) return;
    const { hash, size, name, type } = values;
    const upload = { document: this.document, id, hash, name, size, type, addedAt: values.addedAt ?? Date.now(), upload: null, chunkBytes: null };
    void this.uploads.requeue(upload).catch(() => {});
  }
}

/** Writes how an upload ended into its record; false when the record is not in the document (removed, or not loaded). */
export function writeEnding(doc: Y.Doc, id: string, ending: UploadEnding): boolean {
  const record = attachments(doc).get(id);
  if (!record) return false;
  const fields = ending.state === 'failed' ? { state: AttachmentState.Failed, error: ending.error.slice(0, 1000) } : { state: AttachmentState.Uploaded };
  record.update(fields, { origin: UPLOAD_ORIGIN, force: true });
  return true;
}

/** How an upload ended as its record says; null while the record says nothing yet (pending, or not here). */
export function readEnding(doc: Y.Doc, id: string): UploadEnding | null {
  const values = attachments(doc).get(id)?.toJSON();
  if (values?.state === AttachmentState.Uploaded) return { state: 'uploaded' };
  if (values?.state === AttachmentState.Failed) return { state: 'failed', error: values.error ?? 'the upload failed' };
  return null;
}

/**
 * Writes uploads' endings into their records (the queue's `settle`): the document is opened (one more reference when it
 * is open), and released once the server has its own changes, or refused it, or `BACKGROUND_SYNC_TIMEOUT_MS` passed
 * (the change is then in its outbox, and sent with it like any other).
 */
export class UploadEndings {
  private readonly open: (name: string) => SyncedDocument;
  /** Documents held open until the server has their ending; calling one lets it go now. */
  private readonly held = new Set<() => void>();

  constructor(open: (name: string) => SyncedDocument) {
    this.open = open;
  }

  async write(document: string, id: string, ending: UploadEnding): Promise<void> {
    const handle = this.open(document);
    try {
      await handle.whenLoaded();
      // A record not on this device yet (no local copy) comes with the first sync.
      if (!writeEnding(handle.doc, id, ending) && handle.status.state !== 'unauthorized') {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([handle.whenSynced(), new Promise((resolve) => (timer = setTimeout(resolve, BACKGROUND_SYNC_TIMEOUT_MS)))]);
        clearTimeout(timer);
        writeEnding(handle.doc, id, ending);
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    this.closeWhenAcknowledged(handle);
  }

  /** Lets every held document go (the client is closing). */
  releaseAll(): void {
    for (const release of [...this.held]) release();
  }

  private closeWhenAcknowledged(handle: SyncedDocument): void {
    const check = () => {
      if (handle.status.state === 'unauthorized' || (handle.status.state === 'connected' && handle.unacknowledged === 0)) done();
    };
    const done = () => {
      if (!this.held.delete(done)) return;
      clearTimeout(timer);
      handle.off('status', check);
      handle.off('outbox', check);
      void handle.close();
    };
    this.held.add(done);
    const timer = setTimeout(done, BACKGROUND_SYNC_TIMEOUT_MS);
    handle.on('status', check);
    handle.on('outbox', check);
    check();
  }
}
