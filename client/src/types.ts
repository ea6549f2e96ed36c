/**
 * The client's public contract: options, the client, document handles, status and presence, as interfaces.
 *
 * Apps program against these types only; the classes behind them stay private to the package, so the wiring
 * (providers, IndexedDB bindings, counters) can change without breaking an app. Every observable here is a lib0
 * `ObservableV2` with a typed event map.
 */
import type { HttpFallbackOptions, Transport, TransportOption } from './transport.js';
import type {
  AttachmentState,
  ChannelPosition,
  DocumentSpec,
  DocumentType,
  NotificationPreference,
  Peer,
  PresenceState,
  PresenceUser,
  RestoreResult,
  TypedDocument,
  VersionInfo,
  ViewGroup,
  ViewRow,
  ViewSpec,
  ViewTotals,
} from '@concord/engine';
import type { ObservableV2 } from 'lib0/observable';
import type { Awareness } from 'y-protocols/awareness';
import type { CachedDocument } from './cache.js';
import type { Clock } from './clock.js';
import type { UpdateFrequency } from './frequency.js';
import type { PendingDocument } from './registry.js';
import type * as Y from 'yjs';

/** What the client tells a token function when it asks for a token. */
export interface TokenRequest {
  /**
   * The server refused the token this function returned last (expired, revoked, signed with a retired key): fetch a
   * new one rather than returning a cached one.
   */
  readonly refused: boolean;
}

/** A JWT, or a function returning one; the function is called for every connection, so it can refresh. */
export type TokenSource = string | ((request: TokenRequest) => string | Promise<string>);

