/**
 * Document updates across the instances of a cluster, over the Redis bus (cluster/RedisBus.ts).
 *
 * Publish: the updates a loaded document applies here (from its clients, the backend, clamps), and the client id
 * claims made with them (sockets/UpdateGuard.ts), are gathered per event-loop turn and published on the document's
 * channel once the group committer has made them durable. Acknowledgements wait for the same commit, so nothing a
 * client was told is stored exists only in Redis, and an instance that loads the document from PostgreSQL later finds
 * everything ever published.
 *
 * Receive: another instance's updates are applied with RELAY_ORIGIN, which PersistenceExtension does not store again,
 * the relay does not publish again, and lifecycle hooks and the stamp clamp skip (the sending instance ran them); the
 * document's per-turn broadcast shows them to the clients here. Claims are learnt without being stored again.
 *
 * Order: the relay subscribes to a document's channel before storage loads it (it runs before PersistenceExtension).
 * An update published before the subscription was committed before it, so the load reads it; one published after it
 * arrives here, held until the load is done, then applied (a second copy of a stored update changes nothing). The
 * channel is left when the document unloads.
 *
 * Loss: while Redis is unreachable frames are dropped (counted); when it is back, or when a publish fails while it
 * stays reachable, cluster/DocumentResync.ts exchanges state vectors with the other instances for every loaded
 * document, through this relay's documents and its durable outbox. Presence, channel events and revocations have their
 * own paths (cluster/AwarenessRelay.ts, cluster/ChannelRelay.ts, cluster/ClusterEvents.ts).
 */
import type { afterLoadDocumentPayload, Document, Extension, onLoadDocumentPayload } from '@hocuspocus/server';
import { isChannelDocument, isConcordOrigin, isWorkspaceDocument, OriginTag, RELAY_ORIGIN } from '@concord/engine';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import type { Logger } from '../logger.js';
import type { BusMetrics } from '../metrics.js';
import type { GroupCommitter } from '../storage/GroupCommitter.js';
import { ownersLogName } from '../storage/clientOwners.js';
import type { UpdateGuard } from '../sockets/UpdateGuard.js';
import { type Claim, DocumentResync, type ResyncHost } from './DocumentResync.js';
import { BusKind, type RedisBus } from './RedisBus.js';

/** Prefix of a document's channel name inside the cluster's namespace. */
const DOCUMENT_CHANNEL = 'd:';

/** A frame about one document (a turn's updates and claims, or a resync answer), waiting for the commit that makes its content durable. */
interface Outgoing {
  /** The document's last ticket (updates or claims) when the frame's content was taken: sent once it is durable. */
  readonly ticket: number;
  readonly send: () => void;
}

/** A document this instance has loaded, or is loading. */
interface Relayed {
  readonly document: Document;
  /** Frames that arrived while storage was loading it, applied once it is loaded (null once loaded). */
  early: Uint8Array[] | null;
}

/** Channels and the workspace room hold no stored data; their traffic is not document updates. */
function isRoom(name: string): boolean {
  return isChannelDocument(name) || isWorkspaceDocument(name);
}

export function encodeUpdateFrame(updates: readonly Uint8Array[], claims: readonly Claim[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, updates.length);
  for (const update of updates) encoding.writeVarUint8Array(encoder, update);
  encoding.writeVarUint(encoder, claims.length);
  for (const { client, user } of claims) {
    encoding.writeVarUint(encoder, client);
    encoding.writeVarString(encoder, user);
  }
  return encoding.toUint8Array(encoder);
}

export function decodeUpdateFrame(body: Uint8Array): { updates: Uint8Array[]; claims: Claim[] } {
  const decoder = decoding.createDecoder(body);
  const updates: Uint8Array[] = [];
  for (let count = decoding.readVarUint(decoder); count > 0; count -= 1) updates.push(decoding.readVarUint8Array(decoder));
  const claims: Claim[] = [];
  for (let count = decoding.readVarUint(decoder); count > 0; count -= 1) {
    claims.push({ client: decoding.readVarUint(decoder), user: decoding.readVarString(decoder) });
  }
  return { updates, claims };
}

export class DocumentRelay implements Extension, ResyncHost {
  readonly extensionName = 'concord-relay';
  private readonly bus: RedisBus;
  private readonly committer: GroupCommitter;
  private readonly guard: UpdateGuard;
  private readonly log: Logger;
  private readonly documents = new Map<string, Relayed>();
  /** This turn's updates and claims, per document. */
  private turn = new Map<string, { updates: Uint8Array[]; claims: Claim[] }>();
  private turnScheduled = false;
  /** Frames waiting to be durable, in the order they were taken. */
  private outbox: Outgoing[] = [];
  private readonly resync: DocumentResync;

  constructor(bus: RedisBus, committer: GroupCommitter, guard: UpdateGuard, metrics: BusMetrics, log: Logger) {
    this.bus = bus;
    this.committer = committer;
    this.guard = guard;
    this.log = log.child({ component: 'relay' });
    this.resync = new DocumentResync(bus, this, bus.channel(DOCUMENT_CHANNEL), metrics, log);
    bus.onMessage((channel, kind, body) => this.receive(channel, kind, body));
    guard.observeClaims((name, client, user) => this.gather(name).claims.push({ client, user }));
    committer.listen({ stored: () => this.publishDurable() });
  }

