/**
 * `concord serve` (loaded by cli.ts): starts the server from environment variables (a `.env` file in the working directory is read
 * first) and flags, which win over the environment. A bad setting exits with status 2 and a message naming it;
 * SIGINT or SIGTERM stop gracefully (every document stored), a second signal exits at once.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, configFromEnv, SETTINGS, type ConfigInput, type SettingName } from './config.js';
import { startServer } from './server.js';

const require = createRequire(import.meta.url);
const { version } = require('../package.json') as { version: string };

/** The built demo, when the @concord/demo package is installed next to the server. */
function defaultStaticDir(): string | undefined {
  try {
    const dist = join(dirname(require.resolve('@concord/demo/package.json')), 'dist');
    return existsSync(join(dist, 'index.html')) ? dist : undefined;
  } catch {
    return undefined;
  }
}

async function serve(flags: Record<string, string | undefined>): Promise<void> {
  loadDotenv({ quiet: true });
  const input: Record<string, unknown> = { ...configFromEnv(process.env) };
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    if (flags[name] !== undefined) input[name] = flags[name];
  }
  input.staticDir ??= defaultStaticDir();

  const server = await startServer(input as ConfigInput);
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(1);
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`concord: shutdown after ${signal} failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

const program = new Command('concord').description('Concord: offline-first sync for collaborative apps').version(version);
const serveCommand = program.command('serve').description('start the sync server, the HTTP API and the demo on one port');
for (const setting of Object.values(SETTINGS)) serveCommand.option(setting.flag, `${setting.description} [env ${setting.env}]`);
serveCommand.action((flags: Record<string, string | undefined>) =>
  serve(flags).catch((error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`concord: ${error.message}`);
      process.exit(2);
    }
    console.error(`concord: ${(error as Error).message}`);
    process.exit(1);
  }),
);
program.parseAsync().catch((error: unknown) => {
  console.error(`concord: ${(error as Error).message}`);
  process.exit(1);
});
