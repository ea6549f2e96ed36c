/**
 * The PostgreSQL schema of PostgresStore, as numbered migrations.
 *
 * `migrate` runs on every start, in one transaction under an advisory lock keyed by the schema, so instances
 * starting together apply each migration exactly once (the others wait, then find it done). `concord_migrations`
 * records the versions applied. Migrations are append-only: never edit a released one, add the next number. A
 * database already migrated past what this build knows is refused rather than guessed at.
 */
import type pg from 'pg';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'update log',
    sql: `
      CREATE SEQUENCE concord_entry_seq AS bigint;
      CREATE TABLE concord_entries (
        document text NOT NULL,
        seq bigint NOT NULL,
        update bytea NOT NULL,
        PRIMARY KEY (document, seq)
      );`,
  },
  {
    version: 2,
    name: 'append in one statement',
    // The append of PostgresStore as one function: the shared per-document log locks (sorted, so appends of several
    // documents never deadlock) and the insert run in the statement's own transaction, one round trip per write.
    // The lock key must stay the one PostgresStore's load takes: hashtextextended(<schema>/<document>, 0).
    sql: `
      CREATE FUNCTION concord_append(documents text[], updates bytea[]) RETURNS void
      LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock_shared(key)
        FROM (SELECT DISTINCT hashtextextended(current_schema() || '/' || name, 0) AS key FROM unnest(documents) AS name) AS keys
        ORDER BY key;
        INSERT INTO concord_entries (document, seq, update)
        SELECT document, nextval('concord_entry_seq'), update
        FROM unnest(documents, updates) WITH ORDINALITY AS entry(document, update, position)
        ORDER BY position;
      END
      $$;`,
  },
  {
    version: 3,
    name: 'records of several updates',
    // A row may hold a record (records.ts) of several updates of one document, `packed`. Its entries are numbered
    // from a slot of 8192 numbers per drawn sequence value (nextval × 8192 + i), and the row is keyed by the highest;
    // rows written before (seq ≤ the sequence's value now) never share a slot with them. concord_append (for
    // instances still on the previous version) numbers its rows in the same space.
    sql: `
      ALTER TABLE concord_entries ADD COLUMN packed boolean NOT NULL DEFAULT false;
      CREATE FUNCTION concord_append_records(documents text[], counts integer[], lengths integer[], records bytea) RETURNS void
      LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock_shared(key)
        FROM (SELECT DISTINCT hashtextextended(current_schema() || '/' || name, 0) AS key FROM unnest(documents) AS name) AS keys
        ORDER BY key;
        INSERT INTO concord_entries (document, seq, update, packed)
        SELECT document, nextval('concord_entry_seq') * 8192 + count - 1, substring(records FROM start FOR length), true
        FROM (
          SELECT document, count, length, position, (sum(length) OVER (ORDER BY position) - length + 1)::integer AS start
          FROM unnest(documents, counts, lengths) WITH ORDINALITY AS record(document, count, length, position)
        ) AS record
        ORDER BY position;
      END
      $$;
      CREATE OR REPLACE FUNCTION concord_append(documents text[], updates bytea[]) RETURNS void
      LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock_shared(key)
        FROM (SELECT DISTINCT hashtextextended(current_schema() || '/' || name, 0) AS key FROM unnest(documents) AS name) AS keys
        ORDER BY key;
        INSERT INTO concord_entries (document, seq, update)
        SELECT document, nextval('concord_entry_seq') * 8192, update
        FROM unnest(documents, updates) WITH ORDINALITY AS entry(document, update, position)
        ORDER BY position;
      END
      $$;`,
  },
  {
    version: 4,
    name: 'revocations',
    // SPEC §3 POST /api/revocations, kept for every instance and across restarts (auth/revocations.ts); `at` in ms.
    sql: `
      CREATE TABLE concord_revocations (
        id bigserial PRIMARY KEY,
        tenant text NOT NULL,
        "user" text NOT NULL,
        documents text NOT NULL,
        access text NOT NULL CHECK (access IN ('none', 'read')),
        at bigint NOT NULL
      );`,
  },
  {
    version: 5,
    name: 'channel logs',
    // ChannelStore: a row per channel (its epoch, made in Node; its last number; when it was last appended to, in ms;
    // the payload bytes it holds) and its recent events, the payload as the JSON text published. The channel row's
    // lock orders appends, so numbers follow commit order.
    sql: `
      CREATE TABLE concord_channels (
        tenant text NOT NULL,
        channel text NOT NULL,
        epoch text NOT NULL,
        head bigint NOT NULL,
        active_at bigint NOT NULL,
        PRIMARY KEY (tenant, channel)
      );
      CREATE TABLE concord_channel_events (
        tenant text NOT NULL,
        channel text NOT NULL,
        seq bigint NOT NULL,
        event text NOT NULL,
        payload text NOT NULL,
        bytes integer NOT NULL,
        at bigint NOT NULL,
        PRIMARY KEY (tenant, channel, seq)
      );
      CREATE INDEX concord_channel_events_at ON concord_channel_events (at);`,
  },
  {
    version: 6,
    name: 'last seen',
    // LastSeenStore: who left each tenant's workspace room, and when (ms); a tenant's newest are read on room load.
    sql: `
      CREATE TABLE concord_last_seen (
        tenant text NOT NULL,
        "user" text NOT NULL,
        name text NOT NULL,
        color text NOT NULL,
        at bigint NOT NULL,
        PRIMARY KEY (tenant, "user")
      );
      CREATE INDEX concord_last_seen_newest ON concord_last_seen (tenant, at DESC);`,
  },
  {
    version: 7,
    name: 'versions',
    // VersionStore: whole states of a document saved now and then, with their description (`at` in ms; `name` null
    // for automatic ones; `bytes` the state's size). A document's are listed newest first, without their states.
    sql: `
      CREATE TABLE concord_versions (
        document text NOT NULL,
        id text NOT NULL,
        name text,
        at bigint NOT NULL,
        "by" text NOT NULL,
        by_name text NOT NULL,
        auto boolean NOT NULL,
        reason text NOT NULL,
        bytes integer NOT NULL,
        state bytea NOT NULL,
        PRIMARY KEY (document, id)
      );
      CREATE INDEX concord_versions_newest ON concord_versions (document, at DESC);`,
  },
  {
    version: 8,
    name: 'files',
    // FileStore (PostgresFileStore.ts): attachments per tenant by SHA-256, in chunks of bytea stored as written
    // (EXTERNAL: most files are compressed already); uploads staged in chunks too, so a resumed chunk may reach any
    // instance; which documents refer to which file. `orphaned_at` (ms): since when no document refers to the file;
    // `provisional_at` (ms): when the API made a reference no record backs yet (NULL: firm), which the sweep lapses.
    sql: `
      CREATE TABLE concord_files (
        tenant text NOT NULL,
        hash text NOT NULL,
        size bigint NOT NULL,
        type text NOT NULL,
        orphaned_at bigint,
        PRIMARY KEY (tenant, hash)
      );
      CREATE INDEX concord_files_orphaned ON concord_files (orphaned_at) WHERE orphaned_at IS NOT NULL;
      CREATE TABLE concord_file_chunks (
        tenant text NOT NULL,
        hash text NOT NULL,
        position bigint NOT NULL,
        bytes bytea NOT NULL,
        PRIMARY KEY (tenant, hash, position),
        FOREIGN KEY (tenant, hash) REFERENCES concord_files ON DELETE CASCADE
      );
      ALTER TABLE concord_file_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
      CREATE TABLE concord_file_uploads (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        document text NOT NULL,
        hash text NOT NULL,
        size bigint NOT NULL,
        type text NOT NULL,
        "by" text NOT NULL,
        "offset" bigint NOT NULL,
        updated_at bigint NOT NULL,
        UNIQUE (tenant, document, hash, "by")
      );
      CREATE TABLE concord_upload_chunks (
        upload uuid NOT NULL REFERENCES concord_file_uploads ON DELETE CASCADE,
        position bigint NOT NULL,
        bytes bytea NOT NULL,
        PRIMARY KEY (upload, position)
      );
      ALTER TABLE concord_upload_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
      CREATE TABLE concord_file_references (
        tenant text NOT NULL,
        hash text NOT NULL,
        document text NOT NULL,
        provisional_at bigint,
        PRIMARY KEY (tenant, hash, document)
      );
      CREATE INDEX concord_file_references_provisional ON concord_file_references (provisional_at) WHERE provisional_at IS NOT NULL;`,
  },
];

/** Seed of the migration lock, apart from the per-document lock families of PostgresStore. */
const MIGRATION_LOCK = 2;

/** Applies the migrations `client`'s schema lacks; returns their names. Throws (having rolled back) on any failure. */
export async function migrate(client: pg.ClientBase, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
    const schema = rows[0]?.schema;
    if (!schema) throw new Error('no schema of the search_path exists (create it, or fix search_path)');
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended('concord_migrations/' || $1, ${MIGRATION_LOCK}))`, [schema]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS concord_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM concord_migrations')).rows.map((r) => r.version));
    const known = Math.max(...migrations.map((m) => m.version));
    const newest = Math.max(0, ...done);
    if (newest > known) {
      throw new Error(`schema ${schema} is at migration ${newest}, newer than this Concord knows (${known}); upgrade Concord`);
    }
    const applied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO concord_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      applied.push(`${migration.version} ${migration.name}`);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