export interface SyncClientOptions {
  /** `ws(s)://host:port/sync`, the Hocuspocus endpoint. One multiplexed socket carries every document. */
  url: string;
  /** A JWT, or a function returning one (called again on every reconnect, so it can refresh). */
  token: TokenSource;
  /**
   * Keep a copy of each document in IndexedDB and show it before the network answers.
   * @default true when `globalThis.indexedDB` exists — offline-first is the point of the client.
   */
  persistence?: boolean;
  /**
   * Prefix of this client's IndexedDB database names, so two users of one browser never share a cache.
   * Pass it when the token function may fail offline: without it the cache cannot be located until a token arrives.
   * @default `${tenant}.${sub}`, decoded (not verified) from the token; for a token function, from its first result.
   */
  localNamespace?: string;
  /**
   * How many documents keep their copy on this device (with `persistence`). Copies are kept by last use; past either
   * bound the least recently used go, unless the document is open (in any tab), pinned (`pin`), or has changes or
   * uploads the server does not have yet — those are never evicted, and pinned ones do not count. An evicted
   * document loads from the server when it is opened again (offline, it is not there until then).
   * @default `{ maxDocuments: 200, maxBytes: 50 MB }` (`DEFAULT_CACHE_MAX_DOCUMENTS`, `DEFAULT_CACHE_MAX_BYTES`) —
   *   200 covers weeks of a person's tasks and projects (a few KB to a few hundred KB each), and 50 MB is far below
   *   what a browser grants an origin, so the cache never uses up the quota that unsent changes need.
   *   `Infinity` lifts a bound.
   */
  cache?: { maxDocuments?: number; maxBytes?: number };
  /**
   * Presence identity. Through a Concord server, peers see the token's `sub` and `name` as `id` and `name` whatever
   * is given here (the server rewrites a state that claims another user); `color` is the client's.
   * @default from the token claims: id = sub, name = name ?? sub, color = colorForUser(id).
   */
  user?: Partial<PresenceUser>;
  /** WebSocket implementation, for runtimes without a global one (Node 22+ and browsers have it). */
  WebSocketPolyfill?: unknown;
  /** `auto` (default): WebSocket, and the HTTP fallback when WebSockets are refused (transport.ts); or one transport only. */
  transport?: TransportOption;
  /** When to move to HTTP and how often to try WebSockets again: `{ afterFailures?: 2, retryWebSocketMs?: 300_000 }`. */
  httpFallback?: HttpFallbackOptions;
  /**
   * Upper bound of the reconnect backoff. Losing a connection retries at once; after each further failure in a row the
   * wait doubles from 1 s (between half and all of it, for jitter). `SyncClient.nextRetryAt` tells when.
   * @default 30_000 — long enough to spare a recovering server, short enough that people notice no stall.
   */
  maxReconnectDelayMs?: number;
  /**
   * An open connection that receives nothing for this long is dead (its network went away without closing it): the
   * client drops it, turns `offline` and reconnects. The server's heartbeat keeps a live connection from going this
   * long without a frame; a server whose `CONCORD_HEARTBEAT_INTERVAL_MS` is above 3 s needs more than twice that here.
   * @default 7_000 (`DEAD_CONNECTION_AFTER_MS`) — two missed heartbeats of 2.5 s and some slack: a dead connection
   *   is noticed within 10 s, a slow live one is kept.
   */
  deadConnectionAfterMs?: number;
  /**
   * How often remote changes are applied: `live`, or gathered and applied `every-30s` / `every-minute` (local
   * changes always go out at once). Change it later with `setUpdateFrequency`.
   * @default 'live'
   */
  updateFrequency?: UpdateFrequency;
  /**
   * Time for presence decisions (idle after `IDLE_AFTER_MS`, typing that stops, the presence pace) and for the hidden
   * tab's sleep, for tests that move time forward.
   * @default the system clock
   */
  clock?: Clock;
  /**
   * A tab hidden this long closes its socket (peers see its user leave; nothing is sent or received) and reconnects at
   * once when shown. A change made meanwhile still goes out: it wakes the socket, which sleeps again once it is sent.
   * `null` keeps the socket open however long the tab is hidden.
   * @default 300_000 (`HIDDEN_DISCONNECT_AFTER_MS`, five minutes) — a tab left in the background for a coffee keeps its
   *   connection; one forgotten for the afternoon stops costing the server and the battery.
   */
  hiddenDisconnectAfterMs?: number | null;
  /**
   * Presence at a slower pace to save energy: `'auto'` when the battery is low and not charging or the data saver is on
   * (where the browser tells), `'always'`, or `'never'`. Saving, each document's presence (cursors, selections,
   * typing) goes out at most once per `ECONOMY_PRESENCE_MS` (1 s) with its latest state; a hidden tab's at most once per
   * `HIDDEN_PRESENCE_MS` (5 s) whatever this says. Edits are never slowed.
   * @default 'auto'
   */
  saveEnergy?: 'auto' | 'always' | 'never';
  /**
   * How often the client reports what it measured to the server (time from a peer's edit to this client's document,
   * acknowledgement round trips, connections lost by cause, the page's uncaught errors), which exports it in
   * `/metrics` as `concord_client_*`. One small message per interval at most, only when something was measured; `null`
   * measures and reports nothing.
   * @default 60_000 (`TELEMETRY_INTERVAL_MS`) — a minute's samples in one message, a negligible share of the traffic.
   */
  telemetryIntervalMs?: number | null;
}

/**
 * Socket level: connecting, connected, offline (no socket, or the browser says it has no network) or unauthorized
 * (the server refused the token). Per document, `unauthorized` also means the server refused that document, and
 * `degraded` means connected while the server cannot store changes: they are shared live and kept on this device,
 * but stay pending until the server has stored them.
 */
export type ConnectionState = 'connecting' | 'connected' | 'degraded' | 'offline' | 'unauthorized';

