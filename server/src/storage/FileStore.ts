/**
 * The storage seam of attachments (docs/attachments-design.md): files stored once per tenant under their SHA-256,
 * uploads staged until their last byte, and which documents refer to which file.
 *
 * Rules every implementation keeps (the contract suite in test/storage/fileContract.ts checks them on each one):
 * - A file is under its hash only once complete: `complete` hashes the staged bytes (streaming over them, never the
 *   whole file in memory at once), lets `accept` refuse them (a digest or type that does not match: the upload is then
 *   discarded), and only then makes the file readable. A crash at any point leaves either no file or the whole file.
 * - `write(tenant, id, offset, bytes)` appends at `offset` only when the upload is exactly there (else
 *   `UploadOffsetError` with where it is); the bytes and the new offset are durable together when it resolves. Of
 *   writes racing at one offset, one wins and the others get `UploadOffsetError`.
 * - `startUpload` answers the same upload (and its offset) for the same document, hash and caller.
 * - Tenants never see each other's files, uploads or references (the same bytes in two tenants are two files).
 * - A reference is (tenant, hash, document), made or dropped idempotently; `refers` sees it either way. It is firm (an
 *   `attachments` record backs it) or provisional since a time (made by the API, so an uploader reads its file back
 *   before the record syncs): a provisional one made again takes the later time; a firm one made over a provisional
 *   one makes it firm; a provisional one made over a firm one leaves it firm; a drop removes either.
 * - When a file's last reference goes (or it completes with none), its unreferenced time starts. `sweep(cutoff)`
 *   first drops the provisional references made at or before `cutoff` (a file whose last reference that was is
 *   unreferenced since that reference's time, so the same sweep removes it), then removes files unreferenced since
 *   at or before `cutoff`, and uploads not written to since at or before it.
 */

/** Largest PATCH body: a chunk. 1 MiB: a lost chunk costs a slow mobile link seconds, not minutes. */
export const FILE_CHUNK_BYTES = 1024 * 1024;
/** Bytes of a file's start that `accept` sees (enough for every signature of files/fileTypes.ts). */
export const FILE_HEAD_BYTES = 64;

export interface StoredFile {
  readonly hash: string;
  readonly size: number;
  readonly type: string;
}

/** What an upload declares, and who started it. */
export interface UploadDeclaration {
  readonly document: string;
  readonly hash: string;
  readonly size: number;
  readonly type: string;
  /** The caller (a token's `sub`, or `api` for the API key). */
  readonly by: string;
}

export interface Upload extends UploadDeclaration {
  /** A random UUID. */
  readonly id: string;
  /** Bytes stored so far. */
  readonly offset: number;
  /** Last started or written to (ms). */
  readonly updatedAt: number;
}

/** Told the staged bytes' digest (lowercase hex) and first bytes; throws to refuse them (the upload is discarded). */
export type AcceptFile = (digest: string, head: Uint8Array) => void;

export interface ReferenceOptions {
  /** A provisional reference, made at this time (ms); absent: a firm one. */
  readonly provisionalAt?: number;
}

export interface SweepResult {
  readonly files: number;
  readonly uploads: number;
}

export interface FileStore {
  /** Short name for logs, e.g. `directory`. */
  readonly kind: string;
  file(tenant: string, hash: string): Promise<StoredFile | undefined>;
  /** The file's bytes in order, in pieces; throws UnknownFileError when it is not stored. */
  read(tenant: string, hash: string): AsyncIterable<Uint8Array>;
  startUpload(tenant: string, declaration: UploadDeclaration, now: number): Promise<Upload>;
  upload(tenant: string, id: string): Promise<Upload | undefined>;
  /** Appends `bytes` at `offset`; returns the upload as it is after. Throws UnknownUploadError, UploadOffsetError. */
  write(tenant: string, id: string, offset: number, bytes: Uint8Array, now: number): Promise<Upload>;
  /**
   * Finishes an upload whose offset is its size: hashes it, asks `accept`, stores the file (or keeps the one already
   * stored under that hash) and forgets the upload. Throws UnknownUploadError, UploadOffsetError (not all there),
   * or what `accept` threw (having discarded the upload).
   */
  complete(tenant: string, id: string, accept: AcceptFile, now: number): Promise<StoredFile>;
  discardUpload(tenant: string, id: string): Promise<void>;
  /**
   * Makes `document` refer to the file: firm by default (an `attachments` record's), or provisional as of
   * `provisionalAt` (ms; the API's), which lapses at the first sweep whose cutoff is at or past it unless a firm
   * reference comes first.
   */
  addReference(tenant: string, hash: string, document: string, options?: ReferenceOptions): Promise<void>;
  dropReference(tenant: string, hash: string, document: string, now: number): Promise<void>;
  refers(tenant: string, hash: string, document: string): Promise<boolean>;
  /**
   * Drops provisional references made at `cutoff` or before, then removes files unreferenced since `cutoff` or
   * before, and uploads untouched since then.
   */
  sweep(cutoff: number): Promise<SweepResult>;
  close(): Promise<void>;
}

export class UnknownUploadError extends Error {
  constructor(id: string) {
    super(`no upload ${id} (unknown, finished or expired)`);
    this.name = 'UnknownUploadError';
  }
}

export class UnknownFileError extends Error {
  constructor(hash: string) {
    super(`no file ${hash}`);
    this.name = 'UnknownFileError';
  }
}

/** A write at an offset other than the upload's: `offset` is where it is. */
export class UploadOffsetError extends Error {
  readonly offset: number;

  constructor(offset: number) {
    super(`the upload is at offset ${offset}`);
    this.name = 'UploadOffsetError';
    this.offset = offset;
  }
}

/** Upload ids: random UUIDs (any version), lowercase; nothing else reaches a path or a query. */
export const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
