/**
 * Loads documents from the DocumentStore and hands every change to the group committer.
 *
 * Every update a loaded document applies (except those loaded from storage) goes to the group committer at once,
 * from the document's update event, before Hocuspocus acknowledges it; the acknowledgement then waits until the
 * document's queued writes are durable (durability/Durability.ts, sockets/Acknowledgements.ts), while other clients
 * see the change immediately. While writes fail, a document with changes not yet stored stays loaded (unloading it
 * would let a reload from storage miss them), clients are told storage is degraded, and the committer retries.
 * A document's log is compacted off the hot path once its tail outgrows its snapshot, so storage stays about 1.5×
 * the document and loads never replay a long history, and again when the document unloads with a tail worth
 * replacing, so a document at rest loads from one snapshot. Channels (`<tenant>/#<channel>`) and workspace rooms
 * (`<tenant>/@workspace`) are not stored. Who owns each client id of a document (sockets/UpdateGuard.ts) is loaded
 * with it, and registered for the sockets' update checks; claims are stored through the same committer.
 */
import {
  isTransactionOrigin,
  type connectedPayload,
  type Document,
  type Extension,
  type Hocuspocus,
  type onConfigurePayload,
  type onLoadDocumentPayload,
  type beforeUnloadDocumentPayload,
} from '@hocuspocus/server';
import { isChannelDocument, isConcordOrigin, isWorkspaceDocument, OriginTag, STORAGE_ORIGIN, StorageStatus, storageNotice } from '@concord/engine';
import * as Y from 'yjs';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DocumentStore } from '../storage/DocumentStore.js';
import type { GroupCommitter, StoredCounts } from '../storage/GroupCommitter.js';
import { UpdateMerger } from '../storage/UpdateMerger.js';
import { decodeOwners, encodeClaim, ownersLogName } from '../storage/clientOwners.js';
import type { UpdateGuard } from '../sockets/UpdateGuard.js';
import { withoutUpdateEvents } from '../seams/yjs.js';

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

interface LoadedDocument {
  readonly name: string;
  readonly document: Document;
  /** Size of the first entry (after a compaction, the snapshot). */
  snapshotBytes: number;
  /** Entries and bytes stored after it. */
  tailEntries: number;
  tailBytes: number;
}

/** Channels and the workspace room: names that carry events or presence, never stored data. */
function isRoom(documentName: string): boolean {
  return isChannelDocument(documentName) || isWorkspaceDocument(documentName);
}

/** Thrown from beforeUnloadDocument to keep a document loaded; not an Error, which Hocuspocus would print. */
const KEEP_LOADED = Object.freeze({ reason: 'changes not yet stored' });

export class StorageExtension implements Extension {
  readonly extensionName = 'concord-storage';
  private readonly store: DocumentStore;
  private readonly committer: GroupCommitter;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly loaded = new Map<Document, LoadedDocument>();
  /** The loaded document of each name (a name is loaded at most once at a time). */
  private readonly byName = new Map<string, LoadedDocument>();
  /** Documents whose unload was refused while their changes waited for storage. */
  private readonly keptLoaded = new Set<Document>();
  private readonly compactions = new Set<Promise<void>>();
  /** Names with a compaction in flight: one at a time per document, across its unloads and reloads. */
  private readonly compacting = new Set<string>();
  private readonly merger = new UpdateMerger();
  /** Where loaded documents and their client ids' owners are registered for the sockets' update checks. */
  private readonly guard: UpdateGuard | undefined;
  private instance: Hocuspocus | undefined;
  private closing = false;

  constructor(store: DocumentStore, committer: GroupCommitter, log: Logger, metrics: Metrics, guard?: UpdateGuard) {
    this.store = store;
    this.committer = committer;
    this.guard = guard;
    // A claim of a client id is stored like an update, before the update that made it is acknowledged.
    guard?.storeClaimsWith((name, client, user) => {
      try {
        committer.append(ownersLogName(name), encodeClaim(client, user));
      } catch (error) {
        this.log.error({ err: error, document: name }, 'a client id claim arrived after storage closed; it is not stored');
      }
    });
    this.log = log.child({ component: 'storage', store: store.kind });
    this.metrics = metrics;
    committer.listen({ health: this.onHealth, stored: this.onStored });
  }