export interface DocumentStatus {
  /** The document's connection: `connected` once the server authenticated it; `unauthorized` when it refused it. */
  readonly state: ConnectionState;
  /** The first sync with the server is done and no local change is pending. */
  readonly synced: boolean;
  /** Entries in the outbox: local changes the server has not acknowledged yet (see `DocumentHandle.outbox()`). */
  readonly pendingChanges: number;
  /**
   * The IndexedDB copy is applied (or persistence is off, or it failed: see `error`). It says the loading is over, not
   * that anything was there to load: see `onDevice`.
   */
  readonly loadedLocally: boolean;
  /**
   * The document's content is on this device: its copy here had content when it was loaded, or the server's copy has
   * arrived since it was opened (the first sync; with `persistence` it is then saved here). False for a document
   * with nothing here yet — evicted from the cache, never opened on this device, or revoked — until the server's
   * copy arrives: offline, such a document reads empty because its content is not here, not because it is empty
   * (show "not on this device — connect to load it" rather than an empty list). Changes made here meanwhile are kept
   * and sent as usual, but do not make it true. Once true, it stays true while the handle is open (unless revoked).
   */
  readonly onDevice: boolean;
  /**
   * The IndexedDB copy: `loading`, `saved` (every local change is on the device), `saving` (a write is in flight),
   * `failed` (a write failed — quota, disk — and is retried; `error` starts with "not saved on this device"), or
   * `none` (persistence is off or there is no local copy).
   */
  readonly localCopy: 'none' | 'loading' | 'saved' | 'saving' | 'failed';
  /** The server granted read access only: local changes are never accepted. */
  readonly readOnly: boolean;
  /** Remote updates received and held by the update-frequency preference, applied at its next tick or `syncNow()`. */
  readonly heldUpdates: number;
  /** Why the server refused the document, or why the local copy could not be used; null when all is well. */
  readonly error: string | null;
  /**
   * With `unauthorized`: the reason the server gave, as it sent it — `revoked` (the user's access was revoked: the
   * document's copy on this device and its outbox were deleted, see the `access` event), `Forbidden` (the token does
   * not grant it), `Unauthorized` (the token was refused). Null otherwise.
   */
  readonly reason: string | null;
}

/**
 * The server changed what this user may do on an open document (SPEC §3 revocations): `none` (revoked: the document
 * left the connection for good, and its copy on this device and its outbox were deleted), `read` (read-only from now:
 * local changes are kept, listed in the outbox, but the server takes none of them), or `write` again.
 */
export interface AccessChange {
  readonly access: 'none' | 'read' | 'write';
  /** The server's reason for `none` (`revoked`); null for a change of scope. */
  readonly reason: string | null;
  /**
   * Local changes the server does not have and will not take: for `none`, what was deleted with the outbox; for
   * `read`, what stays in the outbox, unsent (also `DocumentHandle.unsendable()`). Empty for `write`.
   */
  readonly unsendable: readonly OutboxEntry[];
}

export type SyncClientEvents = {
  /** The connection moved to another transport (`http` while WebSockets are refused, `websocket` once they work). */
  transport: (transport: Transport) => void;
  state: (state: ConnectionState) => void;
  /** The next connection attempt is due at this time (ms since the epoch), or none is scheduled (null). */
  retry: (at: number | null) => void;
  frequency: (frequency: UpdateFrequency) => void;
  /**
   * The device's outbox across documents changed, in this tab or another of this browser: read `pendingDocuments()`.
   * (Other tabs' changes are heard once this client has connected, recorded an outbox or listed `pendingDocuments()`.)
   */
  outbox: () => void;
  /**
   * An upload of this client moved on (any document, open or not; an open document's handle gets the same as its
   * `attachment` event): how far it is, or that it ended (`uploaded`, `failed` with the server's reason).
   */
  attachment: (document: string, progress: AttachmentProgress) => void;
};

/**
 * One change in a document's outbox: a local change the server has not acknowledged yet, as a person would name it.
 * Entries are derived from the document against what the server is known to have, so they survive reloads.
 */
export interface OutboxEntry {
  /**
   * `field`: a record's (or the document's) field was set or cleared; `record`: a record was added or removed;
   * `text`, `list`; `file`: an attached file waiting to upload (its record added here is part of this entry).
   */
  readonly kind: 'field' | 'record' | 'text' | 'list' | 'file';
  /** The root type: a collection (`tasks`, `attachments` for files), `fields`, a text (`description`) or a list. */
  readonly root: string;
  /** The record's id, for `field` and `record` entries of a collection; the attachment record's id for `file`. */
  readonly record: string | null;
  /** The field, for `field` entries. */
  readonly field: string | null;
  /** The field's new value, for `field` entries (undefined when it is no longer known). */
  readonly value: unknown;
  /** A field cleared, or a record removed. */
  readonly removed: boolean;
  /** Characters typed (texts) or items added (lists). */
  readonly inserted: number;
  /** Characters (texts) or items (lists) deleted that the server had. */
  readonly deleted: number;
  /** The record's `title`, `name` or `label` field, else its id (a file's name); null for texts and lists. */
  readonly label: string | null;
  /**
   * A one-line summary: "status of 'Pay invoice' → done", "12 characters typed in description",
   * "photo.jpg (2.1 MB) waiting to upload".
   */
  readonly summary: string;
}

