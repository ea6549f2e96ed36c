/**
 * The tests' own PostgreSQL schemas (support/postgres.ts): a test's schema is dropped when it ends, even while a
 * session of a server the test killed is still inside a transaction on its tables. A fresh-clone CI run failed a
 * passing cluster test in its teardown with "deadlock detected": its instances were SIGKILLed, and a backend of one of
 * them, still running its last statement, locked the schema's tables in the opposite order to `DROP SCHEMA … CASCADE`.
 * PostgreSQL aborts one of two deadlocked transactions; a drop that is the one aborted is tried again.
 *
 * Here the deadlock is made on purpose: a session reads a table of the schema inside a transaction, the drop then
 * locks the schema and waits for that table, and the session creates a table in the schema, which waits for the drop.
 * The drop waited first, so after `deadlock_timeout` it is the transaction PostgreSQL aborts.
 */
import pg from 'pg';
import { expect, it } from 'vitest';
import { adminQuery, DATABASE_URL, describePostgres, dropSchema } from '../support/postgres.js';
import { waitFor } from '../support/wait.js';

// Skipped, with a loud notice, only where PostgreSQL is unreachable outside CI; under CI=true it fails instead (support/postgres.ts).
describePostgres("the tests' PostgreSQL schemas", () => {
  it('a schema is dropped although a session deadlocks with the drop', { timeout: 20_000 }, async () => {
    const schema = `concord_test_deadlock_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    await adminQuery(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.notes (id int)`);
    const session = new pg.Client({ connectionString: DATABASE_URL });
    // pg_stat_activity is read from another session: inside a transaction it is a snapshot taken at its first read.
    const observer = new pg.Client({ connectionString: DATABASE_URL });
    await Promise.all([session.connect(), observer.connect()]);
    try {
      await session.query(`BEGIN; SELECT * FROM ${schema}.notes`);
      const dropped = dropSchema(schema).then(
        () => null,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
      await waitFor(
        async () => {
          const { rows } = await observer.query<{ waiting: number }>(
            "SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DROP SCHEMA%'",
          );
          return rows[0]!.waiting > 0;
        },
        { timeoutMs: 10_000, message: 'the drop to wait for the session' },
      );
      // Waits for the drop's lock on the schema: a deadlock, which PostgreSQL breaks by aborting the drop.
      await session.query(`CREATE TABLE ${schema}.more (id int)`);
      await session.query('COMMIT');
      expect(await dropped, 'the drop').toBeNull();
      const { rows } = await observer.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
      expect(rows, `schema ${schema} after the drop`).toEqual([]);
    } finally {
      await Promise.all([session.end().catch(() => undefined), observer.end().catch(() => undefined)]);
      await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    }
  });
});
