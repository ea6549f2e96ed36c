/**
 * Presence at scale, and who left when.
 *
 * Coalescing: Hocuspocus sends every awareness change to every connection of the document, so 100 people moving
 * their cursors make 100 × 100 messages. Here each loaded document sends awareness at most once per `windowMs`: the
 * first change opens the window, and when it closes one message carries the latest state of every client that
 * changed in it (an add and a removal in one window resolve to the end state). Document updates are not delayed.
 *
 * Last seen: in a tenant's workspace room (`@workspace`) the server remembers, for every user whose last client left
 * the room, their name, colour and when; it shares that table as its own awareness state (`{ lastSeen }`), which every
 * client of the room receives with the others' states, so "offline, last seen 5 min ago" needs no other message. The
 * table lives in memory for as long as the room is loaded.
 */
import type { afterLoadDocumentPayload, Document, Extension } from '@hocuspocus/server';
import { isWorkspaceDocument, parsePresence, type LastSeen } from '@concord/engine';

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

/** The Hocuspocus Document method that sends awareness changes to every connection. */
type Broadcast = (changedClients: number[]) => void;

export class PresenceExtension implements Extension {
  readonly extensionName = 'concord-presence';
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(options: { windowMs: number; now?: () => number }) {
    this.windowMs = options.windowMs;
    this.now = options.now ?? Date.now;
  }

  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    if (this.windowMs > 0) this.coalesce(document);
    if (isWorkspaceDocument(documentName)) this.rememberWhoLeft(document);
  }

  private coalesce(document: Document): void {
    const target = document as unknown as { broadcastAwarenessUpdate: Broadcast };
    const send = target.broadcastAwarenessUpdate.bind(document);
    const pending = new Set<number>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      timer = undefined;
      if (pending.size === 0 || document.isDestroyed) return;
      const clients = [...pending];
      pending.clear();
      send(clients);
    };
    target.broadcastAwarenessUpdate = (clients: number[]) => {
      for (const client of clients) pending.add(client);
      timer ??= setTimeout(flush, this.windowMs);
    };
    document.once('destroy', () => clearTimeout(timer));
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
