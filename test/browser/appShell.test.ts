/**
 * The offline app shell in real Chromium: the demo is a PWA whose service worker precaches the built app, so a reload
 * with no network still opens it, and the client shows the documents from IndexedDB.
 *
 * The real server runs in-process (port 0, LevelDB in a temp dir, serving the built demo) behind a TCP proxy the test
 * controls: Alice's browser reaches the demo only through the proxy, and `cut()` takes the network away by resetting
 * every connection (Playwright's setOffline freezes WebSockets instead of closing them).
 *
 * - Alice signs in; her page becomes controlled by the service worker on the first load (skipWaiting + clientsClaim).
 *   She adds a task and sets fields; her indicator turns green.
 * - The proxy is cut and she reloads: the page comes from the service worker, not one connection reaches the server,
 *   and she is still signed in with the task and its fields on screen, the indicator red.
 * - She edits a field offline (pending); the proxy forwards again: green with nothing pending, and Bob, in a fresh
 *   browser context, sees her offline edit.
 *
 * Screenshots go to test/artifacts/. Needs the demo built (`npm run build`) and Chromium (see ./chromium.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '@concord/server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, launchChromium, saveSideBySide, skipWithoutChromium, type LaunchedChromium } from './chromium.js';
import { DemoPage, UI_TIMEOUT_MS } from './demoPage.js';

const DEMO_DIST = fileURLToPath(new URL('../../demo/dist/', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const SCENARIO_TIMEOUT_MS = 120_000;
/** The client's longest reconnect backoff (its `maxReconnectDelayMs` default): the next attempt comes within it. */
const CLIENT_MAX_BACKOFF_MS = 30_000;

type RunningServer = Awaited<ReturnType<typeof startServer>>;

describe.skipIf(skipWithoutChromium())(`offline app shell in Chromium (${CHROMIUM_PATH})`, () => {
  let dataDir: string;
  let server: RunningServer;
  let proxy: TcpProxy;
  let chromium: LaunchedChromium | null = null;
  const pages: DemoPage[] = [];

  const browser = () => {
    if (!chromium) throw new Error('Chromium did not start');
    return chromium.browser;
  };

  const open = async (name: string, url: string) => {
    const page = await DemoPage.open(browser(), name, url);
    pages.push(page);
    return page;
  };

  /** Reloads with the network cut: only the service worker can answer, and it must. */
  const reloadFromServiceWorker = async (page: DemoPage) => {
    const response = await page.page.reload();
    expect(response?.fromServiceWorker(), `${page.name}'s reloaded page to come from the service worker`).toBe(true);
    await page.page.getByTestId('signed-in-as').filter({ hasText: page.name }).waitFor();
  };

  /** Green with nothing pending, after the client's next reconnect attempt (at most one full backoff away). */
  const waitForReconnect = async (page: DemoPage) => {
    await waitFor(async () => (await page.light()) === 'green' && (await page.pending()) === 0, {
      timeoutMs: CLIENT_MAX_BACKOFF_MS + UI_TIMEOUT_MS,
      message: `${page.name} to reconnect and send what she changed offline`,
    });
    await page.waitForLight('green', { pending: 'none' });
  };

  beforeAll(async () => {
    if (!existsSync(join(DEMO_DIST, 'index.html'))) {
      throw new Error(`the demo is not built (no ${DEMO_DIST}index.html): run npm run build first`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'concord-app-shell-'));
    server = await startServer({ port: 0, host: '127.0.0.1', dataDir, staticDir: DEMO_DIST, logLevel: 'silent' });
    proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    chromium = await launchChromium();
  });

  afterAll(async () => {
    for (const page of pages) await page.close();
    await chromium?.close();
    await proxy?.close();
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
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

  it('a reload with no network opens the cached app with the data; the offline edit reaches others when the network is back', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const alice = await open('Alice', `http://${proxy.host}:${proxy.port}/`);
    await alice.signIn();
    await alice.waitForServiceWorker();
    const taskId = await alice.addTask('Pay invoice');
    await alice.field(taskId, 'status').selectOption('doing');
    await alice.field(taskId, 'assignee').selectOption({ label: 'Alice (you)' });
    await alice.waitForFields(taskId, { title: 'Pay invoice', status: 'doing', assignee: 'alice' });
    await alice.waitForLight('green', { pending: 'none' });

    // The network goes away, and Alice reloads.
    proxy.cut();
    const connectionsBefore = proxy.accepted;
    await reloadFromServiceWorker(alice);
    await alice.waitForFields(taskId, { title: 'Pay invoice', status: 'doing', assignee: 'alice' });
    await alice.waitForLight('red');
    expect(proxy.accepted, 'connections that reached the server during the offline reload').toBe(connectionsBefore);
    await alice.page.screenshot({ path: join(ARTIFACTS, 'app-shell-offline-reload.png') });

    await alice.field(taskId, 'status').selectOption('done');
    await alice.waitForLight('red', { pending: 'some' });
    await alice.page.screenshot({ path: join(ARTIFACTS, 'app-shell-offline-edit.png') });

    // The network is back.
    proxy.restore();
    await waitForReconnect(alice);
    const bob = await open('Bob', server.url);
    await bob.signIn();
    await bob.waitForFields(taskId, { title: 'Pay invoice', status: 'done', assignee: 'alice' });
    await saveSideBySide(
      browser(),
      [
        { caption: "Alice's window, back online after editing in the reloaded offline app", png: await alice.page.screenshot() },
        { caption: "Bob's window: Alice's offline edit", png: await bob.page.screenshot() },
      ],
      join(ARTIFACTS, 'app-shell-merged.png'),
    );
  });

  it('no page had an error', () => {
    for (const page of pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
  });
});
