/**
 * A private Redis for tests: `startRedis()` runs `redis-server` (or `REDIS_SERVER`) on a free port of 127.0.0.1,
 * without persistence, and resolves once it answers PING; `kill()` SIGKILLs it (an outage), `restart()` starts it
 * again, empty, on the same port; `stall()` stops it with SIGSTOP (its connections stay open but nothing answers) and
 * `resume()` lets it go on with SIGCONT. It is killed when the test (or, from `beforeAll`, the file) ends. `describeRedis`
 * runs a suite only when the binary exists: otherwise, locally, it is skipped with a loud notice, and with `CI` set it
 * fails instead, so a CI run never passes without the Redis tests.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { describe, test } from 'vitest';
import { onCleanup } from './cleanup.js';

const REDIS_SERVER = process.env.REDIS_SERVER ?? 'redis-server';

/** How long a redis-server may take to answer PING after it is spawned. */
const START_TIMEOUT_MS = 10_000;
/** Between PING attempts while it starts. */
const PING_INTERVAL_MS = 20;

function findProblem(): string | null {
  const result = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' });
  if (result.error) return result.error.message;
  if (result.status !== 0) return `"${REDIS_SERVER} --version" exited with ${result.status}`;
  return null;
}

/** Why redis-server cannot run here, or null when it can. */
export const redisProblem: string | null = findProblem();

/** `CI` set to anything but an empty string, `0` or `false`. */
export function isCI(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
}

/** `describe` for suites that need a private Redis: skipped loudly when redis-server is missing, failed when `CI` is set. */
export function describeRedis(title: string, body: () => void): void {
  if (redisProblem === null) {
    describe(title, body);
    return;
  }
  const why = `${REDIS_SERVER} cannot run (${redisProblem})`;
  if (isCI()) {
    describe(title, () => {
      test('redis-server is installed (CI requires it; set REDIS_SERVER)', () => {
        throw new Error(`${why}: with CI set, the Redis tests must run`);
      });
    });
    return;
  }
  const banner = '!'.repeat(100);
  console.warn(`\n${banner}\n!! SKIPPED "${title}": ${why}.\n!! Install redis-server or set REDIS_SERVER to run these tests (with CI set they fail).\n${banner}\n`);
  // Skipped on purpose: no redis-server binary can run here, and CI is not set (the banner above says so; with CI set the suite fails instead).
  describe.skip(title, body);
}

export interface PrivateRedis {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** SIGKILLs it and resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts it again (empty) on the same port; resolves once it answers PING. */
  restart(): Promise<void>;
  /** SIGSTOP: the process stays, its sockets stay open, nothing is answered. */
  stall(): void;
  /** SIGCONT after `stall()`; resolves once it answers PING. */
  resume(): Promise<void>;
  /**
   * The bulk strings (and integers, as text) of the reply to one command, e.g. `['PUBSUB', 'CHANNELS', 'concord:*']` (RESP2, flat); an
   * argument may be bytes (a bus frame to PUBLISH).
   */
  strings(args: ReadonlyArray<string | Uint8Array>): Promise<string[]>;
}

/** A subscription of its own to one channel: the payloads published on it since, as they came. */
export interface Subscription {
  readonly messages: Buffer[];
  close(): void;
}

/**
 * Subscribes to `channel` on a new connection; resolves once Redis confirmed. Reads RESP2 pushes
 * (`message`, channel, payload), payloads being bytes (bus frames).
 */
export function subscribe(port: number, channel: string): Promise<Subscription> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const messages: Buffer[] = [];
    let pending = Buffer.alloc(0);
    let confirmed = false;
    socket.once('error', reject);
    socket.once('connect', () => socket.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${Buffer.byteLength(channel)}\r\n${channel}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const push = readPush(pending);
        if (push === null) return;
        pending = pending.subarray(push.length);
        const [kind, , payload] = push.parts;
        if (kind?.toString() === 'message' && payload !== undefined) messages.push(payload);
        if (kind?.toString() === 'subscribe' && !confirmed) {
          confirmed = true;
          resolve({ messages, close: () => socket.destroy() });
        }
      }
    });
  });
}

