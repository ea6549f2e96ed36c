/**
 * Issue 14 point 2 in real Chromium: the app backend revokes Bob (`server.revoke`, as `POST /api/revocations` does)
 * while his demo is open and synced. Within moments his status turns red ("Not authorized · access revoked"), the
 * copies of his open documents leave his browser's IndexedDB, and Alice goes on working. A downgrade to read keeps the
 * session: a change made then says "Read only · changes not sent" and never reaches anyone. Needs the demo built and
 * Chromium.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, skipWithoutChromium } from './chromium.js';
import { UI_TIMEOUT_MS, type DemoPage } from './demoPage.js';
import { demoRig } from './demoRig.js';

/** The IndexedDB databases holding document copies of the page's user (`concord/<tenant>.<user>/<document>`). */
function copies(page: DemoPage, namespace: string): Promise<string[]> {
  return page.page.evaluate(
    async (prefix) => (await indexedDB.databases()).map((info) => info.name ?? '').filter((name) => name.startsWith(prefix)),
    `concord/${namespace}/`,
  );
}

describe.skipIf(skipWithoutChromium())(`a revoked user, in Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('revocation');

  it('sees "Not authorized" and loses the copies of his open documents; Alice goes on', { timeout: 120_000 }, async () => {
    const alice = await rig.open('Alice');
    const bob = await rig.open('Bob');
    await alice.signIn();
    await bob.signIn();
    const taskId = await alice.addTask('Quarterly numbers');
    await bob.waitForFields(taskId, { title: 'Quarterly numbers' });
    await bob.waitForLight('green', { pending: 'none' });
    const before = await copies(bob, 'demo.bob');
    expect(before.length, 'Bob keeps copies of his open documents').toBeGreaterThan(0);

    const { sessions } = await rig.server.revoke({ user: 'bob', tenant: 'demo' });
    expect(sessions).toBeGreaterThan(0);
    await bob.waitForLight('red');
    expect(await bob.status.textContent()).toMatch(/Not authorized · access revoked/);
    await waitFor(async () => (await copies(bob, 'demo.bob')).length === 0, {
      timeoutMs: UI_TIMEOUT_MS,
      message: `Bob's document copies (${before.join(', ')}) to leave his browser`,
    });

    await alice.addTask('After Bob left');
    await alice.waitForLight('green', { pending: 'none' });
    expect(await copies(alice, 'demo.alice')).not.toEqual([]);
    expect([...alice.errors, ...bob.errors]).toEqual([]);
  });

  it('downgraded to read, sees "Read only · changes not sent" for a change he makes; Alice never gets it', { timeout: 120_000 }, async () => {
    const alice = await rig.open('Alice');
    const carol = await rig.open('Carol');
    await alice.signIn();
    await carol.signIn();
    const taskId = await alice.addTask('Budget review');
    await carol.waitForFields(taskId, { title: 'Budget review', status: 'todo' });
    await carol.waitForLight('green', { pending: 'none' });

    const { sessions } = await rig.server.revoke({ user: 'carol', tenant: 'demo', access: 'read' });
    expect(sessions).toBeGreaterThan(0);
    await carol.field(taskId, 'status').selectOption('done');
    await carol.waitForLight('yellow', { pending: 'some' });
    expect(await carol.status.textContent()).toMatch(/Read only · changes not sent/);

    // Alice's own change still reaches Carol (the session stays open, read-only); Carol's never reaches Alice.
    await alice.field(taskId, 'assignee').selectOption({ label: 'Alice (you)' });
    await carol.waitForFields(taskId, { assignee: 'alice' });
    await alice.waitForLight('green', { pending: 'none' });
    expect(await alice.field(taskId, 'status').inputValue()).toBe('todo');
    expect([...alice.errors, ...carol.errors]).toEqual([]);
  });
});
