/**
 * A document's copy on this device: its IndexedDB database (local.ts, localCopy.ts), the outbox's stored state, and
 * the other tabs of the same browser that have it open (tabs.ts).
 *
 * The rule: local data first, and a failing IndexedDB only delays the network. `load` applies the stored copy (or
 * gives up after `LOCAL_LOAD_TIMEOUT_MS`, keeping why), restores the outbox from what is stored beside it, and joins
 * the tabs' channel; the document attaches to the server only after that. A room (a channel's name) keeps nothing on
 * the device and talks to no tab. Updates whose origin is in `foreignOrigins` (the server's provider, the IndexedDB
 * binding) are not passed to other tabs: they get those themselves. `erase` deletes the copy from the device (the
 * server revoked the document): nothing of it stays in IndexedDB, and nothing more is written or passed to tabs.
 * `heldContent` says whether the stored copy gave the document any content, or the server's copy was stored here
 * before (a document synced while empty is on the device, empty); a copy evicted from the cache, or never made, gives
 * none: the document is not on this device, whatever `loadedLocally` says.
 */
import type * as Y from 'yjs';
import type { Identity } from './identity.js';
import { closeLocalCopy, deleteLocalDatabase, loadLocalCopy, localDatabaseName } from './local.js';
import type { LocalCopy } from './localCopy.js';
import type { Outbox } from './outbox.js';
import { crossTabAvailable, TabChannel } from './tabs.js';
import type { DocumentStatus } from './types.js';

/** Beside the stored copy: the server's copy arrived here once, so an empty copy is the document, not its absence. */
const SERVER_COPY_KEY = 'concord.serverCopy';

export interface DeviceCopyOptions {
  /** Keep a copy in IndexedDB at all (the client's `persistence` option). */
  readonly persistence: boolean;
  /** A room keeps nothing on the device. */
  readonly room: boolean;
  /** Called with each IndexedDB database opened, so the client can wipe it later. */
  rememberDatabase(name: string): void;
  /** The copy's state or problem changed. */
  changed(): void;
}

export class DeviceCopy {
  /** Origins of updates that came from elsewhere (provider, IndexedDB), which other tabs get themselves. */
  readonly foreignOrigins = new Set<unknown>();
  private readonly name: string;
  private readonly doc: Y.Doc;
  private readonly options: DeviceCopyOptions;
  private local: LocalCopy | null = null;
  /** Why the copy could not be loaded, or why there is none although persistence is on. */
  private loadProblem: string | null = null;
  private loaded = false;
  private tabs: TabChannel | null = null;
  private closed = false;
  /** The IndexedDB database of the copy, once known. */
  private database: string | null = null;
  /** The IndexedDB binding, whose updates are what the stored copy holds. */
  private binding: LocalCopy | null = null;
  private storedContent = false;

  constructor(name: string, doc: Y.Doc, options: DeviceCopyOptions) {
    this.name = name;
    this.doc = doc;
    this.options = options;
    doc.on('update', this.onUpdate);
  }

  /**
   * The stored copy gave the document content: its records held something when they were applied (at load, or read
   * back later, written by another tab), or the server's copy was stored here before (`serverCopyArrived`). A new
   * database gives nothing: y-indexeddb applies no update then.
   */
  get heldContent(): boolean {
    return this.storedContent;
  }

  /** The stored copy is applied (or there is none, or it failed: see `problem`). */
  get loadedLocally(): boolean {
    return this.loaded;
  }

  get state(): DocumentStatus['localCopy'] {
    if (this.options.room || !this.options.persistence || (this.loaded && !this.local)) return 'none';
    return this.local && this.loaded ? this.local.state : 'loading';
  }

  get problem(): string | null {
    return this.local?.problem ?? this.loadProblem;
  }

  /** Nothing of the document is safely on this device (no copy, or a write in flight or failed). */
  get unsaved(): boolean {
    return this.local === null || this.local.unsaved;
  }

  /** Applies the stored copy and the outbox's stored state, then joins the other tabs. */
  async load(identity: Identity, outbox: Outbox): Promise<void> {
    if (this.options.room) {
      // No local copy: nothing of a room is kept on the device.
    } else if (this.options.persistence && identity.namespace !== null) {
      const database = localDatabaseName(identity.namespace, this.name);
      this.database = database;
      this.options.rememberDatabase(database);
      this.loadProblem = await loadLocalCopy(database, this.doc, (binding) => this.bound(binding, outbox), this.options.changed);
      if (this.local && this.loadProblem === null) {
        await outbox.restore(this.local);
        if ((await this.local.get(SERVER_COPY_KEY).catch(() => undefined)) === 1) this.storedContent = true;
      }
    } else if (this.options.persistence) {
      this.loadProblem = identity.problem;
    }
    if (this.closed) return;
    if (!this.options.room && identity.namespace !== null && crossTabAvailable()) {
      this.tabs = new TabChannel(localDatabaseName(identity.namespace, this.name), this.doc, this.foreignOrigins);
    }
    this.loaded = true;
  }

  /**
   * The server's copy arrived (the first sync): noted beside the stored copy, so a document empty there reads as
   * on the device when opened offline later.
   */
  serverCopyArrived(): void {
    if (this.local === null || this.closed) return;
    void this.local.set(SERVER_COPY_KEY, 1).catch(() => {
      // Not noted: opened offline, an empty document then reads as not on the device; content still says it is.
    });
  }

  /** Stops caching (the database is about to be deleted, or the document closes); the stored data stays. */
  async forget(outbox: Outbox): Promise<void> {
    const local = this.local;
    this.local = null;
    outbox.forgetStore();
    if (local) await closeLocalCopy(local);
  }

  /** Deletes the copy from the device: the binding closes, the tabs' channel is left, the database is deleted. */
  async erase(outbox: Outbox): Promise<void> {
    this.close();
    await this.forget(outbox);
    if (this.database !== null) await deleteLocalDatabase(this.database);
  }

  /** Leaves the tabs' channel at once; a binding that appears later is closed as soon as it does. */
  close(): void {
    this.closed = true;
    this.storedContent = false;
    this.doc.off('update', this.onUpdate);
    this.tabs?.close();
  }

  private readonly onUpdate = (_update: Uint8Array, origin: unknown) => {
    if (this.storedContent || this.binding === null || origin !== this.binding) return;
    this.storedContent = true;
    this.options.changed();
  };

  private bound(binding: LocalCopy, outbox: Outbox): void {
    this.binding = binding;
    outbox.storedOrigin(binding);
    this.foreignOrigins.add(binding);
    if (this.closed) void closeLocalCopy(binding);
    else this.local = binding;
  }
}
