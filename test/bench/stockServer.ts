/**
 * The stock peer: Hocuspocus 4's own `Server` with its `Database` extension storing to PostgreSQL the way the
 * extension's README shows it (fetch the stored state; store the whole state with an upsert). Every other setting
 * is Hocuspocus's default, so stores are debounced (2 s, at most 10 s) and an acknowledgement means "applied in
 * memory". No authentication hook: any token is accepted.
 *
 * With `REDIS_URL` it is one instance of a stock cluster: `@hocuspocus/extension-redis`'s `Redis` extension, as its
 * README shows it (host and port, every other option its default), joins every process on that Redis, and they share
 * the `documents` table (the extension's lock keeps two from storing one document at once).
 *
 * The benchmark runs this file as its own process (`node stockServer.ts`, Node 24 strips the types) with
 * `DATABASE_URL` naming the database and, through `search_path`, the schema. It prints one JSON line
 * `{"msg":"stock listening","url":"ws://…"}` once it listens; SIGTERM stores every document and exits.
 */
import { Database } from '@hocuspocus/extension-database';
import { Redis } from '@hocuspocus/extension-redis';
import { Server } from '@hocuspocus/server';
import pg from 'pg';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('stockServer: DATABASE_URL is required');

const redisUrl = process.env.REDIS_URL ? new URL(process.env.REDIS_URL) : undefined;

const pool = new pg.Pool({ connectionString: databaseUrl });
await pool.query('CREATE TABLE IF NOT EXISTS documents (name text PRIMARY KEY, data bytea NOT NULL)');

const server = new Server({
  port: 0,
  address: '127.0.0.1',
  quiet: true,
  extensions: [
    ...(redisUrl ? [new Redis({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) })] : []),
    new Database({
      fetch: async ({ documentName }) => {
        const { rows } = await pool.query<{ data: Buffer }>('SELECT data FROM documents WHERE name = $1', [documentName]);
        return rows[0]?.data ?? null;
      },
      store: async ({ documentName, state }) => {
        await pool.query(
          'INSERT INTO documents (name, data) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data',
          [documentName, state],
        );
      },
    }),
  ],
  async onDestroy() {
    await pool.end();
  },
});

await server.listen();
console.log(JSON.stringify({ msg: 'stock listening', url: `ws://127.0.0.1:${server.address.port}` }));
