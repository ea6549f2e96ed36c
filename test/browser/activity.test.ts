/**
 * The project's Activity panel in the demo (issue 16, point 5), in real Chromium against the real server serving the
 * built demo. The server derives the feed `activity:project-demo` about a second after each change; the panel reads
 * it through the client, live:
 *
 * - Bob opens Activity; Alice adds a task and moves it to Doing: Bob's panel shows "Alice added task '…'" and, above
 *   it, "Alice changed status of '…' from To do to Doing", "just now", the newest entry sliding in (its arrival class
 *   and animation); with reduced motion, Alice's rename arrives lit up instead of moving, and the older entries follow
 *   the task's new title;
 * - with the panel closed, the button counts Alice's next change, and opening the panel clears the count.
 *
 * And on a 390×844 phone: the panel is a full-width sheet, the page never scrolls sideways, and its close button is
 * inside the window and 44 px tall.
 *
 * Needs the demo built (`npm run build`) and Chromium (see ./chromium.ts: skipped loudly without it, fails on CI).
 */
import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, skipWithoutChromium } from './chromium.js';
import { UI_TIMEOUT_MS, type DemoPage, type Screen } from './demoPage.js';
import { demoRig, screenshot } from './demoRig.js';
import { expectNoHorizontalOverflow, expectTappable } from './tappable.js';

const SCENARIO_TIMEOUT_MS = 90_000;
const LAPTOP: Screen = { width: 1280, height: 800 };
const PHONE: Screen = { width: 390, height: 844, phone: true };
/** Buttons on a touch layout are at least this tall (styles.css, "Phone"). */

const panel = (page: DemoPage) => page.page.getByTestId('activity-panel');
const entries = (page: DemoPage) => panel(page).getByTestId('activity-entry');

async function openActivity(page: DemoPage): Promise<void> {
  await page.page.getByTestId('activity-toggle').click();
  await panel(page).waitFor();
}

/** The panel's sentences, top to bottom. */
function sentences(page: DemoPage): Promise<string[]> {
  return panel(page).getByTestId('activity-text').allTextContents();
}

/** Waits until the panel's first sentences read `expected`, top to bottom (the feed is written ~1 s after a change). */
async function waitForSentences(page: DemoPage, expected: string[]): Promise<void> {
  await waitFor(
    async () => {
      const seen = await sentences(page);
      if (JSON.stringify(seen.slice(0, expected.length)) === JSON.stringify(expected)) return true;
      throw new Error(`it reads ${JSON.stringify(seen)}`);
    },
    { timeoutMs: UI_TIMEOUT_MS, message: `${page.name}'s Activity panel to read, newest first, ${JSON.stringify(expected)}` },
  );
}

/** The class and running animation of an entry. */
function arrival(entry: Locator): Promise<{ className: string; animation: string }> {
  return entry.evaluate((element) => ({ className: element.className, animation: getComputedStyle(element).animationName }));
}

/** Waits until the panel's animations (arrivals, the sheet sliding in) are over, for a screenshot that shows the end state. */
async function animationsDone(page: DemoPage): Promise<void> {
  await panel(page).evaluate((element) => Promise.all(element.getAnimations({ subtree: true }).map((animation) => animation.finished)));
}

/** The vertical centre of a header control, to tell which row of the header it sits in. */
async function middle(page: DemoPage, testId: string): Promise<number> {
  const box = (await page.page.getByTestId(testId).boundingBox())!;
  return box.y + box.height / 2;
}



