/**
 * A cluster of real `concord serve` processes (support/serverProcess.ts) for scale-out tests: `startCluster(n,
 * {redis})` makes one fresh PostgreSQL schema (support/postgres.ts) and starts `n` instances on it, joined by the given
 * Redis; `add()` starts one more later (a fresh instance to read what survived, or one whose PostgreSQL goes through a
 * proxy the test controls). Every process is SIGKILLed when the test ends. `healthz(url)` reads an instance's
 * `/healthz`.
 */
import { freshSchema } from './postgres.js';
import { makeTempDir } from './server.js';
import { spawnServer, type ServerProcess, type ServerProcessOptions } from './serverProcess.js';

export interface Cluster {
  /** The schema's URL, which every instance shares. */
  readonly databaseUrl: string;
  /** The instances started with the cluster, in order. */
  readonly servers: readonly ServerProcess[];
  /** Starts one more instance; `databaseUrl` may reach the same schema another way (through a proxy). */
  add(options?: { databaseUrl?: string }): Promise<ServerProcess>;
}

export interface ClusterOptions {
  /** The Redis that joins the instances. */
  redis: { readonly url: string };
  /** More `concord serve` flags for every instance. */
  args?: readonly string[];
  onLog?: ServerProcessOptions['onLog'];
}

export async function startCluster(n: number, { redis, args = [], onLog }: ClusterOptions): Promise<Cluster> {
  const { url: databaseUrl } = await freshSchema();
  const add = async (options: { databaseUrl?: string } = {}) =>
    spawnServer({ dataDir: await makeTempDir(), databaseUrl: options.databaseUrl ?? databaseUrl, redisUrl: redis.url, args, onLog });
  const servers = await Promise.all(Array.from({ length: n }, () => add()));
  return { databaseUrl, servers, add };
}

/** What these tests read of `/healthz`. */
export interface Health {
  readonly status: string;
  readonly storage: { readonly healthy: boolean; readonly lastError: string | null; readonly backlog: number };
  readonly redis?: { readonly healthy: boolean; readonly instance: string; readonly peers: number };
}

export async function healthz(url: string): Promise<Health> {
  return (await (await fetch(`${url}/healthz`)).json()) as Health;
}
