/**
 * The demo app as a test drives it: one signed-in person in one browser context, addressed through the
 * `data-testid`s the demo puts on what matters. Every read polls until its condition holds (no fixed sleeps); every
 * failure message says which person saw what.
 */
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { waitFor } from '../support/wait.js';

export const UI_TIMEOUT_MS = 15_000;

export type Light = 'green' | 'yellow' | 'red';

export type TaskField = 'title' | 'status' | 'assignee' | 'due';

/** The window a person's browser shows the demo in; existing suites use a wide, short laptop window. */
export interface Screen {
  readonly width: number;
  readonly height: number;
  /** A phone: touch, and the page's `<meta name="viewport">` honoured. */
  readonly phone?: boolean;
}

export const LAPTOP: Screen = { width: 1280, height: 600 };

export class DemoPage {
  readonly name: string;
  readonly context: BrowserContext;
  readonly page: Page;
  /** Uncaught errors and console errors of the page, for the final check that none happened. */
  readonly errors: string[] = [];

  /** A second tab shares its person's context: closing it closes only the tab. */
  private readonly isExtraTab: boolean;

  private constructor(name: string, context: BrowserContext, page: Page, isExtraTab = false) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.isExtraTab = isExtraTab;
    page.on('pageerror', (error) => this.errors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      const text = message.text();
      // A failed socket or fetch while the server is down is expected and logged by the browser itself.
      const expectedWhileDown = /WebSocket connection to|Failed to load resource|ERR_CONNECTION_REFUSED/.test(text);
      if ((message.type() === 'error' && !expectedWhileDown) || /Yjs was already imported/.test(text)) {
        this.errors.push(`console.${message.type()}: ${text}`);
      }
    });
  }

  /** A fresh browser context (its own localStorage and IndexedDB: a different person's browser). */
  static async open(browser: Browser, name: string, url: string, screen: Screen = LAPTOP): Promise<DemoPage> {
    const context = await browser.newContext({
      viewport: { width: screen.width, height: screen.height },
      ...(screen.phone ? { isMobile: true, hasTouch: true } : {}),
    });
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    const page = await context.newPage();
    const demo = new DemoPage(name, context, page);
    await page.goto(url);
    return demo;
  }

  /** Another tab of this person's browser (same localStorage and IndexedDB, so already signed in). */
  async openTab(): Promise<DemoPage> {
    const tab = new DemoPage(this.name, this.context, await this.context.newPage(), true);
    await tab.page.goto(this.page.url());
    await tab.page.getByTestId('signed-in-as').filter({ hasText: this.name }).waitFor({ state: 'attached' });
    return tab;
  }

  async signIn(): Promise<void> {
    await this.page.getByTestId('sign-in-name').fill(this.name);
    await this.page.getByTestId('sign-in-submit').click();
    await this.page.getByTestId('signed-in-as').filter({ hasText: this.name }).waitFor({ state: 'attached' });
  }

  get status(): Locator {
    return this.page.getByTestId('status-indicator');
  }

  async light(): Promise<string | null> {
    return this.status.getAttribute('data-light', { timeout: 2_000 });
  }

  async pending(): Promise<number> {
    return Number(await this.status.getAttribute('data-pending', { timeout: 2_000 }));
  }

  async waitForLight(light: Light, extra: { pending?: 'none' | 'some' } = {}): Promise<void> {
    await waitFor(
      async () => {
        const [seen, pending] = [await this.light(), await this.pending()];
        const pendingOk = extra.pending === undefined || (extra.pending === 'none' ? pending === 0 : pending > 0);
        if (seen === light && pendingOk) return true;
        const [text, socket, documents] = await Promise.all([
          this.status.textContent(),
          this.status.getAttribute('data-state'),
          this.status.getAttribute('data-documents'),
        ]);
        throw new Error(
          `it is ${seen} and reads ${JSON.stringify(text)} (socket ${socket}; ${documents}; device outbox: ${await this.deviceOutbox()})`,
        );
      },
      {
        timeoutMs: UI_TIMEOUT_MS,
        message: `${this.name}'s status indicator to be ${light}${extra.pending ? ` with ${extra.pending} pending` : ''}`,
      },
    );
  }

  /**
   * The device's outbox registry as this browser's IndexedDB holds it (every namespace): each document with changes
   * the server has not acknowledged, and how many entries. What the indicator counts as pending "elsewhere" is this,
   * less the documents on screen.
   */
  async deviceOutbox(): Promise<string> {
    return this.page
      .evaluate(async () => {
        const read = (name: string) =>
          new Promise<string[]>((resolve, reject) => {
            const opening = indexedDB.open(name);
            opening.onerror = () => reject(opening.error);
            opening.onsuccess = () => {
              const db = opening.result;
              if (!db.objectStoreNames.contains('documents')) return db.close(), resolve([]);
              const all = db.transaction('documents', 'readonly').objectStore('documents').getAll();
              all.onerror = () => reject(all.error);
              all.onsuccess = () => {
                db.close();
                resolve((all.result as { name: string; entries: unknown[] }[]).map((record) => `${record.name} (${record.entries.length})`));
              };
            };
          });
        const names = (await indexedDB.databases()).map(({ name }) => name ?? '').filter((name) => name.startsWith('concord-outbox/'));
        return (await Promise.all(names.map(read))).flat();
      })
      .then(
        (records) => (records.length === 0 ? 'empty' : records.join(', ')),
        (error: unknown) => `unreadable (${String(error)})`,
      );
  }

  /** After the server refused the stored token, the client fetches a fresh one by itself: back to green. */
  async recoverFromRefusedToken(): Promise<void> {
    await this.waitForLight('green', { pending: 'none' });
  }

  async addTask(title: string): Promise<string> {
    const before = new Set(await this.taskIds());
    await this.page.getByTestId('new-task-title').fill(title);
    await this.page.getByTestId('add-task').click();
    // The new row is the one not listed before that bears the title: a page that was still loading the board when
    // `before` was read may show older tasks only now.
    return waitFor(
      async () => {
        for (const id of await this.taskIds()) {
          if (before.has(id)) continue;
          if ((await this.field(id, 'title').inputValue({ timeout: 1_000 }).catch(() => null)) === title) return id;
        }
        return undefined;
      },
      { timeoutMs: UI_TIMEOUT_MS, message: `${this.name}'s new task row '${title}' to appear` },
    );
  }

  async taskIds(): Promise<string[]> {
    const rows = await this.page.getByTestId('task-row').all();
    const ids = await Promise.all(rows.map((row) => row.getAttribute('data-task-id')));
    return ids.filter((id): id is string => id !== null);
  }

  row(taskId: string): Locator {
    return this.page.locator(`[data-testid="task-row"][data-task-id="${taskId}"]`);
  }

  field(taskId: string, field: TaskField): Locator {
    return this.row(taskId).getByTestId(`field-${field}`);
  }

  /** The open task's detail (beside the list on a wide screen, a full-screen sheet on a phone). */
  get detail(): Locator {
    return this.page.getByTestId('task-detail');
  }

  detailField(field: TaskField): Locator {
    return this.detail.getByTestId(`field-${field}`);
  }

  /**
   * Opens the header's menu when it is folded (a phone) and closed; on a wide screen its controls are in the header
   * already and this does nothing.
   */
  async openMenu(): Promise<void> {
    const toggle = this.page.getByTestId('menu-toggle');
    if ((await toggle.isVisible()) && (await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  }

  async closeMenu(): Promise<void> {
    const toggle = this.page.getByTestId('menu-toggle');
    if ((await toggle.isVisible()) && (await toggle.getAttribute('aria-expanded')) === 'true') await toggle.click();
  }

  /** Waits until the task's fields read `expected` on this page. */
  async waitForFields(taskId: string, expected: Partial<Record<TaskField, string>>): Promise<void> {
    await waitFor(
      async () => {
        const seen: Record<string, string> = {};
        for (const field of Object.keys(expected) as Array<keyof typeof expected>) {
          seen[field] = await this.field(taskId, field).inputValue({ timeout: 1_000 });
        }
        if (Object.entries(expected).every(([field, value]) => seen[field] === value)) return true;
        throw new Error(`they read ${JSON.stringify(seen)}`);
      },
      { timeoutMs: UI_TIMEOUT_MS, message: `${this.name} to see task fields ${JSON.stringify(expected)}` },
    );
  }

  async openDescription(taskId: string): Promise<void> {
    await this.row(taskId).getByTestId('open-description').click();
    await this.page.locator(`[data-testid="task-detail"][data-task-id="${taskId}"]`).waitFor();
    await this.editor.waitFor();
  }

  get editor(): Locator {
    return this.page.getByTestId('description-editor');
  }

  /** Types at the end of the description, as a person would after clicking into it. */
  async typeInDescription(text: string): Promise<void> {
    await this.editor.click();
    await this.page.keyboard.press('Control+End');
    await this.page.keyboard.type(text);
  }

  async waitForDescription(...fragments: string[]): Promise<void> {
    await waitFor(
      async () => {
        const seen = await this.editor.textContent({ timeout: 1_000 });
        if (fragments.every((fragment) => seen?.includes(fragment))) return true;
        throw new Error(`it reads ${JSON.stringify(seen)}`);
      },
      { timeoutMs: UI_TIMEOUT_MS, message: `${this.name}'s description to contain ${JSON.stringify(fragments)}` },
    );
  }

  /** Another person's caret in this page's editor. */
  remoteCaret(userId: string): Locator {
    return this.page.locator(`[data-testid="remote-caret"][data-user-id="${userId}"]`);
  }

  presenceAvatar(userId: string): Locator {
    return this.page.getByTestId('presence').locator(`[data-testid="presence-avatar"][data-user-id="${userId}"]`);
  }

  async reload(): Promise<void> {
    await this.page.reload();
    await this.page.getByTestId('signed-in-as').filter({ hasText: this.name }).waitFor({ state: 'attached' });
  }

  async close(): Promise<void> {
    if (this.isExtraTab) await this.page.close().catch(() => {});
    else await this.context.close().catch(() => {});
  }

  /** The demo in a context opened elsewhere (a persistent profile): its first page, or a new one. */
  static async inContext(context: BrowserContext, name: string, url: string): Promise<DemoPage> {
    context.setDefaultTimeout(UI_TIMEOUT_MS);
    const page = context.pages()[0] ?? (await context.newPage());
    const demo = new DemoPage(name, context, page);
    await page.goto(url);
    return demo;
  }

  /** Waits until the demo's service worker controls this page: from then on the app shell is served from its cache. */
  async waitForServiceWorker(): Promise<void> {
    await waitFor(() => this.page.evaluate(() => navigator.serviceWorker.controller !== null), {
      timeoutMs: UI_TIMEOUT_MS,
      message: `${this.name}'s page to be controlled by the demo's service worker`,
    });
  }
}