/** One complete RESP2 push (an array of bulk strings and integers) at the start of `bytes`, or null while incomplete. */
function readPush(bytes: Buffer): { parts: Buffer[]; length: number } | null {
  const line = (at: number) => {
    const end = bytes.indexOf('\r\n', at);
    return end < 0 ? null : { text: bytes.toString('latin1', at, end), next: end + 2 };
  };
  const head = line(0);
  if (head === null) return null;
  if (!head.text.startsWith('*')) throw new Error(`unexpected reply ${head.text}`);
  const parts: Buffer[] = [];
  let at = head.next;
  for (let i = Number(head.text.slice(1)); i > 0; i--) {
    const item = line(at);
    if (item === null) return null;
    if (item.text.startsWith(':')) {
      parts.push(Buffer.from(item.text.slice(1)));
      at = item.next;
      continue;
    }
    const size = Number(item.text.slice(1));
    if (bytes.length < item.next + size + 2) return null;
    parts.push(bytes.subarray(item.next, item.next + size));
    at = item.next + size + 2;
  }
  return { parts, length: at };
}

/** Sends one command on a new connection; resolves with the bulk strings of its reply. */
function strings(port: number, args: ReadonlyArray<string | Uint8Array>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let reply = Buffer.alloc(0);
    socket.once('error', reject);
    socket.once('connect', () => {
      const parts = args.map((arg) => (typeof arg === 'string' ? Buffer.from(arg) : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength)));
      socket.write(Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...parts.flatMap((part) => [Buffer.from(`$${part.byteLength}\r\n`), part, Buffer.from('\r\n')])]));
    });
    socket.on('data', (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      const parsed = parseStrings(reply.toString('utf8'));
      if (parsed === null) return;
      socket.destroy();
      resolve(parsed);
    });
  });
}

/** The bulk strings and integers of a complete flat RESP2 reply (an array of them, or one), or null while incomplete. */
function parseStrings(text: string): string[] | null {
  if (text.startsWith('-')) throw new Error(`Redis replied ${text.trim()}`);
  const lines = text.split('\r\n');
  let count = 1;
  let at = 0;
  if (lines[0]?.startsWith('*')) {
    count = Number(lines[0].slice(1));
    at = 1;
  }
  const out: string[] = [];
  while (out.length < count) {
    if (lines[at]?.startsWith(':')) {
      out.push(lines[at]!.slice(1)); // an integer (PUBSUB NUMSUB's counts)
      at += 1;
      continue;
    }
    if (at + 1 >= lines.length) return null;
    out.push(lines[at + 1]!);
    at += 2;
  }
  return out;
}

/** A port of 127.0.0.1 nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** One raw PING: true on `+PONG`. */
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
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Spawns redis-server on `port`; resolves once it answers PING, rejects if it exits or times out first. */
async function spawnOn(port: number): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited before answering PING:\n${output}`);
    }
    if (await ping(port)) return child;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, PING_INTERVAL_MS));
  }
}

/** A private redis-server on a free port, killed at cleanup. */
export async function startRedis(): Promise<PrivateRedis> {
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; child === undefined; attempt += 1) {
    port = await freePort();
    try {
      child = await spawnOn(port);
    } catch (error) {
      // Someone else took the port between the probe and the spawn: try another.
      if (attempt >= 3 || !String((error as Error).message).includes('in use')) throw error;
    }
  }
  onCleanup(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      if (!child) return;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    },
    async restart() {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited(child);
      }
      child = await spawnOn(port);
    },
    stall() {
      child?.kill('SIGSTOP');
    },
    async resume() {
      child?.kill('SIGCONT');
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (!(await ping(port))) {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING after SIGCONT`);
        await new Promise((resolve) => setTimeout(resolve, PING_INTERVAL_MS));
      }
    },
    strings: (args) => strings(port, args),
  };
}
