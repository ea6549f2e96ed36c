/**
 * Document updates across the instances of a cluster, over the Redis bus (cluster/RedisBus.ts).
 *
 * Publish: the updates a loaded document applies here (from its clients, the backend, clamps), and the client id
 * claims made with them (sockets/UpdateGuard.ts), are published on the document's channel as soon as the current run of
 * microtasks ends (what one message, or one read of a client's socket, brought), ahead of the turn's local broadcast and
 * of the group committer's write; a change whose source is bursting (sockets/bursts.ts) waits until the document's last
 * frame is BURST_INTERVAL_MS old, with everything the document gains meanwhile (see `gather`). So they go out before
 * they are stored, with the ticket that covers them (0 when already durable): the other instances show them without
 * waiting for PostgreSQL. After a commit that covered published updates, a `Durable` frame on the cluster channel
 * carries this instance's durable mark (heartbeats carry it too, cluster/Peers.ts): at most once per burst interval, in
 * the same write as the next update frame when one goes out meanwhile. Acknowledgements here wait for this instance's
 * own commit as always.
 *
 * Alone: most documents of a cluster are open on one instance only (a balancer that keeps a document's people
 * together makes that the rule), and publishing their every change would cost each keystroke a Redis write and its echo
 * for nobody. Redis answers a PUBLISH with the number of subscriptions it reached (the bus talks to one Redis server:
 * a node of a Redis Cluster would count only its own); 1 is this instance's own, and the document's changes (and its
 * presence windows, cluster/AwarenessRelay.ts, whose counts it takes too) then stop being published. Any frame of
 * another instance on its channel ends that: an instance loading the document subscribes first and asks, once loaded,
 * for what it lacks (cluster/DocumentResync.ts, and AwarenessRelay's query), which brings it what was left
 * unpublished; another kind of frame (an instance that had it loaded already, heard only now) starts a resync round
 * for it. A count from before a frame of another instance was heard, or from before the bus last lost its health,
 * decides nothing. A document that unloads with changes left unpublished sends a `Stored` notice once they are
 * durable: an instance whose load read the log before they were stored reads it again.
 *
 * Receive: another instance's updates are applied with RELAY_ORIGIN, which PersistenceExtension does not store again,
 * the relay does not publish again, and lifecycle hooks and the stamp clamp skip (the sending instance ran them); the
 * document's broadcast shows them to the clients here as soon as the frames of that read of the bus are applied
 * (seams/hocuspocus.ts `broadcastSoon`; a burst was already gathered by its sender). Claims are learnt without
 * being stored again. What its sender has not yet reported durable is registered in the relay ledger
 * (durability/RelayLedger.ts), and every acknowledgement on the document here waits until it is settled (or written
 * here, if the sender is gone): nothing a client was told is stored can rest on what only Redis and memory hold.
 *
 * Order: the relay subscribes to a document's channel before storage loads it (it runs before PersistenceExtension).
 * An update published before the subscription was either stored before the load read the log, or is still pending on
 * its sender: the per-document resync (cluster/DocumentResync.ts) asks the other instances for what it lacks once the
 * load is done. One published after the subscription arrives here, held until the load is done, then applied (a second
 * copy of a stored update changes nothing). The channel is left when the document unloads.
 *
 * Loss: while Redis is unreachable frames are dropped (counted); when it is back, or when a publish fails while it
 * stays reachable, cluster/DocumentResync.ts exchanges state vectors with the other instances for every loaded
 * document, through this relay's documents and its durable outbox (answers go out once what they carry is durable,
 * here or, through the ledger, on its origin). A document whose changes could not be published and that unloaded
 * here before Redis came back has nobody here to answer for it: once Redis is back (and those changes are stored),
 * a `Stored` notice on its channel has the instances that have it loaded read its log from storage and apply what
 * they lack (MAX_UNPUBLISHED names are remembered; beyond that they are logged, and reach others at their next load).
 * Presence, channel events and revocations have their own paths (cluster/AwarenessRelay.ts, cluster/ChannelRelay.ts,
 * cluster/ClusterEvents.ts).
 */