  /** Subscribes before the load (this extension runs before PersistenceExtension). */
  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    if (isRoom(documentName)) return;
    // A copy whose load failed never reaches destroy: the reload takes its place (and its subscription).
    this.documents.set(documentName, { document, early: [] });
    document.once('destroy', () => this.forget(documentName, document));
    await this.bus.subscribe(this.channelOf(documentName));
  }

  /** The document holds what storage had: apply what arrived meanwhile, and relay its changes from now on. */
  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    const relayed = this.documents.get(documentName);
    if (relayed === undefined || relayed.document !== document) return;
    const early = relayed.early ?? [];
    relayed.early = null;
    for (const body of early) this.apply(documentName, document, body);
    document.on('update', (update: Uint8Array, origin: unknown) => {
      if (isConcordOrigin(origin, OriginTag.Relay) || isConcordOrigin(origin, OriginTag.Storage)) return;
      this.gather(documentName).updates.push(update);
    });
  }

  loadedNames(): string[] {
    return [...this.documents].filter(([, relayed]) => relayed.early === null).map(([name]) => name);
  }

  loaded(name: string): Document | undefined {
    const relayed = this.documents.get(name);
    return relayed === undefined || relayed.early !== null || relayed.document.isDestroyed ? undefined : relayed.document;
  }

  claimsOf(name: string): Claim[] {
    return [...(this.guard.get(name)?.owners ?? [])].map(([client, user]) => ({ client, user }));
  }

  /** `send` waits for the commit of the last ticket the document (updates or claims) has queued now. */
  whenDurable(name: string, send: () => void): void {
    const ticket = Math.max(this.committer.lastPendingTicket(name), this.committer.lastPendingTicket(ownersLogName(name)));
    this.outbox.push({ ticket, send });
    this.publishDurable();
  }

  /** Stops the resync rounds (the bus is closed after it). */
  close(): void {
    this.resync.close();
  }

  private forget(name: string, document: Document): void {
    if (this.documents.get(name)?.document !== document) return; // reloaded meanwhile: keep the subscription
    this.documents.delete(name);
    this.bus.unsubscribe(this.channelOf(name));
  }

  channelOf(name: string): string {
    return this.bus.channel(DOCUMENT_CHANNEL + name);
  }

  private gather(name: string): { updates: Uint8Array[]; claims: Claim[] } {
    let pending = this.turn.get(name);
    if (pending === undefined) {
      pending = { updates: [], claims: [] };
      this.turn.set(name, pending);
    }
    if (!this.turnScheduled) {
      this.turnScheduled = true;
      setImmediate(this.endTurn);
    }
    return pending;
  }

  /** The turn's changes wait for the commit of the last ticket their documents had queued (claims included). */
  private readonly endTurn = () => {
    this.turnScheduled = false;
    const turn = this.turn;
    this.turn = new Map();
    for (const [name, { updates, claims }] of turn) {
      this.whenDurable(name, () =>
        this.bus.publish(this.channelOf(name), BusKind.Update, encodeUpdateFrame(updates, claims), () => this.resync.publishFailed(name)),
      );
    }
  };

  private publishDurable(): void {
    const durable = this.committer.durableThrough;
    let sent = 0;
    while (sent < this.outbox.length && this.outbox[sent]!.ticket <= durable) {
      this.outbox[sent]!.send();
      sent += 1;
    }
    if (sent > 0) this.outbox = this.outbox.slice(sent);
  }

  private receive(channel: string, kind: BusKind, body: Uint8Array): void {
    if (kind !== BusKind.Update) return;
    const prefix = this.bus.channel(DOCUMENT_CHANNEL);
    if (!channel.startsWith(prefix)) return;
    const name = channel.slice(prefix.length);
    const relayed = this.documents.get(name);
    if (relayed === undefined) return;
    if (relayed.early !== null) relayed.early.push(body);
    else this.apply(name, relayed.document, body);
  }

  private apply(name: string, document: Document, body: Uint8Array): void {
    const { updates, claims } = decodeUpdateFrame(body);
    this.applyRemote(name, document, updates, claims);
  }

  applyRemote(name: string, document: Document, updates: readonly Uint8Array[], claims: readonly Claim[]): boolean {
    for (const { client, user } of claims) this.guard.learnClaim(name, client, user);
    let changed = false;
    const noticeChange = () => {
      changed = true;
    };
    document.on('update', noticeChange);
    Y.transact(
      document,
      () => {
        for (const update of updates) {
          try {
            Y.applyUpdate(document, update, RELAY_ORIGIN);
          } catch (error) {
            this.log.error({ err: error, document: name }, 'skipped a relayed update that does not decode');
          }
        }
      },
      RELAY_ORIGIN,
    );
    document.off('update', noticeChange);
    return changed;
  }
}
