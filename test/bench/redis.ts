/**
 * A private Redis for one benchmark round of a cluster system: `redis-server` (or `REDIS_SERVER`) on a free port of
 * 127.0.0.1, without persistence (`--save '' --appendonly no`), ready once it answers PING, with its CPU time read from
 * the kernel like a server's, and SIGKILLed when stopped or when the benchmark exits. The tests' own helper
 * (test/support/redis.ts) is tied to vitest's cleanup; this one is tied to the round.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { threadCpuSeconds } from './processes.ts';

const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server';
const START_TIMEOUT_MS = 10_000;
const PING_INTERVAL_MS = 20;

export interface BenchRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** CPU seconds the redis-server has used so far. */
  cpuSeconds(): number;
  /** SIGKILL (nothing in it is kept); resolves once it is gone. */
  stop(): Promise<void>;
}

/** Undefined when redis-server can run here, else why not. */
export function redisUnavailable(): string | undefined {
  try {
    execFileSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch (error) {
    return `${REDIS_SERVER} cannot run (${(error as Error).message}); install redis-server or set REDIS_SERVER`;
  }
}

/** `redis-server --version`'s version, for the report. */
export function redisVersion(): string {
  try {
    const text = execFileSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
    return /v=(\S+)/.exec(text)?.[1] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

export async function startRedis(): Promise<BenchRedis> {
  const port = await freePort();
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (!(await ping(port))) {
    if (child.exitCode !== null || child.signalCode !== null || performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING:\n${output.trim().split('\n').slice(-5).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, PING_INTERVAL_MS));
  }
  const pid = child.pid ?? -1;
  const threadTimes = new Map<string, number>();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    cpuSeconds() {
      try {
        return threadCpuSeconds(pid, threadTimes);
      } catch {
        return Number.NaN;
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
