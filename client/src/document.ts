/**
 * A document handle: one Y.Doc wired to its IndexedDB copy and to the server through the client's shared socket.
 *
 * The rule: local data first. The handle applies the IndexedDB copy before it attaches a `HocuspocusProvider`, so
 * what was stored shows before the network answers, and a failing IndexedDB only delays the network by
 * `LOCAL_LOAD_TIMEOUT_MS` at worst. A document the server refuses or closes is taken off the socket (nothing more
 * is sent for it). A refused token (or a token function that failed) is replaced: the document tries again with a
 * fresh token after a backoff that doubles up to `REFUSED_RETRY_MAX_DELAY_MS`; a Forbidden document, whose token is
 * fine but does not grant it, waits for the socket's next connection. Other tabs of the same user with the document
 * open get its edits over a BroadcastChannel (tabs.ts), without the server.
 */
import { CloseReason, parseServerNotice, StorageStatus, type DocumentSpec, type DocumentType, type TypedDocument } from '@concord/engine';
import { HocuspocusProvider } from '@hocuspocus/provider';
import { ObservableV2 } from 'lib0/observable';
import { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { Clock } from './clock.js';
import { HeldUpdates, type UpdateClock } from './frequency.js';
import { DocumentHistory } from './history.js';
import type { Identity } from './identity.js';
import { closeLocalCopy, loadLocalCopy, localDatabaseName } from './local.js';
import type { LocalCopy } from './localCopy.js';
import { sameEntries } from './changes.js';
import { Outbox } from './outbox.js';
import { AwarenessPresence } from './presence.js';
import type { Socket } from './socket.js';
import { deriveStatus, sameStatus } from './status.js';
import { crossTabAvailable, TabChannel } from './tabs.js';
import type { TokenProvider } from './token.js';
import type { DocumentEvents, DocumentHandle, DocumentStatus, OutboxEntry } from './types.js';

/** First retry of a document refused for its token; doubles per refusal (with jitter) up to the cap. */
export const REFUSED_RETRY_MIN_DELAY_MS = 1_000;
export const REFUSED_RETRY_MAX_DELAY_MS = 30_000;

/** What a document needs from the client that opened it. */
export interface DocumentContext {
  readonly socket: Socket;
  readonly tokens: TokenProvider;
  identity(): Promise<Identity>;
  readonly persistence: boolean;
  /** When held remote updates are applied (the update-frequency preference). */
  readonly clock: UpdateClock;
  /** Time for presence (typing stops, idle). */
  readonly time: Clock;
  /** Called with each IndexedDB database the document opens, so the client can wipe it later. */
  rememberDatabase(name: string): void;
  /** The document's outbox changed (recorded in the namespace's registry, for documents no screen has open). */
  outboxChanged(name: string, entries: readonly OutboxEntry[]): void;
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
  private readonly room: boolean;
  readonly doc = new Y.Doc();
  readonly awareness = new Awareness(this.doc);
  readonly presence: AwarenessPresence;
  readonly history = new DocumentHistory(this.doc);
  private readonly context: DocumentContext;
  private readonly changes: Outbox;
  /** The outbox entries last announced with an `outbox` event. */
  private announcedOutbox: readonly OutboxEntry[] = [];
  private readonly loaded = deferred();
  private readonly firstSync = deferred();
  private readonly started: Promise<void>;
  private finished: Promise<void> | null = null;
  private provider: HocuspocusProvider | null = null;
  private held: HeldUpdates | null = null;
  private local: LocalCopy | null = null;
  /** Other tabs with this document open (same user); null without a namespace or BroadcastChannel. */
  private tabs: TabChannel | null = null;
  /** Origins of updates that came from elsewhere (provider, IndexedDB), which other tabs get themselves. */
  private readonly foreignOrigins = new Set<unknown>();
  private references = 1;
  private isClosed = false;
  private loadedLocally = false;
  private offSocket = false;
  /** The server authenticated this document on the current connection (and has not closed it since). */
  private authenticatedHere = false;
  private refusal: string | null = null;
  /** The token this document last presented, so a refusal invalidates that one and no newer one. */
  private lastToken: string | null = null;
  private retryDelayMs = REFUSED_RETRY_MIN_DELAY_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private closedByServer: string | null = null;
  private localProblem: string | null = null;
  /** Why the outbox's state could not be stored; cleared by the next write that succeeds. */
  private outboxProblem: string | null = null;
  /** The server's last storage notice said it cannot store; cleared by an `ok` notice or a new connection. */
  private serverDegraded = false;
  private current: DocumentStatus;

  /**
   * `room: true` for a name that carries no stored data (a channel): no IndexedDB copy and no tab channel; it still
   * authenticates, reconnects and is refused like a document.
   */
  constructor(name: string, context: DocumentContext, placeholderUser: Identity['user'], options: { room?: boolean } = {}) {
    super();
    this.name = name;
    this.room = options.room ?? false;
    this.context = context;
    this.presence = new AwarenessPresence(this.awareness, placeholderUser, context.time);
    this.changes = new Outbox(this.doc, {
      onChange: this.refresh,
      onStoreError: this.onOutboxStoreError,
      onStored: this.onOutboxStored,
    });
    this.current = this.derive();
    context.socket.on('state', this.refresh);
    context.socket.on('open', this.onSocketOpen);
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
    return this.changes.entries();
  }

  typed<S extends DocumentSpec>(type: DocumentType<S>): TypedDocument<S> {
    return type.open(this.doc);
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
    this.context.socket.off('open', this.onSocketOpen);
    const error = new Error(`document ${this.name} was closed`);
    this.loaded.reject(error);
    this.firstSync.reject(error);
    this.context.closed(this);
    clearTimeout(this.retryTimer);
    this.tabs?.close();
    if (this.provider) {
      // A Close queued on a closed socket would reach the server after the next connection's authentications and
      // close the same document opened again by then; without a connection the server holds no session to close.
      if (!this.context.socket.isOpen && !this.offSocket) this.context.socket.detachSilently(this.provider);
      this.provider.destroy();
    } else {
      this.awareness.destroy();
    }
    this.finished = this.started.then(() => this.release());
    return this.finished;
  }

  /** Sends a stateless message to the server for this document (dropped while it is not on a connection). */
  sendStateless(payload: string): void {
    if (this.provider && !this.offSocket) this.provider.sendStateless(payload);
  }

  /** Stops caching this document locally (its database is about to be deleted); it keeps syncing. */
  async forgetLocalCopy(): Promise<void> {
    const local = this.local;
    this.local = null;
    this.changes.forgetStore();
    if (local) await closeLocalCopy(local);
  }

  private async start(): Promise<void> {
    const identity = await this.context.identity();
    if (this.isClosed) return;
    this.presence.identify(identity.user);
    if (this.room) {
      // No local copy: nothing of a room is kept on the device.
    } else if (this.context.persistence && identity.namespace !== null) {
      const database = localDatabaseName(identity.namespace, this.name);
      this.context.rememberDatabase(database);
      this.localProblem = await loadLocalCopy(database, this.doc, this.onBound, this.refresh);
      if (this.local && this.localProblem === null) await this.changes.restore(this.local);
    } else if (this.context.persistence) {
      this.localProblem = identity.problem;
    }
    if (this.isClosed) return;
    if (!this.room && identity.namespace !== null && crossTabAvailable()) {
      this.tabs = new TabChannel(localDatabaseName(identity.namespace, this.name), this.doc, this.foreignOrigins);
    }
    this.loadedLocally = true;
    this.loaded.resolve();
    this.attach();
    this.refresh();
  }

  private readonly onOutboxStoreError = (error: unknown) => {
    this.outboxProblem = `not saved on this device: the outbox could not be stored (${error instanceof Error ? error.message : String(error)})`;
    this.refresh();
  };

  private readonly onOutboxStored = () => {
    if (this.outboxProblem === null) return;
    this.outboxProblem = null;
    this.refresh();
  };

  private readonly onBound = (persistence: LocalCopy) => {
    this.changes.storedOrigin(persistence);
    this.foreignOrigins.add(persistence);
    if (this.isClosed) void closeLocalCopy(persistence);
    else this.local = persistence;
  };

  private attach(): void {
    const { socket, tokens } = this.context;
    const provider = new HocuspocusProvider({
      name: this.name,
      document: this.doc,
      awareness: this.awareness,
      websocketProvider: socket.provider,
      token: async () => (this.lastToken = await tokens.forConnection(socket.connection)),
    });
    this.changes.serverOrigin(provider);
    this.changes.watch(provider, () => this.context.socket.isOpen);
    this.held = new HeldUpdates(this.doc, this.context.clock, this.refresh);
    this.held.intercept(provider);
    this.foreignOrigins.add(provider);
    provider.on('authenticated', this.onAuthenticated);
    provider.on('authenticationFailed', this.onRefused);
    provider.on('synced', this.onProviderProgress);
    provider.on('unsyncedChanges', this.onProviderProgress);
    provider.on('close', this.onProviderClose);
    provider.on('stateless', this.onStateless);
    this.provider = provider;
    provider.attach();
  }

  private readonly onAuthenticated = () => {
    this.authenticatedHere = true;
    this.serverDegraded = false; // a server that is still degraded says so again right after authentication
    this.retryDelayMs = REFUSED_RETRY_MIN_DELAY_MS;
    this.refusal = null;
    this.closedByServer = null;
    // The server dropped our presence when the last connection closed and ignores a resent state with the clock it
    // already saw; republishing gives it a newer clock, so others see us again at once (not at the 15 s renewal).
    this.presence.republish();
    this.refresh();
    this.emit('authenticated', []);
  };

  private readonly onStateless = ({ payload }: { payload: string }) => {
    const notice = parseServerNotice(payload);
    if (!notice) {
      this.emit('stateless', [payload]);
      return;
    }
    this.serverDegraded = notice.status === StorageStatus.Degraded;
    this.refresh();
  };

  private readonly onRefused = ({ reason }: { reason: string }) => {
    this.refusal = `the server refused document ${this.name}: ${reason}`;
    this.takeOffSocket();
    if (reason !== CloseReason.Forbidden && this.context.tokens.canRefresh) {
      this.context.tokens.invalidate(this.lastToken);
      this.scheduleRetry();
    }
    this.refresh();
  };

  /** Puts the document back on the socket after the backoff; it authenticates with a freshly fetched token. */
  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    const delay = this.retryDelayMs / 2 + Math.random() * (this.retryDelayMs / 2);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, REFUSED_RETRY_MAX_DELAY_MS);
    this.retryTimer = setTimeout(() => {
      if (this.isClosed || !this.offSocket || !this.provider) return;
      this.offSocket = false;
      this.provider.attach();
    }, delay);
  }

  private readonly onProviderProgress = () => {
    if (this.provider?.isSynced) this.firstSync.resolve();
    this.refresh();
  };

  /**
   * A close while the socket stays open is the server closing this document — unless the document was not
   * authenticated yet: then it is the server's answer to the Close of an earlier handle of the same name, routed
   * here by name, and means nothing for this one.
   */
  private readonly onProviderClose = ({ event }: { event?: { reason?: string } }) => {
    const wasAuthenticated = this.authenticatedHere;
    this.authenticatedHere = false;
    if (this.context.socket.isOpen && wasAuthenticated && !this.offSocket) {
      this.closedByServer = `the server closed document ${this.name}: ${event?.reason || 'no reason given'}`;
      this.takeOffSocket();
    }
    this.refresh();
  };

  private readonly onSocketOpen = () => {
    if (!this.offSocket || !this.provider) return;
    clearTimeout(this.retryTimer);
    this.offSocket = false;
    this.provider.attach();
  };

  private takeOffSocket(): void {
    if (!this.provider || this.offSocket) return;
    this.offSocket = true;
    this.context.socket.detachSilently(this.provider);
  }

  private derive(): DocumentStatus {
    const provider = this.provider;
    return deriveStatus({
      socket: this.context.socket.state,
      refusal: this.refusal,
      authenticated: !this.offSocket && (provider?.isAuthenticated ?? false),
      providerSynced: provider?.isSynced ?? false,
      pendingChanges: this.changes.count,
      loadedLocally: this.loadedLocally,
      localCopy: this.localCopyState(),
      readOnly: provider?.authorizedScope === 'readonly',
      heldUpdates: this.held?.count ?? 0,
      problem: this.closedByServer ?? this.local?.problem ?? this.outboxProblem ?? this.localProblem,
      serverDegraded: this.serverDegraded,
    });
  }

  private localCopyState(): DocumentStatus['localCopy'] {
    if (this.room || !this.context.persistence || (this.loadedLocally && !this.local)) return 'none';
    return this.local && this.loadedLocally ? this.local.state : 'loading';
  }

  /** Some local change is neither acknowledged by the server nor stored on this device. */
  hasUnsavedChanges(): boolean {
    return this.changes.count > 0 && (this.local === null || this.local.unsaved);
  }

  private readonly refresh = () => {
    if (this.isClosed) return;
    const entries = this.changes.entries();
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
    await this.forgetLocalCopy();
    this.doc.destroy();
    super.destroy();
  }
}
