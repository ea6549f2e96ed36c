/**
 * Presence at scale, and who left when.
 *
 * Coalescing: Hocuspocus sends every awareness change to every connection of the document, so 100 people moving
 * their cursors make 100 × 100 messages. Here each loaded document sends awareness at most once per `windowMs` (0:
 * once per event-loop turn): the first change opens the window, and when it closes one message carries the latest
 * state of every client that changed in it (an add and a removal in one window resolve to the end state). Document
 * updates are not delayed. Whoever registered with `onFlush` (the awareness relay, cluster/AwarenessRelay.ts) is told
 * which clients each window carried, so other instances get presence at the same pace; a window still open when the
 * document unloads (its last client just left) is told to them too, though no socket is left to send it to.
 *
 * Leaving: on a disconnect Hocuspocus removes only the presence states the connection *added*, the client ids it was
 * the first to announce. A client that comes back after a lost connection keeps its client id, whose earlier state
 * was removed, so its return is an *update* of that id; its next disconnect then removed nothing, and peers saw it
 * leave only when their own 30 s presence timeout ran out. Here each connection owns the ids whose state it last
 * sent, and closing removes those still present (a returning client re-announces itself at once should one be
 * removed while it is in fact alive on a newer connection: y-protocols does that for its own state). A state relayed
 * from another instance (RELAY_ORIGIN) belongs to a connection there: no connection here owns it, and only a relayed
 * removal (or the presence timeout) takes it away.
 *
 * Last seen: in a tenant's workspace room (`@workspace`) the server remembers, for every user whose last client left
 * the room, their name, colour and when; it shares that table as its own awareness state (`{ lastSeen }`), which every
 * client of the room receives with the others' states, so "offline, last seen 5 min ago" needs no other message. The
 * table is stored (storage/LastSeenStore.ts): a room that loads starts from the tenant's newest LAST_SEEN_LOADED
 * entries, so a restart (or the room being unloaded) forgets nobody, and someone's departure is shared once it is
 * stored (or failed to be: presence is not held back by storage). The user a state names is its token's
 * (AwarenessGuard rewrites a client's claim before it is applied), so the table lists only users who were there.
 */
import {
  isTransactionOrigin,
  type afterLoadDocumentPayload,
  type Connection,
  type Document,
  type Extension,
  type onLoadDocumentPayload,
} from '@hocuspocus/server';
import { removeAwarenessStates } from 'y-protocols/awareness';
import { isConcordOrigin, isWorkspaceDocument, OriginTag, parsePresence, TENANT_SEPARATOR, type LastSeen } from '@concord/engine';
import type { Logger } from '../logger.js';
import { replaceAwarenessBroadcast, type AwarenessBroadcast } from '../seams/hocuspocus.js';
import type { LastSeenStore } from '../storage/LastSeenStore.js';

/** Entries of the stored last-seen table a workspace room starts from (the tenant's most recent). */
export const LAST_SEEN_LOADED = 1000;

/** Told, per document, which clients' awareness one presence window carried (added, updated and removed alike). */
export type PresenceFlushListener = (document: Document, clients: readonly number[]) => void;

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

export class PresenceExtension implements Extension {
  readonly extensionName = 'concord-presence';
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly store: LastSeenStore;
  private readonly log: Logger;
  /** What each workspace room being loaded read from the store, until afterLoadDocument takes it. */
  private readonly loaded = new WeakMap<Document, Record<string, LastSeen>>();
  /** Saves under way, so a graceful stop can wait for them. */
  private readonly saving = new Set<Promise<void>>();
  private readonly flushListeners: PresenceFlushListener[] = [];

  constructor(options: { windowMs: number; lastSeen: LastSeenStore; log: Logger; now?: () => number }) {
    this.windowMs = options.windowMs;
    this.store = options.lastSeen;
    this.log = options.log;
    this.now = options.now ?? Date.now;
  }

