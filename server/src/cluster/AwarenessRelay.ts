/**
 * Presence (Yjs awareness) across the instances of a cluster, over the Redis bus (cluster/RedisBus.ts), coalesced as
 * it is for sockets.
 *
 * Out: PresenceExtension sends a document's awareness once per presence window; the same flush publishes one
 * `Awareness` frame per document on the document's channel, carrying the window's clients whose last state came from
 * a connection to this instance (removals included: y-protocols keeps a removed client's clock, so the removal
 * outranks the state it ends). Never the server's own state (its client id: the workspace room's last-seen table,
 * which each instance keeps for itself), and never a state relayed from another instance, so nothing echoes.
 *
 * In: another instance's frame is applied with RELAY_ORIGIN, and each client id it names is recorded as that
 * instance's. The AwarenessGuard checks ran where the state arrived from its socket and are not run again; no
 * connection here owns a relayed id (PresenceExtension removes only what its own connections sent), and the coalesced
 * broadcast shows relayed states to this instance's clients like any other change.
 *
 * Asking: a frame published while an instance was not listening is lost. When a document loads here (and whenever the
 * bus becomes healthy again after an outage, for every document loaded), an `AwarenessQuery` asks the other instances
 * for their clients' states; each answers with one `Awareness` frame of every state its own connections hold, so
 * cursors and workspace members from elsewhere show without waiting for their clients' 15 s renewal. After an outage
 * an instance also sends that frame unasked: a peer that rejoined Redis first asked while this instance was not
 * subscribed again yet, and does not ask twice. States relayed before an outage stay, and y-protocols' 30 s timeout
 * removes those not renewed.
 *
 * The channel is the document's (`d:<tenant>/<name>`), shared with DocumentRelay, which follows the same rule:
 * subscribed while the document is loaded here, left when it unloads unless it was loaded again meanwhile. While
 * DocumentRelay finds that no other instance listens on it ("Alone" there; Redis's count for a window's frame tells it
 * too), the windows are not published either: an instance that loads the document asks (above), which also tells
 * DocumentRelay that it listens. The
 * workspace room (`@workspace`) is relayed too: who is online in a tenant is its awareness. Channel documents carry no
 * presence and are skipped.
 */
import type { afterLoadDocumentPayload, Document, Extension } from '@hocuspocus/server';
import { isTransactionOrigin } from '@hocuspocus/server';
import { isChannelDocument, isConcordOrigin, OriginTag, RELAY_ORIGIN } from '@concord/engine';
import { applyAwarenessUpdate, encodeAwarenessUpdate, removeAwarenessStates } from 'y-protocols/awareness';
import type { Logger } from '../logger.js';
import type { PresenceExtension } from '../extensions/PresenceExtension.js';
import { BusKind, type RedisBus } from './RedisBus.js';

/** Prefix of a document's channel name inside the cluster's namespace (the same as DocumentRelay's). */
const DOCUMENT_CHANNEL = 'd:';
const EMPTY = new Uint8Array(0);

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

/** Who listens on a document's channel besides this instance (cluster/DocumentRelay.ts, "Alone"). */
export interface Listeners {
  /** True while no other instance does. */
  alone(name: string): boolean;
  /** What to do with Redis's count of the subscriptions a frame published now on the channel reached. */
  heard(name: string): ((receivers: number) => void) | undefined;
}

/** A loaded document's presence, by where each client's last state came from. */
interface Tracked {
  readonly document: Document;
  /** Clients whose last state came from a connection here: published. Removed ones stay until their removal is. */
  readonly local: Set<number>;
  /** Clients whose last state was relayed, and the instance it came from. */
  readonly remote: Map<number, string>;
}

export class AwarenessRelay implements Extension {
  readonly extensionName = 'concord-awareness-relay';
  private readonly bus: RedisBus;
  private readonly log: Logger;
  /** The documents loaded here, by name (for frames from the bus). */
  private readonly documents = new Map<string, Tracked>();
  /** The same, by document: a window flushed as a document unloads still finds its own (after `forget`). */
  private readonly tracked = new WeakMap<Document, Tracked>();
  /** The instance whose frame is being applied (applyAwarenessUpdate runs its listeners synchronously). */
  private applyingFrom: string | null = null;
  private readonly listeners: Listeners | undefined;

  constructor(bus: RedisBus, presence: PresenceExtension, log: Logger, listeners?: Listeners) {
    this.bus = bus;
    this.listeners = listeners;
    this.log = log.child({ component: 'awareness-relay' });
    presence.onFlush((document, clients) => this.publish(document, clients));
    bus.onMessage((channel, kind, body, sender) => this.receive(channel, kind, body, sender));
    bus.onHealthy(() => {
      for (const [name, tracked] of this.documents) {
        this.announce(tracked);
        this.query(name);
      }
    });
  }