  async onConfigure({ instance }: onConfigurePayload): Promise<void> {
    this.instance = instance;
  }

  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    if (isRoom(documentName)) return; // a channel or the workspace room holds no data (its connections are read-only)
    const endTimer = this.metrics.storeDuration.startTimer({ operation: 'load' });
    let entries;
    let ownerEntries;
    try {
      [entries, ownerEntries] = await Promise.all([this.store.load(documentName), this.store.load(ownersLogName(documentName))]);
    } catch (error) {
      this.metrics.storeErrors.inc({ operation: 'load' });
      throw error;
    } finally {
      endTimer();
    }
    // Nobody is connected yet: no update of the whole stored state needs encoding (see seams/yjs.ts).
    withoutUpdateEvents(document, () =>
      Y.transact(
        document,
        () => {
          for (const { seq, update } of entries) {
            try {
              Y.applyUpdate(document, update, STORAGE_ORIGIN);
            } catch (error) {
              this.metrics.storeErrors.inc({ operation: 'decode' });
              this.log.error({ err: error, document: documentName, seq }, 'skipped a stored update that does not decode');
            }
          }
        },
        STORAGE_ORIGIN,
      ),
    );
    const state: LoadedDocument = {
      name: documentName,
      document,
      snapshotBytes: entries[0]?.update.byteLength ?? 0,
      tailEntries: Math.max(0, entries.length - 1),
      tailBytes: entries.slice(1).reduce((sum, entry) => sum + entry.update.byteLength, 0),
    };
    this.loaded.set(document, state);
    this.byName.set(documentName, state);
    const { owners, undecodable } = decodeOwners(ownerEntries);
    if (undecodable > 0) {
      this.metrics.storeErrors.inc({ operation: 'decode' }, undecodable);
      this.log.error({ document: documentName, undecodable }, 'skipped stored client id claims that do not decode');
    }
    this.guard?.opened(documentName, document, owners);
    document.on('update', (update: Uint8Array, origin: unknown) => this.persist(state, update, origin));
    document.once('destroy', () => {
      this.guard?.closed(documentName, document);
      this.loaded.delete(document);
      if (this.byName.get(documentName) === state) this.byName.delete(documentName);
      this.keptLoaded.delete(document);
      this.maybeCompact(state, 'unloading');
    });
    this.maybeCompact(state);
  }

  /** A client joining while storage is degraded learns it at once. */
  async connected({ connection, documentName }: connectedPayload): Promise<void> {
    if (!this.committer.healthy && !isRoom(documentName)) connection.sendStateless(storageNotice(StorageStatus.Degraded));
  }

  /** Keeps a document loaded while it has changes storage has not taken yet; otherwise waits for them. */
  async beforeUnloadDocument({ document, documentName }: beforeUnloadDocumentPayload): Promise<void> {
    if (this.committer.pending(documentName) === 0) return;
    if (!this.committer.healthy) {
      this.keptLoaded.add(document);
      throw KEEP_LOADED;
    }
    await this.committer.whenDurable(this.committer.lastPendingTicket(documentName));
  }

  /** Waits for compactions in flight and starts no new ones (graceful shutdown). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.compactions]);
    await this.merger.close();
  }

  private persist(state: LoadedDocument, update: Uint8Array, origin: unknown): void {
    if (isConcordOrigin(origin, OriginTag.Storage)) return;
    const fromClient = isTransactionOrigin(origin) && origin.source === 'connection';
    if (fromClient) this.metrics.updates.fromClients += 1;
    else this.metrics.updates.fromServer += 1;
    try {
      this.committer.append(state.name, update);
    } catch (error) {
      this.log.error({ err: error, document: state.name }, 'an update arrived after storage closed; it is not stored');
    }
  }

  private readonly onHealth = (healthy: boolean) => {
    const notice = storageNotice(healthy ? StorageStatus.Ok : StorageStatus.Degraded);
    for (const { document } of this.loaded.values()) document.broadcastStateless(notice);
  };

  /**
   * After each write: the stored documents' logs grew (compact when due), and documents kept loaded through an
   * outage are unloaded once their changes are stored, if nobody is on them.
   */
  private readonly onStored = (counts: StoredCounts) => {
    for (const [name, { entries, bytes }] of counts) {
      const state = this.byName.get(name);
      if (!state) continue;
      state.tailEntries += entries;
      state.tailBytes += bytes;
      this.maybeCompact(state);
    }
    for (const document of this.keptLoaded) {
      if (this.committer.pending(document.name) > 0) continue;
      this.keptLoaded.delete(document);
      if (document.getConnectionsCount() === 0) void this.instance?.unloadDocument(document);
    }
  };

  /** Compacts the log when its tail is due (see the thresholds above), in the background. */
  private maybeCompact(state: LoadedDocument, moment: 'grown' | 'unloading' = 'grown'): void {
    if (this.closing || this.compacting.has(state.name)) return;
    if (moment === 'unloading') {
      if (state.tailEntries < 2 || (state.tailEntries < COMPACT_ON_UNLOAD_MIN_ENTRIES && state.tailBytes < COMPACT_ON_UNLOAD_MIN_BYTES)) return;
    } else {
      const tailLimit = Math.max(state.snapshotBytes / 2, COMPACT_MIN_TAIL_BYTES);
      if (state.tailEntries < COMPACT_AFTER_ENTRIES && state.tailBytes < tailLimit) return;
    }
    this.compacting.add(state.name);
    const job = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.compact(state))
      .catch((error: unknown) => {
        this.metrics.storeErrors.inc({ operation: 'compact' });
        this.log.error({ err: error, document: state.name }, 'compaction failed; the log is intact');
      })
      .finally(() => {
        this.compacting.delete(state.name);
        this.compactions.delete(job);
      });
    this.compactions.add(job);
  }

  /**
   * Rebuilds the stored log (not the live document: only what is stored may be compacted, and with several instances
   * on one database the log holds edits this one never saw) into one snapshot, merged on the compaction thread.
   */
  private async compact(state: LoadedDocument): Promise<void> {
    const endTimer = this.metrics.storeDuration.startTimer({ operation: 'compact' });
    try {
      const counted = { entries: state.tailEntries, bytes: state.tailBytes };
      this.log.debug({ document: state.name, tailEntries: counted.entries }, 'compacting');
      const entries = await this.store.load(state.name);
      if (entries.length < 2) return;
      const snapshot = await this.merger.merge(entries.map((entry) => entry.update));
      await this.store.compact(
        state.name,
        snapshot,
        entries.map((entry) => entry.seq),
      );
      state.snapshotBytes = snapshot.byteLength;
      state.tailEntries = Math.max(0, state.tailEntries - counted.entries);
      state.tailBytes = Math.max(0, state.tailBytes - counted.bytes);
      this.log.debug({ document: state.name, entries: entries.length, snapshotBytes: snapshot.byteLength }, 'compacted');
    } finally {
      endTimer();
    }
  }
}