/**
 * A write of this user that lost to a concurrent one: the other writer never saw it, or it was made without seeing
 * theirs (offline, or at the same moment), and theirs carries the later stamp (see README "Conflicts").
 */
export interface FieldConflict {
  /** The document's name. */
  readonly document: string;
  /** The root: a collection (`tasks`) or `fields` for the document's own fields. */
  readonly root: string;
  /** The record's id in the collection; null for the document's own fields. */
  readonly record: string | null;
  readonly field: string;
  /** The value this user wrote (undefined: they cleared the field). */
  readonly yours: unknown;
  /** The value that won, which every replica now reads (undefined: the field was cleared). */
  readonly winner: unknown;
  /** Who wrote the winning value: their user id and display name, when the writer carried them. */
  readonly by: { readonly id: string | null; readonly name: string | null };
  /** The winning write's wall time (ms since the epoch), as stamped (clamped by the server if it was in the future). */
  readonly at: number;
}

export type DocumentEvents = {
  status: (status: DocumentStatus) => void;
  /** The outbox's entries changed (they are also counted in `status.pendingChanges`). */
  outbox: (entries: readonly OutboxEntry[]) => void;
  /**
   * A field write of this user lost to a concurrent write by someone else; emitted once per lost write, also for a
   * write made in an earlier session on this device. The document already shows the winner: to keep yours, write it
   * again (a new write, with a later stamp); to keep theirs, do nothing.
   */
  conflict: (conflict: FieldConflict) => void;
  /** The server revoked the document or changed its access while it was open (see `AccessChange`). */
  access: (change: AccessChange) => void;
  /** An upload of a file attached to this document moved on, or ended (see `AttachmentProgress`). */
  attachment: (progress: AttachmentProgress) => void;
};

/** What `handle.attach` is told beside the file. */
export interface AttachOptions {
  /** The record of the document the file belongs to (a task, a comment); none: the document as a whole. */
  readonly record?: string;
  /** The file's name. @default the `File`'s own name, else `file` */
  readonly name?: string;
}

/** A file attached to a document: its record in the `attachments` collection, as written. */
export interface AttachmentInfo {
  /** The attachment record's id in the document's `attachments` collection. */
  readonly id: string;
  readonly name: string;
  /** Bytes. */
  readonly size: number;
  /** Media type: the file's own, else `application/octet-stream`. */
  readonly type: string;
  /** SHA-256 in lowercase hex: the file's address (`client.fileUrl(document, hash)`). */
  readonly hash: string;
  /** `pending` until uploaded (see the engine's `AttachmentState`). */
  readonly state: AttachmentState;
}

/**
 * How far the upload of one attached file is: `waiting` (queued: offline, or retrying after a failure), `uploading`,
 * `uploaded` (the record says so too), `failed` (refused for good: too large, a type not allowed, no write grant, a
 * digest that did not match; `error` is the server's reason, and the record says `failed` with it).
 */
export interface AttachmentProgress {
  /** The attachment record's id. */
  readonly id: string;
  readonly hash: string;
  readonly name: string;
  readonly state: 'waiting' | 'uploading' | 'uploaded' | 'failed';
  /** Bytes the server has stored (as far as this client knows). */
  readonly sent: number;
  /** The file's size. */
  readonly total: number;
  /** Why it failed, or why the last attempt did (while `waiting` to retry). */
  readonly error?: string;
}

export type PresenceEvents = {
  change: (peers: Peer[]) => void;
};

type Observable<E extends { [K in keyof E]: (...args: any[]) => void }> = Pick<ObservableV2<E>, 'on' | 'once' | 'off'>;

