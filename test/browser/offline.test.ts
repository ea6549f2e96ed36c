/**
 * Offline-first in real Chromium, with the network cut by a TCP proxy the test controls (Playwright's setOffline
 * freezes WebSockets instead of closing them). Alice talks to the server directly; Bob's browser — a persistent
 * profile, so it can be closed and started again — reaches the demo only through the proxy.
 *
 * - Bob's page is controlled by the demo's service worker; the proxy is cut and his indicator turns red with the
 *   next retry time.
 * - Bob changes a field and types in a description offline; Alice changes the same field meanwhile (a conflict).
 *   Bob's outbox lists his two changes by name; he reloads the page with no network (the app shell and his data
 *   come back, with the same outbox), closes his browser and starts it again, still offline, and edits once more.
 * - The proxy forwards again while Bob's client waits out its backoff; focusing the tab reconnects at once. Both
 *   converge, Alice sees Bob's edits, the conflicting field ends equal on both sides, and Bob's outbox empties.
 * - Two tabs of Bob's browser share an edit while the network is cut; when it is back, one reconnects on the
 *   browser's `online` event and the other on "Sync now", both before their backoff ends.
 * - With "every minute" updates, Alice's edits wait in Bob's outbox panel until "show now".
 *
 * Screenshots of the indicator and the outbox go to test/artifacts/. Needs the demo built and Chromium.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '@concord/server';
import type { BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, launchChromium, launchProfile, saveSideBySide, skipWithoutChromium, type LaunchedChromium } from './chromium.js';
import { DemoPage, UI_TIMEOUT_MS } from './demoPage.js';

const DEMO_DIST = fileURLToPath(new URL('../../demo/dist/', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const SCENARIO_TIMEOUT_MS = 180_000;

type RunningServer = Awaited<ReturnType<typeof startServer>>;

describe.skipIf(skipWithoutChromium())(`offline-first in Chromium (${CHROMIUM_PATH})`, () => {
  let dataDir: string;
  let profileDir: string;
  let server: RunningServer;
  let proxy: TcpProxy;
  let chromium: LaunchedChromium | null = null;
  let bobBrowser: BrowserContext | null = null;
  const pages: DemoPage[] = [];
  let alice: DemoPage;
  let bob: DemoPage;
  let taskId: string;

  const proxyUrl = () => `http://${proxy.host}:${proxy.port}/`;

  /** Starts Bob's browser on his profile and opens the demo through the proxy (with or without network). */
  const startBobsBrowser = async () => {
    bobBrowser = await launchProfile(profileDir);
    bob = await DemoPage.inContext(bobBrowser, 'Bob', proxyUrl());
    pages.push(bob);
    return bob;
  };

  const outboxEntries = async (page: DemoPage) => {
    const panel = page.page.getByTestId('outbox-panel');
    if (!(await panel.isVisible())) await page.page.getByTestId('outbox-toggle').click();
    await panel.waitFor();
    return page.page.getByTestId('outbox-entry').allTextContents();
  };

  const waitForOutbox = (page: DemoPage, expected: (entries: string[]) => boolean, what: string) =>
    waitFor(
      async () => {
        const entries = await outboxEntries(page);
        if (expected(entries)) return entries;
        throw new Error(`it lists ${JSON.stringify(entries)}`);
      },
      { timeoutMs: UI_TIMEOUT_MS, message: `${page.name}'s outbox to ${what}` },
    );

  beforeAll(async () => {
    if (!existsSync(join(DEMO_DIST, 'index.html'))) {
      throw new Error(`the demo is not built (no ${DEMO_DIST}index.html): run npm run build first`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'concord-offline-'));
    profileDir = await mkdtemp(join(tmpdir(), 'concord-bob-profile-'));
    server = await startServer({ port: 0, host: '127.0.0.1', dataDir, staticDir: DEMO_DIST, logLevel: 'silent' });
    proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    chromium = await launchChromium();
  });

  afterAll(async () => {
    for (const page of pages) await page.close();
    await bobBrowser?.close().catch(() => {});
    await chromium?.close();
    await proxy?.close();
    await server?.stop();
    for (const dir of [dataDir, profileDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  // Every page's errors are checked after each test, whatever runs and in which order (WEAK-TESTS.md): an error
  // fails the test during which it happened; a page closed since keeps what it collected.
  afterEach(() => {
    for (const page of pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
  });

  beforeEach(() => {
    onTestFailed(async ({ task }) => {
      const slug = task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50);
      for (const page of pages) {
        await page.page.screenshot({ path: join(ARTIFACTS, `failure-${slug}-${page.name}.png`) }).catch(() => {});
      }
    });
  });

  it('Bob edits offline through a reload and a browser restart; everything merges when he is back', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    if (!chromium) throw new Error('Chromium did not start');
    alice = await DemoPage.open(chromium.browser, 'Alice', server.url);
    pages.push(alice);
    await alice.signIn();
    await startBobsBrowser();
    await bob.signIn();
    taskId = await alice.addTask('Pay invoice');
    await alice.typeInDescription('Amount: 120 EUR.');
    await bob.waitForFields(taskId, { title: 'Pay invoice', status: 'todo' });
    await bob.openDescription(taskId);
    await bob.waitForDescription('Amount: 120 EUR.');
    await bob.waitForLight('green', { pending: 'none' });
    await bob.waitForServiceWorker();

    // The network goes away.
    proxy.cut();
    await bob.waitForLight('red');
    await bob.page.getByTestId('next-retry').waitFor();
    await bob.field(taskId, 'status').selectOption('done');
    await bob.typeInDescription(' Paid by card.');
    await alice.field(taskId, 'status').selectOption('doing'); // the same field, while they are apart
    const offlineOutbox = ["status of 'Pay invoice' → done", "14 characters typed in 'Pay invoice'"];
    await waitForOutbox(bob, (entries) => offlineOutbox.every((entry) => entries.includes(entry)), 'list his two changes');
    expect(await bob.page.getByTestId('outbox').getAttribute('data-total')).toBe('2');
    await bob.waitForLight('red', { pending: 'some' });
    await bob.page.screenshot({ path: join(ARTIFACTS, 'offline-outbox.png') });
    await bob.status.screenshot({ path: join(ARTIFACTS, 'offline-status-indicator.png') });

    // A reload with no network: the service worker serves the app, IndexedDB the data and the outbox.
    await bob.reload();
    await bob.waitForFields(taskId, { title: 'Pay invoice', status: 'done' });
    await bob.openDescription(taskId);
    await bob.waitForDescription('Amount: 120 EUR.', 'Paid by card.');
    await waitForOutbox(bob, (entries) => offlineOutbox.every((entry) => entries.includes(entry)), 'be rebuilt after the reload');

    // Bob closes his browser and starts it again, still offline.
    await bob.close();
    pages.splice(pages.indexOf(bob), 1);
    await startBobsBrowser();
    await bob.page.getByTestId('signed-in-as').filter({ hasText: 'Bob' }).waitFor();
    await bob.waitForFields(taskId, { title: 'Pay invoice', status: 'done' });
    await bob.field(taskId, 'assignee').selectOption({ label: 'Bob (you)' });
    await bob.waitForFields(taskId, { assignee: 'bob' });
    await waitForOutbox(
      bob,
      (entries) => [...offlineOutbox, "assigned 'Pay invoice' to Bob"].every((entry) => entries.includes(entry)),
      'keep every offline change after the browser restart',
    );
    await bob.waitForLight('red', { pending: 'some' });

    // The network is back while Bob's client waits out its backoff; focusing the tab reconnects at once.
    const retryIn = await waitFor(
      async () => {
        const seconds = Number(await bob.status.getAttribute('data-retry-in'));
        return seconds >= 8 ? seconds : undefined;
      },
      { timeoutMs: 60_000, message: "Bob's backoff to grow to a few seconds" },
    );
    proxy.restore();
    await bob.page.evaluate(() => window.dispatchEvent(new Event('focus')));
    await waitFor(async () => (await bob.pending()) === 0, {
      timeoutMs: (retryIn - 3) * 1_000,
      message: 'Bob to reconnect on focus, before the scheduled retry',
    });
    await bob.waitForLight('green', { pending: 'none' });
    await waitForOutbox(bob, (entries) => entries.length === 0, 'empty once the server has everything');
    await bob.page.getByTestId('outbox-empty').waitFor();
    await alice.waitForFields(taskId, { assignee: 'bob' });
    await alice.waitForDescription('Amount: 120 EUR.', 'Paid by card.');
    const [aliceStatus, bobStatus] = await Promise.all([
      alice.field(taskId, 'status').inputValue(),
      waitFor(async () => {
        const seen = await bob.field(taskId, 'status').inputValue();
        return seen === (await alice.field(taskId, 'status').inputValue()) ? seen : undefined;
      }, { timeoutMs: UI_TIMEOUT_MS, message: 'the conflicting status to end equal on both sides' }),
    ]);
    expect(['doing', 'done']).toContain(aliceStatus);
    expect(bobStatus).toBe(aliceStatus);
    await saveSideBySide(
      chromium.browser,
      [
        { caption: "Alice's window after Bob is back", png: await alice.page.screenshot() },
        { caption: "Bob's window: outbox empty", png: await bob.page.screenshot() },
      ],
      join(ARTIFACTS, 'offline-merged.png'),
    );
  });

  it("two tabs of Bob's browser share an edit while the network is cut", { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const second = await bob.openTab();
    pages.push(second);
    await second.waitForLight('green', { pending: 'none' });
    proxy.cut();
    await bob.waitForLight('red');
    await second.waitForLight('red');
    await second.field(taskId, 'due').fill('2030-06-30');
    await bob.waitForFields(taskId, { due: '2030-06-30' });
    await waitForOutbox(bob, (entries) => entries.includes("due of 'Pay invoice' → 2030-06-30"), 'show the change made in the other tab');
    // Neither tab is focused, so each would wait out its backoff: the second hears that the browser is back online,
    // the first is told by "Sync now"; both reconnect at once.
    const retryIn = await waitFor(
      async () => {
        const seconds = Number(await second.status.getAttribute('data-retry-in'));
        return seconds >= 8 ? seconds : undefined;
      },
      { timeoutMs: 60_000, message: "the second tab's backoff to grow to a few seconds" },
    );
    proxy.restore();
    await second.page.evaluate(() => window.dispatchEvent(new Event('online')));
    await waitFor(async () => (await second.pending()) === 0, {
      timeoutMs: (retryIn - 3) * 1_000,
      message: 'the second tab to reconnect on the online event, before its scheduled retry',
    });
    await bob.page.getByTestId('sync-now').click();
    await alice.waitForFields(taskId, { due: '2030-06-30' });
    for (const tab of [bob, second]) await tab.waitForLight('green', { pending: 'none' });
    await second.close();
    pages.splice(pages.indexOf(second), 1);
  });

  it('with updates every minute, remote edits wait until "show now"', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    await bob.page.getByTestId('update-frequency').selectOption('every-minute');
    await alice.field(taskId, 'title').fill('Pay invoice 42');
    await waitFor(async () => Number(await bob.page.getByTestId('outbox').getAttribute('data-held')) > 0, {
      timeoutMs: UI_TIMEOUT_MS,
      message: "Alice's edit to be held on Bob's screen",
    });
    expect(await bob.field(taskId, 'title').inputValue()).toBe('Pay invoice');
    await outboxEntries(bob);
    await bob.page.getByTestId('held-updates').getByRole('button').click();
    await bob.waitForFields(taskId, { title: 'Pay invoice 42' });
    // Bob's own edits still go out at once.
    await bob.field(taskId, 'assignee').selectOption({ label: 'Alice' });
    await alice.waitForFields(taskId, { assignee: 'alice' });
    await bob.page.getByTestId('update-frequency').selectOption('live');
  });

  it('no page had an error', () => {
    for (const page of pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
  });
});
