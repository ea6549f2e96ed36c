/**
 * The demo's layout in real Chromium, on a phone (390×844, touch) and a laptop (1280×800), against the real server
 * serving the built demo (issue 13, point 6). In every state — the board, the header's menu open, a task open — the
 * page never scrolls sideways (`scrollWidth <= innerWidth`) and every control a person needs is visible, inside the
 * window, not clipped, and hit at its centre (nothing covers it; Playwright's trial click agrees); on the phone each is at least
 * 40 px both ways. On the phone the tasks are cards, the header's controls fold into a menu and a task opens as a
 * sheet with a way back; on the laptop the task opens beside the list, not under it.
 *
 * Screenshots go to test/artifacts/layout-*.png. The ones the README shows are copied to docs/ when missing there,
 * or on every run with `CONCORD_DOCS_SCREENSHOTS=1` (so an ordinary run leaves the committed images alone). Needs the
 * demo built (`npm run build`) and Chromium (see ./chromium.ts).
 */
import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, skipWithoutChromium } from './chromium.js';
import { waitFor } from '../support/wait.js';
import { UI_TIMEOUT_MS, type DemoPage, type Screen, type TaskField } from './demoPage.js';
import { demoRig, screenshot as save } from './demoRig.js';

const SCENARIO_TIMEOUT_MS = 90_000;
/** The smallest tap target on a phone, both ways (platform guidelines say 44–48 px; the issue asks at least 40). */
const MIN_TAP_PX = 40;
const FIELDS: readonly TaskField[] = ['title', 'status', 'assignee', 'due'];
/** The header's controls that fold into the menu on a phone. */
const MENU_CONTROLS = ['outbox-toggle', 'sync-now', 'bell', 'update-frequency', 'online-users', 'sign-out'] as const;

const PHONE: Screen = { width: 390, height: 844, phone: true };
const LAPTOP: Screen = { width: 1280, height: 800 };

/**
 * Fails when the page scrolls sideways, naming the elements that stick out furthest. The window must also still be
 * the screen's width: a phone browser zooms out to fit a page that is too wide, which would hide the overflow.
 */
async function expectNoHorizontalScroll(page: DemoPage, where: string, screen: Screen): Promise<void> {
  const seen = await page.page.evaluate((screenWidth) => {
    const width = innerWidth;
    const wide = [...document.querySelectorAll<HTMLElement>('body *')]
      .map((element) => ({ element, right: element.getBoundingClientRect().right }))
      .filter(({ right }) => right > Math.min(width, screenWidth) + 0.5)
      .sort((a, b) => b.right - a.right)
      .slice(0, 3)
      .map(({ element, right }) => `${element.tagName.toLowerCase()}.${element.className || element.dataset.testid || ''} ends at ${Math.round(right)} px`);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: width, wide };
  }, screen.width);
  const report = `${where}: the page is ${seen.scrollWidth} px wide in a ${seen.innerWidth} px window on a ${screen.width} px screen (${seen.wide.join('; ')})`;
  expect(seen.innerWidth, report).toBe(screen.width);
  expect(seen.scrollWidth, report).toBeLessThanOrEqual(seen.innerWidth);
}

/**
 * Fails unless `control` is visible, wholly inside the window (after scrolling the page vertically to it, as a person
 * would), the element at its centre is the control itself (or inside it), a trial click would reach it, and on a
 * phone it is a big enough tap target.
 */
async function expectUsable(page: DemoPage, control: Locator, what: string, screen: Screen): Promise<void> {
  await control.scrollIntoViewIfNeeded({ timeout: 5_000 });
  expect(await control.isVisible(), `${what} is visible`).toBe(true);
  const seen = await control.evaluate((element) => {
    const box = element.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    const label = element.closest('label');
    return {
      box: { x: box.x, y: box.y, width: box.width, height: box.height },
      window: { width: innerWidth, height: innerHeight },
      hitsItself: hit !== null && (hit === element || element.contains(hit) || (label !== null && label.contains(hit))),
      hit: hit ? `${hit.tagName.toLowerCase()}.${hit.className}` : 'nothing',
      // A button too narrow for its label clips it ("Add tas").
      clipped: element.tagName === 'BUTTON' && element.scrollWidth > element.clientWidth + 1,
    };
  });
  const { box, window } = seen;
  const where = `${what} at ${Math.round(box.x)},${Math.round(box.y)} (${Math.round(box.width)}×${Math.round(box.height)}) in ${window.width}×${window.height}`;
  expect(box.width > 0 && box.height > 0, `${where} has a size`).toBe(true);
  expect(box.x >= -0.5 && box.x + box.width <= window.width + 0.5, `${where} lies inside the window across`).toBe(true);
  expect(box.y >= -0.5 && box.y + box.height <= window.height + 0.5, `${where} lies inside the window down`).toBe(true);
  expect(seen.hitsItself, `${where}: the element at its centre is ${seen.hit}`).toBe(true);
  expect(seen.clipped, `${where} shows its whole label`).toBe(false);
  await control.click({ trial: true, timeout: 5_000 });
  if (screen.phone) {
    expect(Math.min(box.width, box.height), `${where} is a tap target of at least ${MIN_TAP_PX} px`).toBeGreaterThanOrEqual(MIN_TAP_PX - 0.5);
  }
}