  /** Tracks where each state comes from, and asks the other instances for theirs once the channel is subscribed. */
  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    if (isChannelDocument(documentName)) return;
    const tracked: Tracked = { document, local: new Set(), remote: new Map() };
    this.documents.set(documentName, tracked);
    this.tracked.set(document, tracked);
    document.once('destroy', () => this.forget(documentName, document));
    document.awareness.on('update', ({ added, updated, removed }: AwarenessChange, origin: unknown) => {
      if (isConcordOrigin(origin, OriginTag.Relay)) {
        const sender = this.applyingFrom ?? 'unknown';
        for (const client of [...added, ...updated]) {
          tracked.local.delete(client);
          tracked.remote.set(client, sender);
        }
        for (const client of removed) {
          tracked.local.delete(client);
          tracked.remote.delete(client);
        }
        return;
      }
      if (isTransactionOrigin(origin) && origin.source === 'connection') {
        for (const client of [...added, ...updated]) {
          tracked.local.add(client);
          tracked.remote.delete(client);
        }
      }
      // A removal of a local client (its connection closed, or it timed out) stays in `local` until it is published.
      for (const client of removed) tracked.remote.delete(client);
    });
    // Not awaited: the load does not wait for Redis; states that come before the answer show when they come.
    void this.bus.subscribe(this.channelOf(documentName)).then(() => {
      if (this.documents.get(documentName) === tracked) this.query(documentName);
    });
  }

  /**
   * Removes the states relayed from `instance` on every document here, as a removal this instance saw (not published
   * again): for an instance that said goodbye or is known to be gone.
   */
  dropInstance(instance: string): void {
    for (const { document, remote } of this.documents.values()) {
      const gone = [...remote].filter(([, sender]) => sender === instance).map(([client]) => client);
      if (gone.length > 0) removeAwarenessStates(document.awareness, gone, RELAY_ORIGIN);
    }
  }

  private forget(name: string, document: Document): void {
    if (this.documents.get(name)?.document !== document) return; // loaded again meanwhile: keep the subscription
    this.documents.delete(name);
    this.bus.unsubscribe(this.channelOf(name));
  }

  private channelOf(name: string): string {
    return this.bus.channel(DOCUMENT_CHANNEL + name);
  }

  /** One frame for the window's clients that are this instance's own. */
  private publish(document: Document, clients: readonly number[]): void {
    const tracked = this.tracked.get(document);
    if (tracked === undefined) return;
    const own = clients.filter((client) => tracked.local.has(client) && client !== document.clientID);
    if (own.length === 0) return;
    const states = document.awareness.getStates();
    const update = this.listeners?.alone(document.name) === true ? null : encodeAwarenessUpdate(document.awareness, own);
    for (const client of own) if (!states.has(client)) tracked.local.delete(client);
    if (update === null) return;
    const heard = this.listeners?.heard(document.name);
    this.bus.publishAll([{ channel: this.channelOf(document.name), kind: BusKind.Awareness, body: update, ...(heard ? { heard } : {}) }]);
  }

  private query(name: string): void {
    this.bus.publish(this.channelOf(name), BusKind.AwarenessQuery, EMPTY);
  }

  /** Every state this instance's own connections hold on the document, in one frame (the answer to a query). */
  private announce(tracked: Tracked): void {
    const states = tracked.document.awareness.getStates();
    const present = [...tracked.local].filter((client) => states.has(client) && client !== tracked.document.clientID);
    if (present.length === 0) return;
    this.bus.publish(this.channelOf(tracked.document.name), BusKind.Awareness, encodeAwarenessUpdate(tracked.document.awareness, present));
  }

  private receive(channel: string, kind: BusKind, body: Uint8Array, sender: string): void {
    if (kind !== BusKind.Awareness && kind !== BusKind.AwarenessQuery) return;
    const prefix = this.bus.channel(DOCUMENT_CHANNEL);
    if (!channel.startsWith(prefix)) return;
    const tracked = this.documents.get(channel.slice(prefix.length));
    if (tracked === undefined || tracked.document.isDestroyed) return;
    if (kind === BusKind.AwarenessQuery) {
      this.announce(tracked);
      return;
    }
    this.applyingFrom = sender;
    try {
      applyAwarenessUpdate(tracked.document.awareness, body, RELAY_ORIGIN);
    } catch (error) {
      this.log.error({ err: error, document: tracked.document.name }, 'skipped a relayed awareness update that does not decode');
    } finally {
      this.applyingFrom = null;
    }
  }
}
