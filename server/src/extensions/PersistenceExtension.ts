/**
 * Loads documents from the DocumentStore and hands every change to the group committer.
 *
 * Every update a loaded document applies (except those loaded from storage) goes to the group committer at once,
 * from the document's update event, before Hocuspocus acknowledges it; the acknowledgement then waits until the
 * document's queued writes are durable (durability/Durability.ts, sockets/Acknowledgements.ts), while other clients
 * see the change immediately. While writes fail, a document with changes not yet stored stays loaded (unloading it
 * would let a reload from storage miss them), clients are told storage is degraded, and the committer retries.
 * Loaded documents are registered in LoadedDocuments, from which the Compactor (storage/Compactor.ts) keeps their
 * logs short. Channels (`<tenant>/#<channel>`) and workspace rooms (`<tenant>/@workspace`) are not stored. Who owns
 * each client id of a document (sockets/UpdateGuard.ts) is loaded with it, and registered for the sockets' update
 * checks; claims are stored through the same committer.
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
import type { GroupCommitter } from '../storage/GroupCommitter.js';
import type { LoadedDocument, LoadedDocuments } from '../storage/LoadedDocuments.js';
import { decodeOwners, encodeClaim, ownersLogName } from '../storage/clientOwners.js';
import type { UpdateGuard } from '../sockets/UpdateGuard.js';
import { withoutUpdateEvents } from '../seams/yjs.js';

/** Channels and the workspace room: names that carry events or presence, never stored data. */
function isRoom(documentName: string): boolean {
  return isChannelDocument(documentName) || isWorkspaceDocument(documentName);
}

/** Thrown from beforeUnloadDocument to keep a document loaded; not an Error, which Hocuspocus would print. */
const KEEP_LOADED = Object.freeze({ reason: 'changes not yet stored' });

export class PersistenceExtension implements Extension {
  readonly extensionName = 'concord-persistence';
  private readonly store: DocumentStore;
  private readonly committer: GroupCommitter;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  /** Where loaded documents are registered (for the Compactor). */
  private readonly documents: LoadedDocuments;
  /** Documents whose unload was refused while their changes waited for storage. */
  private readonly keptLoaded = new Set<Document>();
  /** Where loaded documents and their client ids' owners are registered for the sockets' update checks. */
  private readonly guard: UpdateGuard | undefined;
  private instance: Hocuspocus | undefined;

  constructor(
    store: DocumentStore,
    committer: GroupCommitter,
    documents: LoadedDocuments,
    log: Logger,
    metrics: Metrics,
    guard?: UpdateGuard,
  ) {
    this.store = store;
    this.committer = committer;
    this.documents = documents;
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
    const loaded: LoadedDocument = { name: documentName, document };
    this.documents.add(loaded, entries);
    const { owners, undecodable } = decodeOwners(ownerEntries);
    if (undecodable > 0) {
      this.metrics.storeErrors.inc({ operation: 'decode' }, undecodable);
      this.log.error({ document: documentName, undecodable }, 'skipped stored client id claims that do not decode');
    }
    this.guard?.opened(documentName, document, owners);
    document.on('update', (update: Uint8Array, origin: unknown) => this.persist(documentName, update, origin));
    document.once('destroy', () => {
      this.guard?.closed(documentName, document);
      this.keptLoaded.delete(document);
      this.documents.remove(loaded);
    });
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

  private persist(name: string, update: Uint8Array, origin: unknown): void {
    // Loaded from storage, or stored by the instance that relayed it.
    if (isConcordOrigin(origin, OriginTag.Storage) || isConcordOrigin(origin, OriginTag.Relay)) return;
    const fromClient = isTransactionOrigin(origin) && origin.source === 'connection';
    if (fromClient) this.metrics.updates.fromClients += 1;
    else this.metrics.updates.fromServer += 1;
    try {
      this.committer.append(name, update);
    } catch (error) {
      this.log.error({ err: error, document: name }, 'an update arrived after storage closed; it is not stored');
    }
  }

  private readonly onHealth = (healthy: boolean) => {
    const notice = storageNotice(healthy ? StorageStatus.Ok : StorageStatus.Degraded);
    for (const { document } of this.documents.values()) document.broadcastStateless(notice);
  };

  /**
   * After each write: documents kept loaded through an outage are unloaded once their changes are stored, if nobody
   * is on them.
   */
  private readonly onStored = () => {
    for (const document of this.keptLoaded) {
      if (this.committer.pending(document.name) > 0) continue;
      this.keptLoaded.delete(document);
      if (document.getConnectionsCount() === 0) void this.instance?.unloadDocument(document);
    }
  };
}