// Skipped (with a notice) only when Chromium is missing outside CI; under CI=true a missing Chromium fails (chromium.ts).
describe.skipIf(skipWithoutChromium())(`the project's Activity panel in the demo, Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('activity');

  const open = async (name: string, screen: Screen) => {
    const page = await rig.open(name, undefined, screen);
    await page.signIn();
    await page.waitForLight('green');
    return page;
  };

  it('Bob watches Activity while Alice adds a task and moves it: sentences newest first, arriving animated, with times', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const alice = await open('Alice', LAPTOP);
    const bob = await open('Bob', LAPTOP);

    await openActivity(bob);
    await panel(bob).getByTestId('activity-empty').waitFor();

    const task = await alice.addTask('Call the printer');
    await alice.field(task, 'status').selectOption('doing');

    const added = "Alice added task 'Call the printer'";
    const moved = "Alice changed status of 'Call the printer' from To do to Doing";
    await waitForSentences(bob, [moved, added]);
    const newest = entries(bob).first();
    const seen = await arrival(newest);
    expect(seen.className, 'the newest entry arrived while the panel was open').toContain('activity__entry--new');
    expect(seen.animation, 'and slides in').toBe('activity-arrive');
    expect(await newest.getByTestId('activity-time').textContent(), 'its time').toBe('just now');
    expect(await newest.getByTestId('activity-time').getAttribute('datetime'), 'a machine-readable time too').toMatch(/^\d{4}-\d{2}-\d{2}T/);
    await animationsDone(bob);
    await screenshot(bob, 'activity-laptop.png');

    // With reduced motion, an arrival lights up without moving; the older entries follow the task's new title.
    await bob.page.emulateMedia({ reducedMotion: 'reduce' });
    await alice.field(task, 'title').fill('Call the printer back');
    await waitForSentences(bob, [
      "Alice renamed 'Call the printer' to 'Call the printer back'",
      "Alice changed status of 'Call the printer back' from To do to Doing",
      "Alice added task 'Call the printer back'",
    ]);
    const renamed = await arrival(entries(bob).first());
    expect(renamed.className).toContain('activity__entry--new');
    expect(renamed.animation, 'reduced motion: no sliding').toBe('activity-light');
    await bob.page.emulateMedia({ reducedMotion: null });

    // An assignee is stored as a user id; the sentence names the person.
    await alice.field(task, 'assignee').selectOption({ label: 'Bob' });
    await waitForSentences(bob, ["Alice assigned 'Call the printer back' to Bob", "Alice renamed 'Call the printer' to 'Call the printer back'"]);

    // Closed, the button counts what others did since; the status entry is updated (one person, one field, within a
    // minute) and moves to the top.
    await panel(bob).getByTestId('activity-close').click();
    await panel(bob).waitFor({ state: 'detached' });
    await alice.field(task, 'status').selectOption('done');
    await bob.page.getByTestId('activity-badge').filter({ hasText: /^1$/ }).waitFor();
    expect(await alice.page.getByTestId('activity-badge').count(), "Alice's own changes are not news to her").toBe(0);
    // The button and its count fit the laptop's header: it stays one row, sign-out included.
    expect(Math.abs((await middle(bob, 'sign-out')) - (await middle(bob, 'activity-toggle'))), 'one header row at 1280 px').toBeLessThan(8);
    await screenshot(bob, 'activity-laptop-unread.png');
    await openActivity(bob);
    await bob.page.getByTestId('activity-badge').waitFor({ state: 'detached' });
    await waitForSentences(bob, [
      "Alice changed status of 'Call the printer back' from To do to Done",
      "Alice assigned 'Call the printer back' to Bob",
      "Alice renamed 'Call the printer' to 'Call the printer back'",
    ]);
    expect(await arrival(entries(bob).first()), 'entries there when the panel opens do not animate').toMatchObject({ className: 'activity__entry' });
    // Picking an entry opens its task.
    await entries(bob).first().getByRole('button').click();
    await bob.page.locator(`[data-testid="task-detail"][data-task-id="${task}"]`).waitFor();

    expect(alice.errors, "Alice's page errors").toEqual([]);
    expect(bob.errors, "Bob's page errors").toEqual([]);
  });

  it('on a 390×844 phone: Activity is a full-width sheet, no sideways scroll, its close button 44 px and on screen', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const carol = await open('Carol', PHONE);
    const toggle = carol.page.getByTestId('activity-toggle');
    await expectTappable(toggle, 'the Activity button');
    // It joins the header's row without pushing the light or the menu button off it.
    await expectTappable(carol.status, 'the connection indicator');
    await expectTappable(carol.page.getByTestId('menu-toggle'), 'the menu button');
    expect(Math.abs((await middle(carol, 'menu-toggle')) - (await middle(carol, 'activity-toggle'))), 'one header row on the phone').toBeLessThan(8);
    await expectNoHorizontalOverflow(carol, 'the board with the Activity button', PHONE.width);
    await carol.addTask('Book the venue');
    await carol.page.evaluate(() => scrollTo(0, 0));
    await screenshot(carol, 'activity-phone-header.png');
    await openActivity(carol);
    await waitForSentences(carol, ["Carol added task 'Book the venue'"]);
    await expectNoHorizontalOverflow(carol, 'Activity open', PHONE.width);

    const sheet = (await panel(carol).boundingBox())!;
    expect(sheet.x, 'the sheet starts at the left edge').toBeLessThanOrEqual(0.5);
    expect(sheet.width, `the sheet spans the screen (${sheet.width} px)`).toBeGreaterThanOrEqual(PHONE.width - 0.5);
    await expectTappable(panel(carol).getByTestId('activity-close'), 'Close activity');
    await expectTappable(entries(carol).first().getByRole('button'), 'the newest entry (opens its task)');
    await animationsDone(carol);
    await screenshot(carol, 'activity-phone.png');

    await panel(carol).getByTestId('activity-close').click();
    await panel(carol).waitFor({ state: 'detached' });
    await expectNoHorizontalOverflow(carol, 'Activity closed', PHONE.width);
    expect(carol.errors, "Carol's page errors").toEqual([]);
  });
});
