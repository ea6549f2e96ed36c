/**
 * FileStore on PostgreSQL (migration 8): what every instance sharing `CONCORD_DATABASE_URL` serves alike. Files are
 * rows of `concord_files` with their bytes in `concord_file_chunks` (one row per chunk as uploaded, at its byte
 * position); uploads are rows of `concord_file_uploads` with their chunks in `concord_upload_chunks`, so a chunk
 * resumed through another instance behind a balancer lands in the same upload; references are rows of
 * `concord_file_references`. It has a small pool of its own beside PostgresStore's, so a long download never holds
 * a connection that document writes wait for.
 *
 * The rules that keep instances safe together:
 * - A write is one statement: it moves the upload's offset only where it still is what the caller said, and inserts
 *   the chunk in the same statement; of two instances writing at one offset, the second waits for the row and then
 *   finds it moved (UploadOffsetError).
 * - Completing is one transaction holding the upload's row: it reads the chunks back one at a time (hashing as it
 *   goes, never the whole file at once), and only after `accept` copies them under the file's hash inside the
 *   database and deletes the upload. A file already stored under that hash is kept as it is (ON CONFLICT).
 * - When a file's last reference goes (or it completes with none), `orphaned_at` is set in the statement that drops
 *   it; a reference added clears it. A provisional reference (`provisional_at` set) is made firm in the statement
 *   that adds a firm one over it. The sweep lapses provisional references in one transaction (the delete, then in a
 *   statement of its own, so it sees references added meanwhile, `orphaned_at` of the files left without any), and
 *   deletes only files still without a reference when it runs.
 */
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { fileHash } from '@concord/engine';
import { createLogger, type Logger } from '../logger.js';
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
import { migrate } from './PostgresMigrations.js';
import { CONNECT_TIMEOUT_MS, describeDatabase, inTransaction, KEEPALIVE_DELAY_MS, QUERY_TIMEOUT_MS, reasonOf } from './PostgresStore.js';

/** Connections of the file pool: a few downloads and uploads at once; more wait their turn. */
const MAX_FILE_CONNECTIONS = 4;

const SELECT_FILE = 'SELECT size, type FROM concord_files WHERE tenant = $1 AND hash = $2';
const NEXT_FILE_CHUNK = 'SELECT position, bytes FROM concord_file_chunks WHERE tenant = $1 AND hash = $2 AND position >= $3 ORDER BY position LIMIT 1';
const UPLOAD_COLUMNS = 'id, document, hash, size, type, "by", "offset", updated_at';
/** Starts an upload, or finds the caller's upload of the same hash to the same document (and touches it). */
const START_UPLOAD = `
  INSERT INTO concord_file_uploads AS u (id, tenant, document, hash, size, type, "by", "offset", updated_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8)
  ON CONFLICT (tenant, document, hash, "by") DO UPDATE SET updated_at = $8
  RETURNING ${UPLOAD_COLUMNS}`;
const SELECT_UPLOAD = `SELECT ${UPLOAD_COLUMNS} FROM concord_file_uploads WHERE tenant = $1 AND id = $2`;
const LOCK_UPLOAD = `${SELECT_UPLOAD} FOR UPDATE`;
/** $1 tenant, $2 id, $3 offset expected, $4 length, $5 now, $6 bytes. */
const WRITE_CHUNK = `
  WITH moved AS (
    UPDATE concord_file_uploads SET "offset" = "offset" + $4, updated_at = $5
    WHERE tenant = $1 AND id = $2 AND "offset" = $3 AND "offset" + $4 <= size
    RETURNING ${UPLOAD_COLUMNS}
  ), chunk AS (
    INSERT INTO concord_upload_chunks (upload, position, bytes) SELECT id, $3, $6 FROM moved WHERE $4 > 0
  )
  SELECT * FROM moved`;
const NEXT_UPLOAD_CHUNK = 'SELECT position, bytes FROM concord_upload_chunks WHERE upload = $1 AND position >= $2 ORDER BY position LIMIT 1';
const INSERT_FILE = `
  INSERT INTO concord_files (tenant, hash, size, type, orphaned_at)
  SELECT $1, $2, $3, $4, CASE WHEN EXISTS (SELECT 1 FROM concord_file_references WHERE tenant = $1 AND hash = $2) THEN NULL ELSE $5::bigint END
  ON CONFLICT (tenant, hash) DO NOTHING`;
const COPY_CHUNKS = 'INSERT INTO concord_file_chunks (tenant, hash, position, bytes) SELECT $1, $2, position, bytes FROM concord_upload_chunks WHERE upload = $3';
const DELETE_UPLOAD = 'DELETE FROM concord_file_uploads WHERE tenant = $1 AND id = $2';
/**
 * $4: provisional since (NULL: firm). Over a provisional reference, a firm one makes it firm and a provisional one
 * takes the later time; over a firm one, nothing changes.
 */
