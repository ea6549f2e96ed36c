/**
 * The sync client: one socket, one token source, one identity, and the registry of open documents.
 *
 * The rule: a document name is open at most once per client. `open` of an open name hands back the same handle
 * with one more reference, so two views of one document share its Y.Doc, its awareness and its provider (a
 * second provider for the same name on the same socket would be refused by the multiplexer anyway). Documents
 * record their outboxes in the namespace's registry, and every new connection sends what closed documents still
 * hold (background.ts). Files attached to documents go through one upload queue per client (uploads.ts), which runs
 * whenever the socket is open, for open and closed documents alike: a document whose upload ends while it is closed is
 * opened to write the ending into its record, and closed again once the server has that change.
 */
import { assertDocumentName, channelAddress, inboxDocumentName, parseViewSpec, viewDocumentName, WORKSPACE_ROOM, type ChannelPosition, type ViewSpec } from '@concord/engine';
import * as idb from 'lib0/indexeddb';
import { ObservableV2 } from 'lib0/observable';
import { readEnding, UploadEndings } from './attachments.js';
import { BackgroundSender } from './background.js';
import { cacheLimits, DocumentCache, type CachedDocument } from './cache.js';
import { cacheDatabaseName } from './cacheRecords.js';
import { DEFAULT_MAX_RECONNECT_DELAY_MS } from './backoff.js';
import { ChannelSubscription } from './channel.js';
import { systemClock } from './clock.js';
import { watchConflicts } from './conflicts.js';
import { InboxView } from './inbox.js';
import { LiveView } from './view.js';
import { WorkspacePresence } from './workspace.js';
import { filesDatabaseName, IndexedDBFiles, LOCAL_CHUNK_BYTES, MemoryFiles, type DeviceFiles } from './deviceFiles.js';
import { SyncedDocument, type DocumentContext } from './document.js';
import { HttpApi } from './http.js';
import { resolveIdentity, type Identity } from './identity.js';
import { deleteLocalDatabase, deleteNamespace, indexedDBAvailable, localDatabaseName } from './local.js';
import { resolveUser } from './presence.js';
import { assertUpdateFrequency, UpdateClock, type UpdateFrequency } from './frequency.js';
import { OutboxRegistry, registryDatabaseName, type PendingDocument } from './registry.js';
import { PowerWatch } from './power.js';
import { HIDDEN_DISCONNECT_AFTER_MS, HiddenSleep } from './sleep.js';
import { Socket } from './socket.js';
import type { Transport } from './transport.js';
import { Telemetry, TELEMETRY_INTERVAL_MS } from './telemetry.js';
import { TokenProvider } from './token.js';
import { UploadQueue } from './uploads.js';
import { VersionsApi } from './versions.js';
import type {
  Channel,
  ConnectionState,
  DocumentHandle,
  FieldConflict,
  Inbox,
  OutboxEntry,
  SyncClient,
  SyncClientEvents,
  SyncClientOptions,
  View,
  Workspace,
} from './types.js';

/** The pieces the device's copy of a file is read in for `fileUrl`: a few stored pieces at a time. */
const FILE_URL_READ_BYTES = 16 * LOCAL_CHUNK_BYTES;

class ConcordClient extends ObservableV2<SyncClientEvents> implements SyncClient {
  private readonly options: SyncClientOptions;
  private readonly socket: Socket;
  private readonly tokens: TokenProvider;
  private readonly handles = new Map<string, SyncedDocument>();
  private readonly channels = new Map<string, ChannelSubscription>();
  private inbox: Promise<InboxView> | null = null;
  private joined: WorkspacePresence | null = null;
  private readonly databases = new Set<string>();
  private readonly context: DocumentContext;
  private readonly clock: UpdateClock;
  private readonly background: BackgroundSender;
  private readonly api: HttpApi;
  private readonly uploads: UploadQueue;
  private readonly endings: UploadEndings;
  private readonly cache: DocumentCache;
  private readonly power: PowerWatch;
  private readonly hiddenSleep: HiddenSleep;
  private readonly telemetry: Telemetry;
  private registryOf: Promise<OutboxRegistry | null> | null = null;
  private identity: Promise<Identity> | null = null;
  private destroyed = false;

