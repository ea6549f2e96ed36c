/**
 * FileStore in a directory (`<CONCORD_DATA_DIR>/files/`): the embedded default, one process's, like LevelDB beside it.
 *
 *   <tenant, hex>/files/<hash>          a complete file's bytes       <tenant>/files/<hash>.json   {size, type}
 *   <tenant, hex>/refs/<hash>.json      {documents, provisional, orphanedAt}   the documents referring to it, those of
 *                                       them provisionally (document → since when), and since when none
 *   <tenant, hex>/uploads/<id>          an upload's staged bytes      <tenant>/uploads/<id>.json   the Upload, its offset
 *
 * Tenants are hex-encoded into directory names and hashes and upload ids are checked against their patterns, so no
 * name from a request ever walks out of the root. Metadata lives in small JSON files rather than in the LevelDB of the
 * documents: a file's bytes and its description then share one directory and one life (a sweep removes both, a backup
 * copies both), and the store stays one seam that opens and closes on its own, as the PostgreSQL one does.
 *
 * The rule that keeps a crash from leaving half a file under a hash: every JSON file is written to a temporary name,
 * fsynced and renamed over the old one; staged bytes are written at their offset and fsynced before the upload's
 * offset moves past them (a crash in between leaves bytes past the offset, which the next write overwrites and cuts
 * off); a complete file is the staged file renamed under its hash once hashed and accepted, after its description
 * and its references are durable. Work on one upload, and on one hash's references, takes turns (Turns): the
 * process is the only writer.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileHash } from '@concord/engine';
import {
  FILE_HEAD_BYTES,
  UnknownFileError,
  UnknownUploadError,
  UPLOAD_ID,
  UploadOffsetError,
  type AcceptFile,
  type FileStore,
  type ReferenceOptions,
  type StoredFile,
  type SweepResult,
  type Upload,
  type UploadDeclaration,
} from './FileStore.js';
import { Turns } from './turns.js';

interface References {
  /** Every document referring to the file, firmly or provisionally. */
  documents: string[];
  /** The provisional ones among them, and when each was made (ms). */
  provisional?: Record<string, number>;
  orphanedAt: number | null;
}

const tenantDir = (tenant: string) => Buffer.from(tenant, 'utf8').toString('hex');

function checkHash(hash: string): void {
  if (!fileHash.safeParse(hash).success) throw new UnknownFileError(hash);
}

function checkId(id: string): void {
  if (!UPLOAD_ID.test(id)) throw new UnknownUploadError(id);
}

const missing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (error) {
    if (missing(error)) return undefined;
    throw error;
  }
}

/** fsyncs a directory, so a rename in it is durable. */
async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `value` as JSON to a temporary name, fsyncs it and renames it over `path`. */
async function writeJson(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(JSON.stringify(value));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  await syncDirectory(join(path, '..'));
}

/**
 * Drops the provisional references made at `cutoff` or before; when that leaves none, the file is unreferenced since
 * the latest of them. Whether anything changed.
 */
function lapse(references: References, cutoff: number): boolean {
  const lapsed = Object.entries(references.provisional ?? {}).filter(([, at]) => at <= cutoff);
  if (lapsed.length === 0) return false;
  const gone = new Set(lapsed.map(([document]) => document));
  const before = references.documents.length;
  references.documents = references.documents.filter((document) => !gone.has(document));
  for (const document of gone) delete references.provisional![document];
  if (before > 0 && references.documents.length === 0) references.orphanedAt = Math.max(...lapsed.map(([, at]) => at));
  return true;
}

export class DirectoryFileStore implements FileStore {
  readonly kind = 'directory';
  readonly directory: string;
  private readonly turns = new Turns();

  private constructor(directory: string) {
    this.directory = directory;
  }

  static async open(directory: string): Promise<DirectoryFileStore> {
    await mkdir(directory, { recursive: true });
    return new DirectoryFileStore(directory);
  }

  async file(tenant: string, hash: string): Promise<StoredFile | undefined> {
    if (!fileHash.safeParse(hash).success) return undefined;
    const path = this.path(tenant, 'files', hash);
    const description = await readJson<{ size: number; type: string }>(`${path}.json`);
    if (description === undefined) return undefined;
    try {
      await stat(path);
    } catch (error) {
      if (missing(error)) return undefined; // described, but a crash came before the rename
      throw error;
    }
    return { hash, size: description.size, type: description.type };
  }

  async *read(tenant: string, hash: string): AsyncIterable<Uint8Array> {
    checkHash(hash);
    const stream = createReadStream(this.path(tenant, 'files', hash));
    try {
      for await (const piece of stream) yield piece as Buffer;
    } catch (error) {
      if (missing(error)) throw new UnknownFileError(hash);
      throw error;
    } finally {
      stream.destroy();
    }
  }

