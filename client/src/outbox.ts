/**
 * The outbox: the local changes of a document the server has not acknowledged yet, rebuilt from the document.
 *
 * The rule: the outbox is the difference between the document and what the server is known to have — a state
 * vector that advances with every update the server sends, and jumps to the whole document when the server has
 * acknowledged everything sent — plus the deletions made here since. "Everything sent is acknowledged" is read only
 * from the provider's counter reaching zero (its `unsyncedChanges` event) on a synced document over an open socket,
 * never from a look at the counter at some other moment: a local edit is counted by the provider in the document's
 * `update` event, after `afterTransaction`, so a look taken while the edit's own transaction ends would see zero and
 * take the edit for acknowledged (issue 13: the first edit after the connection dropped was never listed). Updates from IndexedDB are neither: they are the stored
 * copy, whose pending part the stored state vector and deletions describe. Both are kept beside the document in its
 * IndexedDB database, so after a reload or a browser restart the outbox is rebuilt from what is stored, not from
 * memory; edits from other tabs of the same browser are in it too, as they are in the stored copy. Records removed
 * here are remembered by name with the deletions (Yjs collects a deleted record's fields at once). The entries are
 * described by `describeChanges`; the count is the number of entries.
 */
import type { HocuspocusProvider } from '@hocuspocus/provider';
import * as Y from 'yjs';
import { describeChanges, removedRecordOf, structKey, type DeleteSet, type RemovedRecord } from './changes.js';
import type { OutboxEntry } from './types.js';

/** Keys in the local database's `custom` store. */
export const SERVER_STATE_KEY = 'concord.outbox.serverState';
export const LOCAL_DELETES_KEY = 'concord.outbox.localDeletes';
/** The records removed here since the last acknowledgement, as `[client, clock, root, record, label]`. */
export const REMOVED_RECORDS_KEY = 'concord.outbox.removedRecords';
/** The count earlier versions kept; 0 means the stored copy was fully acknowledged. */
const LEGACY_COUNT_KEY = 'concord.pendingChanges';
/**
 * What the server sent is saved right after the task that applied it (updates applied together are saved once), as
 * y-indexeddb stores the update itself: a reload soon after must not show remote edits as pending.
 */
export const SERVER_STATE_SAVE_DELAY_MS = 0;

/** Where the outbox keeps its state: the local copy's `custom` store; a failed write rejects. */
export interface KeyValueStore {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<unknown>;
}

export interface OutboxOptions {
  /** Something may have changed in the entries or in `problem`; read them again. */
  readonly onChange: () => void;
}

function encodeDeletes(deletes: DeleteSet): number[] {
  const flat: number[] = [];
  for (const [client, items] of deletes.clients) {
    for (const { clock, len } of items) flat.push(client, clock, len);
  }
  return flat;
}

function decodeDeletes(stored: unknown): DeleteSet {
  const deletes = Y.createDeleteSet();
  if (!Array.isArray(stored) || stored.length % 3 !== 0 || !stored.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    return deletes;
  }
  for (let i = 0; i < stored.length; i += 3) {
    const client = stored[i] as number;
    const items = deletes.clients.get(client) ?? [];
    items.push({ clock: stored[i + 1] as number, len: stored[i + 2] as number } as never);
    deletes.clients.set(client, items);
  }
  return Y.mergeDeleteSets([deletes]);
}

function encodeRemoved(removed: ReadonlyMap<string, RemovedRecord>): unknown[] {
  return [...removed].map(([key, { root, record, label }]) => [...key.split(':').map(Number), root, record, label]);
}

function decodeRemoved(stored: unknown): Map<string, RemovedRecord> {
  const removed = new Map<string, RemovedRecord>();
  if (!Array.isArray(stored)) return removed;
  for (const entry of stored) {
    if (!Array.isArray(entry) || entry.length !== 5) continue;
    const [client, clock, root, record, label] = entry as unknown[];
    if (!Number.isSafeInteger(client) || !Number.isSafeInteger(clock) || typeof root !== 'string' || typeof record !== 'string') continue;
    removed.set(`${client}:${clock}`, { root, record, label: typeof label === 'string' ? label : null });
  }
  return removed;
}

function stateOf(doc: Y.Doc): Map<number, number> {
  return Y.decodeStateVector(Y.encodeStateVector(doc));
}

export class Outbox {
  private readonly doc: Y.Doc;
  private readonly options: OutboxOptions;
  private readonly serverOrigins = new Set<unknown>();
  private readonly storedOrigins = new Set<unknown>();
  /** What the server is known to have: the clock of each client. */
  private server = new Map<number, number>();
  /** Deletions made here (or in another tab) since the last acknowledgement. */
  private deletes: DeleteSet = Y.createDeleteSet();
  /** Records removed here since then, named while they still had their fields (Yjs collects deleted content). */
  private removed = new Map<string, RemovedRecord>();
  private cached: readonly OutboxEntry[] = [];
  private stale = false;
  private store: KeyValueStore | null = null;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the outbox's state could not be stored; cleared by the next write that succeeds. */
  private storeProblem: string | null = null;

  constructor(doc: Y.Doc, options: OutboxOptions) {
    this.doc = doc;
    this.options = options;
    doc.on('afterTransaction', this.onTransaction);
  }

  /** Updates with this origin come from the server (the provider): what they carry, the server has. */
  serverOrigin(origin: unknown): void {
    this.serverOrigins.add(origin);
  }

  /** Updates with this origin come from the stored copy (the IndexedDB binding): the stored state describes them. */
  storedOrigin(origin: unknown): void {
    this.storedOrigins.add(origin);
  }

