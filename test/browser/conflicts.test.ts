/**
 * Issue 13, point 3, in real Chromium: conflict notices and warnings before overwriting, in the demo.
 *
 * - Bob reaches the demo through a TCP proxy. His network is cut; he sets a task Done; a moment later Alice, online,
 *   sets it Doing. When he is back both read Doing (the later write) and Bob sees a notice naming Alice, the status,
 *   her Doing and his Done. "Keep mine" makes both read Done; a second round with "Keep theirs" leaves Doing and the
 *   notice goes.
 * - Bob's network goes silently (he does not know yet) and both change the status: the notice says "at the same
 *   time as you"; ✕ closes it and leaves Alice's.
 * - The same notice on a phone (390×844): no sideways scroll, its buttons at least 40 px and clickable.
 * - Alice focuses a task's title: Bob sees "Alice is editing" on it (card and detail); his change is refused with a
 *   warning, Alice keeps her title, and "Change anyway" writes his and Alice sees it.
 *
 * Screenshots: test/artifacts/conflict-notice.png (laptop) and conflict-notice-phone.png; the phone one is copied to
 * docs/conflict-notice.png when missing there or with `CONCORD_DOCS_SCREENSHOTS=1`. Needs the demo built and
 * Chromium (see ./chromium.ts).
 */
import type { Locator } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, skipWithoutChromium } from './chromium.js';
import { UI_TIMEOUT_MS, type DemoPage, type Screen } from './demoPage.js';
import { demoRig, screenshot } from './demoRig.js';

const SCENARIO_TIMEOUT_MS = 120_000;
const PHONE: Screen = { width: 390, height: 844, phone: true };
const MIN_TAP_PX = 40;

