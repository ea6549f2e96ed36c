/**
 * The storage seam: every document is an append-only log of Yjs updates, compacted now and then into one snapshot.
 *
 * Rules every implementation keeps (the contract suite in test/storage checks them on each one):
 * - `append` resolves only once the updates are durable, and returns the sequence number of the last one; sequence
 *   numbers grow strictly within a document.
 * - `load` returns, in append order, every update appended and not compacted away: the latest snapshot first, then
 *   the updates after it. A document never written loads as no updates with head 0.
 * - `compact(name, snapshot, through)` atomically replaces every entry with a sequence number ≤ `through` by
 *   `snapshot`; entries appended after `through` stay. A crash leaves either the old entries or the new snapshot.
 * - Names are opaque (the server passes `<tenant>/<name>`); documents never see each other's entries.
 * Stores keep bytes as given and never interpret them: merging is the caller's job (apply to a Y.Doc, encode).
 */

export interface StoredDocument {
  /** Updates in append order (a snapshot is just the first update). */
  readonly updates: readonly Uint8Array[];
  /** Sequence number of the last entry; 0 when the document has none. */
  readonly head: number;
}

export interface DocumentStore {
  /** Short name for logs and /healthz, e.g. `leveldb`. */
  readonly kind: string;
  load(name: string): Promise<StoredDocument>;
  append(name: string, updates: readonly Uint8Array[]): Promise<number>;
  compact(name: string, snapshot: Uint8Array, through: number): Promise<void>;
  close(): Promise<void>;
}

export class StoreClosedError extends Error {
  constructor(kind: string) {
    super(`the ${kind} store is closed`);
    this.name = 'StoreClosedError';
  }
}
