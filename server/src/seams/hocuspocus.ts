/**
 * The one place where the server changes Hocuspocus' internals (@hocuspocus/server 4.7.0, pinned exactly in
 * server/package.json; test/server/seams.test.ts fails loudly when an upgrade changes anything used here).
 *
 * ## ConcordHocuspocus: Hocuspocus, minus the per-update work that Concord's configuration never uses
 *
 * - The store timer. Stock Hocuspocus re-arms a debounce timer for a document on every update it applies
 *   (`storeDocumentHooks`: 2 s, at most 10 s), to run the `onStoreDocument`/`afterStoreDocument` hooks of extensions
 *   that save whole documents now and then. Concord stores every update as it is applied (PersistenceExtension, through
 *   the group committer) and configures no such hook, so that timer only costs: clearing and re-arming it, with a
 *   closure and a promise, took about 5 % of the server's CPU per acknowledged edit at 10 saturated writers
 *   (test/bench). The debounced runs are skipped; immediate runs still go through as stock, because Hocuspocus unloads
 *   a document after the one a direct connection's disconnect makes. Unloading after the last client leaves does not
 *   depend on the timer (with none armed, Hocuspocus unloads at once, and PersistenceExtension's `beforeUnloadDocument`
 *   waits for the document's writes).
 * - Per-message hooks nobody implements. For every message and update Hocuspocus runs `beforeHandleMessage`,
 *   `afterHandleMessage`, `beforeSync` and `onChange` through a promise chain over every extension, its own empty
 *   defaults included; a hook no configured extension (nor the configuration itself) implements resolves at once.
 * - Awareness hooks nobody implements. On every awareness message a document calls `beforeHandleAwareness` (after
 *   building its payload), and on every awareness change it copies every client's state into an array for
 *   `onAwarenessUpdate`: with 300 people moving cursors, 900 000 state copies a second for no reader (13 % of the
 *   server's time). When no extension implements them, a loaded document gets neither (`loadDocument`).
 * - The scratch copy of every awareness message. For the `beforeHandleAwareness` payload, `MessageReceiver.apply`
 *   applies each awareness message to a new `Y.Doc` and `Awareness` (a random guid, an interval timer, observers),
 *   encodes it again and destroys both, then applies that to the document: ~4 KB of garbage per message, 3 000 a second
 *   with 300 cursors. For a connection's message to a document that skips the hook, the message goes to its awareness
 *   directly, with the origin stock gives it (`applyAwarenessDirectly`). The re-encoding also drops every removal (a
 *   null state). Removals of other clients stay dropped: providers send them for peers they timed out, and applied they
 *   would let one client hide another's presence. A client's removal of its own state (one its connection set, in the
 *   document's `connections` entry) now goes through: `awareness.setLocalState(null)`, as a page hiding its editor
 *   does, removed the cursor only after y-protocols' 30 s timeout; now at once, as y-websocket's server does.
 *
 * - A connection's id as a tree of strings. Hocuspocus names every connection with `crypto.randomUUID()`, which Node
 *   builds by concatenating its 20 parts: a tree of 13 cons strings (~420 bytes) that the connection, and every
 *   document session's hook payload, keeps for as long as the socket is open. `handleConnection` replaces it with a
 *   flat copy (the same characters, 72 bytes) before any session copies it: an idle socket costs ~400 bytes less.
 *
 * The rule: whatever a configuration gives, runs exactly as in stock Hocuspocus. Only hooks that nothing configured
 * implements are skipped, so an extension that adds one of them gets it called as usual.
 *
 * ## A document's broadcasts
 *
 * `Document` sends every update, awareness change and stateless message to its connections through one private
 * method, `broadcast(encode, filter)`, which encodes a frame once per message address and hands that same frame to
 * each connection. Three changes hook in there, per document:
 * - `broadcastChangesPerTurn`: what a document gained in an event-loop turn goes out as one update encoded from the
 *   document itself (seams/yjs.ts) instead of `Y.mergeUpdates` of the turn's updates (Hocuspocus' `flush`).
 * - `replaceAwarenessBroadcast`: presence coalescing (PresenceExtension) takes over `broadcastAwarenessUpdate`.
 * - `observeBroadcasts`: the socket layer learns which frame is being broadcast, so it translates and compresses it
 *   once for every recipient.
 */
