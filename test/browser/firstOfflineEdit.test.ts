/**
 * Issue 13, defect 1, in real Chromium: the first edit after the connection drops was missing from the outbox and
 * the pending count ("Everything you changed is on the server"), Alice never got it, and signing out gave no
 * warning. Bob reaches the demo through a TCP proxy the test controls; the connection goes away in each of the three
 * ways people meet, and Bob changes a due date at once, before his client can know:
 *
 * - a clean close (the proxy closes both sides with FIN);
 * - a silent drop (the proxy drops every byte and closes nothing);
 * - the browser going offline (Playwright's `setOffline`, which leaves the socket open and frozen).
 *
 * Each time his indicator counts the edit and his outbox names it; signing out asks first (and he stays); when the
 * network is back Alice sees the new date and Bob's outbox empties. Needs the demo built and Chromium.
 */
import { describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, skipWithoutChromium } from './chromium.js';
import { UI_TIMEOUT_MS, type DemoPage } from './demoPage.js';
import { demoRig } from './demoRig.js';

const SCENARIO_TIMEOUT_MS = 120_000;

type Drop = 'a clean close' | 'a silent drop' | 'the browser going offline';
const DROPS: readonly Drop[] = ['a clean close', 'a silent drop', 'the browser going offline'];

describe.skipIf(skipWithoutChromium())(`the first edit after the connection drops, in Chromium (${CHROMIUM_PATH})`, () => {
  const rig = demoRig('first-edit');

  const outboxEntries = async (page: DemoPage) => {
    await page.openMenu();
    const panel = page.page.getByTestId('outbox-panel');
    if (!(await panel.isVisible())) await page.page.getByTestId('outbox-toggle').click();
    await panel.waitFor();
    const entries = await page.page.getByTestId('outbox-entry').allTextContents();
    await page.page.getByTestId('outbox-toggle').click(); // closed again, so the next look opens it afresh
    await page.closeMenu();
    return entries;
  };

  for (const drop of DROPS) {
    it(`is counted, listed and warned about after ${drop}, and reaches Alice when the network is back`, { timeout: SCENARIO_TIMEOUT_MS }, async () => {
      const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port: rig.server.port });
      const alice = await rig.open('Alice');
      const bob = await rig.open('Bob', `http://${proxy.host}:${proxy.port}/`);
      await alice.signIn();
      await bob.signIn();
      const title = `Renew lease (${drop})`;
      const taskId = await alice.addTask(title);
      await bob.waitForFields(taskId, { title });
      await bob.waitForLight('green', { pending: 'none' });

      if (drop === 'a clean close') proxy.hangUp();
      else if (drop === 'a silent drop') proxy.blackhole();
      else await bob.context.setOffline(true);
      await bob.field(taskId, 'due').fill('2026-12-24');

      await waitFor(async () => (await bob.pending()) >= 1, { timeoutMs: UI_TIMEOUT_MS, message: `Bob's indicator to count the edit after ${drop}` });
      expect(await outboxEntries(bob)).toContain(`due of '${title}' → 2026-12-24`);
      expect(await bob.page.getByTestId('outbox').getAttribute('data-total')).toBe('1');

      // Signing out would delete the edit with his copy: the demo asks, and he stays.
      let warning = '';
      bob.page.once('dialog', (dialog) => {
        warning = dialog.message();
        void dialog.dismiss();
      });
      await bob.openMenu();
      await bob.page.getByTestId('sign-out').click();
      await waitFor(() => warning, { message: 'a warning before signing out' });
      expect(warning).toMatch(/1 of your changes are not on the server/);
      await bob.closeMenu();
      await alice.waitForFields(taskId, { due: '' });

      if (drop === 'the browser going offline') await bob.context.setOffline(false);
      proxy.cut(); // connections the outage left behind are reset, as a router that lost them would
      proxy.restore();
      await alice.waitForFields(taskId, { due: '2026-12-24' });
      await bob.waitForLight('green', { pending: 'none' });
      expect(await outboxEntries(bob)).toEqual([]);
      expect([...alice.errors, ...bob.errors]).toEqual([]);
      await proxy.close();
    });
  }
});
