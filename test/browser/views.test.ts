/**
 * The demo's views (issue 17, point 3), in real Chromium against the real server serving the built demo:
 *
 * - the board by status: Alice drags a card to another column with the mouse; Bob, on the board too, sees it move,
 *   and his totals strip changes with its "updating" sign (Alice's own strip shows no sign for her own move);
 * - filters (assignee, status, due): each one lets through exactly the tasks it names, the totals count what is
 *   shown (an overdue task in red), and a reload keeps them (they are in the URL);
 * - "My tasks" across projects: Alice's tasks of two projects from one live view, grouped by project; Bob assigns
 *   her one more and finishes another, and her list follows with its "updating" sign; a task opens in its project;
 * - on a 390×844 phone: a finger drags a card by its grip (real touch events) and Alice sees it; the tabs, filters and
 *   grips are 44 px tap targets and no screen scrolls sideways.
 *
 * Needs the demo built (`npm run build`) and Chromium (see ./chromium.ts: skipped loudly without it, fails on CI).
 */
import type { Locator } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { skipWithoutChromium } from './chromium.js';
import { UI_TIMEOUT_MS, type DemoPage, type Screen } from './demoPage.js';
import { demoRig, screenshot } from './demoRig.js';
import { expectNoHorizontalOverflow, expectTappable } from './tappable.js';

const SCENARIO_TIMEOUT_MS = 120_000;
const LAPTOP: Screen = { width: 1280, height: 800 };
const PHONE: Screen = { width: 390, height: 844, phone: true };

type Status = 'todo' | 'doing' | 'done';

const card = (page: DemoPage, id: string, status?: Status): Locator =>
  page.page.locator(`${status ? `[data-status-column="${status}"] ` : ''}[data-testid="board-card"][data-task-id="${id}"]`);

const column = (page: DemoPage, status: Status): Locator => page.page.locator(`[data-testid="board-column"][data-status-column="${status}"]`);

/** `YYYY-MM-DD`, `days` from today on this machine's calendar (the browser's too). */
function isoDay(days: number): string {
  const day = new Date();
  day.setDate(day.getDate() + days);
  return `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}`;
}

/** Starts counting the frames in which the totals strip's "updating" sign shows on `page` (it is brief: a poll from the test could miss it). */
async function watchUpdatingSign(page: DemoPage): Promise<void> {
  await page.page.evaluate(() => {
    const seen = window as unknown as { updatingSeen: number };
    seen.updatingSeen = 0;
    const look = () => {
      const sign = document.querySelector<HTMLElement>('[data-testid="totals-updating"]');
      if (sign && !sign.hidden && sign.offsetParent !== null) seen.updatingSeen += 1;
      requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
  });
}

const updatingSeen = (page: DemoPage): Promise<number> => page.page.evaluate(() => (window as unknown as { updatingSeen: number }).updatingSeen);

async function totals(page: DemoPage): Promise<Record<'open' | 'dueThisWeek' | 'overdue' | 'done', number>> {
  const read = async (key: string) => Number(await page.page.getByTestId(`totals-${key}`).first().textContent({ timeout: 1_000 }));
  return { open: await read('open'), dueThisWeek: await read('dueThisWeek'), overdue: await read('overdue'), done: await read('done') };
}

async function waitForTotals(page: DemoPage, expected: Partial<Awaited<ReturnType<typeof totals>>>, what: string): Promise<void> {
  await waitFor(
    async () => {
      const seen = await totals(page);
      if (Object.entries(expected).every(([key, value]) => seen[key as keyof typeof seen] === value)) return true;
      throw new Error(`it reads ${JSON.stringify(seen)}`);
    },
    { timeoutMs: UI_TIMEOUT_MS, message: `${page.name}: ${what}: totals ${JSON.stringify(expected)}` },
  );
}

/** The task ids `page` lists (list screen), in order. */
async function listed(page: DemoPage): Promise<string[]> {
  return page.taskIds();
}

async function waitForListed(page: DemoPage, expected: string[], what: string): Promise<void> {
  await waitFor(
    async () => {
      const seen = await listed(page);
      if (JSON.stringify(seen) === JSON.stringify(expected)) return true;
      throw new Error(`it lists ${JSON.stringify(seen)}`);
    },
    { timeoutMs: UI_TIMEOUT_MS, message: `${page.name}: ${what}: to list ${JSON.stringify(expected)}` },
  );
}

/** Drags `from` onto `to` with the mouse, in small steps as a hand would. */
async function dragWithMouse(page: DemoPage, from: Locator, to: Locator): Promise<void> {
  const start = await from.boundingBox();
  const end = await to.boundingBox();
  if (!start || !end) throw new Error('nothing to drag or nowhere to drop');
  await page.page.mouse.move(start.x + start.width / 2, start.y + start.height / 2);
  await page.page.mouse.down();
  await page.page.mouse.move(end.x + end.width / 2, end.y + end.height / 2, { steps: 12 });
  await page.page.mouse.up();
}

/** Drags `from` onto `to` with one finger: real touch events through the DevTools protocol. */
async function dragWithFinger(page: DemoPage, from: Locator, to: Locator): Promise<void> {
  await from.scrollIntoViewIfNeeded();
  const start = await from.boundingBox();
  const end = await to.boundingBox();
  if (!start || !end) throw new Error('nothing to drag or nowhere to drop');
  const session = await page.context.newCDPSession(page.page);
  const at = (x: number, y: number) => [{ x, y, id: 1 }];
  const [x0, y0] = [start.x + start.width / 2, start.y + start.height / 2];
  const [x1, y1] = [end.x + end.width / 2, end.y + Math.min(end.height / 2, 40)];
  await session.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(x0, y0) });
  const steps = 12;
  for (let step = 1; step <= steps; step += 1) {
    const t = step / steps;
    await session.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t) });
  }
  await session.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await session.detach();
}