export interface SyncClient extends Observable<SyncClientEvents> {
  /** The socket's state. */
  readonly state: ConnectionState;
  /** When the next connection attempt is due (ms since the epoch); null while connected or waiting for the network. */
  readonly nextRetryAt: number | null;
  /** The tab has been hidden for `hiddenDisconnectAfterMs` and let go of its socket (`state` reads `offline`). */
  readonly sleeping: boolean;
  /** What the connection runs over: `websocket`, or `http` while WebSockets are refused (the HTTP fallback). */
  readonly transport: Transport;
  readonly updateFrequency: UpdateFrequency;
  /** Changes how often remote changes are applied; switching to `live` applies what is held at once. */
  setUpdateFrequency(frequency: UpdateFrequency): void;
  /**
   * "Sync now": reconnects at once (an open socket is reopened, so every document runs its sync handshake again, a
   * closed one skips the rest of its backoff) and applies every held remote update.
   */
  syncNow(): void;
  /**
   * Opens a document by name (validated: throws a ConcordError for a bad name). Opening a name that is already open
   * returns the same handle; each `open` needs its own `close`.
   */
  open(name: string): DocumentHandle;
  /** The documents currently open. */
  documents(): DocumentHandle[];
  /**
   * Every document of this device (this namespace) with changes the server has not acknowledged, open or not, with
   * their summaries. Closed ones are opened and sent in the background whenever a connection opens.
   */
  pendingDocuments(): Promise<PendingDocument[]>;
  /**
   * Deletes the IndexedDB copies of a namespace's documents (this client's own by default). Open documents of that
   * namespace stop caching and keep working from memory and the server.
   */
  clearLocalData(namespace?: string): Promise<void>;
  /**
   * The documents whose copy is on this device, most recently used first, each with the bytes it takes as stored,
   * when it was last used, and whether it is pinned or has something pending (both keep it from eviction).
   */
  cachedDocuments(): Promise<CachedDocument[]>;
  /**
   * Keeps `name`'s copy on this device whatever the cache's bounds ("always cached": my tasks, recent projects), once
   * it has been opened here; remembered on the device for this namespace, across reloads, until `unpin`.
   */
  pin(name: string): Promise<void>;
  /** Lets `name`'s copy be evicted again, by last use like the others. */
  unpin(name: string): Promise<void>;
  /**
   * Whether some open document has changes that are neither on the server nor on this device (a write in flight or
   * failed, or no local copy): what an app checks on `beforeunload` before letting the page go.
   */
  hasUnsavedChanges(): boolean;
  /**
   * Listens to a channel the app backend publishes events to (`account-123`), over the client's one socket. The token's
   * `docs` globs must grant the channel's name (a read grant is enough). Subscribing to a subscribed channel returns
   * the same subscription; each `subscribe` needs its own `unsubscribe`. Pass `since` (a `lastPosition` saved
   * earlier, e.g. before a reload) to receive what was published after it.
   */
  subscribe(channel: string, options?: { since?: ChannelPosition | null }): Channel;
  /**
   * Opens this user's notifications inbox (the document `inbox:<sub>` of the token's user), once per client: later
   * calls return the same inbox.
   */
  openInbox(): Promise<Inbox>;
  /** Joins the tenant's workspace presence (once per client: later calls return the same). */
  workspace(): Workspace;
  /**
   * A live view of the records of collection `spec.collection` in every document matching `spec.documents` (a glob),
   * opened or not, kept current by the server (docs/live-views-design.md). Rows pass `spec.where` (JSON filter; `$me`
   * is this user), are grouped by `spec.groupBy` and totalled by `spec.aggregate` (`count`, `sum:<field>`,
   * `min:<field>`, `max:<field>`); each row carries the fields those read, plus `spec.fields`. The token must grant
   * read on the whole pattern (`project-*` or `*` covers `project-*`), else the view is refused (4403). Throws a
   * ConcordError for an invalid spec or one whose extraction is too long for a document name. Each `view` needs its
   * own `close`.
   */
  view(spec: ViewSpec): View;
  /**
   * A URL that shows the file `hash` of `document` (for `<img src>`, a link): a `blob:` URL of this device's own copy
   * when it has one (revoke it with `URL.revokeObjectURL` when done), else a signed URL from the server, valid for
   * `CONCORD_FILE_URL_SECONDS` (needs the network and a read grant; rejects with an `ApiError` otherwise).
   */
  fileUrl(document: string, hash: string): Promise<string>;
  /** Closes every document (letting IndexedDB finish its writes) and the socket. */
  destroy(): Promise<void>;
}