  constructor(options: SyncClientOptions) {
    super();
    this.options = options;
    this.tokens = new TokenProvider(options.token);
    this.socket = new Socket(options);
    this.socket.on('state', (state) => this.emit('state', [state]));
    this.socket.on('retry', (at) => this.emit('retry', [at]));
    this.socket.on('transport', (transport) => this.emit('transport', [transport]));
    this.clock = new UpdateClock(options.updateFrequency ?? 'live');
    this.clock.on('change', (frequency) => this.emit('frequency', [frequency]));
    this.api = new HttpApi(options.url, this.tokens);
    this.endings = new UploadEndings((name) => this.open(name) as SyncedDocument);
    this.uploads = new UploadQueue({
      api: this.api,
      files: () => this.deviceFiles(),
      online: () => this.socket.isOpen,
      maxDelayMs: options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS,
      settle: (document, id, ending) => this.endings.write(document, id, ending),
      ended: (document, id) => {
        const handle = this.handles.get(document);
        return handle ? readEnding(handle.doc, id) : null;
      },
    });
    this.uploads.on('progress', (document, progress) => {
      this.handles.get(document)?.emit('attachment', [progress]);
      this.emit('attachment', [document, progress]);
    });
    this.socket.on('open', () => this.uploads.connected());
    this.socket.on('state', () => {
      if (!this.socket.isOpen) this.uploads.disconnected();
    });
    this.power = new PowerWatch(options.saveEnergy ?? 'auto');
    this.telemetry = new Telemetry({
      socket: this.socket,
      clock: options.clock ?? systemClock,
      intervalMs: options.telemetryIntervalMs === undefined ? TELEMETRY_INTERVAL_MS : options.telemetryIntervalMs,
      send: (payload) => {
        const connected = [...this.handles.values()].find((handle) => handle.status.state === 'connected');
        connected?.sendStateless(payload);
        return connected !== undefined;
      },
    });
    this.context = {
      socket: this.socket,
      power: this.power,
      telemetry: this.telemetry,
      tokens: this.tokens,
      versions: new VersionsApi(options.url, this.tokens),
      uploads: this.uploads,
      identity: () => this.whoAmI(),
      persistence: (options.persistence ?? true) && indexedDBAvailable(),
      clock: this.clock,
      time: options.clock ?? systemClock,
      rememberDatabase: (name) => this.databases.add(name),
      closed: (handle) => {
        if (this.handles.get(handle.name) === handle) this.handles.delete(handle.name);
      },
      outboxChanged: (name, entries) => {
        void this.recordOutbox(name, entries);
        // After the document's status takes the change in (it is derived right after this call).
        queueMicrotask(() => this.hiddenSleep.changed());
      },
      outboxDeleted: async (name) => {
        await (await this.registry())?.forget(name);
        this.emit('outbox', []);
      },
    };
    this.hiddenSleep = new HiddenSleep({
      power: this.power,
      socket: this.socket,
      clock: options.clock ?? systemClock,
      afterMs: options.hiddenDisconnectAfterMs === undefined ? HIDDEN_DISCONNECT_AFTER_MS : options.hiddenDisconnectAfterMs,
      pending: () => [...this.handles.values()].some((handle) => handle.status.pendingChanges > 0),
    });
    this.cache = new DocumentCache(cacheLimits(options.cache), {
      namespace: async () => (this.context.persistence ? (await this.whoAmI()).namespace : null),
      pending: (document) => this.hasPending(document),
      erase: async (document) => {
        const { namespace } = await this.whoAmI();
        if (namespace === null) return;
        const database = localDatabaseName(namespace, document);
        await deleteLocalDatabase(database);
        this.databases.delete(database);
        await this.uploads.forgetDocument(document);
      },
    });
    this.background = new BackgroundSender({
      open: (name) => this.open(name),
      isOpen: (name) => this.handles.has(name),
      registry: () => this.registry(),
      changed: () => this.emit('outbox', []),
    });
    this.socket.on('open', () => void this.background.sendAll().catch(() => {
      // The registry could not be read: the listed documents are sent on the next connection, or when opened.
    }));
  }

  get state(): ConnectionState {
    return this.socket.state;
  }

  get nextRetryAt(): number | null {
    return this.socket.nextRetryAt;
  }

  get transport(): Transport {
    return this.socket.transport;
  }

  get sleeping(): boolean {
    return this.socket.asleep;
  }

