/**
 * An idle server sleeps: with nobody connected, the real `concord serve` process's main thread wakes a few times a
 * second (its timers: the heartbeat, deadlines, the event-loop delay sample every 100 ms), not a hundred. Every wake-up
 * of a sleeping process costs CPU (caches and the scheduler), so a 10 ms timer made an idle instance burn 1.7 % of a
 * core, 17 ms a second, against stock Hocuspocus's 0.1 %: prom-client's default metrics sample event-loop delay
 * every 10 ms unless told otherwise. Counted, not timed: the kernel's count of the main thread's voluntary context
 * switches (`/proc/<pid>/task/<pid>/status`), each one the thread going to sleep in `epoll_wait` until the next event.
 */
import { mkdtemp } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnServer } from '../support/serverProcess.js';
import { waitFor } from '../support/wait.js';

/** Main-thread sleeps of process `pid` so far. */
function wakeups(pid: number): number {
  const status = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
  const match = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  if (!match) throw new Error(`no voluntary_ctxt_switches in /proc/${pid}/task/${pid}/status`);
  return Number(match[1]);
}

/** Wake-ups a second the server may take while idle: its timers need under 20; a 10 ms timer alone is 100. */
const MAX_WAKEUPS_PER_SECOND = 50;
const WINDOW_MS = 3_000;

describe('an idle server', () => {
  it('wakes a few times a second, not a hundred, and still reports event-loop delay', async () => {
    const server = await spawnServer({ dataDir: await mkdtemp(join(tmpdir(), 'concord-idle-')) });
    // The first scrape's work (prom-client's collectors) is over before counting.
    const first = await fetch(`${server.url}/metrics`).then((response) => response.text());
    expect(first).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);

    const before = wakeups(server.pid);
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS)); // a window to count in, not a wait for a condition
    const perSecond = ((wakeups(server.pid) - before) * 1000) / (performance.now() - startedAt);
    console.log(`idle server: ${perSecond.toFixed(1)} main-thread wake-ups per second`);
    expect(perSecond).toBeLessThan(MAX_WAKEUPS_PER_SECOND);

    // The event-loop delay histogram still has samples: its p99 is a number of seconds, not 0 or NaN.
    await waitFor(async () => {
      const text = await fetch(`${server.url}/metrics`).then((response) => response.text());
      const p99 = Number(/^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1]);
      return p99 > 0 && p99 < 10;
    }, { timeoutMs: 10_000, intervalMs: 200, message: 'nodejs_eventloop_lag_p99_seconds stays 0: the event-loop delay is no longer sampled' });
    await server.kill('SIGTERM');
  });
});