/** `subscribing` until the server has authorized the channel and answered what was missed; `refused` when not granted. */
export type ChannelState = 'subscribing' | 'subscribed' | 'refused' | 'closed';

/** What a listener learns beside the payload. */
export interface ChannelEventMeta {
  readonly channel: string;
  readonly event: string;
  /** The event's number in the channel (within the server log's epoch). */
  readonly seq: number;
  /** When the server published it (ms since the epoch). */
  readonly at: number;
  /** Published while this client was not connected, and delivered on reconnect. */
  readonly replayed: boolean;
}

/** Events were missed that the server no longer holds (older than its retention, or it restarted). */
export interface ChannelGap {
  readonly channel: string;
  /** Where the subscription continues from. */
  readonly position: ChannelPosition | null;
}

export type ChannelListener = (payload: unknown, meta: ChannelEventMeta) => void;

/** A subscription to one channel. Event names are the app's; `*`, `$gap` and `$state` are reserved. */
export interface Channel {
  readonly name: string;
  readonly state: ChannelState;
  /** Why the server refused the channel, or null. */
  readonly error: string | null;
  /** The last event delivered (or the server's position when subscribed): save it to resume after a reload. */
  readonly lastPosition: ChannelPosition | null;
  /** Calls back for each `event` published to the channel, once, in order; `*` for every event. */
  on(event: string, listener: ChannelListener): this;
  /** Missed events could not all be replayed: refetch what depends on them. */
  on(event: '$gap', listener: (gap: ChannelGap) => void): this;
  on(event: '$state', listener: (state: ChannelState) => void): this;
  off(event: string, listener: ChannelListener): this;
  off(event: '$gap', listener: (gap: ChannelGap) => void): this;
  off(event: '$state', listener: (state: ChannelState) => void): this;
  /** Releases one `subscribe`; the last one stops listening. */
  unsubscribe(): Promise<void>;
}

/** Whether `undo()` and `redo()` have a step to take. */
export interface HistoryState {
  readonly canUndo: boolean;
  readonly canRedo: boolean;
}

export type HistoryEvents = {
  /** A stack changed: a step was added, extended, undone or redone, or the stacks were cleared. */
  change: (state: HistoryState) => void;
};

/**
 * Per-user undo and redo of one document (`handle.history`), in the manner of Liveblocks' `room.history`: only this
 * client's own changes — fields, records created and deleted, texts, lists — never anyone else's, grouped one user
 * action per step. Remote updates, the IndexedDB copy and other tabs never enter or clear it, so it survives
 * reconnects; it lives as long as the handle (not across reloads).
 *
 * Editor bindings: a binding that brings its own Yjs undo manager (Tiptap's Collaboration, y-prosemirror's
 * `yUndoPlugin`, y-codemirror) writes with its own origin, which this history does not track: the editor's Ctrl+Z
 * undoes your text there, and this history never undoes the same change twice. Route Ctrl+Z to the editor while it
 * has focus and to `history.undo()` elsewhere. A binding without undo of its own: `track(binding)` (its origin) so
 * its edits are steps here. Do not hand this history's manager to Tiptap: its editor destroys the manager it is given.
 */
export interface History extends Observable<HistoryEvents> {
  /** Reverts your latest step that still changes something; false when there was none. */
  undo(): boolean;
  /** Reapplies the step undone last; false when there was none. Any new change of yours empties the redo stack. */
  redo(): boolean;
  canUndo(): boolean;
  canRedo(): boolean;
  readonly state: HistoryState;
  /** Ends the current step: your next change starts a new one (call it at the end of a user action; no effect while paused). */
  stopCapturing(): void;
  /** From now until `resume()` (or `undo`/`redo`), every change of yours joins one step (an edit burst in a field). */
  pause(): void;
  resume(): void;
  /** Runs `fn` in one transaction as one step of its own, apart from the changes before and after it. */
  batch<T>(fn: () => T): T;
  /**
   * Also counts transactions with this origin (or whose origin is an instance of this class) as yours. Tracked by
   * default: `LOCAL_EDIT_ORIGIN` and `null`.
   */
  track(origin: unknown): void;
  untrack(origin: unknown): void;
  /** Forgets both stacks. */
  clear(): void;
}

