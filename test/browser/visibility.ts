/**
 * `document.visibilityState` a test sets: Playwright keeps every page `visible` whatever happens (it forces focus
 * emulation on), so a test that needs a hidden tab installs this before the page's scripts and fires
 * `visibilitychange` itself.
 */
import type { DemoPage } from './demoPage.js';

/** Runs in the page before its scripts (`context.addInitScript`). */
export function controllableVisibility(): void {
  let state: 'visible' | 'hidden' = 'visible';
  Object.defineProperty(Document.prototype, 'visibilityState', { get: () => state, configurable: true });
  Object.defineProperty(Document.prototype, 'hidden', { get: () => state === 'hidden', configurable: true });
  (window as unknown as { setVisibility: (next: 'visible' | 'hidden') => void }).setVisibility = (next) => {
    state = next;
    document.dispatchEvent(new Event('visibilitychange'));
  };
}

export const setVisibility = (page: DemoPage, state: 'visible' | 'hidden'): Promise<void> =>
  page.page.evaluate((next) => (window as unknown as { setVisibility: (s: string) => void }).setVisibility(next), state);
