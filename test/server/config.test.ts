/**
 * Configuration is validated at start: each bad setting is named by its environment variable and flag, with
 * what was expected. The real `concord serve` process exits with status 2 on bad settings, reads `.env`, and on
 * SIGTERM stops gracefully with everything stored.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ConfigError, resolveConfig } from '@concord/server';
import { describe, expect, test } from 'vitest';
import { hocuspocusClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { makeTempDir } from '../support/server.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'a-secret-of-at-least-thirty-two-characters!';

function problems(input: Parameters<typeof resolveConfig>[0]): string {
  try {
    resolveConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('resolveConfig', () => {
  test('defaults match SPEC §3', () => {
    expect(resolveConfig({})).toMatchObject({ port: 8080, host: '127.0.0.1', dataDir: './data', logLevel: 'info', maxMessageBytes: 8 * 1024 * 1024, heartbeatIntervalMs: 2_500 });
    expect(resolveConfig({})).toMatchObject({ maxAwarenessStates: 4, maxAwarenessStateBytes: 16 * 1024 });
  });

  test.each([
    [{ port: 'eighty' }, 'PORT (--port) must be a port number; got "eighty"'],
    [{ port: '70000' }, 'PORT (--port) must be between 0 and 65535'],
    [{ maxMessageBytes: '12' }, 'CONCORD_MAX_MESSAGE_BYTES (--max-message-bytes) must be at least 1024 bytes'],
    [{ logLevel: 'loud' }, 'CONCORD_LOG_LEVEL (--log-level) must be one of fatal, error, warn, info, debug, trace, silent'],
    [{ authSecret: 'short' }, 'CONCORD_AUTH_SECRET (--auth-secret) must be at least 32 characters'],
    [{ apiKey: 'short' }, 'CONCORD_API_KEY (--api-key) must be at least 32 characters; got "<hidden>"'],
    [{ eventRetentionCount: '-1' }, 'CONCORD_EVENT_RETENTION_COUNT (--event-retention-count) must be 0 or more'],
    [{ eventRetentionSeconds: 'a day' }, 'CONCORD_EVENT_RETENTION_SECONDS (--event-retention-seconds) must be a number of seconds'],
    [{ maxEventBytes: String(2 * 1024 * 1024) }, 'CONCORD_MAX_EVENT_BYTES (--max-event-bytes) must be at most 1 MiB'],
    [{ authJwksUrl: 'not a url', authSecret: SECRET }, 'CONCORD_AUTH_JWKS_URL (--auth-jwks-url) must be a URL'],
    [{ allowedOrigins: 'example.com' }, 'CONCORD_ALLOWED_ORIGINS (--allowed-origins) must be * or a comma-separated list of origins'],
    [{ host: '0.0.0.0' }, 'HOST (--host) is "0.0.0.0", not a loopback address: dev mode'],
    [{ databaseUrl: 'mysql://localhost/test' }, 'CONCORD_DATABASE_URL (--database-url) must be a URL starting with postgres:// or postgresql://'],
    [{ heartbeatIntervalMs: '100' }, 'CONCORD_HEARTBEAT_INTERVAL_MS (--heartbeat-interval-ms) must be at least 500 ms'],
    [{ maxAwarenessStates: '0' }, 'CONCORD_MAX_AWARENESS_STATES (--max-awareness-states) must be at least 1 (every provider needs its own)'],
    [{ maxAwarenessStateBytes: '100' }, 'CONCORD_MAX_AWARENESS_STATE_BYTES (--max-awareness-state-bytes) must be at least 256 bytes'],
  ])('%j is refused: %s', (input, message) => {
    expect(problems(input)).toContain(message);
  });

  test('the secret is never echoed back', () => {
    expect(problems({ authSecret: 'short-secret' })).not.toContain('short-secret');
  });

  test('a password in a database URL is never echoed back', () => {
    const message = problems({ databaseUrl: 'mysql://app:hunter2@db.example.com/prod' });
    expect(message).toContain('mysql://app:<hidden>@db.example.com/prod');
    expect(message).not.toContain('hunter2');
  });

  test('Redis needs the PostgreSQL the instances share, and its password is never echoed back', () => {
    const message = problems({ redisUrl: 'redis://:hunter2@127.0.0.1:6379/0' });
    expect(message).toContain('CONCORD_REDIS_URL');
    expect(message).toContain('needs the PostgreSQL they share (CONCORD_DATABASE_URL');
    expect(message).not.toContain('hunter2');
    const config = resolveConfig({ redisUrl: 'redis://127.0.0.1:6379/0', databaseUrl: 'postgres://127.0.0.1/test', authSecret: SECRET });
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379/0');
  });

  test('every bad setting is reported at once', () => {
    const message = problems({ port: '-1', logLevel: 'loud' });
    expect(message).toContain('PORT');
    expect(message).toContain('CONCORD_LOG_LEVEL');
  });

  test('a secret allows listening on every interface', () => {
    expect(resolveConfig({ host: '0.0.0.0', authSecret: SECRET }).host).toBe('0.0.0.0');
  });
});

const CLI = fileURLToPath(new URL('../../server/dist/cli.js', import.meta.url));

interface Cli {
  readonly exit: Promise<{ code: number | null; stderr: string; stdout: string }>;
  readonly stdout: () => string;
  kill(signal: NodeJS.Signals): void;
}

function runCli(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Cli {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does)`);
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exit = new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr, stdout })),
  );
  onCleanup(() => child.kill('SIGKILL'));
  return { exit, stdout: () => stdout, kill: (signal) => child.kill(signal) };
}

describe('concord serve', () => {
  test('the `concord` bin npm links (npx concord) exists before any build and runs the built server', async () => {
    // Issue 14: the bin pointed into dist/, which does not exist when `npm ci` links bins, so npm linked none.
    const manifest = JSON.parse(await readFile(fileURLToPath(new URL('../../server/package.json', import.meta.url)), 'utf8'));
    const bin = manifest.bin.concord as string;
    expect(bin.startsWith('./dist/') || bin.startsWith('dist/'), `the bin ${bin} must be a committed file, not a build output`).toBe(false);
    const shim = fileURLToPath(new URL(`../../server/${bin}`, import.meta.url));
    expect(existsSync(shim)).toBe(true);
    const child = spawn(process.execPath, [shim, '--help']);
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: concord');
  });

  test('a bad flag exits with status 2 and names it', async () => {
    const { code, stderr } = await runCli(['serve', '--port', 'eighty']).exit;
    expect(code).toBe(2);
    expect(stderr).toContain('PORT (--port) must be a port number; got "eighty"');
  });

  test('a bad environment variable, or one from .env, exits with status 2 and names it', async () => {
    expect((await runCli(['serve'], { env: { CONCORD_MAX_MESSAGE_BYTES: 'lots' } }).exit).stderr).toContain(
      'CONCORD_MAX_MESSAGE_BYTES (--max-message-bytes) must be a number of bytes',
    );
    const cwd = await makeTempDir();
    await writeFile(`${cwd}/.env`, 'CONCORD_LOG_LEVEL=loud\n');
    const fromFile = await runCli(['serve'], { cwd }).exit;
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toContain('CONCORD_LOG_LEVEL (--log-level) must be one of');
  });

  test('SIGTERM stops gracefully and everything written is there after a restart', async () => {
    const dataDir = await makeTempDir();
    const args = ['serve', '--port', '0', '--data-dir', dataDir, '--auth-secret', SECRET];
    const listening = async (cli: Cli) => {
      const line = await waitFor(() => cli.stdout().split('\n').find((l) => l.includes('Concord listening')));
      return JSON.parse(line).url as string;
    };
    const { mintToken } = await import('../support/tokens.js');
    const token = await mintToken({ sub: 'u', docs: { '*': 'write' } }, SECRET);

    const first = runCli(args);
    const url = await listening(first);
    const writer = hocuspocusClient({ syncUrl: `${url.replace('http', 'ws')}/sync` }, 'doc', token);
    await writer.whenSynced();
    writer.doc.getText('t').insert(0, 'survives SIGTERM');
    await waitFor(() => writer.provider.unsyncedChanges === 0);
    first.kill('SIGTERM');
    const stopped = await first.exit;
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('"msg":"stopped"');
    writer.provider.destroy();

    const second = runCli(args);
    const url2 = await listening(second);
    const reader = hocuspocusClient({ syncUrl: `${url2.replace('http', 'ws')}/sync` }, 'doc', token);
    await reader.whenSynced();
    expect(reader.doc.getText('t').toString()).toBe('survives SIGTERM');
  });
});