export interface DocumentHandle extends Observable<DocumentEvents> {
  readonly name: string;
  readonly doc: Y.Doc;
  /** y-protocols awareness; editor bindings (Tiptap CollaborationCaret) take `{ awareness }`. */
  readonly awareness: Awareness;
  readonly status: DocumentStatus;
  readonly presence: Presence;
  /** Resolves once the local copy is applied (or there is none to apply). */
  whenLoaded(): Promise<void>;
  /** Resolves at the first completed sync with the server. */
  whenSynced(): Promise<void>;
  /** The local changes the server has not acknowledged yet; `outbox` events say when they change. */
  outbox(): readonly OutboxEntry[];
  /** The outbox's entries while the document is read-only (they cannot be sent); empty otherwise. */
  unsendable(): readonly OutboxEntry[];
  /** Undo and redo of this client's own changes to the document (see `History`). */
  readonly history: History;
  /** Typed access to the document through an engine document type. */
  typed<S extends DocumentSpec>(type: DocumentType<S>): TypedDocument<S>;
  /** The document's saved versions, newest first (needs the network and a read grant). */
  versions(): Promise<VersionInfo[]>;
  /** A version's content as a Yjs update, to preview it in a `Y.Doc` of its own. */
  version(id: string): Promise<Uint8Array>;
  /** Saves the current state as a version with this name (needs a write grant). */
  saveVersion(name: string): Promise<VersionInfo>;
  /**
   * Makes the document's content that of version `id`, as a change every open copy receives (this one too, over the
   * socket); the content before is saved as an automatic version, `before`, so restoring that one undoes it.
   */
  restore(id: string): Promise<RestoreResult>;
  /**
   * Attaches a file, offline too: keeps its bytes on this device (IndexedDB), adds a record to the document's
   * `attachments` collection (state `pending`, by this user) and queues its upload, which runs whenever the client is
   * connected, resuming where it stopped; `attachment` events tell how it goes, and the record turns `uploaded` (or
   * `failed` with the server's reason). While it waits, the file is in the outbox. Rejects (writing nothing) for a
   * document that takes no files (an inbox) or a name the record refuses (empty, over 255 characters).
   */
  attach(file: Blob, options?: AttachOptions): Promise<AttachmentInfo>;
  /**
   * Removes an attachment record (false when there is none with this id), for everyone, not as an undo step: a queued
   * upload of it stops (nothing more is sent), the device's copy goes once no record of the document refers to it (at
   * the latest when the document closes), and the server removes the file once no document refers to it for
   * `CONCORD_FILE_RETENTION_DAYS`. A record removed otherwise (by another person, an undo) does the same on this device.
   */
  detach(id: string): boolean;
  /** Releases one reference; the last one detaches from the server, closes IndexedDB (keeping the data) and the doc. */
  close(): Promise<void>;
}

export interface Presence extends Observable<PresenceEvents> {
  /** This client's own presence state. */
  readonly self: PresenceState;
  /** Changes this client's cursor, page or field; the user part comes from the client's identity. */
  set(state: Partial<Omit<PresenceState, 'user'>>): void;
  /**
   * Shows others that this user is editing `field` (of `record`): "Sarah is editing status". With `{ lock: true }`
   * the field is also locked: other users' typed writes to it throw a FieldLockedError (kind `field-locked`) unless
   * they pass `{ force: true }`, until `stopEditing()` or this client leaves.
   */
  editing(field: string, record?: string | null, options?: { lock?: boolean }): void;
  stopEditing(): void;
  /** Call on each keystroke in `where` (`comments`): others see "typing" until a few quiet seconds pass. */
  typing(where: string): void;
  stopTyping(): void;
  /** Other clients with a valid presence state, not this one. */
  peers(): Peer[];
}

