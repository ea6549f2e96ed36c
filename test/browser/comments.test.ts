/**
 * Comments that behave like comments, and assigning teammates, in the demo (issue 16, points 3 and 5), in real
 * Chromium against the real server serving the built demo. Alice and Bob, each in their own browser context, on one
 * task:
 *
 * - Alice types `@Bo` in the comment box: the team's autocomplete lists Bob (not herself); Enter puts `@Bob ` in the
 *   box and she sends "@Bob please check". Both windows show it by Alice, "just now", with @Bob highlighted, and
 *   Bob's bell counts the server's mention notification, "Alice mentioned you";
 * - Bob replies from his window: Alice's bell gets "Bob replied to your comment", and the reply shows indented under
 *   her comment in both windows;
 * - Alice edits her comment: Bob's window shows the new text and "(edited)"; Bob has no Edit or Delete on hers, but
 *   has them on his own reply;
 * - Alice assigns the task to Bob with the assignee picker (his user id is stored, his name shown): Bob's bell gets
 *   "Alice assigned you '<title>'";
 * - Alice deletes her comment: it stays as "Comment deleted" while Bob's reply hangs off it; Bob deletes his reply
 *   and the thread is gone in both windows.
 *
 * Bob then opens, one after another, tasks Alice assigns him: each notification is read, and his light turns green
 * with nothing pending every time (the read mark reaches the server and the device's pending list says so).
 *
 * And on a 390×844 phone: the comment box with the autocomplete open does not make the page scroll sideways, each
 * person listed is a 44 px tap target, a tap picks one, and the sent comment names them.
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

const SCENARIO_TIMEOUT_MS = 120_000;
const LAPTOP: Screen = { width: 1280, height: 800 };
const PHONE: Screen = { width: 390, height: 844, phone: true };
/** Buttons on a touch layout are at least this tall (styles.css, "Phone"). */

const TITLE = 'Order the banners';
/** Assignments Bob reads in a row in the read-mark test (each round failed about one time in three before the fix). */
const ASSIGNMENT_ROUNDS = 8;

/** One comment (or reply) on `page`, by its text. */
const comment = (page: DemoPage, text: string): Locator => page.detail.getByTestId('comment').filter({ hasText: text });

/** The thread of the top comment `id` on `page`. */
const thread = (page: DemoPage, id: string): Locator => page.detail.locator(`[data-testid="comment-thread"][data-comment-id="${id}"]`);

/** The names the autocomplete lists on `page`, in order. */
const offered = (page: DemoPage): Promise<string[]> => page.page.getByTestId('mention-option').locator('.mention__name').allTextContents();

/** Waits until `locator`'s text is `expected`, saying whose window and what when it is not. */
async function waitForText(page: DemoPage, locator: Locator, expected: string | RegExp, what: string): Promise<void> {
  await waitFor(
    async () => {
      const seen = (await locator.textContent({ timeout: 1_000 }))?.trim() ?? null;
      if (typeof expected === 'string' ? seen === expected : seen !== null && expected.test(seen)) return true;
      throw new Error(`it reads ${JSON.stringify(seen)}`);
    },
    { timeoutMs: UI_TIMEOUT_MS, message: `${page.name}: ${what} to read ${String(expected)}` },
  );
}

/** Opens the bell's panel, waits for a notification reading `title`, and closes the panel again. */
async function expectNotification(page: DemoPage, title: string, kind: string): Promise<void> {
  await page.page.getByTestId('bell').click();
  const entry = page.page.getByTestId('notification').filter({ hasText: title });
  await entry.waitFor();
  expect(await entry.textContent(), `${page.name}'s notification "${title}" is a ${kind}`).toContain(`· ${kind} ·`);
  await page.page.getByTestId('bell').click();
  await page.page.getByTestId('inbox').waitFor({ state: 'detached' });
}

async function waitForUnread(page: DemoPage, count: number): Promise<void> {
  await page.page.getByTestId('bell-badge').filter({ hasText: new RegExp(`^${count}$`) }).waitFor();
}

async function markAllRead(page: DemoPage): Promise<void> {
  await page.page.getByTestId('bell').click();
  await page.page.getByTestId('mark-all-read').click();
  await page.page.getByTestId('bell-badge').waitFor({ state: 'detached' });
  await page.page.getByTestId('bell').click();
}



