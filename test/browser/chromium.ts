/**
 * The system Chromium for browser tests, driven by playwright-core (which cannot download a browser here).
 *
 * The rule of SPEC §2: a suite whose dependency is missing is skipped locally with a loud notice, and fails under
 * `CI=true`. Chromium runs headless with its profile, config and cache in a temp dir, so a run writes nothing to
 * the user's home.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why browser tests cannot run here, or null when Chromium is present. */
export function chromiumMissing(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  return `no Chromium at ${CHROMIUM_PATH}: install it (apt-get install chromium) or set CHROMIUM_PATH`;
}

/**
 * Whether to skip the browser suite: only when Chromium is missing and this is not CI. Prints a notice that cannot
 * be missed in the test output, so a skipped suite is never mistaken for a passing one.
 */
export function skipWithoutChromium(): boolean {
  const missing = chromiumMissing();
  if (!missing || process.env.CI) return false;
  const line = '!'.repeat(100);
  console.warn(`\n${line}\n!! SKIPPING the browser end-to-end suite: ${missing}\n!! (with CI=true this fails instead)\n${line}\n`);
  return true;
}

export interface LaunchedChromium {
  readonly browser: Browser;
  close(): Promise<void>;
}

/** Writes one PNG showing `images` (PNG screenshots) side by side, each under its caption: two windows in one picture. */
export async function saveSideBySide(browser: Browser, images: ReadonlyArray<{ caption: string; png: Buffer }>, path: string): Promise<void> {
  const context = await browser.newContext({ viewport: { width: 1280 * images.length + 48, height: 800 } });
  try {
    const page = await context.newPage();
    const figures = images
      .map(({ caption, png }) => {
        const label = caption.replace(/[<&>]/g, '');
        return `<figure><figcaption>${label}</figcaption><img src="data:image/png;base64,${png.toString('base64')}"></figure>`;
      })
      .join('');
    await page.setContent(
      `<style>body{margin:0;display:flex;gap:16px;padding:8px;background:#343a40;font:14px sans-serif}` +
        `figure{margin:0}figcaption{color:#fff;padding:4px 0}img{display:block;border:1px solid #868e96}</style>${figures}`,
    );
    await page.screenshot({ path, fullPage: true });
  } finally {
    await context.close();
  }
}

/**
 * Chromium on a persistent profile in `userDataDir` (a person's browser: closing the context closes the browser, and
 * launching again on the same directory brings back its IndexedDB, localStorage and service workers).
 */
export async function launchProfile(userDataDir: string): Promise<BrowserContext> {
  const missing = chromiumMissing();
  if (missing) throw new Error(`browser tests need Chromium: ${missing}`);
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 600 },
    env: { ...process.env, HOME: userDataDir, XDG_CONFIG_HOME: join(userDataDir, 'config'), XDG_CACHE_HOME: join(userDataDir, 'cache') },
  });
}

export async function launchChromium(): Promise<LaunchedChromium> {
  const missing = chromiumMissing();
  if (missing) throw new Error(`browser tests need Chromium: ${missing}`);
  const home = await mkdtemp(join(tmpdir(), 'concord-chromium-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, 'config'),
      XDG_CACHE_HOME: join(home, 'cache'),
    },
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      await rm(home, { recursive: true, force: true });
    },
  };
}