const ADD_REFERENCE = `
  WITH added AS (
    INSERT INTO concord_file_references AS r (tenant, hash, document, provisional_at) VALUES ($1, $2, $3, $4::bigint)
    ON CONFLICT (tenant, hash, document) DO UPDATE
    SET provisional_at = CASE WHEN EXCLUDED.provisional_at IS NULL THEN NULL ELSE GREATEST(r.provisional_at, EXCLUDED.provisional_at) END
    WHERE r.provisional_at IS NOT NULL
  )
  UPDATE concord_files SET orphaned_at = NULL WHERE tenant = $1 AND hash = $2 AND orphaned_at IS NOT NULL`;
/** The CTE's NOT EXISTS sees the table before the delete: the dropped document is left out by hand. */
const DROP_REFERENCE = `
  WITH dropped AS (
    DELETE FROM concord_file_references WHERE tenant = $1 AND hash = $2 AND document = $3 RETURNING 1
  )
  UPDATE concord_files SET orphaned_at = $4
  WHERE tenant = $1 AND hash = $2 AND orphaned_at IS NULL AND EXISTS (SELECT 1 FROM dropped)
  AND NOT EXISTS (SELECT 1 FROM concord_file_references WHERE tenant = $1 AND hash = $2 AND document <> $3)`;
const REFERS = 'SELECT 1 FROM concord_file_references WHERE tenant = $1 AND hash = $2 AND document = $3';
/** Provisional references made at $1 or before: deleted, each file's latest returned. */
const LAPSE_REFERENCES = `
  WITH lapsed AS (
    DELETE FROM concord_file_references WHERE provisional_at IS NOT NULL AND provisional_at <= $1 RETURNING tenant, hash, provisional_at
  )
  SELECT tenant, hash, max(provisional_at) AS at FROM lapsed GROUP BY tenant, hash`;
/** $1 tenants, $2 hashes, $3 times of their lapsed references: the files left without a reference, unreferenced since. */
const ORPHAN_LAPSED = `
  UPDATE concord_files f SET orphaned_at = lapsed.at
  FROM unnest($1::text[], $2::text[], $3::bigint[]) AS lapsed(tenant, hash, at)
  WHERE f.tenant = lapsed.tenant AND f.hash = lapsed.hash AND f.orphaned_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM concord_file_references r WHERE r.tenant = f.tenant AND r.hash = f.hash)`;
const SWEEP_FILES = `
  DELETE FROM concord_files f WHERE orphaned_at IS NOT NULL AND orphaned_at <= $1
  AND NOT EXISTS (SELECT 1 FROM concord_file_references r WHERE r.tenant = f.tenant AND r.hash = f.hash)`;
const SWEEP_UPLOADS = 'DELETE FROM concord_file_uploads WHERE updated_at <= $1';

interface UploadRow {
  id: string;
  document: string;
  hash: string;
  size: string;
  type: string;
  by: string;
  offset: string;
  updated_at: string;
}

const uploadOf = (row: UploadRow): Upload => ({
  id: row.id,
  document: row.document,
  hash: row.hash,
  size: Number(row.size),
  type: row.type,
  by: row.by,
  offset: Number(row.offset),
  updatedAt: Number(row.updated_at),
});

