/**
 * A document handle: one Y.Doc, its copy on this device and its place on the client's shared socket, and the
 * status and outbox derived from them.
 *
 * The rule: local data first. The handle applies the device's copy (deviceCopy.ts) before it joins the socket
 * (documentConnection.ts), so what was stored shows before the network answers. Each part has one job: the device
 * copy (IndexedDB, the other tabs), the connection (provider, refusals and their backoff, the server's notices), the
 * outbox (outbox.ts: what the server has not acknowledged), the history (history.ts: this user's undo and redo),
 * presence (presence.ts), held remote updates (frequency.ts). The handle wires them, counts its references, and
 * announces `status` and `outbox` when what it derives from them changes.
 *
 * Revocation (SPEC §3): when the server refuses the document `revoked`, the handle deletes what the device holds of
 * it — the IndexedDB copy, the outbox and its record in the namespace's registry — reports the changes that were
 * never sent (`access` event, `none`), and stays `unauthorized` with reason `revoked` until it is closed. A downgrade
 * (the server authenticates it again read-only) is an `access` event too: local changes stay in the outbox, unsendable.
 * The files attached to it and waiting to upload (attachments.ts, uploads.ts) are in its outbox, and are deleted from
 * the device with it when it is revoked.
 */
import type { DocumentSpec, DocumentType, TypedDocument } from '@concord/engine';
import { ObservableV2 } from 'lib0/observable';
import { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { AttachedFiles, attachFile, detachFile, withFiles } from './attachments.js';
import { sameEntries } from './changes.js';
import type { Clock } from './clock.js';
import { DeviceCopy } from './deviceCopy.js';
import type { PowerWatch } from './power.js';
import type { Telemetry } from './telemetry.js';
import { DocumentConnection } from './documentConnection.js';
import { HeldUpdates, type UpdateClock } from './frequency.js';
import { LOCAL_LOAD_TIMEOUT_MS } from './local.js';
import { DocumentHistory } from './history.js';
import type { Identity } from './identity.js';
import { Outbox } from './outbox.js';
import { AwarenessPresence } from './presence.js';
import type { Socket } from './socket.js';
import { deriveStatus, sameStatus } from './status.js';
import type { TokenProvider } from './token.js';
import type {
  AccessChange,
  AttachmentInfo,
  AttachOptions,
  DocumentEvents,
  DocumentHandle,
  DocumentStatus,
  OutboxEntry,
  RestoreResult,
  VersionInfo,
} from './types.js';
import type { UploadQueue } from './uploads.js';
import type { VersionsApi } from './versions.js';


/** What a document needs from the client that opened it. */
export interface DocumentContext {
  readonly socket: Socket;
  readonly tokens: TokenProvider;
  /** The server's version history API. */
  readonly versions: VersionsApi;
  /** The client's upload queue: the files attached and waiting. */
  readonly uploads: UploadQueue;
  identity(): Promise<Identity>;
  readonly persistence: boolean;
  /** When held remote updates are applied (the update-frequency preference). */
  readonly clock: UpdateClock;
  /** Time for presence (typing stops, idle, its pace). */
  readonly time: Clock;
  /** Shown, hidden, or saving energy: the pace of presence (presencePace.ts). */
  readonly power: PowerWatch;
  /** Delivery measured on this client, reported to the server (telemetry.ts). */
  readonly telemetry: Telemetry;
  /** Called with each IndexedDB database the document opens, so the client can wipe it later. */
  rememberDatabase(name: string): void;
  /** The document's outbox changed (recorded in the namespace's registry, for documents no screen has open). */
  outboxChanged(name: string, entries: readonly OutboxEntry[]): void;
  /** The document's outbox was deleted (revoked): its record in the registry goes, whoever wrote it. */
  outboxDeleted(name: string): Promise<void>;
  /** Called once, when the last reference is released. */
  closed(handle: SyncedDocument): void;
}

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Events for the client's own use (channels), beside the public DocumentEvents. */
export type InternalDocumentEvents = DocumentEvents & {
  /** The server authenticated the document on a connection. */
  authenticated: () => void;
  /** A stateless message from the server that is not a storage notice. */
  stateless: (payload: string) => void;
};

export class SyncedDocument extends ObservableV2<InternalDocumentEvents> implements DocumentHandle {
  readonly name: string;
  readonly doc = new Y.Doc();
  readonly awareness = new Awareness(this.doc);
  readonly presence: AwarenessPresence;
  readonly history = new DocumentHistory(this.doc);
  private readonly context: DocumentContext;
  private readonly room: boolean;
  private readonly changes: Outbox;
  private readonly copy: DeviceCopy;
  /** On the socket once the device's copy is loaded; null before, and for a document closed before that. */
  private connection: DocumentConnection | null = null;
  private held: HeldUpdates | null = null;
  /** Cancels the uploads of removed attachment records, and lets their bytes go at close; null for a room. */
  private readonly attached: AttachedFiles | null;
  /** The outbox entries last announced with an `outbox` event. */
  private announcedOutbox: readonly OutboxEntry[] = [];
  private current: DocumentStatus;
  private readonly loaded = deferred();
  private readonly firstSync = deferred();
  private readonly started: Promise<void>;
  private finished: Promise<void> | null = null;
  private references = 1;
  private isClosed = false;
  /** The server's copy arrived (the first sync) since the document was opened; false again once revoked. */
  private serverCopyArrived = false;

  /**
   * `room: true` for a name that carries no stored data (a channel): no IndexedDB copy and no tab channel; it still
   * authenticates, reconnects and is refused like a document.
   */
  constructor(name: string, context: DocumentContext, placeholderUser: Identity['user'], options: { room?: boolean } = {}) {
    super();
    this.name = name;
    this.context = context;
    this.room = options.room ?? false;
    this.presence = new AwarenessPresence(this.awareness, placeholderUser, context.time);
    this.changes = new Outbox(this.doc, { onChange: this.refresh });
    this.copy = new DeviceCopy(name, this.doc, {
      persistence: context.persistence,
      room: options.room ?? false,
      rememberDatabase: (database) => context.rememberDatabase(database),
      changed: this.refresh,
    });
    this.current = this.derive();
    this.attached = this.room ? null : new AttachedFiles(name, this.doc, context.uploads);
    context.socket.on('state', this.refresh);
    context.uploads.on('change', this.onFilesChanged);
    this.started = this.start();
  }

  get status(): DocumentStatus {
    return this.current;
  }

  whenLoaded(): Promise<void> {
    return this.loaded.promise;
  }

  whenSynced(): Promise<void> {
    return this.firstSync.promise;
  }

  outbox(): readonly OutboxEntry[] {
    return withFiles(this.changes.entries(), this.context.uploads.waiting(this.name));
  }

  unsendable(): readonly OutboxEntry[] {
    return this.connection?.readOnly === true && this.connection.refusal === null ? this.outbox() : [];
  }

  /** Local changes of the document itself the server has not acknowledged (not counting files waiting to upload). */
  get unacknowledged(): number {
    return this.changes.count;
  }

  async attach(file: Blob, options?: AttachOptions): Promise<AttachmentInfo> {
    if (this.isClosed) throw new Error(`document ${this.name} was closed`);
    const identity = await this.context.identity();
    await this.whenLoaded();
    return attachFile({ name: this.name, doc: this.doc, uploads: this.context.uploads, user: identity.user.id, now: Date.now() }, file, options);
  }

  detach(id: string): boolean {
    if (this.isClosed) throw new Error(`document ${this.name} was closed`);
    return detachFile(this.doc, id);
  }

  typed<S extends DocumentSpec>(type: DocumentType<S>): TypedDocument<S> {
    return type.open(this.doc);
  }

  versions(): Promise<VersionInfo[]> {
    return this.context.versions.list(this.name);
  }

  version(id: string): Promise<Uint8Array> {
    return this.context.versions.state(this.name, id);
  }

  saveVersion(name: string): Promise<VersionInfo> {
    return this.context.versions.save(this.name, name);
  }

  restore(id: string): Promise<RestoreResult> {
    return this.context.versions.restore(this.name, id);
  }

  /** One more `open` of the same name. */
  retain(): this {
    this.references += 1;
    return this;
  }

  close(): Promise<void> {
    if (this.finished) return this.finished;
    this.references -= 1;
    return this.references > 0 ? Promise.resolve() : this.shutdown();
  }

  /**
   * Closes regardless of references (the client is being destroyed). The handle leaves the client's registry and
   * the socket at once, so the same name can be opened again right away; IndexedDB and the doc follow once the
   * start-up sequence has settled.
   */
  shutdown(): Promise<void> {
    if (this.finished) return this.finished;
    this.isClosed = true;
    this.references = 0;
    this.context.socket.off('state', this.refresh);
    this.context.uploads.off('change', this.onFilesChanged);
    const error = new Error(`document ${this.name} was closed`);
    this.loaded.reject(error);
    this.firstSync.reject(error);
    this.context.closed(this);
    this.copy.close();
    if (this.connection) this.connection.destroy();
    else this.awareness.destroy();
    this.finished = this.started.then(() => this.release());
    return this.finished;
  }

  /** Sends a stateless message to the server for this document (dropped while it is not on a connection). */
  sendStateless(payload: string): void {
    this.connection?.sendStateless(payload);
  }

  /** Stops caching this document locally (its database is about to be deleted); it keeps syncing. */
  forgetLocalCopy(): Promise<void> {
    return this.copy.forget(this.changes);
  }

  /** Some local change is neither acknowledged by the server nor stored on this device. */
  hasUnsavedChanges(): boolean {
    return this.changes.count > 0 && this.copy.unsaved;
  }

  private async start(): Promise<void> {
    const identity = await this.context.identity();
    if (this.isClosed) return;
    this.presence.identify(identity.user);
    await this.copy.load(identity, this.changes);
    // The files a reload left waiting are in the outbox from the first look at it (a failing IndexedDB delays no more
    // than it delays the copy).
    if (!this.room) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.context.uploads.ready(), new Promise((resolve) => (timer = setTimeout(resolve, LOCAL_LOAD_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }
    if (this.isClosed) return;
    this.loaded.resolve();
    this.join();
    this.refresh();
  }

  /** Joins the socket: from now on the server's updates arrive, held by the update-frequency preference. */
  private join(): void {
    const connection = new DocumentConnection(this.name, this, this.context, {
      changed: this.refresh,
      authenticated: this.onAuthenticated,
      synced: () => {
        this.firstSync.resolve();
        if (this.serverCopyArrived || this.isClosed) return;
        this.serverCopyArrived = true;
        this.copy.serverCopyArrived();
        this.refresh();
      },
      stateless: (payload) => this.emit('stateless', [payload]),
      revoked: this.onRevoked,
      accessChanged: this.onAccessChanged,
    });
    const { provider } = connection;
    // After the provider's own close handling, which drops the peers' states.
    provider.on('close', () => this.presence.forgetDroppedPeers());
    this.changes.serverOrigin(provider);
    this.changes.watch(provider, () => this.context.socket.isOpen);
    this.held = new HeldUpdates(this.doc, this.context.clock, this.refresh);
    this.held.intercept(provider);
    this.copy.foreignOrigins.add(provider);
    this.connection = connection;
    connection.attach();
  }

  private readonly onAuthenticated = () => {
    // The server dropped our presence when the last connection closed and ignores a resent state with the clock it
    // already saw; republishing gives it a newer clock, so others see us again at once (not at the 15 s renewal).
    this.presence.republish();
    this.refresh();
    this.emit('authenticated', []);
  };

  /** Deletes what the device holds of the document; what was never sent is reported, not silently dropped. */
  private readonly onRevoked = () => {
    if (this.isClosed) return;
    const unsendable = withFiles(this.changes.discard(), this.context.uploads.waiting(this.name));
    this.serverCopyArrived = false; // nothing of it stays on the device
    const erased = Promise.all([
      this.copy.erase(this.changes),
      this.context.uploads.forgetDocument(this.name),
    ]).then(() => this.context.outboxDeleted(this.name));
    erased.catch(() => {
      // IndexedDB failed to delete: the copy is closed and never written again; it is deleted with the namespace.
    });
    this.refresh();
    this.emitAccess({ access: 'none', reason: this.connection?.refusalReason ?? null, unsendable });
  };

  private readonly onAccessChanged = (readOnly: boolean) => {
    this.emitAccess({ access: readOnly ? 'read' : 'write', reason: null, unsendable: readOnly ? this.outbox() : [] });
  };

  private emitAccess(change: AccessChange): void {
    if (!this.isClosed) this.emit('access', [Object.freeze(change)]);
  }

  private derive(): DocumentStatus {
    const connection = this.connection;
    return deriveStatus({
      socket: this.context.socket.state,
      refusal: connection?.refusal ?? null,
      refusalReason: connection?.refusalReason ?? null,
      authenticated: connection?.authenticated ?? false,
      providerSynced: connection?.synced ?? false,
      pendingChanges: this.outbox().length,
      loadedLocally: this.copy.loadedLocally,
      onDevice: this.copy.heldContent || this.serverCopyArrived,
      localCopy: this.copy.state,
      readOnly: connection?.readOnly ?? false,
      heldUpdates: this.held?.count ?? 0,
      problem: connection?.closedByServer ?? this.copy.problem ?? this.changes.problem,
      serverDegraded: connection?.serverDegraded ?? false,
    });
  }

  private readonly onFilesChanged = (document: string) => {
    if (document === this.name) this.refresh();
  };

  private readonly refresh = () => {
    if (this.isClosed) return;
    const entries = this.outbox();
    if (!sameEntries(entries, this.announcedOutbox)) {
      this.announcedOutbox = entries;
      this.context.outboxChanged(this.name, entries);
      this.emit('outbox', [entries]);
    }
    const next = this.derive();
    if (sameStatus(next, this.current)) return;
    this.current = next;
    this.emit('status', [next]);
  };

  private async release(): Promise<void> {
    this.history.destroy();
    this.presence.destroy();
    this.changes.destroy();
    this.held?.destroy();
    await this.attached?.close().catch(() => {});
    await this.forgetLocalCopy();
    this.doc.destroy();
    super.destroy();
  }
}