describe.skipIf(skipWithoutChromium())(`demo layout on a phone and a laptop in Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('layout');

  const open = async (name: string, screen: Screen) => {
    const page = await rig.open(name, undefined, screen);
    await page.signIn();
    await page.waitForLight('green');
    return page;
  };

  /** The board with no task open, as a fresh load of the page shows it. */
  const showBoard = async (page: DemoPage) => {
    await page.page.goto(rig.server.url);
    await page.page.getByTestId('new-task-title').waitFor();
  };

  const screenshot = (page: DemoPage, name: string, docs?: string) => save(page, `layout-${name}.png`, docs);

  it('on a phone: cards, a menu with every header control, the task as a sheet; nothing off-screen', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const alice = await open('Alice', PHONE);
    await expectNoHorizontalScroll(alice, 'phone board, just signed in', PHONE);
    const tasks = ['Write the launch plan', 'Call the printer about the posters', 'Pay invoice'];
    const ids: string[] = [];
    for (const title of tasks) {
      ids.push(await alice.addTask(title));
      // Adding a task opens it (on a phone, in place of the list): load the board again for the next.
      await showBoard(alice);
    }
    const first = ids[0]!;
    await alice.field(first, 'status').selectOption('doing');
    await alice.field(first, 'assignee').selectOption({ label: 'Alice (you)' });
    await alice.field(first, 'due').fill('2030-05-01');

    // The board: cards (one field per line or two), the connection light and the menu button in the header.
    await expectNoHorizontalScroll(alice, 'phone board', PHONE);
    const cardWidth = (await alice.row(first).boundingBox())!.width;
    const titleWidth = (await alice.field(first, 'title').boundingBox())!.width;
    expect(titleWidth, `the title spans the card (${titleWidth} of ${cardWidth} px)`).toBeGreaterThan(cardWidth * 0.8);
    await expectUsable(alice, alice.status, 'the connection indicator', PHONE);
    await expectUsable(alice, alice.page.getByTestId('menu-toggle'), 'the menu button', PHONE);
    await alice.page.getByTestId('new-task-title').fill('Book the venue');
    await expectUsable(alice, alice.page.getByTestId('new-task-title'), 'the new task title', PHONE);
    await expectUsable(alice, alice.page.getByTestId('add-task'), 'Add task', PHONE);
    await alice.page.getByTestId('new-task-title').fill('');
    for (const field of FIELDS) await expectUsable(alice, alice.field(first, field), `the card's ${field}`, PHONE);
    await expectUsable(alice, alice.row(first).getByTestId('open-description'), "the card's Open", PHONE);
    await expectUsable(alice, alice.row(first).getByTestId('delete-task'), "the card's delete", PHONE);
    for (const control of MENU_CONTROLS) {
      expect(await alice.page.getByTestId(control).isVisible(), `${control} is folded into the closed menu`).toBe(false);
    }
    await alice.page.evaluate(() => scrollTo(0, 0));
    await screenshot(alice, 'phone-board', 'phone-board.png');

    // The menu: every header control, inside the window, with the connection light still showing.
    await alice.openMenu();
    await expectNoHorizontalScroll(alice, 'phone menu', PHONE);
    for (const control of MENU_CONTROLS) await expectUsable(alice, alice.page.getByTestId(control), control, PHONE);
    await expectUsable(alice, alice.status, 'the connection indicator with the menu open', PHONE);
    await alice.page.getByTestId('outbox-toggle').click();
    await alice.page.getByTestId('outbox-panel').waitFor();
    await expectNoHorizontalScroll(alice, 'phone menu with the outbox open', PHONE);
    await alice.page.getByTestId('bell').click();
    await alice.page.getByTestId('inbox').waitFor();
    await expectNoHorizontalScroll(alice, 'phone menu with the inbox open', PHONE);
    await alice.page.getByTestId('bell').click();
    await alice.page.getByTestId('outbox-toggle').click();
    await alice.page.evaluate(() => scrollTo(0, 0));
    await screenshot(alice, 'phone-menu', 'phone-menu.png');
    // A tap outside the menu closes it.
    await alice.page.mouse.click(PHONE.width / 2, PHONE.height - 10);
    await alice.page.getByTestId('sign-out').waitFor({ state: 'hidden' });
    expect(await alice.page.getByTestId('menu-toggle').getAttribute('aria-expanded'), 'the menu closes').toBe('false');

    // A task: a full-screen sheet in place of the list, its fields editable, a clear way back.
    await alice.openDescription(first);
    await expect.poll(() => alice.page.getByTestId('task-row').first().isVisible(), { message: 'the list is hidden under the sheet' }).toBe(false);
    const sheet = (await alice.page.getByTestId('task-pane').boundingBox())!;
    expect(sheet.width, `the sheet spans the screen (${sheet.width} px)`).toBeGreaterThan(PHONE.width * 0.9);
    await expectNoHorizontalScroll(alice, 'phone task sheet', PHONE);
    await expectUsable(alice, alice.page.getByTestId('sheet-back'), 'the way back to the list', PHONE);
    await expectUsable(alice, alice.status, 'the connection indicator over the sheet', PHONE);
    await expectUsable(alice, alice.page.getByTestId('menu-toggle'), 'the menu button over the sheet', PHONE);
    for (const field of FIELDS) await expectUsable(alice, alice.detailField(field), `the detail's ${field}`, PHONE);
    await alice.detailField('assignee').selectOption({ label: 'Nobody' });
    await alice.waitForFields(first, { assignee: '' });
    await expectUsable(alice, alice.editor, 'the description', PHONE);
    await expectUsable(alice, alice.page.getByTestId('comment-input'), 'the comment box', PHONE);
    await expectUsable(alice, alice.page.getByTestId('backend-assignee'), 'the assignee picker', PHONE);
    await expectUsable(alice, alice.page.getByTestId('backend-assign'), 'Assign and notify', PHONE);
    await expectUsable(alice, alice.page.getByTestId('backend-advance'), 'the status button', PHONE);
    await alice.page.evaluate(() => scrollTo(0, 0));
    await alice.typeInDescription('Goals, owners, dates. Venue by Friday.');
    await alice.page.evaluate(() => scrollTo(0, 0));
    await screenshot(alice, 'phone-detail', 'phone-detail.png');
    await alice.page.getByTestId('sheet-back').click();
    await alice.row(first).waitFor();
    await expectNoHorizontalScroll(alice, 'phone board after the sheet', PHONE);

    expect(alice.errors, "Alice's page errors").toEqual([]);
  });

  it('on a laptop: the task opens beside the list and every control is in the header; nothing off-screen', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const bob = await open('Bob', LAPTOP);
    // The tasks Alice added on her phone, or Bob's own when this test runs alone.
    const titles = ['Write the launch plan', 'Call the printer about the posters', 'Pay invoice'];
    for (let count = (await bob.taskIds()).length; count < titles.length; count++) await bob.addTask(titles[count]!);
    await showBoard(bob);
    const ids = await waitFor(async () => {
      const seen = await bob.taskIds();
      return seen.length >= 3 ? seen : undefined;
    }, { timeoutMs: UI_TIMEOUT_MS, message: 'three tasks on the board' });
    const first = ids[0]!;

    await expectNoHorizontalScroll(bob, 'laptop board', LAPTOP);
    await expectUsable(bob, bob.status, 'the connection indicator', LAPTOP);
    for (const control of MENU_CONTROLS) await expectUsable(bob, bob.page.getByTestId(control), control, LAPTOP);
    expect(await bob.page.getByTestId('menu-toggle').isVisible(), 'no menu button on a wide screen').toBe(false);
    await bob.page.getByTestId('new-task-title').fill('Order the banners');
    await expectUsable(bob, bob.page.getByTestId('add-task'), 'Add task', LAPTOP);
    await bob.page.getByTestId('new-task-title').fill('');
    for (const field of FIELDS) await expectUsable(bob, bob.field(first, field), `the row's ${field}`, LAPTOP);
    const titleWidth = (await bob.field(first, 'title').boundingBox())!.width;
    expect(titleWidth, `the title column has room (${titleWidth} px)`).toBeGreaterThan(150);

    await bob.openDescription(first);
    await expectNoHorizontalScroll(bob, 'laptop with a task open', LAPTOP);
    const list = (await bob.page.getByRole('region', { name: 'Tasks' }).boundingBox())!;
    const detail = (await bob.detail.boundingBox())!;
    expect(detail.x, `the task (at x ${detail.x}) opens beside the list (which ends at x ${list.x + list.width}), not under it`).toBeGreaterThanOrEqual(
      list.x + list.width,
    );
    expect(detail.y, `the task (at y ${detail.y}) starts level with the list (y ${list.y} to ${list.y + list.height})`).toBeLessThan(list.y + 100);
    for (const field of FIELDS) await expectUsable(bob, bob.detailField(field), `the detail's ${field}`, LAPTOP);
    await expectUsable(bob, bob.page.getByTestId('close-description'), 'the close button', LAPTOP);
    await expectUsable(bob, bob.editor, 'the description', LAPTOP);
    await expectUsable(bob, bob.page.getByTestId('backend-assign'), 'Assign and notify', LAPTOP);
    await expectUsable(bob, bob.row(first).getByTestId('field-title'), 'the row beside the open task', LAPTOP);
    for (const control of MENU_CONTROLS) await expectUsable(bob, bob.page.getByTestId(control), `${control} with a task open`, LAPTOP);
    await expectUsable(bob, bob.status, 'the connection indicator with a task open', LAPTOP);
    await bob.page.evaluate(() => scrollTo(0, 0));
    await screenshot(bob, 'laptop', 'wide.png');

    expect(bob.errors, "Bob's page errors").toEqual([]);
  });
});