export class PostgresFileStore implements FileStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  /** Connects to `url` and applies pending migrations (as PostgresStore.open does; both may run, one applies). */
  static async open(url: string, options: { log?: Logger } = {}): Promise<PostgresFileStore> {
    const where = describeDatabase(url);
    const log = (options.log ?? createLogger('silent')).child({ component: 'postgres-files', database: where });
    const pool = new pg.Pool({
      connectionString: url,
      max: MAX_FILE_CONNECTIONS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      application_name: 'concord-files',
    });
    pool.on('error', (error) => log.warn({ reason: reasonOf(error) }, 'an idle PostgreSQL connection failed; it was dropped'));
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot prepare the Concord file tables in PostgreSQL at ${where}: ${reasonOf(error)}`, { cause: error });
    }
    return new PostgresFileStore(pool);
  }

  async file(tenant: string, hash: string): Promise<StoredFile | undefined> {
    if (!fileHash.safeParse(hash).success) return undefined;
    const { rows } = await this.query<{ size: string; type: string }>('file read', SELECT_FILE, [tenant, hash]);
    const row = rows[0];
    return row === undefined ? undefined : { hash, size: Number(row.size), type: row.type };
  }

  async *read(tenant: string, hash: string): AsyncIterable<Uint8Array> {
    const file = await this.file(tenant, hash);
    if (file === undefined) throw new UnknownFileError(hash);
    let position = 0;
    while (position < file.size) {
      const { rows } = await this.query<{ position: string; bytes: Buffer }>('file read', NEXT_FILE_CHUNK, [tenant, hash, position]);
      const row = rows[0];
      if (row === undefined || Number(row.position) !== position) throw new UnknownFileError(hash); // swept meanwhile
      yield row.bytes;
      position += row.bytes.byteLength;
    }
  }

  async startUpload(tenant: string, declaration: UploadDeclaration, now: number): Promise<Upload> {
    const { document, hash, size, type, by } = declaration;
    const values = [randomUUID(), tenant, document, hash, size, type, by, now];
    let upload = uploadOf((await this.query<UploadRow>('upload start', START_UPLOAD, values)).rows[0]!);
    if (upload.size !== size || upload.type !== type) {
      await this.discardUpload(tenant, upload.id); // declared otherwise this time: start over
      upload = uploadOf((await this.query<UploadRow>('upload start', START_UPLOAD, values)).rows[0]!);
    }
    return upload;
  }

  async upload(tenant: string, id: string): Promise<Upload | undefined> {
    if (!UPLOAD_ID.test(id)) return undefined;
    const row = (await this.query<UploadRow>('upload read', SELECT_UPLOAD, [tenant, id])).rows[0];
    return row === undefined ? undefined : uploadOf(row);
  }

  async write(tenant: string, id: string, offset: number, bytes: Uint8Array, now: number): Promise<Upload> {
    if (!UPLOAD_ID.test(id)) throw new UnknownUploadError(id);
    const { rows } = await this.query<UploadRow>('upload write', WRITE_CHUNK, [tenant, id, offset, bytes.byteLength, now, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
    if (rows[0] !== undefined) return uploadOf(rows[0]);
    const upload = await this.upload(tenant, id);
    if (upload === undefined) throw new UnknownUploadError(id);
    if (upload.offset !== offset) throw new UploadOffsetError(upload.offset);
    throw new RangeError(`${offset + bytes.byteLength} bytes are more than the ${upload.size} declared`);
  }

  async complete(tenant: string, id: string, accept: AcceptFile, now: number): Promise<StoredFile> {
    if (!UPLOAD_ID.test(id)) throw new UnknownUploadError(id);
    let refused: unknown;
    const file = await this.transaction('upload complete', async (client) => {
      const row = (await client.query<UploadRow>(LOCK_UPLOAD, [tenant, id])).rows[0];
      if (row === undefined) throw new UnknownUploadError(id);
      const upload = uploadOf(row);
      if (upload.offset !== upload.size) throw new UploadOffsetError(upload.offset);
      const hash = createHash('sha256');
      const head: Buffer[] = [];
      let position = 0;
      while (position < upload.size) {
        const chunk = (await client.query<{ position: string; bytes: Buffer }>(NEXT_UPLOAD_CHUNK, [id, position])).rows[0];
        if (chunk === undefined || Number(chunk.position) !== position) break; // a gap: the digest will not match
        hash.update(chunk.bytes);
        if (position < FILE_HEAD_BYTES) head.push(chunk.bytes.subarray(0, FILE_HEAD_BYTES - position));
        position += chunk.bytes.byteLength;
      }
      try {
        accept(hash.digest('hex'), Buffer.concat(head));
      } catch (error) {
        refused = error;
        await client.query(DELETE_UPLOAD, [tenant, id]);
        return undefined;
      }
      const inserted = await client.query(INSERT_FILE, [tenant, upload.hash, upload.size, upload.type, now]);
      if ((inserted.rowCount ?? 0) > 0) await client.query(COPY_CHUNKS, [tenant, upload.hash, id]);
      await client.query(DELETE_UPLOAD, [tenant, id]);
      return upload.hash;
    });
    if (file === undefined) throw refused;
    return (await this.file(tenant, file))!;
  }

  async discardUpload(tenant: string, id: string): Promise<void> {
    if (!UPLOAD_ID.test(id)) return;
    await this.query('upload discard', DELETE_UPLOAD, [tenant, id]);
  }

  async addReference(tenant: string, hash: string, document: string, options: ReferenceOptions = {}): Promise<void> {
    await this.query('reference add', ADD_REFERENCE, [tenant, hash, document, options.provisionalAt ?? null]);
  }

  async dropReference(tenant: string, hash: string, document: string, now: number): Promise<void> {
    await this.query('reference drop', DROP_REFERENCE, [tenant, hash, document, now]);
  }

  async refers(tenant: string, hash: string, document: string): Promise<boolean> {
    return (await this.query('reference read', REFERS, [tenant, hash, document])).rows.length > 0;
  }

  async sweep(cutoff: number): Promise<SweepResult> {
    await this.transaction('reference sweep', async (client) => {
      const { rows } = await client.query<{ tenant: string; hash: string; at: string }>(LAPSE_REFERENCES, [cutoff]);
      if (rows.length === 0) return;
      await client.query(ORPHAN_LAPSED, [rows.map((r) => r.tenant), rows.map((r) => r.hash), rows.map((r) => r.at)]);
    });
    const files = (await this.query('file sweep', SWEEP_FILES, [cutoff])).rowCount ?? 0;
    const uploads = (await this.query('upload sweep', SWEEP_UPLOADS, [cutoff])).rowCount ?? 0;
    return { files, uploads };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private transaction<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, operation, work, (error) => error instanceof UnknownUploadError || error instanceof UploadOffsetError);
  }


  private async query<R extends pg.QueryResultRow>(operation: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw new Error(`PostgreSQL ${operation} failed: ${reasonOf(error)}`, { cause: error });
    }
  }
}
