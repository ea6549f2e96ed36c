/**
 * The storage seam: every document is an append-only log of Yjs updates, compacted now and then into one snapshot.
 *
 * Rules every implementation keeps (the contract suite in test/storage checks them on each one):
 * - `append(batch)` writes every update of every document in the batch atomically (all or nothing) and resolves
 *   only once they are durable (fsynced, or committed). Within a document, entries get increasing sequence
 *   numbers in the order given; a document's sequence numbers never repeat.
 * - `load(name)` returns the document's entries in sequence order; a document never written has none.
 * - `compact(name, snapshot, replaced)` atomically replaces exactly the entries whose sequence numbers are listed
 *   (numbers `load` returned) by one entry holding `snapshot`, numbered like the highest of them. Entries not
 *   listed stay, whoever wrote them and however late they were committed; a crash leaves either every listed
 *   entry or the snapshot.
 * - Names are opaque (the server passes `<tenant>/<name>`); documents never see each other's entries.
 * - `names(prefix)` lists, sorted, every document with at least one stored entry whose name starts with `prefix` (the
 *   server lists `<tenant>/<pattern prefix>` to build a live view from storage).
 * Stores keep bytes as given and never interpret them: merging is the caller's job (apply to a Y.Doc, encode).
 */

export interface StoredEntry {
  readonly seq: number;
  readonly update: Uint8Array;
}

export interface AppendEntry {
  readonly name: string;
  readonly updates: readonly Uint8Array[];
}

export interface DocumentStore {
  /** Short name for logs, metrics and /healthz, e.g. `leveldb`. */
  readonly kind: string;
  load(name: string): Promise<readonly StoredEntry[]>;
  append(batch: readonly AppendEntry[]): Promise<void>;
  compact(name: string, snapshot: Uint8Array, replaced: readonly number[]): Promise<void>;
  names(prefix: string): Promise<readonly string[]>;
  close(): Promise<void>;
}

export class StoreClosedError extends Error {
  constructor(kind: string) {
    super(`the ${kind} store is closed`);
    this.name = 'StoreClosedError';
  }
}

/** The sequence number a compaction gives its snapshot; throws when there is nothing to replace. */
export function snapshotSeq(name: string, replaced: readonly number[]): number {
  if (replaced.length === 0) throw new Error(`cannot compact ${JSON.stringify(name)}: no entries to replace`);
  return replaced.reduce((highest, seq) => Math.max(highest, seq)); // folded: a log may hold more entries than a call takes arguments
}
