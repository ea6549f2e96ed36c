/**
 * C18 undo in the demo, in real Chromium against the real server serving the built demo. Alice and Bob, each in
 * their own browser context, on one task:
 *
 * - Alice changes the status, the assignee (picks Bob) and the title (typed), while Bob sets the due date;
 * - Ctrl+Z in the title input gives back the whole previous title, for Bob too, then the assignee, then the status;
 *   Bob's due date stays; Ctrl+Shift+Z and Ctrl+Y redo, and so do the Edit menu's undo and redo (`beforeinput`);
 * - Alice deletes the task: "Task deleted — Undo" brings it back, with every field, for Bob; Ctrl+Shift+Z deletes
 *   it again and Ctrl+Z restores it;
 * - in the description, Ctrl+Z is the editor's own undo of Alice's text, and never also the project's;
 * - the browser's own undo never ran (no `input` event of type historyUndo/historyRedo in Alice's page).
 *
 * Needs the demo built (`npm run build`) and Chromium (see ./chromium.ts: skipped loudly without it, fails on CI).
 */
import { describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, skipWithoutChromium } from './chromium.js';
import { demoRig } from './demoRig.js';

const SCENARIO_TIMEOUT_MS = 90_000;

/** Counts, in the page, every edit the browser's own undo or redo made (they arrive as `input` events). */
function watchBrowserUndo(): void {
  const seen: string[] = [];
  (window as unknown as { browserUndos: string[] }).browserUndos = seen;
  addEventListener(
    'input',
    (event) => {
      const { inputType } = event as InputEvent;
      if (inputType === 'historyUndo' || inputType === 'historyRedo') seen.push(inputType);
    },
    true,
  );
}

describe.skipIf(skipWithoutChromium())(`C18 undo in the demo, Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('undo');

  const open = async (name: string) => {
    const page = await rig.open(name);
    await page.page.addInitScript(watchBrowserUndo);
    await page.page.reload();
    await page.signIn();
    return page;
  };

  it(
    "Ctrl+Z undoes Alice's own field, title and delete for everyone, never Bob's change nor with the browser's undo",
    async () => {
      const alice = await open('Alice');
      const bob = await open('Bob');
      const keys = alice.page.keyboard;

      const task = await alice.addTask('Write the report');
      await bob.waitForFields(task, { title: 'Write the report', status: 'todo', assignee: '', due: '' });

      await alice.field(task, 'status').selectOption('doing');
      await alice.field(task, 'assignee').selectOption({ label: 'Bob' });
      await bob.field(task, 'due').fill('2026-12-24'); // Bob's own change, in between
      await alice.field(task, 'title').click();
      await keys.press('End');
      await keys.type(' by Friday');
      const edited = { title: 'Write the report by Friday', status: 'doing', assignee: 'bob', due: '2026-12-24' };
      await alice.waitForFields(task, edited);
      await bob.waitForFields(task, edited);

      // Still in the title input: the whole typed burst goes, then the assignee, then the status.
      await keys.press('Control+z');
      await bob.waitForFields(task, { ...edited, title: 'Write the report' });
      await alice.waitForFields(task, { ...edited, title: 'Write the report' });
      await keys.press('Control+z');
      await bob.waitForFields(task, { ...edited, title: 'Write the report', assignee: '' });
      await keys.press('Control+z');
      const undone = { title: 'Write the report', status: 'todo', assignee: '', due: '2026-12-24' };
      await bob.waitForFields(task, undone);
      await alice.waitForFields(task, undone);

      await keys.press('Control+Shift+z');
      await bob.waitForFields(task, { ...undone, status: 'doing' });
      await keys.press('Control+y');
      await bob.waitForFields(task, { ...undone, status: 'doing', assignee: 'bob' });
      const kept = { ...undone, status: 'doing', assignee: 'bob' };

      // The Edit menu's undo and redo (and some keyboards') arrive as `beforeinput`: the same history, not the browser's.
      const editMenu = (inputType: 'historyUndo' | 'historyRedo') =>
        alice.field(task, 'title').evaluate((input, type) => {
          input.dispatchEvent(new InputEvent('beforeinput', { inputType: type, bubbles: true, cancelable: true }));
        }, inputType);
      await editMenu('historyUndo');
      await bob.waitForFields(task, { ...kept, assignee: '' });
      await editMenu('historyRedo');
      await bob.waitForFields(task, kept);

      // A delete, at once and for everyone, and its toast's Undo.
      await alice.row(task).getByTestId('delete-task').click();
      await bob.row(task).waitFor({ state: 'detached' });
      const toast = alice.page.getByTestId('deleted-toast');
      await expect.poll(() => toast.textContent()).toContain('Task deleted');
      await toast.getByTestId('undo-delete').click();
      await bob.waitForFields(task, kept);
      await alice.waitForFields(task, kept);
      await toast.waitFor({ state: 'detached' });

      // Redo deletes it again, undo brings it back, from the keyboard with nothing focused.
      await alice.page.locator('body').click({ position: { x: 2, y: 2 } });
      await keys.press('Control+Shift+z');
      await bob.row(task).waitFor({ state: 'detached' });
      await keys.press('Control+z');
      await bob.waitForFields(task, kept);

      // In the description, Ctrl+Z is the editor's own undo of Alice's text: the project's history is not also undone,
      // and with nothing left to undo there, nothing happens (neither the project's undo nor the browser's).
      await alice.openDescription(task);
      await alice.typeInDescription('Draft outline');
      await alice.waitForDescription('Draft outline');
      // Typing is one step when it comes quickly; a slow machine may have made it two.
      for (let presses = 0; (await alice.editor.textContent())?.includes('Draft'); presses += 1) {
        expect(presses, 'Ctrl+Z in the description undid the typing').toBeLessThan(5);
        await keys.press('Control+z');
      }
      await keys.press('Control+z');
      await alice.waitForFields(task, kept);
      await bob.waitForFields(task, kept);

      const browserUndos = await alice.page.evaluate(() => (window as unknown as { browserUndos: string[] }).browserUndos);
      expect(browserUndos, "the browser's own undo edited an input").toEqual([]);
      expect(alice.errors).toEqual([]);
      expect(bob.errors).toEqual([]);
    },
    SCENARIO_TIMEOUT_MS,
  );
});
