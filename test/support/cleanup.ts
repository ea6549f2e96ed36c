/**
 * Teardown that cannot be forgotten: `onCleanup(fn)` runs `fn` when the current test finishes, or, when called
 * outside a test (in `beforeAll`), after the file's last test. Cleanups run last-in first-out, even on failure.
 */
import { afterAll, onTestFinished } from 'vitest';

type Cleanup = () => unknown | Promise<unknown>;
const fileCleanups: Cleanup[] = [];
let registered = false;

export function onCleanup(cleanup: Cleanup): void {
  try {
    onTestFinished(async () => {
      await cleanup();
    });
  } catch {
    if (!registered) {
      registered = true;
      afterAll(async () => {
        while (fileCleanups.length > 0) await fileCleanups.pop()?.();
      });
    }
    fileCleanups.push(cleanup);
  }
}
