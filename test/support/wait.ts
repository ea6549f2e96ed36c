/**
 * Waiting for conditions instead of sleeping: poll until `check` returns a truthy value or stops throwing, and
 * fail with the last error (or `message`) once `timeoutMs` has passed.
 */
export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  message?: string;
}

export async function waitFor<T>(check: () => T | Promise<T>, options: WaitOptions = {}): Promise<NonNullable<T>> {
  const { timeoutMs = 10_000, intervalMs = 20, message } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? lastError.message : message ?? 'condition not met';
      throw new Error(`timed out after ${timeoutMs} ms: ${message ? `${message}: ` : ''}${reason}`, { cause: lastError });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The time now when `held`, else undefined: `waitFor(() => timeIf(cond))` resolves with when `cond` was first seen. */
export function timeIf(held: boolean): number | undefined {
  return held ? Date.now() : undefined;
}

/** Resolves with the first emission of `event` for which `predicate` holds. */
export function nextEvent<A extends unknown[]>(
  emitter: { on(event: string, cb: (...args: A) => void): unknown; off(event: string, cb: (...args: A) => void): unknown },
  event: string,
  predicate: (...args: A) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${event}`));
    }, timeoutMs);
    const handler = (...args: A) => {
      if (!predicate(...args)) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(args);
    };
    emitter.on(event, handler);
  });
}