import type { afterLoadDocumentPayload, Document, Extension, onLoadDocumentPayload } from '@hocuspocus/server';
import { isChannelDocument, isConcordOrigin, isWorkspaceDocument, OriginTag, RELAY_ORIGIN } from '@concord/engine';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import type { Barrier, Durability } from '../durability/Durability.js';
import type { DocumentStore } from '../storage/DocumentStore.js';
import type { RelayLedger } from '../durability/RelayLedger.js';
import type { Logger } from '../logger.js';
import type { BusMetrics } from '../metrics.js';
import type { GroupCommitter } from '../storage/GroupCommitter.js';
import { broadcastSoon } from '../seams/hocuspocus.js';
import { BURST_INTERVAL_MS, Bursts } from '../sockets/bursts.js';
import { decodeOwners, ownersLogName } from '../storage/clientOwners.js';
import type { UpdateGuard } from '../sockets/UpdateGuard.js';
import { CLUSTER_CHANNEL } from './ClusterEvents.js';
import type { Listeners } from './AwarenessRelay.js';
import { type Claim, DocumentResync, type ResyncHost } from './DocumentResync.js';
import { type BusFrame, BusKind, type RedisBus } from './RedisBus.js';

/** Prefix of a document's channel name inside the cluster's namespace. */
const DOCUMENT_CHANNEL = 'd:';
/** Documents remembered as changed but not published during one outage (see the header). */
export const MAX_UNPUBLISHED = 10_000;
/** The `Stored` notices after an outage are sent again this long after the first (an instance slower to subscribe again). */
const ANNOUNCE_AGAIN_MS = [1_000, 3_000];

/** A resync answer about one document, waiting until what it carries is durable (here, and on its origins). */
interface Outgoing {
  /** The document's barrier (its own ticket and relay ledger mark, claims' ticket folded in) when the frame was taken. */
  readonly barrier: Barrier;
  readonly send: () => void;
}

/** Everything what a frame carries rests on, here: the later of the document's and its claims' pending tickets. */
function documentTicket(committer: GroupCommitter, name: string): number {
  return Math.max(committer.lastPendingTicket(name), committer.lastPendingTicket(ownersLogName(name)));
}

/** A document this instance has loaded, or is loading. */
interface Relayed {
  readonly document: Document;
  /** Frames that arrived while storage was loading it, applied once it is loaded (null once loaded). */
  early: Array<{ body: Uint8Array; sender: string }> | null;
  /** No other instance listens on its channel (see "Alone" in the header): its changes are not published. */
  alone: boolean;
  /** Changes were left unpublished while alone, and no other instance was heard since. */
  skipped: boolean;
  /** The relay's clock when a frame of another instance last arrived on its channel (0: none yet). */
  heardAt: number;
}

/** Channels and the workspace room hold no stored data; their traffic is not document updates. */
function isRoom(name: string): boolean {
  return isChannelDocument(name) || isWorkspaceDocument(name);
}

/** Updates and claims of one document gathered together, and the sender's ticket that covers them (0: already durable there). */
export function encodeUpdateFrame(updates: readonly Uint8Array[], claims: readonly Claim[], ticket = 0): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, updates.length);
  for (const update of updates) encoding.writeVarUint8Array(encoder, update);
  encoding.writeVarUint(encoder, claims.length);
  for (const { client, user } of claims) {
    encoding.writeVarUint(encoder, client);
    encoding.writeVarString(encoder, user);
  }
  encoding.writeVarUint(encoder, ticket);
  return encoding.toUint8Array(encoder);
}

export function decodeUpdateFrame(body: Uint8Array): { updates: Uint8Array[]; claims: Claim[]; ticket: number } {
  const decoder = decoding.createDecoder(body);
  const updates: Uint8Array[] = [];
  for (let count = decoding.readVarUint(decoder); count > 0; count -= 1) updates.push(decoding.readVarUint8Array(decoder));
  const claims: Claim[] = [];
  for (let count = decoding.readVarUint(decoder); count > 0; count -= 1) {
    claims.push({ client: decoding.readVarUint(decoder), user: decoding.readVarString(decoder) });
  }
  const ticket = decoding.hasContent(decoder) ? decoding.readVarUint(decoder) : 0;
  return { updates, claims, ticket };
}

