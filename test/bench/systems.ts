/**
 * The systems under test. Each gives fresh, empty storage on demand (a temp LevelDB directory or a new PostgreSQL
 * schema); storage starts server processes on itself (again after a stop, for cold loads), reports its bytes on
 * disk, and is removed afterwards.
 *
 * - Concord on LevelDB and on PostgreSQL: the built `concord serve` (server/dist/cli.js), acknowledging only durable
 *   edits.
 * - Stock: Hocuspocus 4 `Server` + `Database` extension on PostgreSQL (./stockServer.ts), acknowledging in memory.
 *
 * The cluster systems (several instances on one schema and one Redis) are in ./clusterSystems.ts.
 *
 * `BENCH_CPU_PROF=<dir>` starts every server with `--cpu-prof` into that directory; `BENCH_NODE_FLAGS` adds Node flags.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { createSchema, dropSchema, schemaBytes, unreachableReason, urlForSchema, vacuumFull } from './postgres.ts';
import { spawnServer, type ServerProcess } from './processes.ts';

export const CONCORD_CLI = fileURLToPath(new URL('./cli.js', import.meta.resolve('@concord/server')));
export const STOCK_SERVER = fileURLToPath(new URL('./stockServer.ts', import.meta.url));
/** Ties this run's schemas together, so a crashed run's leftovers are recognisable. */
const RUN_ID = `${process.pid}_${Date.now().toString(36)}`;

export const AUTH_SECRET = randomBytes(32).toString('hex');

/** Write access to every document of tenant `bench` (the stock server ignores tokens), as user `sub`. */
export function mintToken(sub = 'bench-writer', name?: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant: 'bench', docs: { '*': 'write' }, ...(name === undefined ? {} : { name }) })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(new TextEncoder().encode(AUTH_SECRET));
}

export interface Storage {
  /** A server process on this storage. */
  start(): Promise<ServerProcess>;
  /** Bytes on disk as the workload left them. */
  bytesOnDisk(): Promise<number>;
  /** Bytes on disk once dead space is reclaimed (PostgreSQL: VACUUM FULL; LevelDB: as it is after reopening). */
  bytesAtRest(): Promise<number>;
  /** Where the bytes are, for the notes. */
  readonly where: string;
  /** `count` instances on this storage, one cluster (cluster systems only); all started, or none left running. */
  startInstances?(count: number): Promise<ServerProcess[]>;
  /** The Redis the instances share (cluster systems only). */
  readonly redis?: { cpuSeconds(): number };
  dispose(): Promise<void>;
}

export interface System {
  readonly key: string;
  readonly label: string;
  /** Undefined when the system can run here, else why it cannot. */
  unavailable(): Promise<string | undefined>;
  createStorage(purpose: string): Promise<Storage>;
}

export function nodeFlags(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  const extra = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ') : [];
  return dir ? [...extra, '--cpu-prof', '--cpu-prof-dir', dir] : extra;
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

export function concordArgs(dataDir: string, databaseUrl?: string): string[] {
  const args = [...nodeFlags(), CONCORD_CLI, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir];
  args.push('--auth-secret', AUTH_SECRET, '--log-level', 'info');
  if (databaseUrl) args.push('--database-url', databaseUrl);
  return args;
}

export function concordListening(entry: Record<string, unknown>): string | undefined {
  const { msg, url } = entry;
  if (typeof msg !== 'string' || !msg.startsWith('Concord listening') || typeof url !== 'string') return undefined;
  return `${url.replace(/^http/, 'ws')}/sync`;
}

export const concordLevel: System = {
  key: 'concord-leveldb',
  label: 'Concord, LevelDB',
  unavailable: async () => undefined,
  async createStorage() {
    const dataDir = await mkdtemp(join(tmpdir(), 'concord-bench-'));
    return {
      where: 'LevelDB directory (every file)',
      start: () => spawnServer({ args: concordArgs(dataDir), cwd: dataDir, listening: concordListening }),
      bytesOnDisk: () => directoryBytes(dataDir),
      bytesAtRest: () => directoryBytes(dataDir),
      dispose: () => rm(dataDir, { recursive: true, force: true }),
    };
  },
};

let postgresDown: Promise<string | undefined> | undefined;
export const postgresUnavailable = () => (postgresDown ??= unreachableReason());

export async function schemaStorage(purpose: string, system: string) {
  const schema = `bench_${system}_${purpose}_${RUN_ID}`;
  await createSchema(schema);
  return {
    url: urlForSchema(schema),
    bytesOnDisk: () => schemaBytes(schema),
    bytesAtRest: async () => {
      await vacuumFull(schema);
      return schemaBytes(schema);
    },
    dispose: () => dropSchema(schema),
  };
}

export const concordPostgres: System = {
  key: 'concord-postgres',
  label: 'Concord, PostgreSQL',
  unavailable: postgresUnavailable,
  async createStorage(purpose) {
    const { url, bytesOnDisk, bytesAtRest, dispose } = await schemaStorage(purpose, 'concord');
    const dataDir = await mkdtemp(join(tmpdir(), 'concord-bench-pg-'));
    return {
      where: 'PostgreSQL relations of its schema',
      start: () => spawnServer({ args: concordArgs(dataDir, url), cwd: dataDir, listening: concordListening }),
      bytesOnDisk,
      bytesAtRest,
      async dispose() {
        await dispose();
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  },
};

export function stockListening(entry: Record<string, unknown>): string | undefined {
  return entry.msg === 'stock listening' && typeof entry.url === 'string' ? entry.url : undefined;
}

export const stockHocuspocus: System = {
  key: 'stock',
  label: 'Stock Hocuspocus 4 + Database (PostgreSQL)',
  unavailable: postgresUnavailable,
  async createStorage(purpose) {
    const { url, bytesOnDisk, bytesAtRest, dispose } = await schemaStorage(purpose, 'stock');
    const cwd = await mkdtemp(join(tmpdir(), 'concord-bench-stock-'));
    return {
      where: 'PostgreSQL relations of its schema',
      start: () =>
        spawnServer({
          args: [...nodeFlags(), STOCK_SERVER],
          cwd,
          env: { DATABASE_URL: url },
          listening: stockListening,
        }),
      bytesOnDisk,
      bytesAtRest,
      async dispose() {
        await dispose();
        await rm(cwd, { recursive: true, force: true });
      },
    };
  },
};

export const SYSTEMS: readonly System[] = [concordLevel, concordPostgres, stockHocuspocus];
