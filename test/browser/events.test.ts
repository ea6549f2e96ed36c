/**
 * Backend events and notifications in the demo, in real Chromium against the real server (in-process, dev mode,
 * serving the built demo), the Frappe/Abrianto flows:
 *
 * - the app backend (this test, over HTTP with an API key, like a curl call) changes a task's status through
 *   `POST /api/documents/project-demo/changes` and publishes `task-updated` to the project's channel: Alice and Bob
 *   both see the new status, a toast naming the change and the row lit up;
 * - the backend notifies Bob (`POST /api/users/bob/notifications`): his bell shows 1 unread, the inbox lists it,
 *   opening it selects the task and the badge clears; Alice's bell stays at 0;
 * - Alice's "Set status" and "Assign to me and notify" buttons do the same through the demo's own backend calls;
 * - presence: the team panel shows who is online and, once Bob closes his browser, Bob offline with when he was last
 *   seen; Alice typing a comment shows "Alice is typing…" to Bob, her comment reaches him, and the indicator clears.
 *
 * Screenshots go to test/artifacts/. Needs the demo built (`npm run build`) and Chromium (see ./chromium.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '@concord/server';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, launchChromium, saveSideBySide, skipWithoutChromium, type LaunchedChromium } from './chromium.js';
import { DemoPage, UI_TIMEOUT_MS } from './demoPage.js';

const DEMO_DIST = fileURLToPath(new URL('../../demo/dist/', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const SCENARIO_TIMEOUT_MS = 90_000;
const API_KEY = 'demo-backend-api-key-that-is-long-enough-42';

type RunningServer = Awaited<ReturnType<typeof startServer>>;

describe.skipIf(skipWithoutChromium())(`backend events and notifications in Chromium (${CHROMIUM_PATH})`, () => {
  let dataDir: string;
  let server: RunningServer;
  let chromium: LaunchedChromium | null = null;
  const pages: DemoPage[] = [];

  /** The app backend: a JSON POST with the API key to the demo's tenant. */
  const backend = async (path: string, body: unknown) => {
    const response = await fetch(`${server.url}${path}${path.includes('?') ? '&' : '?'}tenant=demo`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify(body),
    });
    const answer = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(answer)).toBe(200);
    return answer;
  };

  beforeAll(async () => {
    if (!existsSync(join(DEMO_DIST, 'index.html'))) {
      throw new Error(`the demo is not built (no ${DEMO_DIST}index.html): run npm run build first`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'concord-events-'));
    chromium = await launchChromium();
    server = await startServer({ port: 0, host: '127.0.0.1', dataDir, staticDir: DEMO_DIST, apiKey: API_KEY, logLevel: 'silent' });
  });

  afterAll(async () => {
    for (const page of pages) await page.close();
    await chromium?.close();
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const open = async (name: string) => {
    if (!chromium) throw new Error('Chromium did not start');
    const page = await DemoPage.open(chromium.browser, name, server.url);
    pages.push(page);
    await page.signIn();
    await page.waitForLight('green');
    return page;
  };

  it(
    'a status change and an event from the backend show live with a toast and a highlight, and a notification reaches the bell',
    async () => {
      onTestFailed(async () => {
        for (const page of pages) await page.page.screenshot({ path: join(ARTIFACTS, `events-failed-${page.name}.png`) });
      });
      const alice = await open('Alice');
      const bob = await open('Bob');
      const taskId = await alice.addTask('Pay invoice');
      await bob.waitForFields(taskId, { title: 'Pay invoice', status: 'todo' });

      // The payment is recorded by the backend: the task is done, and everyone on the project is told.
      await backend('/api/documents/project-demo/changes', { records: { tasks: { [taskId]: { status: 'done' } } } });
      await backend('/api/channels/project-demo/events', {
        event: 'task-updated',
        payload: { task: taskId, title: 'Pay invoice', field: 'status', value: 'Done', by: 'Billing system' },
      });
      for (const page of [alice, bob]) {
        await page.waitForFields(taskId, { status: 'done' });
        await page.page.getByTestId('toast').filter({ hasText: 'Billing system set the status of "Pay invoice" to Done' }).waitFor();
        await page.row(taskId).and(page.page.locator('[data-highlighted="true"]')).waitFor();
      }
      const shots = [];
      for (const page of [alice, bob]) shots.push({ caption: page.name, png: await page.page.screenshot() });
      await saveSideBySide(chromium!.browser, shots, join(ARTIFACTS, 'events-toast-highlight.png'));

      // A notification for Bob only: his bell counts it, Alice's does not.
      const sent = await backend('/api/users/bob/notifications', {
        kind: 'assignment',
        title: 'Billing system assigned you "Pay invoice"',
        target: { document: 'project-demo', record: taskId },
      });
      expect(sent.delivered).toBe(true);
      await bob.page.getByTestId('bell-badge').filter({ hasText: '1' }).waitFor();
      await bob.page.getByTestId('toast').filter({ hasText: 'assigned you "Pay invoice"' }).waitFor();
      expect(await alice.page.getByTestId('bell-badge').count()).toBe(0);
      await bob.page.getByTestId('bell').click();
      await bob.page.getByTestId('notification').filter({ hasText: 'assigned you "Pay invoice"' }).waitFor();
      await bob.page.screenshot({ path: join(ARTIFACTS, 'events-inbox.png') });
      // Opening it shows the task, and viewing the task reads the notification.
      await bob.page.getByTestId('notification').getByText('Billing system assigned you "Pay invoice"').click();
      await bob.page.locator(`[data-testid="task-detail"][data-task-id="${taskId}"]`).waitFor();
      await waitFor(async () => (await bob.page.getByTestId('bell-badge').count()) === 0, {
        timeoutMs: UI_TIMEOUT_MS,
        message: "Bob's badge to clear once he views the task",
      });

      // The demo's own backend buttons: Alice assigns the task to herself through the HTTP API and is notified.
      await alice.row(taskId).getByTestId('open-description').click();
      await alice.page.getByTestId('backend-advance').click();
      await bob.waitForFields(taskId, { status: 'todo' });
      await bob.page.getByTestId('toast').filter({ hasText: 'Workflow bot set the status of "Pay invoice" to To do' }).waitFor();
      await alice.row(`${taskId}`).getByTestId('open-description').click();
      await alice.page.getByTestId('backend-assign').click();
      await bob.waitForFields(taskId, { assignee: 'Alice' });
      // Alice views the task while the notification arrives: it is read at once, but the toast still shows it.
      await alice.page.getByTestId('toast').filter({ hasText: 'Workflow bot assigned you "Pay invoice"' }).waitFor();

      for (const page of pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'shows who is online, typing in comments, and who left with when they were last seen',
    async () => {
      onTestFailed(async () => {
        for (const page of pages) await page.page.screenshot({ path: join(ARTIFACTS, `presence-failed-${page.name}.png`) });
      });
      const carol = await open('Carol');
      const dave = await open('Dave');
      const taskId = await carol.addTask('Call the customer');
      await carol.row(taskId).getByTestId('open-description').click();
      await dave.waitForFields(taskId, { title: 'Call the customer' });
      await dave.row(taskId).getByTestId('open-description').click();

      await carol.page.getByTestId('online-users').click();
      const daveInCarolsPanel = carol.page.locator('[data-testid="member"][data-user-id="dave"]');
      await daveInCarolsPanel.and(carol.page.locator('[data-status="online"]')).waitFor();
      await expect.poll(() => daveInCarolsPanel.getAttribute('data-document')).toBe(`task-${taskId}`);
      await expect.poll(() => daveInCarolsPanel.textContent()).toContain('online · viewing a task');

      await carol.page.getByTestId('comment-input').pressSequentially('Calling them at', { delay: 20 });
      await dave.page.getByTestId('typing').filter({ hasText: 'Carol is typing…' }).waitFor();
      await dave.page.screenshot({ path: join(ARTIFACTS, 'presence-typing.png') });
      await carol.page.getByTestId('comment-input').pressSequentially(' 3', { delay: 20 });
      await carol.page.getByTestId('comment-send').click();
      await dave.page.getByTestId('comment').filter({ hasText: 'Calling them at 3' }).waitFor();
      await waitFor(async () => (await dave.page.getByTestId('typing').textContent()) === '', {
        timeoutMs: UI_TIMEOUT_MS,
        message: "Carol's typing indicator to clear once she sent the comment",
      });

      await dave.close();
      pages.splice(pages.indexOf(dave), 1);
      await daveInCarolsPanel.and(carol.page.locator('[data-status="offline"]')).waitFor();
      await expect.poll(() => daveInCarolsPanel.textContent()).toMatch(/offline · last seen just now/);
      await carol.page.screenshot({ path: join(ARTIFACTS, 'presence-team.png') });
      for (const page of pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