  /** Why the outbox could not be stored on this device, or null. */
  get problem(): string | null {
    return this.storeProblem;
  }

  get count(): number {
    return this.entries().length;
  }

  entries(): readonly OutboxEntry[] {
    if (this.stale) {
      this.cached = Object.freeze(describeChanges(this.doc, this.server, this.deletes, this.removed));
      this.stale = false;
    }
    return this.cached;
  }

  /** Reads the state an earlier session stored and keeps the store up to date from now on. */
  async restore(store: KeyValueStore): Promise<void> {
    // A state that cannot be read counts as nothing acknowledged: the outbox lists the whole stored copy until the
    // next acknowledgement (the changes themselves are in the document and sync either way).
    const [state, deletes, removed, legacyCount] = await Promise.all(
      [SERVER_STATE_KEY, LOCAL_DELETES_KEY, REMOVED_RECORDS_KEY, LEGACY_COUNT_KEY].map((key) => store.get(key).catch(() => undefined)),
    );
    for (const [key, record] of decodeRemoved(removed)) if (!this.removed.has(key)) this.removed.set(key, record);
    if (state instanceof Uint8Array) {
      for (const [client, clock] of Y.decodeStateVector(state)) this.advance(client, clock);
    } else if (legacyCount === 0) {
      this.server = stateOf(this.doc);
    }
    this.deletes = Y.mergeDeleteSets([this.deletes, decodeDeletes(deletes)]);
    this.store = store;
    this.stale = true;
    this.options.onChange();
  }

  /**
   * Acknowledges from `provider`'s counter: when it reaches zero on a synced document while `socketOpen()`, the server
   * has everything this document holds. Returns the unsubscribe function.
   */
  watch(provider: HocuspocusProvider, socketOpen: () => boolean): () => void {
    const onCount = ({ number }: { number: number }) => {
      if (number === 0 && provider.isSynced && socketOpen()) this.acknowledge();
    };
    provider.on('unsyncedChanges', onCount);
    return () => provider.off('unsyncedChanges', onCount);
  }

  private acknowledge(): void {
    if (this.entries().length === 0 && this.deletes.clients.size === 0) return;
    this.server = stateOf(this.doc);
    this.deletes = Y.createDeleteSet();
    this.removed.clear();
    this.cached = Object.freeze([]);
    this.stale = false;
    this.save();
    this.options.onChange();
  }

  /**
   * Drops the outbox (the server revoked the document, SPEC §3): returns the entries it listed, lists nothing from now
   * on, whatever changes, and writes nothing more.
   */
  discard(): readonly OutboxEntry[] {
    const entries = this.entries();
    this.destroy();
    this.store = null;
    this.server = stateOf(this.doc);
    this.deletes = Y.createDeleteSet();
    this.removed.clear();
    this.cached = Object.freeze([]);
    this.stale = false;
    this.storeProblem = null;
    return entries;
  }

  /** Writes what is not written yet and stops writing (the local copy is closing). */
  forgetStore(): void {
    if (this.saveTimer !== undefined) this.save();
    this.store = null;
  }

  destroy(): void {
    this.doc.off('afterTransaction', this.onTransaction);
    clearTimeout(this.saveTimer);
  }

  private advance(client: number, clock: number): void {
    if ((this.server.get(client) ?? 0) < clock) this.server.set(client, clock);
  }

  private readonly onTransaction = (transaction: Y.Transaction) => {
    const { origin } = transaction;
    if (this.storedOrigins.has(origin)) return;
    let inserted = false;
    for (const [client, clock] of transaction.afterState) {
      if (transaction.beforeState.get(client) === clock) continue;
      inserted = true;
      if (this.serverOrigins.has(origin)) this.advance(client, clock);
    }
    if (this.serverOrigins.has(origin)) {
      if (inserted) this.saveLater();
      // A remote edit may overwrite or delete something in the outbox.
      if (this.cached.length > 0) this.changed();
      return;
    }
    const deleted = transaction.deleteSet.clients.size > 0;
    if (deleted) {
      this.deletes = Y.mergeDeleteSets([this.deletes, transaction.deleteSet]);
      Y.iterateDeletedStructs(transaction, transaction.deleteSet, (struct) => {
        const record = struct instanceof Y.Item ? removedRecordOf(struct) : null;
        if (record) this.removed.set(structKey(struct.id), record);
      });
    }
    if (deleted) this.save();
    if (inserted || deleted) this.changed();
  };

  private changed(): void {
    this.stale = true;
    this.options.onChange();
  }

  private saveLater(): void {
    if (this.saveTimer !== undefined || !this.store) return;
    this.saveTimer = setTimeout(() => this.save(), SERVER_STATE_SAVE_DELAY_MS);
  }

  private save(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const store = this.store;
    if (!store) return;
    Promise.all([
      store.set(SERVER_STATE_KEY, Y.encodeStateVector(this.server)),
      store.set(LOCAL_DELETES_KEY, encodeDeletes(this.deletes)),
      store.set(REMOVED_RECORDS_KEY, encodeRemoved(this.removed)),
    ]).then(this.onStored, this.onStoreError);
  }

  private readonly onStoreError = (error: unknown) => {
    this.storeProblem = `not saved on this device: the outbox could not be stored (${error instanceof Error ? error.message : String(error)})`;
    this.options.onChange();
  };

  private readonly onStored = () => {
    if (this.storeProblem === null) return;
    this.storeProblem = null;
    this.options.onChange();
  };
}
