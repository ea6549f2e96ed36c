/**
 * PostgreSQL for the benchmark: every storage it creates is a fresh schema, selected for the server through the
 * connection URL's `search_path` option, measured with `pg_total_relation_size` (heap, TOAST and indexes) as the
 * workload left them and again after `VACUUM FULL`, and dropped at the end.
 */
import pg from 'pg';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const CONNECT_TIMEOUT_MS = 3_000;

export function databaseUrl(): string {
  return process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
}

/** The database URL with `search_path` set to `schema`. */
export function urlForSchema(schema: string): string {
  const url = new URL(databaseUrl());
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

async function withClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl(), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Undefined when PostgreSQL answers, else why not. */
export async function unreachableReason(): Promise<string | undefined> {
  try {
    await withClient((client) => client.query('SELECT 1'));
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${new URL(databaseUrl()).host} is unreachable (${(error as Error).message}); set DATABASE_URL`;
  }
}

export async function createSchema(schema: string): Promise<void> {
  await withClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE; CREATE SCHEMA "${schema}"`));
}

export async function dropSchema(schema: string): Promise<void> {
  await withClient((client) => client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

/** Rewrites every table of `schema` without its dead rows (what a long-lived database's autovacuum gets close to). */
export async function vacuumFull(schema: string): Promise<void> {
  await withClient(async (client) => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    );
    for (const { name } of rows) await client.query(`VACUUM FULL "${schema}"."${name}"`);
  });
}

/** Bytes of every table in `schema`, with its TOAST table and indexes. */
export async function schemaBytes(schema: string): Promise<number> {
  return withClient(async (client) => {
    const { rows } = await client.query<{ bytes: string | null }>(
      `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')`,
      [schema],
    );
    return Number(rows[0]?.bytes ?? 0);
  });
}