  get updateFrequency(): UpdateFrequency {
    return this.clock.frequency;
  }

  setUpdateFrequency(frequency: UpdateFrequency): void {
    assertUpdateFrequency(frequency);
    this.clock.set(frequency);
  }

  syncNow(): void {
    if (this.destroyed) return;
    this.clock.tick();
    this.socket.syncNow();
  }

  hasUnsavedChanges(): boolean {
    return [...this.handles.values()].some((handle) => handle.hasUnsavedChanges());
  }

  async pendingDocuments(): Promise<PendingDocument[]> {
    const registry = await this.registry();
    return registry ? registry.pending() : [];
  }

  cachedDocuments(): Promise<CachedDocument[]> {
    return this.cache.list();
  }

  pin(name: string): Promise<void> {
    assertDocumentName(name);
    return this.cache.pin(name, true);
  }

  unpin(name: string): Promise<void> {
    assertDocumentName(name);
    return this.cache.pin(name, false);
  }

  open(name: string): DocumentHandle {
    if (this.destroyed) throw new Error('this sync client was destroyed');
    assertDocumentName(name);
    const existing = this.handles.get(name);
    if (existing) return existing.retain();
    // The cache keeps the copy while the document is open; one being evicted is waited for before it loads.
    const lease = this.cache.opened(name);
    const context: DocumentContext = {
      ...this.context,
      identity: () => lease.ready.then(() => this.whoAmI()),
      closed: (closing) => {
        this.context.closed(closing);
        // Called from within shutdown(); a microtask later, shutdown() answers when the handle is done (its copy closed).
        lease.end(Promise.resolve().then(() => closing.shutdown()));
      },
    };
    const handle = new SyncedDocument(name, context, resolveUser(this.options.user, null));
    this.handles.set(name, handle);
    // The typed model's writer, clock and locks, and `conflict` events (conflicts.ts); stopped with the doc.
    const user = this.whoAmI().then(({ user: { id, name: userName } }) => ({ id, name: userName }));
    const emit = (conflict: FieldConflict) => handle.emit('conflict', [conflict]);
    handle.doc.once('destroy', watchConflicts({ name, doc: handle.doc, awareness: handle.awareness, time: this.context.time, user, emit }));
    return handle;
  }

  subscribe(channel: string, options: { since?: ChannelPosition | null } = {}): Channel {
    if (this.destroyed) throw new Error('this sync client was destroyed');
    const address = channelAddress(channel);
    const existing = this.channels.get(channel);
    if (existing) return existing.retain();
    const handle = new SyncedDocument(address, { ...this.context, closed: () => {} }, resolveUser(this.options.user, null), { room: true });
    const subscription = new ChannelSubscription(channel, handle, options.since ?? null, () => {
      if (this.channels.get(channel) === subscription) this.channels.delete(channel);
    });
    this.channels.set(channel, subscription);
    return subscription;
  }

  openInbox(): Promise<Inbox> {
    if (this.destroyed) return Promise.reject(new Error('this sync client was destroyed'));
    this.inbox ??= this.whoAmI().then((identity) => {
      const view = new InboxView(this.open(inboxDocumentName(identity.user.id)), () => {
        this.inbox = null;
      });
      return view;
    });
    return this.inbox;
  }

  view(spec: ViewSpec): View {
    if (this.destroyed) throw new Error('this sync client was destroyed');
    const parsed = parseViewSpec(spec);
    const name = viewDocumentName(parsed);
    return new LiveView(this.open(name), parsed, this.whoAmI().then((identity) => identity.user.id));
  }

  workspace(): Workspace {
    if (this.destroyed) throw new Error('this sync client was destroyed');
    if (this.joined) return this.joined;
    const handle = new SyncedDocument(WORKSPACE_ROOM, { ...this.context, closed: () => {} }, resolveUser(this.options.user, null), { room: true });
    const joined = new WorkspacePresence(handle, this.context.time, () => {
      if (this.joined === joined) this.joined = null;
    });
    this.joined = joined;
    return joined;
  }