  startUpload(tenant: string, declaration: UploadDeclaration, now: number): Promise<Upload> {
    return this.turns.run(`${tenantDir(tenant)}/start`, async () => {
      const uploads = await this.dir(tenant, 'uploads');
      for (const name of await readdir(uploads)) {
        if (!name.endsWith('.json') || !UPLOAD_ID.test(name.slice(0, -5))) continue;
        const upload = await readJson<Upload>(join(uploads, name));
        if (upload && upload.document === declaration.document && upload.hash === declaration.hash && upload.by === declaration.by) {
          if (upload.size === declaration.size && upload.type === declaration.type) return this.touch(tenant, upload, now);
          await this.discardUpload(tenant, upload.id); // declared otherwise this time: start over
        }
      }
      const upload: Upload = { ...declaration, id: randomUUID(), offset: 0, updatedAt: now };
      await writeJson(join(uploads, `${upload.id}.json`), upload);
      return upload;
    });
  }

  async upload(tenant: string, id: string): Promise<Upload | undefined> {
    if (!UPLOAD_ID.test(id)) return undefined;
    return readJson<Upload>(this.path(tenant, 'uploads', `${id}.json`));
  }

  write(tenant: string, id: string, offset: number, bytes: Uint8Array, now: number): Promise<Upload> {
    checkId(id);
    return this.turns.run(`${tenantDir(tenant)}/upload/${id}`, async () => {
      const upload = await this.upload(tenant, id);
      if (upload === undefined) throw new UnknownUploadError(id);
      if (upload.offset !== offset) throw new UploadOffsetError(upload.offset);
      if (offset + bytes.byteLength > upload.size) throw new RangeError(`${offset + bytes.byteLength} bytes are more than the ${upload.size} declared`);
      const staged = this.path(tenant, 'uploads', id);
      const handle = await open(staged, constants.O_RDWR | constants.O_CREAT);
      try {
        if (bytes.byteLength > 0) await handle.write(bytes, 0, bytes.byteLength, offset);
        await handle.truncate(offset + bytes.byteLength); // what a crash left past the offset
        await handle.datasync();
      } finally {
        await handle.close();
      }
      const after: Upload = { ...upload, offset: offset + bytes.byteLength, updatedAt: now };
      await writeJson(this.path(tenant, 'uploads', `${id}.json`), after);
      return after;
    });
  }

  complete(tenant: string, id: string, accept: AcceptFile, now: number): Promise<StoredFile> {
    checkId(id);
    return this.turns.run(`${tenantDir(tenant)}/upload/${id}`, async () => {
      const upload = await this.upload(tenant, id);
      if (upload === undefined) throw new UnknownUploadError(id);
      if (upload.offset !== upload.size) throw new UploadOffsetError(upload.offset);
      const staged = this.path(tenant, 'uploads', id);
      try {
        const { digest, head } = await this.hashStaged(staged, upload.size);
        accept(digest, head);
      } catch (error) {
        await this.removeUpload(tenant, id);
        throw error;
      }
      const file: StoredFile = { hash: upload.hash, size: upload.size, type: upload.type };
      const path = join(await this.dir(tenant, 'files'), upload.hash);
      if ((await this.file(tenant, upload.hash)) === undefined) {
        await writeJson(`${path}.json`, { size: file.size, type: file.type });
        await this.updateReferences(tenant, upload.hash, (references) => {
          if (references.documents.length === 0) references.orphanedAt ??= now;
        });
        await (await open(staged, constants.O_RDWR | constants.O_CREAT)).close(); // an empty file may have none staged
        await rename(staged, path);
        await syncDirectory(join(path, '..'));
      }
      await this.removeUpload(tenant, id);
      return file;
    });
  }

  discardUpload(tenant: string, id: string): Promise<void> {
    if (!UPLOAD_ID.test(id)) return Promise.resolve();
    return this.turns.run(`${tenantDir(tenant)}/upload/${id}`, () => this.removeUpload(tenant, id));
  }

  addReference(tenant: string, hash: string, document: string, options: ReferenceOptions = {}): Promise<void> {
    const at = options.provisionalAt;
    return this.updateReferences(tenant, hash, (references) => {
      const provisional = (references.provisional ??= {});
      if (!references.documents.includes(document)) {
        references.documents.push(document);
        if (at !== undefined) provisional[document] = at;
      } else if (at === undefined) {
        delete provisional[document]; // firm now
      } else if (document in provisional) {
        provisional[document] = Math.max(provisional[document]!, at); // renewed; a firm one stays firm
      }
      references.orphanedAt = null;
    });
  }

  dropReference(tenant: string, hash: string, document: string, now: number): Promise<void> {
    return this.updateReferences(tenant, hash, (references) => {
      const before = references.documents.length;
      references.documents = references.documents.filter((d) => d !== document);
      if (references.provisional) delete references.provisional[document];
      if (before > 0 && references.documents.length === 0) references.orphanedAt = now;
    });
  }