import {
  Hocuspocus,
  MessageReceiver,
  MessageType,
  OutgoingMessage,
  type Configuration,
  type Connection,
  type Document,
  type Extension,
  type HookName,
  type HookPayloadByName,
  type onStoreDocumentPayload,
} from '@hocuspocus/server';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { applyAwarenessUpdate } from 'y-protocols/awareness';
import * as Y from 'yjs';
import { BURST_INTERVAL_MS, burstIntervalFor, Bursts } from '../sockets/bursts.js';
import { encodeChangesSince, isEmptyDeleteSet, type DeleteSet } from './yjs.js';

const STORE_HOOKS = ['onStoreDocument', 'afterStoreDocument'] as const satisfies readonly HookName[];
const PER_MESSAGE_HOOKS: ReadonlySet<HookName> = new Set<HookName>(['beforeHandleMessage', 'afterHandleMessage', 'beforeSync', 'onChange']);
const AWARENESS_HOOKS = ['beforeHandleAwareness', 'onAwarenessUpdate'] as const satisfies readonly HookName[];
const SKIPPABLE_HOOKS: readonly HookName[] = [...STORE_HOOKS, ...PER_MESSAGE_HOOKS, ...AWARENESS_HOOKS];

const DONE = Promise.resolve();

type HookSource = Partial<Record<HookName, unknown>>;

export class ConcordHocuspocus extends Hocuspocus {
  // Declared only: Hocuspocus' constructor calls `configure`, before initialisers of this class would run.
  /** Hooks given directly in a configuration (they stay configured across calls, as Hocuspocus merges them). */
  private declare configurationHooks: Set<HookName> | undefined;
  /** The extensions last given (a configuration without `extensions` keeps them). */
  private declare givenExtensions: readonly Partial<Extension>[] | undefined;
  /** Skippable hooks something configured implements. */
  private declare implemented: Set<HookName>;
  /** Whether any store hook is configured, so the debounced store runs are needed. */
  private declare storeHooksConfigured: boolean;

  override configure(configuration: Partial<Configuration>): Hocuspocus {
    const direct = (this.configurationHooks ??= new Set());
    for (const name of SKIPPABLE_HOOKS) if (typeof (configuration as HookSource)[name] === 'function') direct.add(name);
    this.givenExtensions = configuration.extensions ?? this.givenExtensions ?? [];
    this.implemented = new Set(direct);
    for (const extension of this.givenExtensions) {
      for (const name of SKIPPABLE_HOOKS) if (typeof (extension as HookSource)[name] === 'function') this.implemented.add(name);
    }
    this.storeHooksConfigured = STORE_HOOKS.some((name) => this.implemented.has(name));
    return super.configure(configuration);
  }

  override hooks<T extends HookName>(name: T, payload: HookPayloadByName[T], callback: ((...args: unknown[]) => unknown) | null = null): Promise<unknown> {
    if (callback === null && PER_MESSAGE_HOOKS.has(name) && !this.implemented.has(name)) return DONE;
    return super.hooks(name, payload, callback);
  }

  override storeDocumentHooks(document: Document, hookPayload: onStoreDocumentPayload, immediately?: boolean): Promise<unknown> {
    if (!immediately && !this.storeHooksConfigured) return DONE;
    return super.storeDocumentHooks(document, hookPayload, immediately);
  }

  /** Stock, with the connection's `socketId` flat (see the top of this file). */
  override handleConnection(...args: Parameters<Hocuspocus['handleConnection']>): ReturnType<Hocuspocus['handleConnection']> {
    const connection = super.handleConnection(...args);
    const internals = connection as unknown as { socketId: string };
    internals.socketId = [...internals.socketId].join('');
    return connection;
  }

  override async loadDocument(...args: Parameters<Hocuspocus['loadDocument']>): Promise<Document> {
    const document = await super.loadDocument(...args);
    if (!this.implemented.has('beforeHandleAwareness')) {
      document.beforeHandleAwareness(() => DONE);
      awarenessWithoutHook.add(document);
    }
    if (!this.implemented.has('onAwarenessUpdate')) dropAwarenessHookRelay(document);
    return document;
  }
}

/** Loaded documents whose awareness messages skip the scratch copy (no `beforeHandleAwareness` hook to feed). */
const awarenessWithoutHook = new WeakSet<Document>();

/** The private per-connection entry of a `Document`: the awareness client ids that connection set. */
interface ConnectionEntry {
  readonly clients: ReadonlySet<number>;
}

/** `JSON.stringify(null)`, the state of a removal in an awareness update. */
const NULL_STATE = new TextEncoder().encode('null');