/** What changed in a view's rows in one update: rows that now pass, no longer pass, or pass with other values. */
export interface ViewChange {
  readonly entered: readonly ViewRow[];
  readonly left: readonly ViewRow[];
  readonly changed: readonly ViewRow[];
}

export type ViewEvents = {
  change: (change: ViewChange) => void;
  /** `View.updating` turned true or false. */
  updating: (updating: boolean) => void;
};

/** A live view across documents (`SyncClient.view`). */
export interface View extends Observable<ViewEvents> {
  /** The derived document's name, `view:<base64url>`. */
  readonly name: string;
  readonly spec: ViewSpec;
  /** The rows that pass `where`, by document then record id. */
  rows(): ViewRow[];
  /** The rows by `groupBy`'s value (none without `groupBy`), each group with its totals. */
  groups(): ViewGroup<ViewRow>[];
  /** The `aggregate` totals of all rows. */
  totals(): ViewTotals;
  /** True while a change is being applied and while the server builds the view (after it is opened or restarts). */
  readonly updating: boolean;
  /** Resolves once the view document is in sync with the server. */
  whenSynced(): Promise<void>;
  close(): Promise<void>;
}

/** A notification in the user's inbox. */
export interface InboxNotification {
  readonly id: string;
  /** `mention`, `assignment`, `reply`, `deadline`, `custom`, or an app's own kind. */
  readonly kind: string;
  readonly title: string;
  readonly body?: string;
  /** What it is about: viewing it marks the notification read. */
  readonly target?: { readonly document: string; readonly record?: string; readonly field?: string };
  readonly actor?: string;
  readonly createdAt: number;
  readonly readAt?: number;
  readonly read: boolean;
  readonly data?: unknown;
}

/** What the user is looking at: a document, or one record of it. */
export interface ViewedTarget {
  readonly document: string;
  readonly record?: string;
}

export type InboxEvents = {
  /** The list, a read state or a preference changed. */
  change: (notifications: InboxNotification[]) => void;
  /** A notification of a kind switched on arrived while the app runs (for a toast; `preference.sound` says whether to ring). */
  notification: (notification: InboxNotification, preference: NotificationPreference) => void;
};

export interface Inbox extends Observable<InboxEvents> {
  /** The inbox document's name, `inbox:<user id>`. */
  readonly name: string;
  /** The document behind it, for its status (pending changes, local copy). */
  readonly handle: DocumentHandle;
  /** Newest first. */
  notifications(): InboxNotification[];
  /** Unread notifications of kinds switched on. */
  readonly unreadCount: number;
  markRead(id: string): void;
  markAllRead(): void;
  /** What the user is viewing now (null: nothing): its notifications are read at once, and those that arrive meanwhile. */
  setViewing(target: ViewedTarget | null): void;
  preference(kind: string): NotificationPreference;
  /** Switches a kind on or off (off: the server stops delivering it) and its sound. */
  setPreference(kind: string, preference: Partial<NotificationPreference>): void;
  close(): Promise<void>;
}

/** Someone of the workspace, as the workspace presence shows them. */
export interface Member {
  readonly user: PresenceUser;
  /** This client's own user. */
  readonly self: boolean;
  /** `online` if any of their clients had input within `IDLE_AFTER_MS`, `idle` if none, `offline` once all left. */
  readonly status: 'online' | 'idle' | 'offline';
  /** Their last input (ms since the epoch), while online or idle. */
  readonly lastActiveAt: number | null;
  /** When their last client left, for `offline` members. */
  readonly lastSeenAt: number | null;
  readonly page: string | null;
  readonly document: string | null;
}

export type WorkspaceEvents = {
  change: (members: Member[]) => void;
};

export interface Workspace extends Observable<WorkspaceEvents> {
  /** This client's own status. */
  readonly status: 'online' | 'idle';
  /** Online first, then idle, then offline; by name. */
  members(): Member[];
  /** Input happened (the browser's own input is counted already): back to `online`, idle timer restarted. */
  activity(): void;
  setPage(page: string): void;
  setDocument(name: string | null): void;
  leave(): Promise<void>;
}

/** A saved version of a document, and what a restore answers (the server's version history API). */
export type { RestoreResult, VersionInfo } from '@concord/engine';