  async fileUrl(document: string, hash: string): Promise<string> {
    if (this.destroyed) throw new Error('this sync client was destroyed');
    assertDocumentName(document);
    const files = await this.uploads.files();
    const kept = await files.file(hash);
    if (kept) {
      // Read in pieces: a browser keeps a large Blob made of parts on disk, never the whole file in memory at once.
      const parts: BlobPart[] = [];
      for (let at = 0; at < kept.size; at += FILE_URL_READ_BYTES) parts.push((await files.read(hash, at, at + FILE_URL_READ_BYTES)) as BlobPart);
      return URL.createObjectURL(new Blob(parts, { type: kept.type }));
    }
    const response = await this.api.request({
      method: 'POST',
      path: `/api/documents/${encodeURIComponent(document)}/files/${encodeURIComponent(hash)}/url`,
      offline: 'offline: this file is not on this device, and showing it needs the network',
    });
    const { url } = (await response.json()) as { url: string };
    // The server answers a path (and query) under its API: on the API base, as every request of this client goes.
    return /^[a-z][a-z0-9+.-]*:/i.test(url) ? url : `${this.api.base}${url.startsWith('/') ? '' : '/'}${url}`;
  }

  documents(): DocumentHandle[] {
    return [...this.handles.values()];
  }

  async clearLocalData(namespace?: string): Promise<void> {
    const own = (await this.whoAmI()).namespace;
    const target = namespace ?? own;
    if (target === null) return;
    if (target === own) await Promise.all([...this.handles.values()].map((handle) => handle.forgetLocalCopy()));
    if (target === own) {
      await this.cache.clear();
      await (await this.registry())?.close();
      this.registryOf = Promise.resolve(null); // nothing of this namespace is recorded on the device any more
      await this.uploads.replaceStore(new MemoryFiles()); // nor its files: what is attached now is kept in memory
    }
    await deleteNamespace(target, this.databases);
    if (indexedDBAvailable()) {
      await Promise.all([idb.deleteDB(registryDatabaseName(target)), idb.deleteDB(filesDatabaseName(target)), idb.deleteDB(cacheDatabaseName(target))]);
    }
  }

  override async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.uploads.destroy(); // what was not sent stays queued on the device, for the next client
    await Promise.all([
      this.joined?.leave(),
      ...[...this.channels.values()].map((channel) => channel.close()),
      ...[...this.handles.values()].map((handle) => handle.shutdown()),
    ]);
    await this.cache.stop();
    this.endings.releaseAll();
    this.hiddenSleep.destroy();
    this.power.destroy();
    this.telemetry.destroy();
    this.socket.destroy();
    this.tokens.destroy();
    this.clock.destroy();
    await (await this.registry())?.close();
    super.destroy();
  }

  /**
   * The namespace's outbox registry; null without persistence or a namespace. A record another tab writes is an
   * `outbox` event here too, from the time the registry is first needed (the first connection, an outbox change,
   * `pendingDocuments()`).
   */
  private registry(): Promise<OutboxRegistry | null> {
    this.registryOf ??= this.whoAmI().then(({ namespace }) =>
      this.context.persistence && namespace !== null
        ? new OutboxRegistry(namespace, () => {
            if (!this.destroyed) this.emit('outbox', []);
          })
        : null,
    );
    return this.registryOf;
  }

  /** Where this client keeps attached files: the namespace's IndexedDB database, or memory without one. */
  private async deviceFiles(): Promise<DeviceFiles> {
    const { namespace } = await this.whoAmI();
    return this.context.persistence && namespace !== null ? new IndexedDBFiles(namespace) : new MemoryFiles();
  }

  /**
   * Whether `document` has something the server does not: a recorded outbox, or a queued upload. Without a registry
   * (local data was cleared while documents stay open) nothing is known, so everything counts as pending.
   */
  private async hasPending(document: string): Promise<boolean> {
    const registry = await this.registry();
    if (!registry || (await registry.has(document))) return true;
    if (this.uploads.waiting(document).length > 0) return true;
    return (await (await this.uploads.files()).queued()).some((upload) => upload.document === document);
  }

  private async recordOutbox(name: string, entries: readonly OutboxEntry[]): Promise<void> {
    try {
      await (await this.registry())?.record(name, entries);
      this.emit('outbox', []);
    } catch {
      // The document's changes are safe in its own database; the list is written again with its next change.
    }
  }

  private whoAmI(): Promise<Identity> {
    this.identity ??= resolveIdentity(this.options, this.tokens);
    return this.identity;
  }
}

/** Creates a client: it connects at once and opens documents on demand. */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  return new ConcordClient(options);
}
