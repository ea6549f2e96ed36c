/**
 * Real nginx and HAProxy in front of test instances, configured by the README's own Scale-out blocks: `startNginx`
 * and `startHaproxy` read the ```nginx / ```haproxy block of README.md, put the test's instances where the example's
 * `10.0.0.1x:8080` servers are, listen on a free port of 127.0.0.1 instead of TLS on 443, and run the binary in the
 * foreground until the test ends. So a test through them checks the configuration a reader copies.
 *
 * `describeBalancer('nginx', …)` runs a suite only when the binary runs here: otherwise, locally, it is skipped with a
 * loud notice, and with `CI` set it fails instead (.ci/run installs both).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'vitest';
import { onCleanup } from './cleanup.js';
import { freePort, isCI } from './redis.js';
import { waitFor } from './wait.js';

export type BalancerKind = 'nginx' | 'haproxy';

/** `NGINX` / `HAPROXY` when set; else Debian's path, which is not on every user's PATH; else the PATH's. */
const BINARIES: Record<BalancerKind, string> = {
  nginx: process.env.NGINX ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx'),
  haproxy: process.env.HAPROXY ?? (existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy'),
};
const README = new URL('../../README.md', import.meta.url);

function problemOf(kind: BalancerKind): string | null {
  const result = spawnSync(BINARIES[kind], ['-v'], { encoding: 'utf8' });
  if (result.error) return result.error.message;
  if (result.status !== 0) return `"${BINARIES[kind]} -v" exited with ${result.status}`;
  return null;
}

/** `describe` for suites that need nginx or HAProxy: skipped loudly when missing, failed when `CI` is set. */
export function describeBalancer(kind: BalancerKind, title: string, body: () => void): void {
  const problem = problemOf(kind);
  if (problem === null) {
    describe(title, body);
    return;
  }
  const why = `${BINARIES[kind]} cannot run (${problem})`;
  if (isCI()) {
    describe(title, () => {
      test(`${kind} is installed (CI requires it)`, () => {
        throw new Error(`${why}: with CI set, the load balancer tests must run`);
      });
    });
    return;
  }
  const banner = '!'.repeat(100);
  console.warn(`\n${banner}\n!! SKIPPED "${title}": ${why}.\n!! apt-get install ${kind === 'nginx' ? 'nginx-light' : 'haproxy'} to run it (with CI set it fails).\n${banner}\n`);
  // Skipped on purpose: the binary cannot run here and CI is not set (the banner says so; with CI set it fails instead).
  describe.skip(title, body);
}

export interface RunningBalancer {
  readonly url: string;
  /** The configuration it runs, as written. */
  readonly config: string;
}

/** The README's fenced block of `language`. */
async function readmeBlock(language: BalancerKind): Promise<string> {
  const text = await readFile(README, 'utf8');
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(text);
  if (!match) throw new Error(`README.md has no \`\`\`${language} block`);
  return match[1]!;
}

/** Replaces the example's three `10.0.0.1x:8080` server lines of each group with one line per target. */
function withTargets(config: string, targets: readonly { port: number }[], line: (target: { port: number }, i: number) => string): string {
  return config.replace(/((?:^[ \t]*server[ \t]+(?:\S+[ \t]+)?10\.0\.0\.1\d:8080[^\n]*\n)+)/gm, (group) => {
    const indent = /^[ \t]*/.exec(group)![0];
    return targets.map((target, i) => indent + line(target, i)).join('\n') + '\n';
  });
}

async function runUntilListening(kind: BalancerKind, args: string[], port: number, config: string, dir: string): Promise<RunningBalancer> {
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(BINARIES[kind], args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  onCleanup(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`${kind} exited with ${child.exitCode}:\n${output}\nconfig:\n${config}`);
      return listening();
    },
    { message: `${kind} to listen on ${port}`, timeoutMs: 10_000 },
  );
  return { url: `http://127.0.0.1:${port}`, config };
}

/** nginx with the README's `server` block (TLS dropped), in front of `targets`. */
export async function startNginx(targets: readonly { port: number }[]): Promise<RunningBalancer> {
  const dir = await mkdtemp(join(tmpdir(), 'concord-nginx-'));
  const port = await freePort();
  const site = withTargets(await readmeBlock('nginx'), targets, (target) => `server 127.0.0.1:${target.port};`)
    .replace(/listen 443 ssl;/, `listen 127.0.0.1:${port};`)
    .replace(/^[ \t]*ssl_certificate(?:_key)?[ \t][^\n]*\n/gm, '');
  const config = [
    'daemon off;',
    'master_process off;',
    `pid ${join(dir, 'nginx.pid')};`,
    'error_log stderr warn;',
    'events { worker_connections 1024; }',
    'http {',
    '    access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((name) => `    ${name}_temp_path ${join(dir, name)};`),
    site,
    '}',
  ].join('\n');
  const file = join(dir, 'nginx.conf');
  await writeFile(file, config);
  return runUntilListening('nginx', ['-p', dir, '-e', 'stderr', '-c', file], port, config, dir);
}

/** HAProxy with the README's configuration (TLS dropped), in front of `targets`. */
export async function startHaproxy(targets: readonly { port: number }[]): Promise<RunningBalancer> {
  const dir = await mkdtemp(join(tmpdir(), 'concord-haproxy-'));
  const port = await freePort();
  const config = withTargets(await readmeBlock('haproxy'), targets, (target, i) => `server app${i + 1} 127.0.0.1:${target.port} check inter 1s`).replace(
    /bind :443 ssl crt \S+/,
    `bind 127.0.0.1:${port}`,
  );
  const file = join(dir, 'haproxy.cfg');
  await writeFile(file, config);
  return runUntilListening('haproxy', ['-db', '-f', file], port, config, dir);
}
