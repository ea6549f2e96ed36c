/**
 * PostgreSQL for tests: `DATABASE_URL` (default the machine's trust-auth server, database `test`), probed once per
 * file. `describePostgres` runs a suite only when that server answers: otherwise, locally, it is skipped with a loud
 * notice, and with `CI` set it fails instead, so a CI run never passes without the Postgres tests.
 * `freshSchema()` gives each test an empty schema of its own and a URL whose `search_path` points at it
 * (`?options=-c search_path=...`, which pg sends as a startup option); the schema is dropped when the test ends
 * (`dropSchema`, tried again when PostgreSQL breaks a deadlock by aborting it).
 */
import pg from 'pg';
import { describe, test } from 'vitest';
import { onCleanup } from './cleanup.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** How long the probe waits for the server before deciding it is not there. */
const PROBE_TIMEOUT_MS = 3_000;

async function probe(): Promise<string | null> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    const reason = error instanceof AggregateError ? error.errors.map((e: Error) => e.message).join('; ') : (error as Error).message;
    return reason || String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Why PostgreSQL is not usable, or null when it is. */
export const postgresProblem: string | null = await probe();

/** `CI` set to anything but an empty string, `0` or `false`. */
function isCI(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
}

/** The URL with the password, if any, hidden: for messages. */
export function redacted(url: string): string {
  return url.replace(/(\/\/[^/?#@]*?:)[^/?#]*@/, '$1<hidden>@');
}

/** `describe` for suites that need PostgreSQL: skipped loudly when it is not reachable, failed when `CI` is set. */
export function describePostgres(title: string, body: () => void): void {
  if (postgresProblem === null) {
    describe(title, body);
    return;
  }
  const why = `PostgreSQL at ${redacted(DATABASE_URL)} is not reachable (${postgresProblem})`;
  if (isCI()) {
    describe(title, () => {
      test('PostgreSQL is reachable (CI requires it; set DATABASE_URL)', () => {
        throw new Error(`${why}: with CI set, the PostgreSQL tests must run`);
      });
    });
    return;
  }
  const banner = '!'.repeat(100);
  console.warn(`\n${banner}\n!! SKIPPED "${title}": ${why}.\n!! Start PostgreSQL or set DATABASE_URL to run these tests (with CI set they fail).\n${banner}\n`);
  // Skipped on purpose: PostgreSQL is unreachable here, and CI is not set (the banner above says so; with CI set the suite fails instead).
  describe.skip(title, body);
}

/** `url` with its `search_path` set to `schema`. */
export function withSearchPath(url: string, schema: string): string {
  const options = encodeURIComponent(`-c search_path=${schema}`);
  return `${url}${url.includes('?') ? '&' : '?'}options=${options}`;
}

/** Runs `sql` on a short-lived connection to DATABASE_URL. */
export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** PostgreSQL's "deadlock detected": it aborted this transaction so the other could go on. */
const DEADLOCK_DETECTED = '40P01';
/** Tries of a schema's drop that PostgreSQL aborts to break a deadlock. */
const DROP_TRIES = 5;

/**
 * Drops `schema` with everything in it. A server process the test killed may have a backend still running its last
 * statement on the schema's tables, locking them in another order than the drop does: PostgreSQL then aborts one of
 * the two, and a drop it aborted is tried again once that statement had time to end (storage/testSchemas.test.ts).
 */
export async function dropSchema(schema: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== DEADLOCK_DETECTED || attempt === DROP_TRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

let schemas = 0;

/** A new, empty schema dropped (with everything in it) when the test ends; `url` connects into it. */
export async function freshSchema(): Promise<{ schema: string; url: string }> {
  schemas += 1;
  const schema = `concord_test_${process.pid}_${schemas}_${Math.random().toString(36).slice(2, 8)}`;
  await adminQuery(`CREATE SCHEMA ${schema}`);
  onCleanup(() => dropSchema(schema));
  return { schema, url: withSearchPath(DATABASE_URL, schema) };
}
