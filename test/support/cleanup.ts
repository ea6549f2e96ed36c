/**
 * Teardown that cannot be forgotten: `onCleanup(fn)` runs `fn` when the current test finishes, or, when called
 * outside a test (in `beforeAll`), after the file's last test. Cleanups run last-in first-out, even on failure.
 *
 * The file-level hook is registered when this module is imported, that is while the test file is collected: a hook
 * registered later, from inside a running `beforeAll`, is never called by vitest (the servers, Redis processes and
 * stores a `beforeAll` started outlived their file).
 */
import { afterAll, onTestFinished } from 'vitest';

type Cleanup = () => unknown | Promise<unknown>;
const fileCleanups: Cleanup[] = [];

afterAll(async () => {
  while (fileCleanups.length > 0) await fileCleanups.pop()?.();
});

export function onCleanup(cleanup: Cleanup): void {
  try {
    onTestFinished(async () => {
      await cleanup();
    });
  } catch {
    fileCleanups.push(cleanup);
  }
}
