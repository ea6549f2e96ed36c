/**
 * The demo flaws of issue 13 ("What was seen" 6), in real Chromium against the real server serving the built demo:
 *
 * - Alice assigns a task to Bob through the backend buttons and notifies him: Bob's bell lights (on his phone, the
 *   menu button carries the count while the menu is closed), the notification names Alice, and Alice's bell stays
 *   dark. Assigning herself, Alice is viewing the task, so the notification is in her inbox already read, and the
 *   demo says so instead of leaving her to wonder why the bell stayed dark;
 * - a backend call that fails shows its error, and a later call that succeeds replaces it, including when the
 *   failure arrives after the later success (no stale "Failed to fetch");
 * - with updates every 30 s, others' held updates are told in the header, outside the outbox, and "show now"
 *   applies them.
 *
 * Needs the demo built (`npm run build`) and Chromium (see ./chromium.ts).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, skipWithoutChromium } from './chromium.js';
import { UI_TIMEOUT_MS, type DemoPage, type Screen } from './demoPage.js';
import { ARTIFACTS, demoRig } from './demoRig.js';

const SCENARIO_TIMEOUT_MS = 90_000;
const PHONE: Screen = { width: 390, height: 844, phone: true };
const LAPTOP: Screen = { width: 1280, height: 800 };
/** How long the test holds a backend call before failing it, so that a later call finishes first. */
const SLOW_FAILURE_MS = 1_500;

