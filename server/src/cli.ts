#!/usr/bin/env node
/**
 * The `concord` command. Before loading it (command.ts), the process makes sure V8's young generation is capped at
 * `SEMI_SPACE_MIB` (`--max-semi-space-size`).
 *
 * Why: Node 24 lets V8 grow the young generation up to 128 MiB when a burst of allocation survives a few collections
 * (module loading at start, hundreds of connections arriving), and keeps it. A server holding many sockets then sits
 * tens of MiB above what it uses: at 500 viewers of one document the peak was 176–197 MiB with Node's default and
 * 119–123 MiB capped at 4 MiB, throughput and latency unchanged (`npm run bench`). V8 reads the flag only when it
 * starts, so the command replaces itself with the same Node, the flag added, and the same arguments and environment
 * (`process.execve`: the same process, the same id). It does not when a `--max-semi-space-size` is already given (on the
 * command line or in NODE_OPTIONS: yours wins), or where Node has no `execve` (Windows), where it runs as it is.
 */
const FLAG = '--max-semi-space-size';
const SEMI_SPACE_MIB = 8;

const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((arg) => arg.startsWith(FLAG));
if (!given && typeof process.execve === 'function') {
  process.execve(process.execPath, [process.execPath, `${FLAG}=${SEMI_SPACE_MIB}`, ...process.execArgv, ...process.argv.slice(1)]);
}
await import('./command.js');
