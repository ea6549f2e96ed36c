/**
 * The client's public contract: options, the client, document handles, status and presence, as interfaces.
 *
 * Apps program against these types only; the classes behind them stay private to the package, so the wiring
 * (providers, IndexedDB bindings, counters) can change without breaking an app. Every observable here is a lib0
 * `ObservableV2` with a typed event map.
 */
import type { DocumentSpec, DocumentType, Peer, PresenceState, PresenceUser, TypedDocument } from '@concord/engine';
import type { ObservableV2 } from 'lib0/observable';
import type { Awareness } from 'y-protocols/awareness';
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
   * Presence identity.
   * @default from the token claims: id = sub, name = name ?? sub, color = colorForUser(id).
   */
  user?: Partial<PresenceUser>;
  /** WebSocket implementation, for runtimes without a global one (Node 22+ and browsers have it). */
  WebSocketPolyfill?: unknown;
  /**
   * Upper bound of the reconnect backoff. The first retry is immediate, then the delay doubles, with jitter.
   * @default 30_000 — long enough to spare a recovering server, short enough that people notice no stall.
   */
  maxReconnectDelayMs?: number;
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
  /** Local changes (transactions) the server has not acknowledged yet. */
  readonly pendingChanges: number;
  /** The IndexedDB copy is applied (or persistence is off, or it failed: see `error`). */
  readonly loadedLocally: boolean;
  /** The server granted read access only: local changes are never accepted. */
  readonly readOnly: boolean;
  /** Why the server refused the document, or why the local copy could not be used; null when all is well. */
  readonly error: string | null;
}

export type SyncClientEvents = {
  state: (state: ConnectionState) => void;
};

export type DocumentEvents = {
  status: (status: DocumentStatus) => void;
};

export type PresenceEvents = {
  change: (peers: Peer[]) => void;
};

type Observable<E extends { [K in keyof E]: (...args: any[]) => void }> = Pick<ObservableV2<E>, 'on' | 'once' | 'off'>;

export interface SyncClient extends Observable<SyncClientEvents> {
  /** The socket's state. */
  readonly state: ConnectionState;
  /**
   * Opens a document by name (validated: throws a ConcordError for a bad name). Opening a name that is already open
   * returns the same handle; each `open` needs its own `close`.
   */
  open(name: string): DocumentHandle;
  /** The documents currently open. */
  documents(): DocumentHandle[];
  /**
   * Deletes the IndexedDB copies of a namespace's documents (this client's own by default). Open documents of that
   * namespace stop caching and keep working from memory and the server.
   */
  clearLocalData(namespace?: string): Promise<void>;
  /** Closes every document (letting IndexedDB finish its writes) and the socket. */
  destroy(): Promise<void>;
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
  /** Typed access to the document through an engine document type. */
  typed<S extends DocumentSpec>(type: DocumentType<S>): TypedDocument<S>;
  /** Releases one reference; the last one detaches from the server, closes IndexedDB (keeping the data) and the doc. */
  close(): Promise<void>;
}

export interface Presence extends Observable<PresenceEvents> {
  /** This client's own presence state. */
  readonly self: PresenceState;
  /** Changes this client's cursor, page or field; the user part comes from the client's identity. */
  set(state: Partial<Omit<PresenceState, 'user'>>): void;
  /** Other clients with a valid presence state, not this one. */
  peers(): Peer[];
}