async function waitForCard(page: DemoPage, id: string, status: Status, what: string): Promise<void> {
  await waitFor(async () => (await card(page, id, status).count()) === 1, { timeoutMs: UI_TIMEOUT_MS, message: `${page.name}: ${what}` });
}

/** The titles "My tasks" lists on `page`, by project heading. */
async function myTasks(page: DemoPage): Promise<Record<string, string[]>> {
  return page.page.getByTestId('my-tasks-project').evaluateAll((sections) =>
    Object.fromEntries(
      sections.map((section) => [
        section.querySelector('h2')?.textContent ?? '',
        [...section.querySelectorAll('[data-testid="my-task"] button')].map((button) => button.textContent ?? ''),
      ]),
    ),
  );
}

async function waitForMyTasks(page: DemoPage, expected: Record<string, string[]>, what: string): Promise<void> {
  await waitFor(
    async () => {
      const seen = await myTasks(page);
      if (JSON.stringify(seen) === JSON.stringify(expected)) return true;
      throw new Error(`it lists ${JSON.stringify(seen)}`);
    },
    { timeoutMs: UI_TIMEOUT_MS, message: `${page.name}: ${what}` },
  );
}

// Skipped, with a loud notice, only where Chromium is missing outside CI; under CI=true the gate fails instead (chromium.ts).
describe.skipIf(skipWithoutChromium())("the demo's board by status, filters, totals and My tasks (issue 17, point 3)", () => {
  const rig = demoRig('views');
  /** The tasks the first test makes, which the next ones use. */
  const tasks: { write?: string; review?: string; ship?: string } = {};
  const signedIn = async (name: string, screen: Screen): Promise<DemoPage> => {
    const page = await rig.open(name, undefined, screen);
    await page.signIn();
    return page;
  };
  afterEach(() => {
    for (const page of rig.pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
  });

  it('a card dragged to another column moves on everyone’s board, and their totals change with an "updating" sign', async () => {
    const alice = await signedIn('Alice', LAPTOP);
    const bob = await signedIn('Bob', LAPTOP);
    const write = await alice.addTask('Write copy');
    const review = await alice.addTask('Review layout');
    const ship = await alice.addTask('Ship banners');
    Object.assign(tasks, { write, review, ship });
    await alice.field(review, 'status').selectOption('doing');
    await bob.waitForFields(review, { status: 'doing' });

    await alice.page.getByTestId('screen-board').click();
    await bob.page.getByTestId('screen-board').click();
    for (const page of [alice, bob]) {
      await waitForCard(page, write, 'todo', 'Write copy in To do');
      await waitForCard(page, review, 'doing', 'Review layout in Doing');
      await waitForCard(page, ship, 'todo', 'Ship banners in To do');
    }
    await waitForTotals(bob, { open: 3, done: 0 }, 'before the move');
    await watchUpdatingSign(alice);
    await watchUpdatingSign(bob);

    await dragWithMouse(alice, card(alice, write), column(alice, 'done'));
    await waitForCard(alice, write, 'done', 'Alice: her card in Done after the drag');
    await waitForCard(bob, write, 'done', 'Bob: Alice’s card moved to Done');
    await waitForTotals(bob, { open: 2, done: 1 }, 'after the move');
    expect(await updatingSeen(bob), 'Bob saw the "updating" sign').toBeGreaterThan(0);
    expect(await updatingSeen(alice), 'Alice saw no "updating" sign for her own move').toBe(0);
    // A short press is still a click: it opens the task, and moves nothing.
    await card(alice, ship).getByTestId('card-open').click();
    await alice.page.locator(`[data-testid="task-detail"][data-task-id="${ship}"]`).waitFor();
    expect(await card(alice, ship, 'todo').count(), 'a click moves nothing').toBe(1);
    await screenshot(alice, 'views-board.png', 'board-view.png');
  }, SCENARIO_TIMEOUT_MS);

  it('filters let through exactly what they name, the totals count what is shown, and a reload keeps them', async () => {
    const [alice] = rig.pages;
    const { write, review, ship } = tasks;
    if (!alice || !write || !review || !ship) throw new Error('the first test did not run');
    await alice.page.getByTestId('screen-list').click();
    await waitForListed(alice, [write, review, ship], 'no filter');
    await alice.field(ship, 'due').fill(isoDay(-2));
    await alice.field(review, 'due').fill(isoDay(3));
    await alice.field(review, 'assignee').selectOption('alice');
    await waitForTotals(alice, { open: 2, dueThisWeek: 1, overdue: 1, done: 1 }, 'every task');

    await alice.page.getByTestId('filter-status').selectOption('doing');
    await waitForListed(alice, [review], 'status Doing');
    await alice.page.getByTestId('filter-status').selectOption('open');
    await waitForListed(alice, [review, ship], 'not done');
    await waitForTotals(alice, { open: 2, done: 0 }, 'not done');
    await alice.page.getByTestId('filter-status').selectOption('');
    await alice.page.getByTestId('filter-assignee').selectOption('me');
    await waitForListed(alice, [review], 'assigned to me');
    await alice.page.getByTestId('filter-assignee').selectOption('nobody');
    await waitForListed(alice, [write, ship], 'unassigned');
    await alice.page.getByTestId('filter-assignee').selectOption('');
    await alice.page.getByTestId('filter-due').selectOption('overdue');
    await waitForListed(alice, [ship], 'overdue');
    await waitForTotals(alice, { open: 1, overdue: 1, dueThisWeek: 0, done: 0 }, 'overdue');
    expect(await alice.page.locator('.totals__part--late').count(), 'an overdue count is shown in red').toBe(1);

    await alice.reload();
    await waitForListed(alice, [ship], 'overdue, after a reload');
    expect(await alice.page.getByTestId('filter-due').inputValue()).toBe('overdue');
    await alice.page.getByTestId('filter-due').selectOption('week');
    await waitForListed(alice, [review], 'due this week');
    await alice.page.getByTestId('screen-board').click();
    await waitForCard(alice, review, 'doing', 'the board filtered too');
    expect(await alice.page.getByTestId('board-card').count(), 'the board shows only what the filter lets through').toBe(1);
    await alice.page.getByTestId('filter-clear').click();
    await waitFor(async () => (await alice.page.getByTestId('board-card').count()) === 3, { timeoutMs: UI_TIMEOUT_MS, message: 'every card back' });
    await alice.page.getByTestId('screen-list').click();
  }, SCENARIO_TIMEOUT_MS);

  it('"My tasks" gathers Alice’s tasks of every project and follows what others assign and finish', async () => {
    const [alice, bob] = rig.pages;
    const { write, review } = tasks;
    if (!alice || !bob || !write || !review) throw new Error('the first test did not run');
    // A task in the second project, assigned to herself; the project is listed in the picker.
    await alice.page.getByTestId('project-select').selectOption('website');
    await waitFor(async () => (await alice.page.getByTestId('no-tasks').count()) === 1, { timeoutMs: UI_TIMEOUT_MS, message: 'the new project is empty' });
    const sitemap = await alice.addTask('Draft sitemap');
    await alice.field(sitemap, 'assignee').selectOption('alice');
    await alice.waitForLight('green', { pending: 'none' });

    await alice.page.getByTestId('screen-mine').click();
    await waitForMyTasks(alice, { 'Demo project': ['Review layout'], 'Website relaunch': ['Draft sitemap'] }, 'her tasks of both projects');
    await watchUpdatingSign(alice);

    // Bob, on the demo project's list, assigns her "Write copy" (done) and reopens it, then finishes "Review layout".
    await bob.page.getByTestId('screen-list').click();
    await bob.field(write, 'assignee').selectOption('alice');
    await bob.field(write, 'status').selectOption('doing');
    await waitForMyTasks(alice, { 'Demo project': ['Review layout', 'Write copy'], 'Website relaunch': ['Draft sitemap'] }, 'Bob assigned her Write copy');
    await bob.field(review, 'status').selectOption('done');
    await waitForMyTasks(alice, { 'Demo project': ['Write copy'], 'Website relaunch': ['Draft sitemap'] }, 'Bob finished Review layout');
    await waitForTotals(alice, { open: 2, done: 1 }, 'My tasks');
    expect(await updatingSeen(alice), 'Alice saw her list updating').toBeGreaterThan(0);
    await alice.page.getByTestId('show-done').check();
    await waitForMyTasks(alice, { 'Demo project': ['Review layout', 'Write copy'], 'Website relaunch': ['Draft sitemap'] }, 'with done ones');
    await screenshot(alice, 'views-my-tasks.png', 'my-tasks.png');

    // A task opens in its own project.
    await alice.page.getByTestId('my-task').filter({ hasText: 'Draft sitemap' }).getByRole('button').click();
    await alice.page.locator(`[data-testid="task-detail"][data-task-id="${sitemap}"]`).waitFor();
    expect(await alice.page.getByTestId('project-select').inputValue()).toBe('website');
    await alice.page.getByTestId('project-select').selectOption('demo');
  }, SCENARIO_TIMEOUT_MS);

  it('on a 390×844 phone a finger drags a card by its grip, and every view fits the screen with 44 px controls', async () => {
    const [alice] = rig.pages;
    const { ship } = tasks;
    if (!alice || !ship) throw new Error('the first test did not run');
    const carol = await signedIn('Carol', PHONE);
    await carol.page.getByTestId('screen-board').click();
    await waitForCard(carol, ship, 'todo', 'Ship banners in To do on the phone');
    await expectNoHorizontalOverflow(carol, 'the board', PHONE.width);
    for (const testId of ['screen-list', 'screen-board', 'screen-mine', 'project-select', 'filter-assignee', 'filter-status', 'filter-due']) {
      await expectTappable(carol.page.getByTestId(testId), testId, { click: false });
    }
    const grip = card(carol, ship).locator('.card__grip');
    await expectTappable(grip, 'a card’s grip', { click: false });

    await alice.page.getByTestId('screen-board').click();
    await dragWithFinger(carol, grip, column(carol, 'doing'));
    await waitForCard(carol, ship, 'doing', 'Carol: the card in Doing after her drag');
    await waitForCard(alice, ship, 'doing', 'Alice: Carol’s card moved to Doing');
    await screenshot(carol, 'views-board-phone.png', 'board-view-phone.png');

    await carol.page.getByTestId('screen-list').click();
    await expectNoHorizontalOverflow(carol, 'the list with its filters', PHONE.width);
    await carol.page.getByTestId('screen-mine').click();
    await carol.page.getByTestId('my-tasks').waitFor();
    await expectNoHorizontalOverflow(carol, 'My tasks', PHONE.width);
  }, SCENARIO_TIMEOUT_MS);
});