describe.skipIf(skipWithoutChromium())(`demo backend actions and held updates in Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('actions');
  let alice: DemoPage;
  let bob: DemoPage;

  const open = async (name: string, screen: Screen) => {
    const page = await rig.open(name, undefined, screen);
    await page.signIn();
    await page.waitForLight('green');
    return page;
  };

  const backendSection = () => alice.page.getByRole('region', { name: 'Backend actions' });

  beforeAll(async () => {
    bob = await open('Bob', PHONE);
    alice = await open('Alice', LAPTOP);
  });

  it("Alice assigns Bob and notifies him: Bob's bell lights, Alice's does not", { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const taskId = await alice.addTask('Print the posters');
    await alice.detail.waitFor();
    await bob.waitForFields(taskId, { title: 'Print the posters' });

    await alice.page.getByTestId('backend-assignee').selectOption({ label: 'Bob' });
    await alice.page.getByTestId('backend-assign').click();
    await bob.waitForFields(taskId, { assignee: 'Bob' });
    // Bob is on his phone, menu closed: the menu button carries the count; inside, the bell does.
    await bob.page.getByTestId('menu-badge').filter({ hasText: '1' }).waitFor();
    await bob.page.getByTestId('toast').filter({ hasText: 'Alice assigned you "Print the posters"' }).waitFor();
    await bob.openMenu();
    await bob.page.getByTestId('bell-badge').filter({ hasText: '1' }).waitFor();
    await bob.page.getByTestId('bell').click();
    await bob.page.getByTestId('notification').filter({ hasText: 'Alice assigned you "Print the posters"' }).waitFor();
    await bob.page.screenshot({ path: join(ARTIFACTS, 'actions-bob-notified.png') });
    await alice.page.getByTestId('backend-outcome').filter({ hasText: "Bob's bell" }).waitFor();
    expect(await alice.page.getByTestId('bell-badge').count(), "Alice's bell stays dark").toBe(0);

    // Opening it from the bell shows the task (the sheet), reads it, and the badges clear.
    await bob.page.getByTestId('notification').getByText('Alice assigned you "Print the posters"').click();
    await bob.page.locator(`[data-testid="task-detail"][data-task-id="${taskId}"]`).waitFor();
    await waitFor(async () => (await bob.page.getByTestId('menu-badge').count()) === 0, {
      timeoutMs: UI_TIMEOUT_MS,
      message: "Bob's menu badge to clear once he views the task",
    });

    // Assigning herself while she views the task: the notification is in her inbox, already read, and she is told.
    await alice.page.getByTestId('backend-assignee').selectOption({ label: 'me (Alice)' });
    await alice.page.getByTestId('backend-assign').click();
    await bob.waitForFields(taskId, { assignee: 'Alice' });
    await alice.page.getByTestId('toast').filter({ hasText: 'Workflow bot assigned you "Print the posters"' }).waitFor();
    await alice.page.getByTestId('backend-outcome').filter({ hasText: 'already read' }).waitFor();
    expect(await alice.page.getByTestId('bell-badge').count(), 'viewing the task reads its notification').toBe(0);
    await alice.page.getByTestId('bell').click();
    await alice.page.getByTestId('notification').filter({ hasText: 'Workflow bot assigned you "Print the posters"' }).waitFor();
    await alice.page.getByTestId('bell').click();
  });

  it('a failed backend call is told, and a later success replaces it even when the failure arrives last', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const taskId = await alice.addTask('Pay invoice');
    await alice.detail.waitFor();
    const changes = '**/api/documents/project-demo/changes';

    // Each call ends with a request of its own: the channel event (status) or the notification (assign).
    const finished = (path: string) => alice.page.waitForResponse((response) => response.url().includes(path) && response.ok());

    // A call that fails: its error shows; the next call succeeds and the error goes.
    await alice.page.route(changes, (route) => route.abort('failed'), { times: 1 });
    await alice.page.getByTestId('backend-advance').click();
    await backendSection().getByText('Failed to fetch').waitFor();
    const advanced = finished('/api/channels/project-demo/events');
    await alice.page.getByTestId('backend-advance').click();
    await advanced;
    await waitFor(async () => !(await backendSection().textContent())?.includes('Failed to fetch'), {
      timeoutMs: UI_TIMEOUT_MS,
      message: 'the error to go once the next call succeeded',
    });

    // A slow call that fails after a later one succeeded: the later success stays on screen.
    let failed!: () => void;
    const slowFailureDone = new Promise<void>((resolve) => (failed = resolve));
    await alice.page.route(
      changes,
      async (route) => {
        await new Promise((resolve) => setTimeout(resolve, SLOW_FAILURE_MS));
        await route.abort('failed');
        failed();
      },
      { times: 1 },
    );
    await alice.page.getByTestId('backend-advance').click();
    const assigned = finished('/notifications');
    await alice.page.getByTestId('backend-assign').click();
    await assigned;
    await slowFailureDone;
    // Give the page every chance to show the late failure before looking.
    await alice.page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 200))));
    expect(await backendSection().textContent(), 'no stale error after a later success').not.toContain('Failed to fetch');
    await alice.waitForFields(taskId, { status: 'doing', assignee: 'Alice' });
  });

  it('updates held by "every 30 s" are told in the header, outside the outbox, and "show now" applies them', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const taskId = await alice.addTask('Book the venue');
    await bob.waitForFields(taskId, { title: 'Book the venue' });
    // Bob goes back to the list (he had a task open from the bell) and chooses updates every 30 s in his menu.
    if (await bob.page.getByTestId('sheet-back').isVisible()) await bob.page.getByTestId('sheet-back').click();
    await bob.openMenu();
    await bob.page.getByTestId('update-frequency').selectOption('every-30s');
    await bob.closeMenu();

    await alice.field(taskId, 'title').fill('Book the venue for June');
    const notice = bob.page.getByTestId('held-notice');
    await notice.waitFor();
    await waitFor(async () => /\d+ updates? waiting/.test((await notice.textContent()) ?? ''), {
      timeoutMs: UI_TIMEOUT_MS,
      message: "Bob's header to say how many updates are waiting",
    });
    expect(await bob.field(taskId, 'title').inputValue(), 'the edit is held').toBe('Book the venue');
    expect(await bob.page.getByTestId('outbox-panel').isVisible(), 'the outbox stays closed').toBe(false);
    await bob.page.screenshot({ path: join(ARTIFACTS, 'actions-held-updates.png') });
    await notice.click();
    await bob.waitForFields(taskId, { title: 'Book the venue for June' });
    await notice.waitFor({ state: 'detached' });

    await bob.openMenu();
    await bob.page.getByTestId('update-frequency').selectOption('live');
    await bob.closeMenu();
  });

  it('no page had an error', () => {
    for (const page of rig.pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
  });
});