export class DocumentRelay implements Extension, ResyncHost, Listeners {
  readonly extensionName = 'concord-relay';
  private readonly bus: RedisBus;
  private readonly committer: GroupCommitter;
  private readonly durability: Durability;
  private readonly ledger: RelayLedger;
  private readonly guard: UpdateGuard;
  private readonly log: Logger;
  private readonly documents = new Map<string, Relayed>();
  /** Updates and claims gathered since the last publish, per document. */
  private readonly gathered = new Map<string, { updates: Uint8Array[]; claims: Claim[] }>();
  /** Documents whose gathered changes go out when the current microtasks end. */
  private soon = new Set<string>();
  private soonScheduled = false;
  /** Documents whose gathered changes wait for the burst interval after their last publish, and until when. */
  private readonly waiting = new Map<string, NodeJS.Timeout>();
  /** When each document was last published (performance.now()), and its bursting sources; forgotten once it unloads. */
  private readonly publishedAt = new Map<string, number>();
  private readonly bursts = new Map<string, Bursts>();
  /** When the last `Durable` frame went out, and the timer of the next one while it waits for the interval. */
  private durableAt = Number.NEGATIVE_INFINITY;
  private durableTimer: NodeJS.Timeout | null = null;
  /** Resync answers waiting to be durable, in the order they were taken. */
  private outbox: Outgoing[] = [];
  private outboxScheduled = false;
  private readonly resync: DocumentResync;
  /** The highest ticket published with updates, and the highest durable mark announced (a `Durable` frame). */
  private publishedThrough = 0;
  private announcedThrough = 0;
  private readonly clusterChannel: string;
  /** Documents whose changes could not be published while Redis was unreachable (see the header). */
  private unpublished = new Set<string>();
  private readonly store: DocumentStore;
  /** Orders publishes and frames heard from other instances (see `heardBy`). */
  private clock = 0;
  /** Counts the bus's losses of health: a publish's reply from before the last one says nothing of now. */
  private healthEpoch = 0;

  constructor(
    bus: RedisBus,
    store: DocumentStore,
    committer: GroupCommitter,
    durability: Durability,
    ledger: RelayLedger,
    guard: UpdateGuard,
    metrics: BusMetrics,
    log: Logger,
  ) {
    this.bus = bus;
    this.store = store;
    this.committer = committer;
    this.durability = durability;
    this.ledger = ledger;
    this.guard = guard;
    this.log = log.child({ component: 'relay' });
    this.clusterChannel = bus.channel(CLUSTER_CHANNEL);
    this.resync = new DocumentResync(bus, this, bus.channel(DOCUMENT_CHANNEL), metrics, log);
    bus.onMessage((channel, kind, body, sender) => this.receive(channel, kind, body, sender));
    bus.onUnhealthy(() => {
      ledger.adoptAll(); // no durable mark can arrive: what others may not have stored is stored here
      // Publishes fail meanwhile and are repaired by the recovery round; who listens is learnt again afterwards.
      this.healthEpoch += 1;
      for (const relayed of this.documents.values()) relayed.alone = false;
    });
    bus.onHealthy(() => this.announceUnpublished());
    guard.observeClaims((name, client, user) => {
      const relayed = this.documents.get(name);
      if (relayed?.alone === true) relayed.skipped = true; // resync answers carry every claim known here
      else this.gather(name, null).claims.push({ client, user });
    });
    committer.listen({ stored: () => this.announceDurable() });
  }

