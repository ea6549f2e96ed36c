/**
 * DocumentStore on PostgreSQL (`pg`): the store several server instances share.
 *
 * Schema: `concord_entries (document, seq, update, packed)`, keyed by (document, seq), numbered from one sequence,
 * and the `concord_append_records` function (one round trip per write), created by versioned migrations
 * (PostgresMigrations.ts) applied on open. A write stores one row per document: a record (records.ts) of all of its
 * updates in the write, numbered from a slot of RECORD_SLOT numbers drawn from the sequence, and sent as one binary
 * parameter (an array of byteas would go as hex text, twice the bytes, parsed element by element). Snapshots and
 * rows written before migration 3 hold one update each (`packed` false). Table names are unqualified, so the connection's
 * `search_path` picks the schema (e.g. `?options=-c%20search_path%3Dconcord` in the URL). Needs PostgreSQL 11+.
 *
 * The rule that keeps several instances safe: a load sees every entry of the document numbered below the highest it
 * returns. An append takes a shared per-document advisory lock before it draws numbers; a load takes that lock
 * exclusively, so it waits for appends that drew numbers but have not committed yet, and appends after it draw
 * higher numbers. A snapshot at seq N (built from a load) therefore holds every update numbered up to N, whoever
 * made it, so deleting exactly the listed numbers and writing the snapshot under the highest can never drop an
 * update, even when two instances compact the same document at once (compactions are serialized per document by a
 * second advisory lock, so they never collide on the snapshot's key either).
 * Every operation is one transaction; a failed one discards its connection (closing it rolls back). A commit whose
 * outcome is unknown (the connection died during COMMIT) fails, and the caller's retry may store those updates
 * twice: harmless, since applying a Yjs update twice changes nothing.
 *
 * Revocations (RevocationStore) are rows of `concord_revocations` (migration 4), one INSERT each, read back by `at`.
 * `loadRevocationsSince` reads the rows numbered above the cursor's id, and again those whose `at` is within
 * REVOCATION_LOOKBACK_MS of the newest it had seen: a row numbered below the cursor whose insert committed after the
 * cursor was read (ids are drawn before commit) is caught so, if instances' clocks agree within that.
 *
 * Channel logs (ChannelStore) are PostgresChannels.ts's (migration 5).
 *
 * Last-seen times (LastSeenStore) are rows of `concord_last_seen` (migration 6): an upsert that keeps the later `at`.
 *
 * Versions (VersionStore) are rows of `concord_versions` (migration 7), the state in a column a listing never reads.
 * A save is one INSERT; a save `unlessNewerThan` is one transaction that takes a third per-document advisory lock,
 * looks for a newer version and inserts, so instances saving a document's version at once keep one.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelPosition, LastSeen } from '@concord/engine';
import pg from 'pg';
import { createLogger, type Logger } from '../logger.js';
import { snapshotSeq, StoreClosedError, type AppendEntry, type DocumentStore, type StoredEntry } from './DocumentStore.js';
import { migrate } from './PostgresMigrations.js';
import { packConsecutive, packRecord, unpackRecord } from './records.js';
import { revocationFrom, type RevocationsSince, type RevocationStore } from './RevocationStore.js';
import type { Revocation } from '../auth/revocations.js';
import type { ChannelAppend, ChannelKey, ChannelRead, ChannelStore, NewChannelEvent, Retention } from './ChannelStore.js';
import { PostgresChannels } from './PostgresChannels.js';
import type { LastSeenStore } from './LastSeenStore.js';
import { newestFirst, versionFrom, type VersionInfo, type VersionStore } from './VersionStore.js';

/** Connections per instance: one group-commit write at a time, plus loads and compactions. */
export const DEFAULT_MAX_CONNECTIONS = 10;
/** A database that does not answer a connection attempt this quickly counts as down (the write is retried). */
export const CONNECT_TIMEOUT_MS = 5_000;
/** A query with no answer this long fails, so a silently dropped network cannot stall writes forever. */
export const QUERY_TIMEOUT_MS = 30_000;
/** TCP keepalive on idle connections, so dead ones are noticed. */
export const KEEPALIVE_DELAY_MS = 10_000;

