/**
 * The bus namespace of a cluster: the instances that share one PostgreSQL database and schema share it, and nobody
 * else does, so clusters on different schemas (each test's, or staging beside production) never meet on one Redis.
 * It is 8 hex characters of a SHA-1 over the database server's system identifier (when the role may read it), the
 * database name and the current schema, as PostgreSQL itself reports them: two instances that reach the same database
 * through different host names still agree.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

export async function clusterNamespace(databaseUrl: string): Promise<string> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ database: string; schema: string | null }>(
      'SELECT current_database() AS database, current_schema() AS schema',
    );
    let system = '';
    try {
      const control = await client.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
      system = control.rows[0]?.id ?? '';
    } catch {
      // pg_control_system() may be closed to this role; the database and schema names still separate clusters.
    }
    const row = rows[0];
    return createHash('sha1').update(`${system}/${row?.database ?? ''}/${row?.schema ?? ''}`).digest('hex').slice(0, 8);
  } finally {
    await client.end().catch(() => undefined);
  }
}
