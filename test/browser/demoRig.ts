/**
 * What most browser suites start with: a real server serving the built demo (its own data directory, removed at
 * the end), one Chromium, and the pages the suite opens, closed at the end; a failing test leaves a screenshot of
 * every open page in test/artifacts/. Call `demoRig(label)` inside the suite's `describe`: it registers the hooks.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '@concord/server';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, onTestFailed } from 'vitest';
import { launchChromium, type LaunchedChromium } from './chromium.js';
import { DemoPage, type Screen } from './demoPage.js';

export const DEMO_DIST = fileURLToPath(new URL('../../demo/dist/', import.meta.url));
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
/** Screenshots the README shows. */
export const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));

/**
 * Saves a screenshot of `page` to test/artifacts/`file`; with `docs`, also to docs/`docs` when that image is missing
 * or `CONCORD_DOCS_SCREENSHOTS=1` (otherwise every run would rewrite a committed image with slightly different bytes).
 */
export async function screenshot(page: DemoPage, file: string, docs?: string): Promise<void> {
  const path = join(ARTIFACTS, file);
  await mkdir(ARTIFACTS, { recursive: true });
  await page.page.screenshot({ path });
  if (docs && (process.env.CONCORD_DOCS_SCREENSHOTS === '1' || !existsSync(join(DOCS, docs)))) {
    await mkdir(DOCS, { recursive: true });
    await copyFile(path, join(DOCS, docs));
  }
}

export type RunningServer = Awaited<ReturnType<typeof startServer>>;

export interface DemoRig {
  readonly server: RunningServer;
  readonly browser: Browser;
  /** Every page opened through `open`, closed when the suite ends. */
  readonly pages: DemoPage[];
  /** Opens the demo for `name` in a fresh context (the server's own address unless `url` is given). */
  open(name: string, url?: string, screen?: Screen): Promise<DemoPage>;
}

export function demoRig(label: string): DemoRig {
  let dataDir: string | undefined;
  let server: RunningServer | undefined;
  let chromium: LaunchedChromium | undefined;
  const pages: DemoPage[] = [];

  beforeAll(async () => {
    if (!existsSync(join(DEMO_DIST, 'index.html'))) {
      throw new Error(`the demo is not built (no ${DEMO_DIST}index.html): run npm run build first`);
    }
    await mkdir(ARTIFACTS, { recursive: true });
    dataDir = await mkdtemp(join(tmpdir(), `concord-${label}-`));
    server = await startServer({ port: 0, host: '127.0.0.1', dataDir, staticDir: DEMO_DIST, logLevel: 'silent' });
    chromium = await launchChromium();
  });

  afterAll(async () => {
    for (const page of pages) await page.close();
    await chromium?.close();
    await server?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  beforeEach(() => {
    onTestFailed(async ({ task }) => {
      const slug = task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50);
      for (const page of pages) {
        await page.page.screenshot({ path: join(ARTIFACTS, `failure-${label}-${slug}-${page.name}.png`) }).catch(() => {});
      }
    });
  });

  const started = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${what} did not start`);
    return value;
  };

  return {
    get server() {
      return started(server, 'the server');
    },
    get browser() {
      return started(chromium, 'Chromium').browser;
    },
    pages,
    async open(name, url, screen) {
      const page = await DemoPage.open(this.browser, name, url ?? this.server.url, screen);
      pages.push(page);
      return page;
    },
  };
}