function isNullState(update: Uint8Array, at: number, length: number): boolean {
  if (length !== NULL_STATE.length) return false;
  for (let i = 0; i < length; i++) if (update[at + i] !== NULL_STATE[i]) return false;
  return true;
}

/**
 * `update` (y-protocols' awareness encoding: a count, then client id, clock and JSON state per entry) without the
 * removals of clients `own` does not hold; the same array when it has none.
 */
function withoutForeignRemovals(update: Uint8Array, own: ReadonlySet<number> | undefined): Uint8Array {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  let kept: Uint8Array[] | null = null;
  for (let i = 0; i < count; i++) {
    const start = decoder.pos;
    const client = decoding.readVarUint(decoder);
    decoding.readVarUint(decoder); // clock
    const length = decoding.readVarUint(decoder);
    const foreignRemoval = isNullState(update, decoder.pos, length) && own?.has(client) !== true;
    decoder.pos += length;
    if (foreignRemoval) kept ??= readEntries(update, i);
    else kept?.push(update.subarray(start, decoder.pos));
  }
  if (kept === null) return update;
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, kept.length);
  for (const entry of kept) encoding.writeUint8Array(encoder, entry);
  return encoding.toUint8Array(encoder);
}

/** The first `count` entries of an awareness update, as they are encoded. */
function readEntries(update: Uint8Array, count: number): Uint8Array[] {
  const decoder = decoding.createDecoder(update);
  decoding.readVarUint(decoder);
  const entries: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const start = decoder.pos;
    decoding.readVarUint(decoder);
    decoding.readVarUint(decoder);
    const length = decoding.readVarUint(decoder);
    decoder.pos += length;
    entries.push(update.subarray(start, decoder.pos));
  }
  return entries;
}

/**
 * `MessageReceiver.apply`, with a connection's awareness messages to a document in `awarenessWithoutHook` applied to
 * its awareness directly (removals of other clients dropped, as stock drops them), under the origin stock gives them;
 * everything else as stock; bytes it cannot read reject the returned promise, as stock's do. Installed once, for every
 * Hocuspocus in the process: documents of a stock instance are never in the set.
 */
function applyAwarenessDirectly(): void {
  const stockApply = MessageReceiver.prototype.apply;
  MessageReceiver.prototype.apply = function apply(this: MessageReceiver, document: Document, connection?: Connection, reply?: (message: Uint8Array) => void): Promise<void> {
    if (connection !== undefined && awarenessWithoutHook.has(document)) {
      const decoder = this.message.decoder;
      const start = decoder.pos;
      try {
        if (decoding.readVarUint(decoder) === MessageType.Awareness) {
          const own = (document as unknown as { connections: Map<Connection, ConnectionEntry> }).connections.get(connection)?.clients;
          const update = withoutForeignRemovals(decoding.readVarUint8Array(decoder), own);
          applyAwarenessUpdate(document.awareness, update, { source: 'connection', connection });
          return DONE;
        }
      } catch (error) {
        return Promise.reject(error); // as stock's async apply does with bytes it cannot read
      }
      decoder.pos = start;
    }
    return stockApply.call(this, document, connection, reply);
  };
}
applyAwarenessDirectly();

/**
 * Removes the awareness `update` listener through which `loadDocument` runs `onAwarenessUpdate` hooks: the last one
 * registered (`loadDocument` adds it after `afterLoadDocument`), never the document's own broadcast handler.
 */
function dropAwarenessHookRelay(document: Document): void {
  const observers = (document.awareness as unknown as { _observers: Map<string, Set<(...args: unknown[]) => void>> })._observers.get('update');
  if (observers === undefined) return;
  const relay = [...observers].at(-1);
  if (relay !== undefined && !relay.name.includes('handleAwarenessUpdate')) observers.delete(relay);
}

/** The private members of a Hocuspocus `Document` used here. */
interface DocumentInternals {
  broadcast(encode: (messageAddress: string) => Uint8Array, filter?: (connection: Connection) => boolean): void;
  broadcastUpdate(update: Uint8Array): void;
  broadcastAwarenessUpdate(changedClients: number[]): void;
}

function internals(document: Document): DocumentInternals {
  return document as unknown as DocumentInternals;
}

/** Sends awareness changes of these clients to every connection of the document. */
export type AwarenessBroadcast = (changedClients: number[]) => void;

/**
 * `document`'s awareness changes go to `replacement(send)` instead of straight to its connections; `send` is the
 * stock broadcast. Once per document. (`broadcastChangesPerTurn` stops Hocuspocus' own per-turn buffering of
 * awareness, so the replacement is where awareness is coalesced.)
 */
