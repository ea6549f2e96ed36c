/**
 * Fault injection around a real DocumentStore: hold appends (to watch what waits for durability) or make them fail
 * (a disk that is full, a database that is gone), then let them through again. Everything else is the real store.
 */
import type { AppendEntry, DocumentStore, StoredEntry } from '@concord/server';

export class FaultyStore implements DocumentStore {
  readonly kind: string;
  private readonly inner: DocumentStore;
  private gate: { promise: Promise<void>; open: () => void } | null = null;
  private failure: Error | null = null;
  /** Appends attempted, including failed ones. */
  attempts = 0;

  constructor(inner: DocumentStore) {
    this.inner = inner;
    this.kind = inner.kind;
  }

  /** Appends wait until `release()`. */
  hold(): void {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  release(): void {
    this.gate?.open();
    this.gate = null;
  }

  /** Appends fail with `message` until `heal()`. */
  fail(message = 'injected failure: no space left on device'): void {
    this.failure = new Error(message);
  }

  heal(): void {
    this.failure = null;
  }

  async append(batch: readonly AppendEntry[]): Promise<void> {
    this.attempts += 1;
    if (this.gate) await this.gate.promise;
    if (this.failure) throw this.failure;
    return this.inner.append(batch);
  }

  load(name: string): Promise<readonly StoredEntry[]> {
    return this.inner.load(name);
  }

  names(prefix: string): Promise<readonly string[]> {
    return this.inner.names(prefix);
  }

  compact(name: string, snapshot: Uint8Array, replaced: readonly number[]): Promise<void> {
    return this.inner.compact(name, snapshot, replaced);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