  async refers(tenant: string, hash: string, document: string): Promise<boolean> {
    if (!fileHash.safeParse(hash).success) return false;
    const references = await readJson<References>(this.path(tenant, 'refs', `${hash}.json`));
    return references?.documents.includes(document) ?? false;
  }

  async sweep(cutoff: number): Promise<SweepResult> {
    let files = 0;
    let uploads = 0;
    for (const tenant of await readdir(this.directory)) {
      if (!/^[0-9a-f]*$/.test(tenant)) continue;
      const name = Buffer.from(tenant, 'hex').toString('utf8');
      for (const entry of await this.list(join(this.directory, tenant, 'refs'))) {
        const hash = entry.slice(0, -'.json'.length);
        if (!entry.endsWith('.json') || !fileHash.safeParse(hash).success) continue;
        const removed = await this.turns.run(`${tenant}/refs/${hash}`, async () => {
          const path = join(this.directory, tenant, 'refs', entry);
          const references = await readJson<References>(path);
          if (!references) return false;
          if (lapse(references, cutoff)) await writeJson(path, references);
          if (references.documents.length > 0 || references.orphanedAt === null || references.orphanedAt > cutoff) return false;
          const stored = (await this.file(name, hash)) !== undefined;
          const content = join(this.directory, tenant, 'files', hash);
          await rm(content, { force: true });
          await rm(`${content}.json`, { force: true });
          await rm(path, { force: true });
          return stored; // references of a file never stored (an abandoned upload's) go uncounted
        });
        if (removed) files += 1;
      }
      for (const entry of await this.list(join(this.directory, tenant, 'uploads'))) {
        const id = entry.slice(0, -'.json'.length);
        if (!entry.endsWith('.json') || !UPLOAD_ID.test(id)) continue;
        const removed = await this.turns.run(`${tenant}/upload/${id}`, async () => {
          const upload = await this.upload(name, id);
          if (!upload || upload.updatedAt > cutoff) return false;
          await this.removeUpload(name, id);
          return true;
        });
        if (removed) uploads += 1;
      }
    }
    return { files, uploads };
  }

  async close(): Promise<void> {
    // Every write awaits its own fsync; nothing is held open between calls.
  }

  private async list(directory: string): Promise<string[]> {
    try {
      return await readdir(directory);
    } catch (error) {
      if (missing(error)) return [];
      throw error;
    }
  }

  private path(tenant: string, kind: 'files' | 'refs' | 'uploads', name: string): string {
    return join(this.directory, tenantDir(tenant), kind, name);
  }

  private async dir(tenant: string, kind: 'files' | 'refs' | 'uploads'): Promise<string> {
    const path = join(this.directory, tenantDir(tenant), kind);
    await mkdir(path, { recursive: true });
    return path;
  }

  private async touch(tenant: string, upload: Upload, now: number): Promise<Upload> {
    return this.turns.run(`${tenantDir(tenant)}/upload/${upload.id}`, async () => {
      const current = (await this.upload(tenant, upload.id)) ?? upload;
      const touched = { ...current, updatedAt: now };
      await writeJson(this.path(tenant, 'uploads', `${upload.id}.json`), touched);
      return touched;
    });
  }

  private async removeUpload(tenant: string, id: string): Promise<void> {
    await rm(this.path(tenant, 'uploads', `${id}.json`), { force: true });
    await rm(this.path(tenant, 'uploads', id), { force: true });
  }

  private updateReferences(tenant: string, hash: string, change: (references: References) => void): Promise<void> {
    checkHash(hash);
    return this.turns.run(`${tenantDir(tenant)}/refs/${hash}`, async () => {
      const path = join(await this.dir(tenant, 'refs'), `${hash}.json`);
      const references = (await readJson<References>(path)) ?? { documents: [], orphanedAt: null };
      const before = JSON.stringify(references);
      change(references);
      if (JSON.stringify(references) !== before) await writeJson(path, references);
    });
  }

  /** The SHA-256 of the first `size` staged bytes, and their start, read in pieces. */
  private async hashStaged(path: string, size: number): Promise<{ digest: string; head: Uint8Array }> {
    const hash = createHash('sha256');
    const head: Buffer[] = [];
    let headBytes = 0;
    if (size > 0) {
      for await (const piece of createReadStream(path, { start: 0, end: size - 1 }) as AsyncIterable<Buffer>) {
        hash.update(piece);
        if (headBytes < FILE_HEAD_BYTES) {
          head.push(piece.subarray(0, FILE_HEAD_BYTES - headBytes));
          headBytes += Math.min(piece.byteLength, FILE_HEAD_BYTES - headBytes);
        }
      }
    }
    return { digest: hash.digest('hex'), head: Buffer.concat(head) };
  }
}
