/**
 * Delivery measured from clients (issue 18, point 4), in real Chromium with the built demo: Alice types in a task's
 * description and Bob sees it; when Bob puts his tab away (the page turns hidden, which sends what was measured
 * without waiting for the minute's report), the server's `/metrics` holds the time Alice's edits took to reach Bob's
 * screen, and an uncaught error thrown in Bob's page is counted in `concord_client_errors_total{kind="uncaught"}`.
 *
 * Needs the demo built (`npm run build`) and Chromium (see ./chromium.ts: skipped loudly without it, fails on CI).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { CLOCK_ANSWERS_ON_A_SLOW_NETWORK } from '../../client/src/telemetry.js';
import { waitFor } from '../support/wait.js';
import { skipWithoutChromium } from './chromium.js';
import { demoRig } from './demoRig.js';
import { controllableVisibility, setVisibility } from './visibility.js';

const SCENARIO_TIMEOUT_MS = 120_000;

/**
 * Counts the server's clock answers a page receives (`"concord":"clock"` in a frame; its questions read `clock?`);
 * `reset()` when it reconnects. After CLOCK_ANSWERS_ON_A_SLOW_NETWORK of them its clock is trusted whatever their round
 * trips, so it stamps and measures (client/src/telemetry.ts).
 */
function clockAnswers(page: Page): { readonly count: number; reset(): void } {
  const answers = { count: 0, reset: () => (answers.count = 0) };
  page.on('websocket', (socket) =>
    socket.on('framereceived', ({ payload }) => {
      if (/"concord":"clock"/.test(typeof payload === 'string' ? payload : payload.toString('latin1'))) answers.count += 1;
    }),
  );
  return answers;
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((row) => row.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

// Skipped, with a loud notice, only where Chromium is missing outside CI; under CI=true the gate fails instead (chromium.ts).
describe.skipIf(skipWithoutChromium())('delivery measured from the demo in Chromium (issue 18, point 4)', () => {
  const rig = demoRig('telemetry');

  it("Bob's report puts the time Alice's typing took to reach him, and his page's uncaught error, in /metrics", async () => {
    const alice = await rig.open('Alice');
    const bob = await rig.open('Bob');
    const aliceAnswers = clockAnswers(alice.page);
    const bobAnswers = clockAnswers(bob.page);
    await bob.context.addInitScript(controllableVisibility);
    await bob.page.reload();
    bobAnswers.reset();
    await alice.signIn();
    await bob.signIn();
    const task = await alice.addTask('Measured');
    await alice.openDescription(task);
    await bob.waitForFields(task, { title: 'Measured' });
    await bob.openDescription(task);
    // Both clocks are known well enough to measure (a page that is still loading answers the first question late).
    await waitFor(() => aliceAnswers.count >= CLOCK_ANSWERS_ON_A_SLOW_NETWORK && bobAnswers.count >= CLOCK_ANSWERS_ON_A_SLOW_NETWORK, {
      message: 'three clock answers on each page',
    });
    // The first keystroke is stamped (then one a second).
    await alice.typeInDescription('measured from the browser');
    await bob.waitForDescription('measured from the browser');
    await bob.page.evaluate(() => setTimeout(() => {
      throw new Error('a deliberate uncaught error');
    }, 0));
    await waitFor(() => bob.errors.some((error) => error.includes('a deliberate uncaught error')), { message: 'the error thrown in Bob’s page' });
    await setVisibility(bob, 'hidden');

    const metrics = await waitFor(
      async () => {
        const text = await (await fetch(`${rig.server.url}/metrics`)).text();
        return value(text, 'concord_client_update_propagation_seconds_count') >= 1 && value(text, 'concord_client_errors_total{kind="uncaught"}') >= 1
          ? text
          : undefined;
      },
      { timeoutMs: 15_000, message: "Bob's report in /metrics" },
    );
    const count = value(metrics, 'concord_client_update_propagation_seconds_count');
    const mean = (value(metrics, 'concord_client_update_propagation_seconds_sum') / count) * 1000;
    console.log(`Chromium: ${count} propagation samples from Bob, mean ${mean.toFixed(1)} ms`);
    expect(value(metrics, 'concord_client_update_propagation_seconds_bucket{le="1"}'), 'each within a second').toBe(count);
    // The deliberate error is Bob's page's: what else either page logged must be nothing.
    expect(bob.errors.filter((error) => !error.includes('a deliberate uncaught error'))).toEqual([]);
    expect(alice.errors).toEqual([]);
  }, SCENARIO_TIMEOUT_MS);
});