export function replaceAwarenessBroadcast(document: Document, replacement: (send: AwarenessBroadcast) => AwarenessBroadcast): void {
  const target = internals(document);
  target.broadcastAwarenessUpdate = replacement(target.broadcastAwarenessUpdate.bind(document));
}

/** Each document's flush of `broadcastChangesPerTurn`. */
const pendingFlushes = new WeakMap<Document, () => void>();

/**
 * What `document` gained so far goes out at the end of the current microtask run instead of at the end of the turn
 * (`broadcastChangesPerTurn`): for changes that arrived from another instance, whose frames a read of the bus delivers
 * together (a burst there was already gathered by its sender), so they are not held behind the rest of the turn's work.
 * Except while a document with many connections spaces a burst of relayed changes (its interval stretched,
 * sockets/bursts.ts): they go out with its next broadcast then.
 */
export function broadcastSoon(document: Document): void {
  const flush = pendingFlushes.get(document);
  if (flush !== undefined) queueMicrotask(flush);
}

/**
 * From now on `document` sends what changed in each event-loop turn as one update encoded from the document (every
 * struct past the turn's starting state vector, and the turn's deletions), at the end of the turn, as Hocuspocus'
 * default `flushDelay: 0` would, but without merging the turn's updates (see seams/yjs.ts for what that saves). A
 * change from a source that is bursting waits for the burst interval after the last broadcast instead
 * (sockets/bursts.ts; longer for a document with many connections). Awareness is then sent as each change happens,
 * so coalescing it is the caller's (PresenceExtension).
 */
export function broadcastChangesPerTurn(document: Document): void {
  const target = internals(document);
  const bursts = new Bursts();
  let since: Map<number, number> | null = null;
  let deletions: DeleteSet[] = [];
  let immediate: NodeJS.Immediate | null = null;
  let timer: NodeJS.Timeout | null = null;
  /** When the last broadcast went out (performance.now()). */
  let sentAt = Number.NEGATIVE_INFINITY;

  const flushChanges = () => {
    if (immediate !== null) clearImmediate(immediate);
    if (timer !== null) clearTimeout(timer);
    immediate = null;
    timer = null;
    if (since === null) return;
    const deleteSet = deletions.length === 0 ? Y.createDeleteSet() : deletions.length === 1 ? deletions[0]! : Y.mergeDeleteSets(deletions);
    const update = encodeChangesSince(document, since, deleteSet);
    since = null;
    deletions = [];
    if (update === null) return;
    sentAt = performance.now();
    target.broadcast((address) => new OutgoingMessage(address).createSyncMessage().writeUpdate(update).toUint8Array());
  };
  pendingFlushes.set(document, () => {
    if (timer === null || burstIntervalFor(document.getConnectionsCount()) === BURST_INTERVAL_MS) flushChanges();
  });

  // With `flushDelay` false, Hocuspocus hands each update to `broadcastUpdate` as it is applied, and buffers nothing.
  document.flushDelay = false;
  target.broadcastUpdate = () => {};
  document.on('update', (_update: Uint8Array, origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
    since ??= transaction.beforeState;
    if (!isEmptyDeleteSet(transaction.deleteSet)) deletions.push(transaction.deleteSet);
    const wait = bursts.wait(origin, sentAt, performance.now(), burstIntervalFor(document.getConnectionsCount()));
    if (immediate !== null || timer !== null) return; // going out already, this change with it
    if (wait > 0) timer = setTimeout(flushChanges, wait);
    else immediate = setImmediate(flushChanges);
  });
  // Hocuspocus flushes before it destroys a document (and whoever calls `flush` wants everything out now).
  const flushDocument = document.flush.bind(document);
  document.flush = () => {
    flushChanges();
    return flushDocument();
  };
}

/** Told about every frame a document broadcasts: `begin` before it goes to the first connection, `end` after the last. */
export interface BroadcastObserver {
  begin(frame: Uint8Array): void;
  end(): void;
}

/** `observer` sees every frame `document` broadcasts (updates, awareness, stateless messages). */
export function observeBroadcasts(document: Document, observer: BroadcastObserver): void {
  const target = internals(document);
  const broadcast = target.broadcast.bind(document);
  target.broadcast = (encode, filter) => {
    try {
      broadcast((address) => {
        const frame = encode(address);
        observer.begin(frame);
        return frame;
      }, filter);
    } finally {
      observer.end();
    }
  };
}