  /** A workspace room reads its last-seen table before any client is let in. */
  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    if (!isWorkspaceDocument(documentName)) return;
    const tenant = documentName.slice(0, documentName.indexOf(TENANT_SEPARATOR));
    try {
      this.loaded.set(document, await this.store.loadLastSeen(tenant, LAST_SEEN_LOADED));
    } catch (error) {
      this.log.warn({ err: error, tenant }, 'the last-seen table could not be read; the room starts without it');
    }
  }

  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    this.coalesce(document);
    this.removeOnLeave(document);
    if (isWorkspaceDocument(documentName)) {
      this.rememberWhoLeft(document, documentName.slice(0, documentName.indexOf(TENANT_SEPARATOR)), this.loaded.get(document) ?? {});
      this.loaded.delete(document);
    }
  }

  /** `listener` is told each window's clients, after they went to the document's connections. */
  onFlush(listener: PresenceFlushListener): void {
    this.flushListeners.push(listener);
  }

  /** Resolves once every last-seen save under way is done (before the store closes). */
  async close(): Promise<void> {
    await Promise.all(this.saving);
  }

  private coalesce(document: Document): void {
    const pending = new Set<number>();
    let cancel: (() => void) | undefined;
    replaceAwarenessBroadcast(document, (send: AwarenessBroadcast) => {
      const flush = () => {
        cancel = undefined;
        if (pending.size === 0 || document.isDestroyed) return;
        const clients = [...pending];
        pending.clear();
        send(clients);
        this.flushed(document, clients);
      };
      const schedule = (): (() => void) => {
        if (this.windowMs > 0) {
          const timer = setTimeout(flush, this.windowMs);
          return () => clearTimeout(timer);
        }
        const immediate = setImmediate(flush);
        return () => clearImmediate(immediate);
      };
      return (clients: number[]) => {
        for (const client of clients) pending.add(client);
        cancel ??= schedule();
      };
    });
    document.once('destroy', () => {
      cancel?.();
      cancel = undefined;
      // Nobody is connected here any more, but other instances still show these clients.
      if (pending.size > 0) this.flushed(document, [...pending]);
      pending.clear();
    });
  }

  private flushed(document: Document, clients: readonly number[]): void {
    for (const listener of this.flushListeners) {
      try {
        listener(document, clients);
      } catch (error) {
        this.log.error({ err: error, document: document.name }, 'a presence flush listener failed');
      }
    }
  }

  private removeOnLeave(document: Document): void {
    const { awareness } = document;
    /** The connection that last sent each client id's state, and the ids each connection owns so. */
    const ownerOf = new Map<number, Connection>();
    const owned = new Map<Connection, Set<number>>();
    const disown = (clientId: number) => {
      const owner = ownerOf.get(clientId);
      if (owner === undefined) return;
      ownerOf.delete(clientId);
      owned.get(owner)?.delete(clientId);
    };
    const leave = (connection: Connection) => {
      const clientIds = owned.get(connection);
      owned.delete(connection);
      if (clientIds === undefined) return;
      for (const clientId of clientIds) ownerOf.delete(clientId);
      const stillPresent = [...clientIds].filter((clientId) => awareness.getStates().has(clientId));
      if (stillPresent.length > 0) removeAwarenessStates(awareness, stillPresent, null);
    };
    const own = (clientId: number, connection: Connection) => {
      if (ownerOf.get(clientId) === connection) return;
      disown(clientId);
      ownerOf.set(clientId, connection);
      let clientIds = owned.get(connection);
      if (clientIds === undefined) {
        owned.set(connection, (clientIds = new Set()));
        connection.onClose(() => leave(connection));
      }
      clientIds.add(clientId);
    };
    awareness.on('update', ({ added, updated, removed }: AwarenessChange, origin: unknown) => {
      for (const clientId of removed) disown(clientId);
      if (isConcordOrigin(origin, OriginTag.Relay)) {
        // Alive on another instance now (a client that moved there): this instance's connection no longer speaks for it.
        for (const clientId of [...added, ...updated]) disown(clientId);
        return;
      }
      if (!isTransactionOrigin(origin) || origin.source !== 'connection') return;
      for (const clientId of added) own(clientId, origin.connection);
      for (const clientId of updated) own(clientId, origin.connection);
    });
  }

  private rememberWhoLeft(document: Document, tenant: string, stored: Record<string, LastSeen>): void {
    const { awareness } = document;
    const userOf = new Map<number, { id: string; name: string; color: string }>();
    const lastSeen = new Map<string, LastSeen>(Object.entries(stored));
    // fromEntries: a user id such as `__proto__` stays an entry.
    const share = () => {
      if (!document.isDestroyed) awareness.setLocalState({ lastSeen: Object.fromEntries(lastSeen) });
    };
    if (lastSeen.size > 0) share();
    awareness.on('change', ({ added, updated, removed }: AwarenessChange) => {
      let returned = false;
      for (const clientId of [...added, ...updated]) {
        const presence = parsePresence(awareness.getStates().get(clientId));
        if (!presence) continue;
        userOf.set(clientId, presence.user);
        if (lastSeen.delete(presence.user.id)) returned = true;
      }
      const left: Array<[string, LastSeen]> = [];
      for (const clientId of removed) {
        const user = userOf.get(clientId);
        userOf.delete(clientId);
        if (!user || [...userOf.values()].some((other) => other.id === user.id)) continue;
        const seen = { name: user.name, color: user.color, at: this.now() };
        lastSeen.set(user.id, seen);
        left.push([user.id, seen]);
      }
      if (returned) share();
      if (left.length > 0) this.save(tenant, left).then(share);
    });
  }

  /** Stores who left; resolves once stored or failed (a failure is logged: the table is shared all the same). */
  private save(tenant: string, left: ReadonlyArray<[string, LastSeen]>): Promise<void> {
    const saving = Promise.all(left.map(([user, seen]) => this.store.saveLastSeen(tenant, user, seen))).then(
      () => undefined,
      (error: unknown) => this.log.warn({ err: error, tenant }, 'a last-seen time could not be stored; it is shared all the same'),
    );
    this.saving.add(saving);
    void saving.finally(() => this.saving.delete(saving));
    return saving;
  }
}
