/**
 * Presence at scale, and who left when.
 *
 * Coalescing: Hocuspocus sends every awareness change to every connection of the document, so 100 people moving
 * their cursors make 100 × 100 messages. Here each loaded document sends awareness at most once per `windowMs` (0:
 * once per event-loop turn): the first change opens the window, and when it closes one message carries the latest
 * state of every client that changed in it (an add and a removal in one window resolve to the end state). Document
 * updates are not delayed.
 *
 * Last seen: in a tenant's workspace room (`@workspace`) the server remembers, for every user whose last client left
 * the room, their name, colour and when; it shares that table as its own awareness state (`{ lastSeen }`), which every
 * client of the room receives with the others' states, so "offline, last seen 5 min ago" needs no other message. The
 * table lives in memory for as long as the room is loaded.
 */
import type { afterLoadDocumentPayload, Document, Extension } from '@hocuspocus/server';
import { isWorkspaceDocument, parsePresence, type LastSeen } from '@concord/engine';
import { replaceAwarenessBroadcast, type AwarenessBroadcast } from '../seams/hocuspocus.js';

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

export class PresenceExtension implements Extension {
  readonly extensionName = 'concord-presence';
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: { windowMs: number; now?: () => number }) {
    this.windowMs = options.windowMs;
    this.now = options.now ?? Date.now;
  }

  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    this.coalesce(document);
    if (isWorkspaceDocument(documentName)) this.rememberWhoLeft(document);
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
    document.once('destroy', () => cancel?.());
  }

  private rememberWhoLeft(document: Document): void {
    const { awareness } = document;
    const userOf = new Map<number, { id: string; name: string; color: string }>();
    const lastSeen: Record<string, LastSeen> = {};
    awareness.on('change', ({ added, updated, removed }: AwarenessChange) => {
      let changed = false;
      for (const clientId of [...added, ...updated]) {
        const presence = parsePresence(awareness.getStates().get(clientId));
        if (!presence) continue;
        userOf.set(clientId, presence.user);
        if (lastSeen[presence.user.id]) {
          delete lastSeen[presence.user.id];
          changed = true;
        }
      }
      for (const clientId of removed) {
        const user = userOf.get(clientId);
        userOf.delete(clientId);
        if (!user || [...userOf.values()].some((other) => other.id === user.id)) continue;
        lastSeen[user.id] = { name: user.name, color: user.color, at: this.now() };
        changed = true;
      }
      if (changed) awareness.setLocalState({ lastSeen: { ...lastSeen } });
    });
  }
}