// Skipped (with a notice) only when Chromium is missing outside CI; under CI=true a missing Chromium fails (chromium.ts).
describe.skipIf(skipWithoutChromium())(`comments, @mentions, replies and assigning teammates in the demo, Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('comments');

  const open = async (name: string, screen: Screen) => {
    const page = await rig.open(name, undefined, screen);
    await page.signIn();
    await page.waitForLight('green');
    return page;
  };

  it(
    'Alice mentions Bob, Bob replies, Alice edits hers and assigns Bob with the picker: the bells and both windows say so',
    async () => {
      const alice = await open('Alice', LAPTOP);
      const bob = await open('Bob', LAPTOP);

      const task = await alice.addTask(TITLE);
      await alice.openDescription(task);
      await bob.waitForFields(task, { title: TITLE });
      await bob.openDescription(task);

      // Alice types "@Bo": the team's autocomplete lists Bob, and not Alice herself; Enter puts "@Bob " in the box.
      const box = alice.page.getByTestId('comment-input');
      await box.click();
      await box.pressSequentially('@Bo');
      const options = alice.page.getByTestId('mention-option');
      await options.first().waitFor();
      expect(await offered(alice), 'the people offered for "@Bo"').toEqual(['Bob']);
      expect(await box.getAttribute('aria-expanded')).toBe('true');
      await screenshot(alice, 'comments-laptop-autocomplete.png');
      await box.press('Enter');
      expect(await box.inputValue(), 'Enter picks Bob instead of sending').toBe('@Bob ');
      await alice.page.getByTestId('mention-list').waitFor({ state: 'hidden' });
      await box.pressSequentially('please check');
      await alice.page.getByTestId('comment-send').click();
      expect(await box.inputValue(), 'the box is empty once sent').toBe('');

      // Both windows: by Alice, just now, @Bob highlighted; Bob's bell counts the mention.
      for (const page of [alice, bob]) {
        const sent = comment(page, '@Bob please check');
        await sent.waitFor();
        await waitForText(page, sent.getByTestId('comment-author'), 'Alice', 'the comment author');
        await waitForText(page, sent.getByTestId('comment-time'), 'just now', 'the comment time');
        await waitForText(page, sent.getByTestId('mention'), '@Bob', 'the highlighted mention');
        expect(await sent.getByTestId('mention').getAttribute('data-user-id'), 'the mention is of Bob').toBe('bob');
      }
      const aliceComment = (await comment(alice, '@Bob please check').getAttribute('data-comment-id'))!;
      await waitForUnread(bob, 1);
      await expectNotification(bob, 'Alice mentioned you', 'mention');
      await markAllRead(bob);

      // Bob replies from his window: Alice's bell gets the reply, and it shows under her comment in both windows.
      await thread(bob, aliceComment).getByTestId('comment-reply').first().click();
      const reply = bob.page.getByTestId('reply-input');
      await reply.waitFor();
      expect(await reply.evaluate((input) => input === document.activeElement), 'the reply box has the focus').toBe(true);
      await reply.pressSequentially('On it, sizes tomorrow');
      await bob.page.getByTestId('reply-send').click();
      await reply.waitFor({ state: 'detached' });
      await waitForUnread(alice, 1);
      await expectNotification(alice, 'Bob replied to your comment', 'reply');
      await markAllRead(alice);
      for (const page of [alice, bob]) {
        const replied = thread(page, aliceComment).getByTestId('comment-replies').getByTestId('comment').filter({ hasText: 'On it, sizes tomorrow' });
        await replied.waitFor();
        expect(await replied.getAttribute('data-reply'), `${page.name} sees a reply`).toBe('true');
        await waitForText(page, replied.getByTestId('comment-author'), 'Bob', 'the reply author');
        await waitForText(page, replied.getByTestId('comment-time'), 'just now', 'the reply time');
        const top = (await comment(page, '@Bob please check').first().getByTestId('comment-text').boundingBox())!;
        const under = (await replied.getByTestId('comment-text').boundingBox())!;
        expect(under.x - top.x, `${page.name}: the reply is indented under the comment`).toBeGreaterThanOrEqual(16);
        expect(under.y, `${page.name}: the reply is under the comment`).toBeGreaterThan(top.y);
      }
      await screenshot(alice, 'comments-laptop-thread.png');

      // Bob has no Edit or Delete on Alice's comment, and has them on his own reply.
      const alicesInBob = bob.detail.locator(`[data-testid="comment"][data-comment-id="${aliceComment}"]`);
      expect(await alicesInBob.getByTestId('comment-edit').count(), "Bob cannot edit Alice's comment").toBe(0);
      expect(await alicesInBob.getByTestId('comment-delete').count(), "Bob cannot delete Alice's comment").toBe(0);
      const bobsReply = comment(bob, 'On it, sizes tomorrow');
      expect(await bobsReply.getByTestId('comment-edit').count(), 'Bob can edit his own reply').toBe(1);

      // Alice edits hers: Bob's window shows the new text and "(edited)".
      const alicesOwn = alice.detail.locator(`[data-testid="comment"][data-comment-id="${aliceComment}"]`);
      expect(await alicesOwn.getByTestId('comment-edited').count(), 'not edited yet').toBe(0);
      await alicesOwn.getByTestId('comment-edit').click();
      const edit = alice.page.getByTestId('comment-edit-input');
      expect(await edit.inputValue(), 'the edit starts from the text').toBe('@Bob please check');
      await edit.fill('@Bob please check the sizes');
      await alice.page.getByTestId('comment-edit-send').click();
      await edit.waitFor({ state: 'detached' });
      await waitForText(bob, alicesInBob.getByTestId('comment-text'), '@Bob please check the sizes', 'the edited comment');
      await waitForText(bob, alicesInBob.getByTestId('comment-edited'), '(edited)', 'the edited mark');
      await waitForText(alice, alicesOwn.getByTestId('comment-edited'), '(edited)', 'the edited mark');
      expect(await alicesInBob.getByTestId('comment-edit').count(), 'still no Edit for Bob on hers').toBe(0);

      // Alice assigns the task to Bob with the picker (Bob has gone back to the board, so it is unread for him).
      await bob.page.getByTestId('close-description').click();
      await bob.detail.waitFor({ state: 'detached' });
      const picker = alice.detailField('assignee');
      expect(await picker.locator('option').allTextContents(), 'the picker offers nobody and the team').toEqual(['Nobody', 'Alice (you)', 'Bob']);
      await picker.selectOption({ label: 'Bob' });
      await alice.waitForFields(task, { assignee: 'bob' });
      await bob.waitForFields(task, { assignee: 'bob' });
      const shown = (page: DemoPage) => page.field(task, 'assignee').evaluate((select: HTMLSelectElement) => select.selectedOptions[0]?.textContent);
      expect(await shown(alice), 'Alice sees Bob assigned').toBe('Bob');
      expect(await shown(bob), 'Bob sees himself assigned').toBe('Bob (you)');
      await waitForUnread(bob, 1);
      await expectNotification(bob, `Alice assigned you '${TITLE}'`, 'assignment');

      // Deleting: Alice's comment stays as "Comment deleted" while Bob's reply hangs off it; his goes, and so does it.
      await bob.openDescription(task);
      await alicesOwn.getByTestId('comment-delete').click();
      await alicesOwn.getByTestId('comment-delete-confirm').click();
      for (const page of [alice, bob]) {
        await waitForText(page, thread(page, aliceComment).getByTestId('comment-text').first(), 'Comment deleted', 'the deleted comment');
        await comment(page, 'On it, sizes tomorrow').waitFor();
      }
      expect(await alicesInBob.getByTestId('comment-edited').count(), 'a deleted comment is not "edited"').toBe(0);
      await bobsReply.getByTestId('comment-delete').click();
      await bobsReply.getByTestId('comment-delete-confirm').click();
      for (const page of [alice, bob]) {
        await thread(page, aliceComment).waitFor({ state: 'detached' });
        await expect.poll(() => page.detail.getByTestId('comment').count(), { message: `${page.name}: no comment left` }).toBe(0);
      }

      expect(alice.errors, "Alice's page errors").toEqual([]);
      expect(bob.errors, "Bob's page errors").toEqual([]);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it('on a 390×844 phone: the comment box with the autocomplete open stays in the screen, and a tap picks', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    // Alice and Bob of the first test are still signed in: the team Carol can mention.
    const carol = await open('Carol', PHONE);
    await carol.addTask('Call the printer');
    await carol.editor.waitFor();
    const box = carol.page.getByTestId('comment-input');
    await box.scrollIntoViewIfNeeded();
    await box.tap();
    await box.pressSequentially('Ask @');
    const options = carol.page.getByTestId('mention-option');
    await options.first().waitFor();
    expect(await offered(carol), 'the team, not Carol').toEqual(['Alice', 'Bob']);
    await expectNoHorizontalOverflow(carol, 'the autocomplete open', PHONE.width);
    const list = (await carol.page.getByTestId('mention-list').boundingBox())!;
    expect(list.x >= -0.5 && list.x + list.width <= PHONE.width + 0.5, `the list (${Math.round(list.x)}, ${Math.round(list.width)} px) is inside the screen`).toBe(true);
    for (const option of await options.all()) await expectTappable(option, `${await option.getAttribute('data-user-id')} in the list`, { click: false });
    await screenshot(carol, 'comments-phone-autocomplete.png');

    await options.filter({ hasText: 'Bob' }).tap();
    expect(await box.inputValue(), 'the tap puts @Bob in the box').toBe('Ask @Bob ');
    expect(await box.evaluate((input) => input === document.activeElement), 'the box keeps the focus').toBe(true);
    await box.pressSequentially('for two quotes');
    await carol.page.getByTestId('comment-send').tap();
    const sent = comment(carol, 'Ask @Bob for two quotes');
    await waitForText(carol, sent.getByTestId('mention'), '@Bob', 'the highlighted mention');
    await expectNoHorizontalOverflow(carol, 'a comment sent', PHONE.width);
    await expectTappable(sent.getByTestId('comment-reply'), 'Reply', { click: false });
    await expectTappable(sent.getByTestId('comment-edit'), 'Edit', { click: false });
    await expectTappable(sent.getByTestId('comment-delete'), 'Delete', { click: false });

    // A reply box, indented in the thread, still fits.
    await sent.getByTestId('comment-reply').tap();
    await carol.page.getByTestId('reply-input').waitFor();
    await expectNoHorizontalOverflow(carol, 'a reply box open', PHONE.width);
    await expectTappable(carol.page.getByTestId('reply-send'), 'Reply (send)', { click: false });
    await expectTappable(carol.page.getByTestId('reply-cancel'), 'Cancel the reply', { click: false });
    await screenshot(carol, 'comments-phone-reply.png');
    await carol.page.getByTestId('reply-cancel').tap();

    // The assignee picker is a 44 px control offering the team.
    await expectTappable(carol.detailField('assignee'), 'the assignee picker', { click: false });
    expect(await carol.detailField('assignee').locator('option').allTextContents()).toEqual(['Nobody', 'Alice', 'Bob', 'Carol (you)']);

    expect(carol.errors, "Carol's page errors").toEqual([]);
  });

  it(
    'each task Alice assigns Bob is read when he opens it, and his light turns green with nothing pending',
    async () => {
      // A reported defect: the read mark of a notification the server wrote sometimes stayed "1 pending" for good.
      // The server acknowledges such a mark within milliseconds, and the device's list of pending documents (which
      // counts the inbox, never on screen) kept the entry whose removal came while it was still being written.
      // The race is a matter of milliseconds, so the steps run several times over.
      const alice = rig.pages.find((page) => page.name === 'Alice')!;
      const bob = rig.pages.find((page) => page.name === 'Bob')!;
      await waitForUnread(bob, 1); // Carol's mention in the phone test
      await markAllRead(bob);
      if (await bob.detail.isVisible()) await bob.page.getByTestId('close-description').click();
      await bob.detail.waitFor({ state: 'detached' });
      for (let round = 1; round <= ASSIGNMENT_ROUNDS; round++) {
        const title = `Check the proofs, round ${round}`;
        const task = await alice.addTask(title);
        await bob.waitForFields(task, { title });
        await alice.field(task, 'assignee').selectOption({ label: 'Bob' });
        await waitForUnread(bob, 1);
        await bob.openDescription(task);
        await bob.page.getByTestId('bell-badge').waitFor({ state: 'detached' });
        await bob.waitForLight('green', { pending: 'none' });
        await bob.page.getByTestId('close-description').click();
        await bob.detail.waitFor({ state: 'detached' });
      }
    },
    SCENARIO_TIMEOUT_MS,
  );

  it('no page had an error', () => {
    for (const page of rig.pages) expect(page.errors, `${page.name}'s page errors`).toEqual([]);
  });
});
