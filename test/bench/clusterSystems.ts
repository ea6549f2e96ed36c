/**
 * Cluster systems for the cross-instance rows (issue 15): several server processes on one fresh PostgreSQL schema and
 * one private Redis, both made fresh for every round and removed after it.
 *
 * - `concord-cluster`: `concord serve` with `--database-url` and `--redis-url`, the same secret on every instance.
 *   An instance is used once its `/healthz` says its Redis connection is healthy.
 * - `stock-redis`: ./stockServer.ts with `REDIS_URL`, so `@hocuspocus/extension-redis` joins the instances, and the
 *   `Database` extension stores to the shared schema as the single stock server does.
 *
 * Instances start one after another: the stock server creates its table with `CREATE TABLE IF NOT EXISTS`, which two
 * processes racing on one schema can fail.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnServer, type ServerProcess } from './processes.ts';
import { redisUnavailable, startRedis, type BenchRedis } from './redis.ts';
import {
  concordArgs,
  concordListening,
  nodeFlags,
  postgresUnavailable,
  schemaStorage,
  STOCK_SERVER,
  stockListening,
  type Storage,
  type System,
} from './systems.ts';

/** How long an instance may take, after it listens, to report a healthy Redis connection. */
const REDIS_HEALTHY_TIMEOUT_MS = 10_000;

async function clusterUnavailable(): Promise<string | undefined> {
  return (await postgresUnavailable()) ?? redisUnavailable();
}

/** Waits until the Concord instance's `/healthz` reports its Redis connection healthy. */
async function redisHealthy(server: ServerProcess): Promise<void> {
  const url = server.syncUrl.replace(/^ws/, 'http').replace(/\/sync$/, '/healthz');
  const deadline = performance.now() + REDIS_HEALTHY_TIMEOUT_MS;
  for (;;) {
    const body = (await (await fetch(url)).json()) as { redis?: { healthy?: boolean } };
    if (body.redis?.healthy === true) return;
    if (performance.now() > deadline) throw new Error(`instance ${server.pid}: Redis not healthy after ${REDIS_HEALTHY_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

/** Starts `count` instances with `startOne`, one after another; if one fails, stops those already started. */
async function startAll(count: number, startOne: () => Promise<ServerProcess>): Promise<ServerProcess[]> {
  const servers: ServerProcess[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await startOne());
    return servers;
  } catch (error) {
    for (const server of servers) await server.stop().catch(() => undefined);
    throw error;
  }
}

/** A fresh schema and Redis for one round; `spawn` starts one instance on them in `cwd`. */
async function clusterStorage(
  purpose: string,
  system: string,
  spawn: (databaseUrl: string, redis: BenchRedis, cwd: string) => Promise<ServerProcess>,
): Promise<Storage> {
  const schema = await schemaStorage(purpose, system);
  let redis: BenchRedis;
  try {
    redis = await startRedis();
  } catch (error) {
    await schema.dispose();
    throw error;
  }
  const dirs: string[] = [];
  const startOne = async () => {
    const dir = await mkdtemp(join(tmpdir(), `concord-bench-${system}-`));
    dirs.push(dir);
    return spawn(schema.url, redis, dir);
  };
  return {
    where: 'PostgreSQL relations of its schema',
    start: startOne,
    startInstances: (count) => startAll(count, startOne),
    redis,
    bytesOnDisk: schema.bytesOnDisk,
    bytesAtRest: schema.bytesAtRest,
    async dispose() {
      await redis.stop();
      await schema.dispose();
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    },
  };
}

export const concordCluster: System = {
  key: 'concord-cluster',
  label: 'Concord cluster (PostgreSQL + Redis)',
  unavailable: clusterUnavailable,
  createStorage: (purpose) =>
    clusterStorage(purpose, 'concord_cluster', async (databaseUrl, redis, dataDir) => {
      const server = await spawnServer({
        args: [...concordArgs(dataDir, databaseUrl), '--redis-url', redis.url],
        cwd: dataDir,
        listening: concordListening,
      });
      try {
        await redisHealthy(server);
      } catch (error) {
        await server.stop().catch(() => undefined);
        throw error;
      }
      return server;
    }),
};

export const stockRedis: System = {
  key: 'stock-redis',
  label: 'Stock Hocuspocus 4 + Database (PostgreSQL) + extension-redis',
  unavailable: clusterUnavailable,
  createStorage: (purpose) =>
    clusterStorage(purpose, 'stock_redis', (databaseUrl, redis, cwd) =>
      spawnServer({ args: [...nodeFlags(), STOCK_SERVER], cwd, env: { DATABASE_URL: databaseUrl, REDIS_URL: redis.url }, listening: stockListening }),
    ),
};

/** Systems that only the cluster scenarios use (not the throughput and cold rows). */
export const CLUSTER_SYSTEMS: readonly System[] = [concordCluster, stockRedis];
