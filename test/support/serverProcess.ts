/**
 * The real `concord serve` in its own process, for tests that must kill it (`kill -9`) or watch its logs: it is
 * started from the built CLI (`server/dist/cli.js`, which `npm test` builds first) with the Node running the tests,
 * port 0, the given data directory or database, and the test secret. Its environment is only PATH and HOME, and its
 * working directory is the data directory, so neither a developer's `CONCORD_*` variables nor a `.env` file reach
 * it. Every process is SIGKILLed when the test ends, whatever happened, and its exit waited for.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { onCleanup } from './cleanup.js';
import { TEST_SECRET } from './tokens.js';

export const CLI_PATH = fileURLToPath(new URL('../../server/dist/cli.js', import.meta.url));

/** How long a server process may take to print "Concord listening" (Node start, module loading, store open). */
const START_TIMEOUT_MS = 20_000;

/** One parsed pino log line. */
export interface LogEntry {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface ServerProcessOptions {
  /** LevelDB directory; also the working directory. */
  dataDir: string;
  /** PostgreSQL storage instead of LevelDB. */
  databaseUrl?: string;
  /** Redis that joins this process to the other instances on the same PostgreSQL (`--redis-url`). */
  redisUrl?: string;
  /** Default `info`; `debug` shows compactions. */
  logLevel?: string;
  /** Called for every log line as it arrives, before anything else sees it (so it can kill at once). */
  onLog?: (entry: LogEntry, server: ServerProcess) => void;
  /** More `concord serve` flags, e.g. `['--max-send-buffer-bytes', '1048576']`. */
  args?: readonly string[];
  /** Another build of the CLI (default `server/dist/cli.js`), e.g. one patched to show that a test can fail. */
  cli?: string;
}

export interface ServerProcess {
  readonly pid: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `ws://127.0.0.1:<port>/sync` */
  readonly syncUrl: string;
  /** Every log line so far. */
  readonly logs: readonly LogEntry[];
  /** Resolves once the process has exited (with its code, or the signal that ended it). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (at once, synchronously) and resolves once the process is gone. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnServer(options: ServerProcessOptions): Promise<ServerProcess> {
  const cli = options.cli ?? CLI_PATH;
  if (!existsSync(cli)) {
    throw new Error(`${cli} is missing: crash tests run the built server; run "npm run build" first (npm test does)`);
  }
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', options.dataDir, '--auth-secret', TEST_SECRET];
  if (options.databaseUrl) args.push('--database-url', options.databaseUrl);
  if (options.redisUrl) args.push('--redis-url', options.redisUrl);
  args.push('--log-level', options.logLevel ?? 'info');
  if (options.args) args.push(...options.args);
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: options.dataDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  // Cleanups run last in, first out, so the process is gone before its PostgreSQL schema is dropped.
  onCleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });

  const logs: LogEntry[] = [];
  let stderr = '';
  let partial = '';
  let listening!: (url: string) => void;
  let failed!: (error: Error) => void;
  const started = new Promise<string>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });

  const handle: ServerProcess = {
    pid: child.pid ?? -1,
    url: '',
    syncUrl: '',
    logs,
    exited,
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };

  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let entry: LogEntry;
      try {
        entry = JSON.parse(line) as LogEntry;
      } catch {
        entry = { level: 30, msg: line };
      }
      logs.push(entry);
      options.onLog?.(entry, handle);
      if (typeof entry.msg === 'string' && entry.msg.startsWith('Concord listening') && typeof entry.url === 'string') {
        listening(entry.url);
      }
    }
  });
  void exited.then(({ code, signal }) =>
    failed(new Error(`concord serve exited (code ${code}, signal ${signal}) before listening:\n${stderr}`)),
  );
  const timer = setTimeout(() => failed(new Error(`concord serve did not start within ${START_TIMEOUT_MS} ms:\n${stderr}`)), START_TIMEOUT_MS);
  const url = await started.finally(() => clearTimeout(timer));
  Object.assign(handle, { url, syncUrl: `${url.replace(/^http/, 'ws')}/sync` });
  return handle;
}
