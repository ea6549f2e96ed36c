/**
 * A real Concord server for tests: port 0 on loopback, a fresh LevelDB directory, the test secret (or dev mode),
 * silent logs (set CONCORD_TEST_LOG_LEVEL to see them). It stops and its directory goes away when the test (or
 * the file, when started in beforeAll) ends. `restart()` stops it and starts a new one on the same port and data.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type ConcordServer, type ServerOptions } from '@concord/server';
import { onCleanup } from './cleanup.js';
import { TEST_SECRET } from './tokens.js';

export interface TestServerOptions extends ServerOptions {
  /** No secret: the server runs in dev mode and serves /api/dev/token. */
  devMode?: boolean;
}

export interface TestServer {
  readonly current: ConcordServer;
  readonly url: string;
  readonly syncUrl: string;
  /** `ws://host:port/y` — the y-websocket base URL (the provider appends `/<document>`). */
  readonly yUrl: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): Promise<void>;
  /** Starts again on the same port and data directory (after stop(), or stopping first). */
  start(): Promise<void>;
  restart(): Promise<void>;
}

export async function makeTempDir(prefix = 'concord-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { devMode = false, ...rest } = options;
  const dataDir = rest.dataDir ?? (await makeTempDir());
  const settings: ServerOptions = {
    host: '127.0.0.1',
    port: 0,
    logLevel: (process.env.CONCORD_TEST_LOG_LEVEL as ServerOptions['logLevel']) ?? 'silent',
    ...(devMode ? {} : { authSecret: TEST_SECRET }),
    ...rest,
    dataDir,
  };
  let server: ConcordServer | undefined = await startServer(settings);
  const port = server.port;
  let running = true;

  const handle: TestServer = {
    get current() {
      if (!server) throw new Error('the test server is stopped');
      return server;
    },
    url: server.url,
    syncUrl: server.syncUrl,
    yUrl: server.syncUrl.replace(/\/sync$/, '/y'),
    port,
    dataDir,
    async stop() {
      if (!running) return;
      running = false;
      await server?.stop();
      server = undefined;
    },
    async start() {
      if (running) return;
      server = await startServer({ ...settings, port });
      running = true;
    },
    async restart() {
      await handle.stop();
      await handle.start();
    },
  };
  onCleanup(() => handle.stop());
  return handle;
}