/** Seeds of the per-document advisory lock families (see the header); 2 seeds the migration lock (PostgresMigrations.ts). */
const LOG_LOCK = 0;
const COMPACT_LOCK = 1;
const VERSION_LOCK = 3;

/** The advisory lock key of document `$1` in the current schema (schemas sharing a database never block each other). */
const lockKey = (param: string, family: number) => `hashtextextended(current_schema() || '/' || ${param}, ${family})`;

/** Numbers per drawn sequence value: a record's entries are numbered nextval × RECORD_SLOT + i (fixed by migration 3). */
export const RECORD_SLOT = 8192;

/** One round trip: the function (migration 3) takes the shared log locks and inserts, in the statement's transaction. */
const APPEND = 'SELECT concord_append_records($1::text[], $2::integer[], $3::integer[], $4::bytea)';
const LOCK_FOR_LOAD = `SELECT pg_advisory_xact_lock(${lockKey('$1', LOG_LOCK)})`;
const SELECT_NAMES = 'SELECT DISTINCT document FROM concord_entries WHERE starts_with(document, $1) ORDER BY document';
const SELECT_ENTRIES = 'SELECT seq, update, packed FROM concord_entries WHERE document = $1 ORDER BY seq';
const LOCK_FOR_COMPACT = `SELECT pg_advisory_xact_lock(${lockKey('$1', COMPACT_LOCK)})`;
const DELETE_SINGLES = 'DELETE FROM concord_entries WHERE document = $1 AND NOT packed AND seq = ANY($2::bigint[])';
const SELECT_RECORDS_IN = 'SELECT seq, update FROM concord_entries WHERE document = $1 AND packed AND seq BETWEEN $2 AND $3';
const DELETE_ROW = 'DELETE FROM concord_entries WHERE document = $1 AND seq = $2';
const INSERT_ROW = 'INSERT INTO concord_entries (document, seq, update, packed) VALUES ($1, $2, $3, $4)';
const INSERT_REVOCATION = 'INSERT INTO concord_revocations (tenant, "user", documents, access, at) VALUES ($1, $2, $3, $4, $5)';
const SELECT_REVOCATIONS = 'SELECT id, tenant, "user", documents, access, at FROM concord_revocations ORDER BY at, id';
const SELECT_REVOCATIONS_SINCE =
  'SELECT id, tenant, "user", documents, access, at FROM concord_revocations WHERE id > $1 OR at >= $2 ORDER BY id';
/** How far back in `at` loadRevocationsSince reads again (see the top). */
export const REVOCATION_LOOKBACK_MS = 30_000;

const SAVE_LAST_SEEN = `
  INSERT INTO concord_last_seen AS s (tenant, "user", name, color, at) VALUES ($1, $2, $3, $4, $5)
  ON CONFLICT (tenant, "user") DO UPDATE SET name = $3, color = $4, at = $5 WHERE s.at <= $5`;
const LOAD_LAST_SEEN = 'SELECT "user", name, color, at FROM concord_last_seen WHERE tenant = $1 ORDER BY at DESC LIMIT $2';

