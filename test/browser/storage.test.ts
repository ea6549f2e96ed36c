/**
 * The local copy in real Chromium (C11):
 * - 60 reloads of the demo (CONCORD_TEST_RELOADS), each with an edit: the IndexedDB copy of the project stays a handful of records (the
 *   figure is logged; stock y-indexeddb keeps every record of a short session);
 * - with the server down, the browser's storage quota is made tiny (CDP Storage.overrideQuotaForOrigin): an edit is
 *   then only in memory, the indicator says "Not saved on this device" and closing the page asks first
 *   (beforeunload); once the server is back the change reaches it and closing no longer asks, and once the quota is
 *   back the copy is saved on the device again (its bytes are measured).
 *
 * Screenshot: test/artifacts/not-saved-on-device.png. Needs the demo built and Chromium.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '@concord/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { CHROMIUM_PATH, launchChromium, skipWithoutChromium, type LaunchedChromium } from './chromium.js';
import { DemoPage, UI_TIMEOUT_MS } from './demoPage.js';

const DEMO_DIST = fileURLToPath(new URL('../../demo/dist/', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
/**
 * 60 reloads pass the compaction on load (after 16 records) three times or more; without it the copy would hold 60
 * records or more. CONCORD_TEST_RELOADS=200 runs the long version (2–16 records measured).
 */
const RELOADS = Number(process.env.CONCORD_TEST_RELOADS ?? 60);

type RunningServer = Awaited<ReturnType<typeof startServer>>;

/** Records and bytes in the `updates` store of every Concord database of the page's origin. */
function measureLocalCopies(page: DemoPage): Promise<Record<string, { records: number; bytes: number }>> {
  return page.page.evaluate(async () => {
    const result: Record<string, { records: number; bytes: number }> = {};
    for (const { name } of await indexedDB.databases()) {
      if (!name?.startsWith('concord/')) continue;
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const request = indexedDB.open(name);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
      const values = await new Promise<Uint8Array[]>((resolve, reject) => {
        const request = db.transaction('updates').objectStore('updates').getAll();
        request.onsuccess = () => resolve(request.result as Uint8Array[]);
        request.onerror = () => reject(request.error);
      });
      db.close();
      result[name] = { records: values.length, bytes: values.reduce((sum, value) => sum + value.byteLength, 0) };
    }
    return result;
  });
}

