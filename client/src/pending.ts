/**
 * Pending changes: how many local transactions of a document the server has not acknowledged yet.
 *
 * The rule: every update whose origin is neither the network provider nor the IndexedDB binding is a local change
 * and counts one. The count returns to zero only when the provider's own counter of unacknowledged messages is
 * zero while the socket is connected and the document synced — the server has then acknowledged our sync step 2,
 * which carries everything the server did not have, and every update sent since. The provider's counter alone is
 * not enough: it is reset to 1 at every (re)connect and so forgets how many edits were made offline.
 *
 * The count is kept beside the document in its IndexedDB database, so an outbox survives a reload. It is written
 * after the update it counts, in a separate transaction: a crash between the two can undercount by one, never lose
 * the edit itself.
 */
import type { HocuspocusProvider } from '@hocuspocus/provider';
import type * as Y from 'yjs';

/** The key of the count in y-indexeddb's `custom` store. */
export const PENDING_CHANGES_KEY = 'concord.pendingChanges';

/** Where the count is kept: y-indexeddb's `IndexeddbPersistence` custom store has this shape. */
export interface CountStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: number): Promise<unknown>;
}

export class PendingChanges {
  private readonly doc: Y.Doc;
  private readonly remoteOrigins = new Set<unknown>();
  private readonly onChange: () => void;
  private pending = 0;
  private store: CountStore | null = null;

  constructor(doc: Y.Doc, onChange: () => void) {
    this.doc = doc;
    this.onChange = onChange;
    doc.on('update', this.onUpdate);
  }

  get count(): number {
    return this.pending;
  }

  /** Updates applied with this origin (the provider, the IndexedDB binding) are not local changes. */
  ignoreOrigin(origin: unknown): void {
    this.remoteOrigins.add(origin);
  }

  /** Adds the count stored by an earlier session and keeps the store up to date from now on. */
  async restore(store: CountStore): Promise<void> {
    const stored = await store.get(PENDING_CHANGES_KEY).catch(() => undefined);
    if (typeof stored === 'number' && Number.isInteger(stored) && stored > 0) this.pending += stored;
    this.store = store;
    this.save();
    this.onChange();
  }

  /** Stops writing the count (the local copy is closing). */
  forgetStore(): void {
    this.store = null;
  }

  /** Call when the provider's counter, its synced flag or the socket changed. */
  check(provider: HocuspocusProvider, socketOpen: boolean): void {
    if (this.pending === 0 || !socketOpen || !provider.isSynced || provider.unsyncedChanges > 0) return;
    this.pending = 0;
    this.save();
    this.onChange();
  }

  destroy(): void {
    this.doc.off('update', this.onUpdate);
  }

  private readonly onUpdate = (_update: Uint8Array, origin: unknown) => {
    if (this.remoteOrigins.has(origin)) return;
    this.pending += 1;
    this.save();
    this.onChange();
  };

  private save(): void {
    this.store?.set(PENDING_CHANGES_KEY, this.pending).catch(() => {});
  }
}