const INSERT_VERSION = `
  INSERT INTO concord_versions (document, id, name, at, "by", by_name, auto, reason, bytes, state)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
const LOCK_FOR_VERSION = `SELECT pg_advisory_xact_lock(${lockKey('$1', VERSION_LOCK)})`;
const NEWER_VERSION = 'SELECT 1 FROM concord_versions WHERE document = $1 AND at > $2 LIMIT 1';
/** Everything but the state. */
const LIST_VERSIONS = 'SELECT id, name, at, "by", by_name, auto, reason, bytes FROM concord_versions WHERE document = $1 ORDER BY at DESC';
const LOAD_VERSION = 'SELECT state FROM concord_versions WHERE document = $1 AND id = $2';
const PRUNE_VERSIONS = 'DELETE FROM concord_versions WHERE document = $1 AND auto AND at < $2';

interface VersionRow {
  id: string;
  name: string | null;
  at: string;
  by: string;
  by_name: string;
  auto: boolean;
  reason: string;
  bytes: number;
}

/** The entries of a row. */
function entriesOf(row: { seq: string; update: Buffer; packed: boolean }): StoredEntry[] {
  const seq = Number(row.seq);
  return row.packed ? unpackRecord(seq, row.update) : [{ seq, update: row.update }];
}

export interface PostgresStoreOptions {
  /** Where pool trouble is logged; default silent. */
  log?: Logger;
  /** @default DEFAULT_MAX_CONNECTIONS */
  maxConnections?: number;
}

/** `host:port/database` of a connection string, as pg reads it; never the user or password. */
export function describeDatabase(url: string): string {
  const { host, port, database } = new pg.Client({ connectionString: url });
  return `${host}:${port}/${database}`;
}

/** The most useful message of a pg or socket error (a refused connection to several addresses has an empty one). */
export function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(reasonOf))].join('; ');
  }
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}

/**
 * Runs `work` in one transaction on a connection of `pool`: committed when it resolves, rolled back (the connection
 * discarded) when it throws. A failure is named by `operation`, except errors `passes` lets through as they are (a
 * store's own, that callers tell apart).
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  operation: string,
  work: (client: pg.PoolClient) => Promise<T>,
  passes: (error: unknown) => boolean = () => false,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new Error(`PostgreSQL ${operation} failed: ${reasonOf(error)}`, { cause: error });
  }
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (error) {
    client.release(true);
    if (passes(error)) throw error;
    throw new Error(`PostgreSQL ${operation} failed: ${reasonOf(error)}`, { cause: error });
  }
}

export class PostgresStore implements DocumentStore, RevocationStore, ChannelStore, LastSeenStore, VersionStore {
  readonly kind = 'postgres';
  private readonly pool: pg.Pool;
  private readonly log: Logger;
  private readonly channels = new PostgresChannels((operation, text, values) => this.query(operation, text, values));
  private closed = false;

  private constructor(pool: pg.Pool, log: Logger) {
    this.pool = pool;
    this.log = log;
    // An idle connection that breaks (database restarted, network cut) must not crash the process: the pool drops
    // it, and the next query connects afresh or fails, and is retried by its caller.
    pool.on('error', (error) => this.log.warn({ reason: reasonOf(error) }, 'an idle PostgreSQL connection failed; it was dropped'));
  }

  /** Connects to `url`, applies pending migrations, and fails clearly (without the password) when it cannot. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const where = describeDatabase(url);
    const log = (options.log ?? createLogger('silent')).child({ component: 'postgres', database: where });
    const pool = new pg.Pool({
      connectionString: url,
      max: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: QUERY_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      application_name: 'concord',
    });
    const store = new PostgresStore(pool, log);
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new Error(`cannot connect to PostgreSQL at ${where}: ${reasonOf(error)}`, { cause: error });
    }
    try {
      const applied = await migrate(client);
      client.release();
      for (const migration of applied) log.info({ migration }, 'applied a PostgreSQL migration');
    } catch (error) {
      client.release(true);
      await pool.end().catch(() => undefined);
      throw new Error(`cannot prepare the Concord tables in PostgreSQL at ${where}: ${reasonOf(error)}`, { cause: error });
    }
    return store;
  }

  async load(name: string): Promise<readonly StoredEntry[]> {
    return this.transaction('load', async (client) => {
      await client.query(LOCK_FOR_LOAD, [name]);
      const { rows } = await client.query<{ seq: string; update: Buffer; packed: boolean }>(SELECT_ENTRIES, [name]);
      // A snapshot may be numbered inside the span of a record that a compaction kept part of.
      return rows.flatMap(entriesOf).sort((a, b) => a.seq - b.seq);
    });
  }

  async names(prefix: string): Promise<readonly string[]> {
    this.assertOpen();
    const { rows } = await this.query<{ document: string }>('names', SELECT_NAMES, [prefix]);
    return rows.map((row) => row.document).sort();
  }

  async append(batch: readonly AppendEntry[]): Promise<void> {
    this.assertOpen();
    const documents: string[] = [];
    const counts: number[] = [];
    const records: Uint8Array[] = [];
    for (const { name, updates } of batch) {
      for (let start = 0; start < updates.length; start += RECORD_SLOT) {
        const chunk = updates.slice(start, start + RECORD_SLOT);
        documents.push(name);
        counts.push(chunk.length);
        records.push(packConsecutive(chunk));
      }
    }
    if (records.length === 0) return;
    try {
      await this.pool.query(APPEND, [documents, counts, records.map((record) => record.byteLength), Buffer.concat(records)]);
    } catch (error) {
      throw new Error(`PostgreSQL append failed: ${reasonOf(error)}`, { cause: error });
    }
  }

  async compact(name: string, snapshot: Uint8Array, replaced: readonly number[]): Promise<void> {
    const seq = snapshotSeq(name, replaced);
    const gone = new Set(replaced);
    const slotStart = (n: number) => Math.floor(n / RECORD_SLOT) * RECORD_SLOT;
    await this.transaction('compact', async (client) => {
      await client.query(LOCK_FOR_COMPACT, [name]);
      await client.query(DELETE_SINGLES, [name, replaced]);
      // A record's entries share its key's slot; records holding listed entries lose them, and keep the rest.
      const { rows } = await client.query<{ seq: string; update: Buffer }>(SELECT_RECORDS_IN, [
        name,
        slotStart(replaced.reduce((low, n) => Math.min(low, n))),
        slotStart(seq) + RECORD_SLOT - 1,
      ]);
      for (const row of rows) {
        const entries = unpackRecord(Number(row.seq), row.update);
        const kept = entries.filter((entry) => !gone.has(entry.seq));
        if (kept.length === entries.length) continue;
        await client.query(DELETE_ROW, [name, row.seq]);
        const keySeq = kept.at(-1)?.seq;
        if (keySeq !== undefined) await client.query(INSERT_ROW, [name, keySeq, packRecord(kept, keySeq), true]);
      }
      await client.query(INSERT_ROW, [name, seq, snapshot, false]);
    });
  }

  async saveRevocation({ tenant, user, documents, access, at }: Revocation): Promise<void> {
    this.assertOpen();
    try {
      await this.pool.query(INSERT_REVOCATION, [tenant, user, documents, access, at]);
    } catch (error) {
      throw new Error(`PostgreSQL revocation insert failed: ${reasonOf(error)}`, { cause: error });
    }
  }

  async loadRevocations(): Promise<readonly Revocation[]> {
    this.assertOpen();
    let rows: Array<Record<string, unknown>>;
    try {
      rows = (await this.pool.query<Record<string, unknown>>(SELECT_REVOCATIONS)).rows;
    } catch (error) {
      throw new Error(`PostgreSQL revocation load failed: ${reasonOf(error)}`, { cause: error });
    }
    return rows.map((row) => revocationFrom({ ...row, at: Number(row.at) }, `concord_revocations id ${String(row.id)}`));
  }

  appendEvents(key: ChannelKey, events: readonly NewChannelEvent[], retention: Retention, now: number): Promise<ChannelAppend> {
    this.assertOpen();
    return this.channels.appendEvents(key, events, retention, now);
  }

  readEvents(key: ChannelKey, position: ChannelPosition | null, retention: Retention, now: number): Promise<ChannelRead> {
    this.assertOpen();
    return this.channels.readEvents(key, position, retention, now);
  }

  sweepChannels(retention: Retention, now: number, keep: readonly ChannelKey[]): Promise<void> {
    this.assertOpen();
    return this.channels.sweepChannels(retention, now, keep);
  }

  async saveLastSeen(tenant: string, user: string, { name, color, at }: LastSeen): Promise<void> {
    this.assertOpen();
    await this.query('last-seen save', SAVE_LAST_SEEN, [tenant, user, name, color, at]);
  }

  async loadLastSeen(tenant: string, limit: number): Promise<Record<string, LastSeen>> {
    this.assertOpen();
    const { rows } = await this.query<{ user: string; name: string; color: string; at: string }>('last-seen load', LOAD_LAST_SEEN, [tenant, limit]);
    return Object.fromEntries(rows.map((row) => [row.user, { name: row.name, color: row.color, at: Number(row.at) }]));
  }

  async saveVersion(document: string, version: VersionInfo, state: Uint8Array, options: { unlessNewerThan?: number } = {}): Promise<boolean> {
    this.assertOpen();
    const { unlessNewerThan } = options;
    const { id, name, at, by, byName, auto, reason, bytes } = version;
    const values = [document, id, name, at, by, byName, auto, reason, bytes, state];
    if (unlessNewerThan === undefined) {
      await this.query('version save', INSERT_VERSION, values);
      return true;
    }
    // Saves of the document's versions `unlessNewerThan` take turns under the lock: the check and the insert are one step.
    return this.transaction('version save', async (client) => {
      await client.query(LOCK_FOR_VERSION, [document]);
      // `at` is whole milliseconds: above a bound is above its floor (a bound may be fractional, half an interval say).
      if ((await client.query(NEWER_VERSION, [document, Math.floor(unlessNewerThan)])).rows.length > 0) return false;
      await client.query(INSERT_VERSION, values);
      return true;
    });
  }

  async listVersions(document: string): Promise<readonly VersionInfo[]> {
    this.assertOpen();
    const { rows } = await this.query<VersionRow>('version list', LIST_VERSIONS, [document]);
    return rows
      .map(({ by_name, at, ...row }) => versionFrom({ ...row, at: Number(at), byName: by_name }, `concord_versions ${JSON.stringify(document)} id ${row.id}`))
      .sort(newestFirst); // equal times: the greater id first, as JavaScript compares strings (not the database's collation)
  }

  async loadVersion(document: string, id: string): Promise<Uint8Array | undefined> {
    this.assertOpen();
    const { rows } = await this.query<{ state: Buffer }>('version load', LOAD_VERSION, [document, id]);
    return rows[0]?.state;
  }

  async pruneVersions(document: string, autoBefore: number): Promise<number> {
    this.assertOpen();
    // `at` is whole milliseconds: below a bound is below its ceiling.
    return (await this.query('version prune', PRUNE_VERSIONS, [document, Math.ceil(autoBefore)])).rowCount ?? 0;
  }

  /** The cursor is `<highest id>:<highest at>` of what was read (`0:0` before any). */
  async loadRevocationsSince(cursor: string | null): Promise<RevocationsSince> {
    this.assertOpen();
    const [id, at] = (cursor ?? '0:0').split(':').map(Number) as [number, number];
    const { rows } = await this.query<Record<string, unknown>>('revocation load', SELECT_REVOCATIONS_SINCE, [
      id,
      cursor === null ? Number.MIN_SAFE_INTEGER : at - REVOCATION_LOOKBACK_MS,
    ]);
    let highestId = id;
    let newest = at;
    const revocations = rows.map((row) => {
      const revocation = revocationFrom({ ...row, at: Number(row.at) }, `concord_revocations id ${String(row.id)}`);
      highestId = Math.max(highestId, Number(row.id));
      newest = Math.max(newest, revocation.at);
      return revocation;
    });
    return { revocations, cursor: `${highestId}:${newest}` };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async transaction<T>(operation: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen();
    return inTransaction(this.pool, operation, work);
  }


  /** One statement on a pooled connection, its failure named by `operation`. */
  private async query<R extends pg.QueryResultRow>(operation: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw new Error(`PostgreSQL ${operation} failed: ${reasonOf(error)}`, { cause: error });
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreClosedError(this.kind);
  }
}
