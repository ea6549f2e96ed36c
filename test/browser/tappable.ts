/**
 * Phone-layout checks shared by the demo's browser tests: a control people tap must be visible, wholly inside the
 * window, the element found at its own centre (not covered), and at least MIN_TAP_PX tall; a page must not scroll
 * sideways.
 */
import type { Locator } from 'playwright-core';
import { expect } from 'vitest';
import type { DemoPage } from './demoPage.js';

/** The smallest tap target the demo allows on a touch layout. */
export const MIN_TAP_PX = 44;

/**
 * Fails unless `control` is visible, wholly inside the window, the element at its centre, and a tap target. With
 * `click` (the default) Playwright also checks that a click would land on it (a trial click, which acts on nothing).
 */
export async function expectTappable(control: Locator, what: string, { click = true }: { click?: boolean } = {}): Promise<void> {
  await control.scrollIntoViewIfNeeded({ timeout: 5_000 });
  expect(await control.isVisible(), `${what} is visible`).toBe(true);
  const seen = await control.evaluate((element) => {
    const box = element.getBoundingClientRect();
    const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
    return {
      box: { x: box.x, y: box.y, width: box.width, height: box.height },
      window: { width: innerWidth, height: innerHeight },
      hitsItself: hit !== null && (hit === element || element.contains(hit)),
      hit: hit ? `${hit.tagName.toLowerCase()}.${hit.className}` : 'nothing',
    };
  });
  const { box, window } = seen;
  const where = `${what} at ${Math.round(box.x)},${Math.round(box.y)} (${Math.round(box.width)}×${Math.round(box.height)}) in ${window.width}×${window.height}`;
  expect(box.x >= -0.5 && box.x + box.width <= window.width + 0.5, `${where} lies inside the window across`).toBe(true);
  expect(box.y >= -0.5 && box.y + box.height <= window.height + 0.5, `${where} lies inside the window down`).toBe(true);
  expect(seen.hitsItself, `${where}: the element at its centre is ${seen.hit}`).toBe(true);
  expect(box.height, `${where} is at least ${MIN_TAP_PX} px tall`).toBeGreaterThanOrEqual(MIN_TAP_PX - 0.5);
  if (click) await control.click({ trial: true, timeout: 5_000 });
}

/** Fails unless the page, in a window `width` px wide, does not scroll sideways. */
export async function expectNoHorizontalOverflow(page: DemoPage, where: string, width: number): Promise<void> {
  const seen = await page.page.evaluate(() => {
    const scroller = document.scrollingElement ?? document.documentElement;
    return { scrollWidth: scroller.scrollWidth, clientWidth: scroller.clientWidth, innerWidth };
  });
  expect(seen.innerWidth, `${where}: the window is still the phone's width`).toBe(width);
  expect(seen.scrollWidth, `${where}: the page is ${seen.scrollWidth} px wide in ${seen.clientWidth}`).toBeLessThanOrEqual(seen.clientWidth);
}