describe.skipIf(skipWithoutChromium())(`conflict notices and field locks in Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('conflicts');

  /** Alice on a laptop, straight to the server; Bob through a proxy the test controls, on `bobScreen`. */
  const meet = async (bobScreen?: Screen) => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: rig.server.port }); // closed when the test ends
    const alice = await rig.open('Alice');
    const bob = await rig.open('Bob', `http://${proxy.host}:${proxy.port}/`, bobScreen);
    await alice.signIn();
    await bob.signIn();
    return { proxy, alice, bob };
  };

  /**
   * Bob's network goes; he sets the status to `his`; a moment later Alice, online, sets `hers`; the network comes
   * back and both read hers, the later write.
   */
  const concurrentStatus = async (
    { proxy, alice, bob }: { proxy: TcpProxy; alice: DemoPage; bob: DemoPage },
    taskId: string,
    his: string,
    hers: string,
  ) => {
    await bob.waitForLight('green', { pending: 'none' });
    proxy.cut();
    await bob.waitForLight('red');
    await bob.field(taskId, 'status').selectOption(his);
    await bob.waitForLight('red', { pending: 'some' });
    await alice.field(taskId, 'status').selectOption(hers);
    await alice.waitForLight('green', { pending: 'none' });
    proxy.restore();
    await bob.page.evaluate(() => window.dispatchEvent(new Event('online'))); // reconnect now, not after the backoff
    await bob.waitForLight('green', { pending: 'none' });
    await alice.waitForFields(taskId, { status: hers });
    await bob.waitForFields(taskId, { status: hers });
  };

  /** The one conflict notice Bob sees, once it reads as expected. */
  const noticeOf = async (bob: DemoPage, ...fragments: string[]) => {
    const notice = bob.page.getByTestId('conflict-notice');
    const text = await waitFor(
      async () => {
        const seen = await notice.getByTestId('conflict-text').allTextContents();
        if (seen.length === 1 && fragments.every((fragment) => seen[0]!.includes(fragment))) return seen[0];
        throw new Error(`Bob's notices read ${JSON.stringify(seen)}`);
      },
      { timeoutMs: UI_TIMEOUT_MS, message: `Bob's conflict notice to name ${JSON.stringify(fragments)}` },
    );
    return { notice, text };
  };

  it("Bob's offline Done loses to Alice's later Doing; he is told, keeps his once and hers the next time", { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const people = await meet();
    const { alice, bob } = people;
    const taskId = await alice.addTask('Pay invoice');
    await bob.waitForFields(taskId, { title: 'Pay invoice', status: 'todo' });

    await concurrentStatus(people, taskId, 'done', 'doing');
    const { notice, text } = await noticeOf(bob, 'Alice');
    expect(text).toBe("While you were offline Alice set status of 'Pay invoice' to Doing; your Done was replaced.");
    expect(await alice.page.getByTestId('conflict-notice').count(), 'Alice won: no notice for her').toBe(0);
    await screenshot(bob, 'conflict-notice.png');

    // Keep mine: a new write, later than Alice's, so it wins everywhere.
    await notice.getByTestId('keep-mine').click();
    await notice.waitFor({ state: 'detached' });
    await alice.waitForFields(taskId, { status: 'done' });
    await bob.waitForFields(taskId, { status: 'done' });

    // Again, and this time Bob keeps Alice's.
    await concurrentStatus(people, taskId, 'todo', 'doing');
    const second = await noticeOf(bob, 'Alice', 'Doing', 'your To do was replaced');
    await second.notice.getByTestId('keep-theirs').click();
    await second.notice.waitFor({ state: 'detached' });
    await bob.waitForLight('green', { pending: 'none' });
    await alice.waitForFields(taskId, { status: 'doing' });
    await bob.waitForFields(taskId, { status: 'doing' });
    expect(await bob.page.getByTestId('conflict-notice').count()).toBe(0);
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });

  it('a change that crossed Alice\'s while Bob did not know his network was gone is told as "at the same time"', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const { proxy, alice, bob } = await meet();
    const taskId = await alice.addTask('Order chairs');
    await bob.waitForFields(taskId, { title: 'Order chairs', status: 'todo' });
    await bob.waitForLight('green', { pending: 'none' });

    // Silently gone: Bob's client still believes it is connected when both write.
    proxy.blackhole();
    await bob.field(taskId, 'status').selectOption('done');
    await waitFor(async () => (await bob.pending()) >= 1, { timeoutMs: UI_TIMEOUT_MS, message: "Bob's change to be pending" });
    await alice.field(taskId, 'status').selectOption('doing');
    await alice.waitForLight('green', { pending: 'none' });
    expect(await bob.light(), 'Bob has not noticed the lost network yet').not.toBe('red');
    proxy.restore(); // the silent connection stays dead: Bob's client notices (within 10 s) and reconnects
    await waitFor(async () => (await bob.light()) === 'green' && (await bob.pending()) === 0, {
      timeoutMs: 2 * UI_TIMEOUT_MS,
      message: 'Bob to notice the dead connection, reconnect and send his change',
    });
    await bob.waitForFields(taskId, { status: 'doing' });
    const { notice, text } = await noticeOf(bob, 'Alice');
    expect(text).toBe("Alice set status of 'Order chairs' to Doing at the same time as you; your Done was replaced.");
    await notice.getByTestId('conflict-close').click();
    await notice.waitFor({ state: 'detached' });
    await alice.waitForFields(taskId, { status: 'doing' });
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });

  it('the notice fits a phone (390×844): no sideways scroll, buttons of 40 px that work', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const people = await meet(PHONE);
    const { alice, bob } = people;
    const taskId = await alice.addTask('Renew the office lease before the end of the month');
    await bob.waitForFields(taskId, { status: 'todo' });

    await concurrentStatus(people, taskId, 'done', 'doing');
    const { notice } = await noticeOf(bob, 'While you were offline Alice set status of', 'to Doing; your Done was replaced.');
    const seen = await bob.page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    expect(seen.innerWidth, 'the window is the phone screen').toBe(PHONE.width);
    expect(seen.scrollWidth, `the page is ${seen.scrollWidth} px wide with the notice shown`).toBeLessThanOrEqual(seen.innerWidth);
    for (const id of ['keep-mine', 'keep-theirs', 'conflict-close']) {
      const box = (await notice.getByTestId(id).boundingBox())!;
      expect(box, `${id} is on screen`).not.toBeNull();
      expect(Math.min(box.width, box.height), `${id} is ${box.width}×${box.height} px`).toBeGreaterThanOrEqual(MIN_TAP_PX);
      expect(box.x >= 0 && box.x + box.width <= PHONE.width && box.y >= 0 && box.y + box.height <= PHONE.height, `${id} inside the window`).toBe(true);
      await notice.getByTestId(id).click({ trial: true }); // nothing covers it
    }
    await screenshot(bob, 'conflict-notice-phone.png', 'conflict-notice.png');

    await notice.getByTestId('keep-mine').tap();
    await notice.waitFor({ state: 'detached' });
    await alice.waitForFields(taskId, { status: 'done' });
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });

  it('a title Alice is editing shows her name to Bob, refuses his change, and "Change anyway" writes it', { timeout: SCENARIO_TIMEOUT_MS }, async () => {
    const { alice, bob } = await meet();
    const taskId = await alice.addTask('Book the venue');
    await bob.waitForFields(taskId, { title: 'Book the venue' });
    await bob.openDescription(taskId);

    await alice.field(taskId, 'title').focus();
    const titleEditor = (scope: Locator) =>
      scope.locator('.field', { has: bob.page.getByTestId('field-title') }).getByTestId('field-editor').filter({ hasText: 'Alice is editing' });
    await titleEditor(bob.row(taskId)).waitFor();
    await titleEditor(bob.detail).waitFor();

    await bob.field(taskId, 'title').fill('Book the venue and the caterer');
    const warning = bob.row(taskId).getByTestId('lock-warning');
    await warning.filter({ hasText: 'Alice is editing this' }).waitFor();
    expect(await bob.field(taskId, 'title').inputValue(), 'what Bob typed stays in his field').toBe('Book the venue and the caterer');
    await bob.waitForLight('green', { pending: 'none' });
    expect(await alice.field(taskId, 'title').inputValue(), 'the refused change reached nobody').toBe('Book the venue');
    await screenshot(bob, 'field-locked.png');

    await warning.getByTestId('change-anyway').click();
    await warning.waitFor({ state: 'detached' });
    await alice.waitForFields(taskId, { title: 'Book the venue and the caterer' });
    await bob.waitForFields(taskId, { title: 'Book the venue and the caterer' });

    // Once Alice leaves the field it is free again: Bob's next change goes through without a warning.
    await alice.field(taskId, 'title').blur();
    await bob.row(taskId).getByTestId('field-editor').waitFor({ state: 'detached' });
    await bob.field(taskId, 'title').fill('Book the venue (done)');
    await alice.waitForFields(taskId, { title: 'Book the venue (done)' });
    expect(await bob.page.getByTestId('lock-warning').count()).toBe(0);
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });
});
