/**
 * Compaction of stored logs, off the hot path: a loaded document's log is rewritten into one snapshot once its tail
 * (the entries after the snapshot) outgrows the snapshot, so storage stays about 1.5× the document and loads never
 * replay a long history, and again when the document unloads with a tail worth replacing, so a document at rest
 * loads from one snapshot.
 *
 * The tail of each loaded document is counted from what it was loaded with (LoadedDocuments) and from what each
 * durable write stored (the group committer's `stored` event). Only the stored log is compacted, never the live
 * document: with several instances on one database the log holds edits this one never saw. One compaction at a time
 * per document, across its unloads and reloads; the merge runs on the compaction thread (UpdateMerger).
 */
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DocumentStore, StoredEntry } from './DocumentStore.js';
import type { GroupCommitter, StoredCounts } from './GroupCommitter.js';
import type { LoadedDocument, LoadedDocuments } from './LoadedDocuments.js';
import { UpdateMerger } from './UpdateMerger.js';

/**
 * Compact once the entries after the snapshot weigh half the snapshot, and at least this much (so a small document
 * is not rewritten every few keystrokes)...
 */
export const COMPACT_MIN_TAIL_BYTES = 128 * 1024;
/** ...or once this many entries follow it, whatever they weigh: a load never replays more. */
export const COMPACT_AFTER_ENTRIES = 10_000;
/**
 * A document that unloads (its last client left, every change stored) with at least this many entries after its
 * snapshot is compacted then, so at rest it is one snapshot. The thresholds above let a small document's log grow
 * well past it while people type: 5 000 keystrokes make a 12 KiB document and a 131 KiB log, which loads in ~45 ms
 * against ~3 ms for the snapshot (measured here). A shorter tail is not worth rewriting the snapshot for.
 */
export const COMPACT_ON_UNLOAD_MIN_ENTRIES = 100;
/**
 * ...or with a tail of at least this many bytes, however few entries hold it (keystrokes that arrive together are
 * stored as one entry, so a long session can leave few, large entries).
 */
export const COMPACT_ON_UNLOAD_MIN_BYTES = 16 * 1024;

/** One loaded document's log, as far as compaction is concerned. */
interface Tail {
  readonly name: string;
  /** Size of the first entry (after a compaction, the snapshot). */
  snapshotBytes: number;
  /** Entries and bytes stored after it. */
  tailEntries: number;
  tailBytes: number;
}

export class Compactor {
  private readonly store: DocumentStore;
  private readonly documents: LoadedDocuments;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly tails = new Map<LoadedDocument, Tail>();
  private readonly compactions = new Set<Promise<void>>();
  /** Names with a compaction in flight: one at a time per document, across its unloads and reloads. */
  private readonly compacting = new Set<string>();
  private readonly merger = new UpdateMerger();
  private closing = false;

  constructor(store: DocumentStore, committer: GroupCommitter, documents: LoadedDocuments, log: Logger, metrics: Metrics) {
    this.store = store;
    this.documents = documents;
    this.log = log.child({ component: 'storage', store: store.kind });
    this.metrics = metrics;
    documents.listen({ loaded: this.onLoaded, unloaded: this.onUnloaded });
    committer.listen({ stored: this.onStored });
  }

  /** Waits for compactions in flight and starts no new ones (graceful shutdown). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.compactions]);
    await this.merger.close();
  }

  private readonly onLoaded = (loaded: LoadedDocument, entries: readonly StoredEntry[]) => {
    const tail: Tail = {
      name: loaded.name,
      snapshotBytes: entries[0]?.update.byteLength ?? 0,
      tailEntries: Math.max(0, entries.length - 1),
      tailBytes: entries.slice(1).reduce((sum, entry) => sum + entry.update.byteLength, 0),
    };
    this.tails.set(loaded, tail);
    this.maybeCompact(tail);
  };

  private readonly onUnloaded = (loaded: LoadedDocument) => {
    const tail = this.tails.get(loaded);
    if (tail === undefined) return;
    this.tails.delete(loaded);
    this.maybeCompact(tail, 'unloading');
  };

  /** After each write: the stored documents' logs grew (compact when due). */
  private readonly onStored = (counts: StoredCounts) => {
    for (const [name, { entries, bytes }] of counts) {
      const loaded = this.documents.get(name);
      const tail = loaded && this.tails.get(loaded);
      if (!tail) continue;
      tail.tailEntries += entries;
      tail.tailBytes += bytes;
      this.maybeCompact(tail);
    }
  };

  /** Compacts the log when its tail is due (see the thresholds above), in the background. */
  private maybeCompact(tail: Tail, moment: 'grown' | 'unloading' = 'grown'): void {
    if (this.closing || this.compacting.has(tail.name)) return;
    if (moment === 'unloading') {
      if (tail.tailEntries < 2 || (tail.tailEntries < COMPACT_ON_UNLOAD_MIN_ENTRIES && tail.tailBytes < COMPACT_ON_UNLOAD_MIN_BYTES)) return;
    } else {
      const tailLimit = Math.max(tail.snapshotBytes / 2, COMPACT_MIN_TAIL_BYTES);
      if (tail.tailEntries < COMPACT_AFTER_ENTRIES && tail.tailBytes < tailLimit) return;
    }
    this.compacting.add(tail.name);
    const job = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.compact(tail))
      .catch((error: unknown) => {
        this.metrics.storeErrors.inc({ operation: 'compact' });
        this.log.error({ err: error, document: tail.name }, 'compaction failed; the log is intact');
      })
      .finally(() => {
        this.compacting.delete(tail.name);
        this.compactions.delete(job);
      });
    this.compactions.add(job);
  }

  /** Rebuilds the stored log into one snapshot, merged on the compaction thread. */
  private async compact(tail: Tail): Promise<void> {
    const endTimer = this.metrics.storeDuration.startTimer({ operation: 'compact' });
    try {
      const counted = { entries: tail.tailEntries, bytes: tail.tailBytes };
      this.log.debug({ document: tail.name, tailEntries: counted.entries }, 'compacting');
      const entries = await this.store.load(tail.name);
      if (entries.length < 2) return;
      const snapshot = await this.merger.merge(entries.map((entry) => entry.update));
      await this.store.compact(
        tail.name,
        snapshot,
        entries.map((entry) => entry.seq),
      );
      tail.snapshotBytes = snapshot.byteLength;
      tail.tailEntries = Math.max(0, tail.tailEntries - counted.entries);
      tail.tailBytes = Math.max(0, tail.tailBytes - counted.bytes);
      this.log.debug({ document: tail.name, entries: entries.length, snapshotBytes: snapshot.byteLength }, 'compacted');
    } finally {
      endTimer();
    }
  }
}