// Skipped, with a loud notice, only where Chromium is missing outside CI; under CI=true the gate fails instead (chromium.ts).
describe.skipIf(skipWithoutChromium())(`the local copy in Chromium (${CHROMIUM_PATH})`, () => {
  let dataDir: string;
  let server: RunningServer | null = null;
  let port = 0;
  const start = async () => {
    server = await startServer({ port, host: '127.0.0.1', dataDir, staticDir: DEMO_DIST, logLevel: 'silent' });
    port = server.port;
    return server;
  };
  let chromium: LaunchedChromium | null = null;
  let carol: DemoPage;

  beforeAll(async () => {
    if (!existsSync(join(DEMO_DIST, 'index.html'))) {
      throw new Error(`the demo is not built (no ${DEMO_DIST}index.html): run npm run build first`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), 'concord-storage-'));
    const { url } = await start();
    chromium = await launchChromium();
    carol = await DemoPage.open(chromium.browser, 'Carol', url);
    await carol.signIn();
  });

  afterAll(async () => {
    await carol?.close();
    await chromium?.close();
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(`stays a handful of records over ${RELOADS} reloads with an edit each`, { timeout: 240_000 }, async () => {
    const taskId = await carol.addTask('Reload me');
    const started = Date.now();
    for (let reload = 1; reload <= RELOADS; reload++) {
      await carol.reload();
      await carol.field(taskId, 'title').fill(`Reload me ${reload}`);
      await carol.waitForLight('green', { pending: 'none' });
    }
    const copies = await measureLocalCopies(carol);
    const project = copies['concord/demo.carol/project-demo'];
    console.log(
      `IndexedDB after ${RELOADS} reloads with an edit each (${Math.round((Date.now() - started) / 1000)} s): ` +
        Object.entries(copies)
          .map(([name, { records, bytes }]) => `${name}: ${records} records, ${bytes} bytes`)
          .join('; '),
    );
    expect(project).toBeDefined();
    expect(project!.records).toBeLessThanOrEqual(20);
    expect(project!.bytes).toBeLessThan(64 * 1024);
    expect(carol.errors, "Carol's page errors").toEqual([]);
  });

  it('says "Not saved on this device" when the quota is used up offline, and asks before the page closes', { timeout: 120_000 }, async () => {
    if (!chromium || !server) throw new Error('the browser or the server did not start');
    // Chromium fixes an origin's quota when the origin first stores something, so Dave's browser gets a small quota
    // before his first visit: enough for the app (its service worker, whose cache would not fit, is blocked), not for
    // the long text he pastes.
    const context = await chromium.browser.newContext({ serviceWorkers: 'block', viewport: { width: 1280, height: 600 } });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    const origin = new URL(server.url).origin;
    await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 512 * 1024 });
    const dave = await DemoPage.inContext(context, 'Dave', server.url);
    await dave.signIn();
    await dave.waitForLight('green', { pending: 'none' }); // the project is loaded: the new row is the only new one
    const taskId = await dave.addTask('Write the minutes');
    await dave.openDescription(taskId);
    await dave.waitForLight('green', { pending: 'none' });
    await server.stop();
    server = null;
    await dave.waitForLight('red');

    const pasted = `Minutes of the meeting. ${'Everyone agreed on the plan. '.repeat(24_000)}`;
    await dave.editor.click();
    await dave.page.keyboard.insertText(pasted);
    await waitFor(async () => (await dave.status.textContent())?.includes('Not saved on this device'), {
      timeoutMs: UI_TIMEOUT_MS,
      message: 'the indicator to say the change is not saved on this device',
    });
    await dave.page.evaluate(() => scrollTo(0, 0));
    await dave.page.screenshot({ path: join(ARTIFACTS, 'not-saved-on-device.png') });

    // The change is neither on the server nor on the device: closing the page asks first (and Dave stays).
    const asked = new Promise<string>((resolve) =>
      dave.page.once('dialog', (dialog) => {
        resolve(dialog.type());
        void dialog.dismiss();
      }),
    );
    await dave.page.close({ runBeforeUnload: true });
    expect(await asked).toBe('beforeunload');
    expect(dave.page.isClosed()).toBe(false);

    // The server is back: the change reaches it, so closing no longer risks it (the device copy still fails).
    await start();
    await dave.waitForLight('red'); // still "Not saved on this device"
    await waitFor(async () => Number(await dave.status.getAttribute('data-pending')) === 0, {
      timeoutMs: 30_000,
      message: "Dave's change to reach the server",
    });
    const warns = await dave.page.evaluate(() => {
      const event = new Event('beforeunload', { cancelable: true });
      dispatchEvent(event);
      return event.defaultPrevented;
    });
    expect(warns).toBe(false);
    const erin = await DemoPage.open(chromium.browser, 'Erin', server!.url); // a newcomer: what the server has
    await erin.signIn();
    await erin.openDescription(taskId);
    await erin.waitForDescription('Minutes of the meeting.', 'Everyone agreed on the plan.');
    expect(erin.errors, "Erin's page errors").toEqual([]);
    await erin.close();

    // The quota is back: the retry writes the whole document to the device, and the indicator says so.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin });
    await waitFor(async () => !(await dave.status.textContent())?.includes('Not saved on this device'), {
      timeoutMs: 45_000, // the retry backs off up to 30 s
      message: 'the copy to be saved on the device again',
    });
    await dave.waitForLight('green', { pending: 'none' });
    const copies = await measureLocalCopies(dave);
    const task = Object.entries(copies).find(([name]) => name.endsWith(`/task-${taskId}`));
    expect(task?.[1].bytes ?? 0, `the pasted text is in the task's copy on the device: ${JSON.stringify(copies)}`).toBeGreaterThan(pasted.length / 2);
    expect(dave.errors, "Dave's page errors").toEqual([]);
    await context.close();
  });
});