  /** Subscribes before the load (this extension runs before PersistenceExtension). */
  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    if (isRoom(documentName)) return;
    // A copy whose load failed never reaches destroy: the reload takes its place (and its subscription).
    this.documents.set(documentName, { document, early: [], alone: false, skipped: false, heardAt: 0 });
    document.once('destroy', () => this.forget(documentName, document));
    await this.bus.subscribe(this.channelOf(documentName));
  }

  /** The document holds what storage had: apply what arrived meanwhile, and relay its changes from now on. */
  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    const relayed = this.documents.get(documentName);
    if (relayed === undefined || relayed.document !== document) return;
    const early = relayed.early ?? [];
    relayed.early = null;
    for (const { body, sender } of early) this.apply(documentName, document, body, sender);
    document.on('update', (update: Uint8Array, origin: unknown) => {
      if (isConcordOrigin(origin, OriginTag.Relay) || isConcordOrigin(origin, OriginTag.Storage)) return;
      if (relayed.alone) relayed.skipped = true;
      else this.gather(documentName, origin).updates.push(update);
    });
    // What another instance published before this one subscribed and had not stored when the load read the log.
    this.resync.askAfterLoad(documentName);
  }

  /** Whether no other instance listens on the document's channel: its changes, and presence, are not published. */
  alone(name: string): boolean {
    return this.documents.get(name)?.alone === true;
  }

  /** Takes Redis's count for a frame published on the document's channel now (a presence window's). */
  heard(name: string): ((receivers: number) => void) | undefined {
    const relayed = this.documents.get(name);
    return relayed === undefined || relayed.early !== null ? undefined : this.heardBy(relayed, ++this.clock, this.healthEpoch);
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

  /** `send` waits until everything the document (updates or claims) holds now is durable, here and on its origins. */
  whenDurable(name: string, send: () => void): void {
    const own = this.durability.barrier(name);
    const barrier = { ...own, ticket: Math.max(own.ticket, this.committer.lastPendingTicket(ownersLogName(name))) };
    this.outbox.push({ barrier, send });
    this.sendDurable();
  }

  /** Publishes what bursts and the durable mark's interval still hold, and stops the resync rounds (the bus is closed after it). */
  close(): void {
    for (const name of [...this.waiting.keys()]) this.publishNow(name);
    this.publishDurable();
    this.resync.close();
  }

  private forget(name: string, document: Document): void {
    const relayed = this.documents.get(name);
    if (relayed?.document !== document) return; // reloaded meanwhile: keep the subscription
    // An instance that loaded it meanwhile may have read the log before the changes left unpublished were stored.
    if (relayed.skipped) this.whenDurable(name, () => this.bus.publish(this.channelOf(name), BusKind.Stored, new Uint8Array(0)));
    this.documents.delete(name);
    this.publishedAt.delete(name);
    this.bursts.delete(name);
    this.ledger.drop(name);
    this.bus.unsubscribe(this.channelOf(name));
  }

  channelOf(name: string): string {
    return this.bus.channel(DOCUMENT_CHANNEL + name);
  }

  /**
   * Where a document's change by `origin` waits: until the current run of microtasks ends (a keystroke reaches the
   * other instances before this turn's other work); or, when its source is bursting (sockets/bursts.ts), until the
   * document's last publish is BURST_INTERVAL_MS ago, together with whatever else it gains meanwhile (a burst makes a
   * frame per interval, not one per read of the writer's socket).
   */
  private gather(name: string, origin: unknown): { updates: Uint8Array[]; claims: Claim[] } {
    let bursts = this.bursts.get(name);
    if (bursts === undefined && this.documents.has(name)) this.bursts.set(name, (bursts = new Bursts()));
    const wait = bursts?.wait(origin, this.publishedAt.get(name) ?? Number.NEGATIVE_INFINITY) ?? 0;
    let pending = this.gathered.get(name);
    if (pending !== undefined) return pending;
    pending = { updates: [], claims: [] };
    this.gathered.set(name, pending);
    if (wait > 0) {
      this.waiting.set(name, setTimeout(() => this.publishNow(name), wait));
      return pending;
    }
    this.soon.add(name);
    if (!this.soonScheduled) {
      this.soonScheduled = true;
      queueMicrotask(this.publishSoon);
    }
    return pending;
  }

  private readonly publishSoon = () => {
    this.soonScheduled = false;
    const names = this.soon;
    this.soon = new Set();
    for (const name of names) this.publishNow(name);
  };

  /**
   * A document's gathered changes go out now, with the ticket that covers them (the last one their document had
   * queued, claims included; 0 when everything is durable already): the other instances hold them in their relay
   * ledger until this instance's `Durable` frame or heartbeat says that ticket is stored.
   */
  private publishNow(name: string): void {
    const changes = this.gathered.get(name);
    if (changes === undefined) return;
    this.gathered.delete(name);
    clearTimeout(this.waiting.get(name));
    this.waiting.delete(name);
    // A burst's last frame can go out after the document unloaded here: nothing of it is remembered then.
    const relayed = this.documents.get(name);
    if (relayed !== undefined) this.publishedAt.set(name, performance.now());
    const pending = documentTicket(this.committer, name);
    const ticket = pending > this.committer.durableThrough ? pending : 0;
    if (ticket > this.publishedThrough) this.publishedThrough = ticket;
    const update: BusFrame = {
      channel: this.channelOf(name),
      kind: BusKind.Update,
      body: encodeUpdateFrame(changes.updates, changes.claims, ticket),
      dropped: () => this.publishFailed(name),
      ...(relayed === undefined ? {} : { heard: this.heardBy(relayed, ++this.clock, this.healthEpoch) }),
    };
    // A durable mark waiting for the interval goes now, in the same write.
    const mark = this.durableTimer === null ? null : this.takeDurableMark();
    this.bus.publishAll(mark === null ? [update] : [update, mark]);
  }

  /**
   * Redis's count of the subscriptions a document's frame reached, sent at `sentAt` of the relay's clock: 1 is this
   * instance's own, so no other instance has the document loaded, and its changes stop being published. Unless another
   * instance was heard on the channel since the frame left (its subscription may postdate the count), or the bus lost
   * its health meanwhile (this instance's own subscription may have been missing from the count).
   */
  private heardBy(relayed: Relayed, sentAt: number, epoch: number): (receivers: number) => void {
    return (receivers) => {
      if (receivers !== 1 || epoch !== this.healthEpoch || relayed.heardAt > sentAt) return;
      if (this.documents.get(relayed.document.name) !== relayed) return; // unloaded (or reloaded) meanwhile
      relayed.alone = true;
    };
  }

  /**
   * A frame of another instance on the document's channel: it has the document loaded (or is loading it). Publishing
   * resumes; what was left unpublished reaches it through the resync, which its own request after the load starts (a
   * request is answered with everything it lacks), else a round asked for here.
   */
  private heardFrom(name: string, relayed: Relayed, kind: BusKind): void {
    relayed.heardAt = ++this.clock;
    if (!relayed.alone) return;
    relayed.alone = false;
    if (kind !== BusKind.SyncRequest && relayed.skipped) this.resync.publishFailed(name);
    relayed.skipped = false; // on their way: an unload need not send `Stored` for them
  }

  private publishFailed(name: string): void {
    if (this.bus.healthy) {
      this.resync.publishFailed(name);
      return;
    }
    if (this.unpublished.size < MAX_UNPUBLISHED) this.unpublished.add(name);
    else if (!this.unpublished.has(name)) this.log.warn({ document: name, limit: MAX_UNPUBLISHED }, 'too many documents changed while Redis is unreachable: this one reaches the other instances at their next load of it');
  }

  /**
   * Redis is back: for each document changed here but not published meanwhile that is no longer loaded here (the
   * resync round covers those still loaded), once its changes are stored, a `Stored` notice on its channel.
   */
  private announceUnpublished(): void {
    const names = [...this.unpublished].filter((name) => !this.documents.has(name));
    this.unpublished = new Set();
    if (names.length === 0) return;
    const announce = () => {
      for (const name of names) this.whenDurable(name, () => this.bus.publish(this.channelOf(name), BusKind.Stored, new Uint8Array(0)));
    };
    announce();
    // Again, as the resync round does: an instance not subscribed again yet when the first went out misses it.
    for (const delay of ANNOUNCE_AGAIN_MS) setTimeout(announce, delay).unref();
  }

  /** Another instance stored changes of a document loaded here that it could not publish: read them from storage. */
  private async readStored(name: string, document: Document): Promise<void> {
    try {
      const [entries, ownerEntries] = await Promise.all([this.store.load(name), this.store.load(ownersLogName(name))]);
      if (this.loaded(name) !== document) return; // unloaded meanwhile
      const claims = [...decodeOwners(ownerEntries).owners].map(([client, user]) => ({ client, user }));
      if (this.applyRemote(name, document, entries.map(({ update }) => update), claims)) broadcastSoon(document);
    } catch (error) {
      this.log.error({ err: error, document: name }, 'could not read a document another instance changed while Redis was unreachable');
    }
  }

  /**
   * After a commit: the outbox, and the new durable mark when it covers updates published before it was reached. A
   * burst commits every few milliseconds: the mark then goes at most once per burst interval, with the next update
   * frame when one goes out meanwhile (the bus writes frames published in one tick together, cluster/RedisBus.ts).
   */
  private announceDurable(): void {
    this.sendDurable();
    if (this.durableTimer !== null || !this.durableToAnnounce()) return;
    const wait = this.durableAt + BURST_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      this.publishDurable();
      return;
    }
    this.durableTimer = setTimeout(() => {
      this.durableTimer = null;
      this.publishDurable();
    }, wait);
  }

  private durableToAnnounce(): boolean {
    const durable = this.committer.durableThrough;
    return this.publishedThrough > this.announcedThrough && durable > this.announcedThrough;
  }

  private publishDurable(): void {
    const mark = this.takeDurableMark();
    if (mark !== null) this.bus.publishAll([mark]);
  }

  /** The `Durable` frame of the mark to announce now (null: nothing new), counted as announced. */
  private takeDurableMark(): BusFrame | null {
    if (this.durableTimer !== null) clearTimeout(this.durableTimer);
    this.durableTimer = null;
    if (!this.durableToAnnounce()) return null;
    const durable = this.committer.durableThrough;
    this.announcedThrough = durable;
    this.durableAt = performance.now();
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, durable);
    return { channel: this.clusterChannel, kind: BusKind.Durable, body: encoding.toUint8Array(encoder) };
  }

  /**
   * Sends the resync answers whose content is durable. One document's answers pass in the order they were taken (a
   * later barrier of a document is never below an earlier one); an answer waiting on another instance's commit does
   * not hold back those of other documents.
   */
  private sendDurable(): void {
    const waiting: Outgoing[] = [];
    for (const outgoing of this.outbox) {
      if (this.durability.passed(outgoing.barrier)) outgoing.send();
      else waiting.push(outgoing);
    }
    this.outbox = waiting;
    if (this.outbox.length === 0 || this.outboxScheduled) return;
    this.outboxScheduled = true;
    this.durability.onceProgress(() => {
      this.outboxScheduled = false;
      this.sendDurable();
    });
  }

  private receive(channel: string, kind: BusKind, body: Uint8Array, sender: string): void {
    if (kind === BusKind.Durable) {
      if (channel === this.clusterChannel) this.ledger.settle(sender, decoding.readVarUint(decoding.createDecoder(body)));
      return;
    }
    const prefix = this.bus.channel(DOCUMENT_CHANNEL);
    if (!channel.startsWith(prefix)) return;
    const name = channel.slice(prefix.length);
    const relayed = this.documents.get(name);
    if (relayed === undefined) return;
    this.heardFrom(name, relayed, kind); // any kind: updates, presence, resync requests
    if (kind !== BusKind.Update && kind !== BusKind.Stored) return;
    if (kind === BusKind.Stored) {
      if (relayed.early === null) void this.readStored(name, relayed.document); // a load under way reads it anyway
      return;
    }
    if (relayed.early !== null) relayed.early.push({ body, sender });
    else this.apply(name, relayed.document, body, sender);
  }

  private apply(name: string, document: Document, body: Uint8Array, sender: string): void {
    const { updates, claims, ticket } = decodeUpdateFrame(body);
    if (ticket > 0) this.ledger.register(name, sender, ticket, updates, claims);
    // Shown when this read of the bus is applied (the hop), unless the document broadcast within the burst interval.
    if (this.applyRemote(name, document, updates, claims)) broadcastSoon(document);
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
