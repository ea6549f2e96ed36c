/**
 * Repairs what the document relay lost (docs/scale-out-design.md §3.9, option A): a state-vector exchange over the
 * Redis bus, so every instance's copy of every loaded document converges without any further edit.
 *
 * Pub/sub delivers a frame only to instances listening at that moment: every update published while Redis was
 * unreachable (or stalled, or cut off without a reset) is gone for the other instances. So a round runs
 * - each time the bus becomes healthy (after an outage; at the first transition nothing is loaded yet, unless the
 *   instance started while Redis was down and served its clients meanwhile, when its documents need the round too);
 * - for a document whose publish failed while the bus stayed healthy (Redis refused it, or the connection dropped under
 *   it before the bus noticed), DROPPED_DELAY_MS later, and again as long as its requests fail too;
 * - once for each document loaded here, right after the load (`askAfterLoad`): updates are published before their
 *   commit, so one published before this instance subscribed may be in no log yet when the load reads it.
 *
 * A round sends, per loaded document, a `SyncRequest` with this instance's state vector on the document's channel,
 * ROUND_BATCH documents per event-loop turn, and the whole round once more after RETRY_AFTER_MS (a request that
 * reached a peer not subscribed again yet is lost; the peer's own round covers it too). Every instance that has the
 * document loaded answers on the asker's own channel only (`RedisBus.inbox`): a `SyncReply` with the diff against the
 * asker's state vector, its own state vector, and the client-id owners it knows. A diff made for one state vector
 * must never be applied by anyone else (stock extension-redis #1151), hence the addressed answer. The asker applies
 * the diff with RELAY_ORIGIN and always pushes back the diff against the answerer's state vector: deletions do not
 * show in state vectors, and a diff always carries the sender's whole delete set. Either side starting the exchange
 * repairs both directions, whichever instance rejoined Redis first.
 *
 * Durability: what arrives is applied with RELAY_ORIGIN and not stored here. That holds after an outage because every
 * answer and push-back leaves only once everything the document held when it was encoded is durable (DocumentRelay's
 * outbox: the sender's own commits, and what it holds of other instances' published updates settled in its relay
 * ledger, durability/RelayLedger.ts). Nothing is sent as durable that exists only in one instance's memory.
 *
 * A document whose publish failed and that every client left before Redis came back is stored, but no longer loaded
 * there to answer: DocumentRelay's `Stored` notice covers it (the instances that hold it read its log).
 */
import type { Document } from '@hocuspocus/server';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import type { Logger } from '../logger.js';
import type { BusMetrics } from '../metrics.js';
import { BusKind, type RedisBus } from './RedisBus.js';

/** Documents asked for per event-loop turn during a round, so a large instance does not block its clients. */
const ROUND_BATCH = 200;
/** A round is sent once more this long after it started. */
const RETRY_AFTER_MS = 1_000;
/** After the retry, how long answers are waited for before the round's convergence time is recorded. */
const SETTLE_MS = 2_000;
/** Documents whose publish (or request) failed while the bus stayed healthy are asked for this long later, together. */
const DROPPED_DELAY_MS = 500;

/** Why a round ran: the label of `concord_bus_resyncs_total`. */
type ResyncReason = 'recovery' | 'dropped';

export interface Claim {
  readonly client: number;
  readonly user: string;
}

/** What the resync needs of the relay: its documents, how it applies, and its durable outbox. */
export interface ResyncHost {
  /** Names of the documents loaded here (loads under way excluded). */
  loadedNames(): string[];
  /** The loaded document named `name`, if any. */
  loaded(name: string): Document | undefined;
  /** The document's channel on the bus. */
  channelOf(name: string): string;
  /** The client-id owners known for the document. */
  claimsOf(name: string): Claim[];
  /** Applies another instance's updates with RELAY_ORIGIN and learns its claims; true when the document changed. */
  applyRemote(name: string, document: Document, updates: readonly Uint8Array[], claims: readonly Claim[]): boolean;
  /** Runs `send` once everything the document holds now from this instance is durable. */
  whenDurable(name: string, send: () => void): void;
}

interface SyncReply {
  readonly name: string;
  readonly pushBack: boolean;
  readonly diff: Uint8Array;
  readonly stateVector: Uint8Array;
  readonly claims: Claim[];
}

export function encodeSyncRequest(stateVector: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint8Array(encoder, stateVector);
  return encoding.toUint8Array(encoder);
}

export function decodeSyncRequest(body: Uint8Array): Uint8Array {
  return decoding.readVarUint8Array(decoding.createDecoder(body));
}

export function encodeSyncReply({ name, pushBack, diff, stateVector, claims }: SyncReply): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, name);
  encoding.writeUint8(encoder, pushBack ? 1 : 0);
  encoding.writeVarUint8Array(encoder, diff);
  encoding.writeVarUint8Array(encoder, stateVector);
  encoding.writeVarUint(encoder, claims.length);
  for (const { client, user } of claims) {
    encoding.writeVarUint(encoder, client);
    encoding.writeVarString(encoder, user);
  }
  return encoding.toUint8Array(encoder);
}

export function decodeSyncReply(body: Uint8Array): SyncReply {
  const decoder = decoding.createDecoder(body);
  const name = decoding.readVarString(decoder);
  const pushBack = decoding.readUint8(decoder) === 1;
  const diff = decoding.readVarUint8Array(decoder);
  const stateVector = decoding.readVarUint8Array(decoder);
  const claims: Claim[] = [];
  for (let count = decoding.readVarUint(decoder); count > 0; count -= 1) {
    claims.push({ client: decoding.readVarUint(decoder), user: decoding.readVarString(decoder) });
  }
  return { name, pushBack, diff, stateVector, claims };
}

/** A recovery round under way: when it started, and when an answer last changed a document here. */
interface Round {
  readonly startedAt: number;
  lastChangeAt: number | null;
  readonly timers: Array<ReturnType<typeof setTimeout>>;
}

export class DocumentResync {
  private readonly bus: RedisBus;
  private readonly host: ResyncHost;
  private readonly metrics: BusMetrics;
  private readonly log: Logger;
  private round: Round | null = null;
  /** Documents whose publish failed while the bus was healthy, asked for together after DROPPED_DELAY_MS. */
  private dropped = new Set<string>();
  private droppedTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(bus: RedisBus, host: ResyncHost, documentPrefix: string, metrics: BusMetrics, log: Logger) {
    this.bus = bus;
    this.host = host;
    this.metrics = metrics;
    this.log = log.child({ component: 'resync' });
    bus.onMessage((channel, kind, body, sender) => {
      if (kind === BusKind.SyncRequest && channel.startsWith(documentPrefix)) this.answer(channel.slice(documentPrefix.length), body, sender);
      else if (kind === BusKind.SyncReply && channel === bus.inbox) this.receive(body, sender);
    });
    bus.onHealthy(() => this.recover());
  }

  /** A publish of the document's updates failed: ask for its state again (now, or when the bus is healthy again). */
  publishFailed(name: string): void {
    if (!this.bus.healthy || this.closed) return; // the recovery round asks for every loaded document
    this.dropped.add(name);
    this.droppedTimer ??= setTimeout(() => {
      this.droppedTimer = null;
      const names = [...this.dropped];
      this.dropped = new Set();
      this.ask(names, 'dropped', true);
      this.schedule(() => this.ask(names, 'dropped', false), RETRY_AFTER_MS);
    }, DROPPED_DELAY_MS);
    this.droppedTimer.unref();
  }

  /**
   * A document was loaded here: what another instance published before this one subscribed to its channel, and had
   * not yet stored when the load read the log, is asked for once (updates are published before their commit).
   */
  askAfterLoad(name: string): void {
    if (this.closed || !this.bus.healthy) return; // the recovery round asks for every loaded document
    const document = this.host.loaded(name);
    if (document === undefined) return;
    this.bus.publish(this.host.channelOf(name), BusKind.SyncRequest, encodeSyncRequest(Y.encodeStateVector(document)), () => this.publishFailed(name));
  }

  close(): void {
    this.closed = true;
    for (const timer of this.round?.timers ?? []) clearTimeout(timer);
    if (this.droppedTimer !== null) clearTimeout(this.droppedTimer);
    this.round = null;
  }

  private recover(): void {
    const names = this.host.loadedNames();
    if (names.length === 0 || this.closed) return;
    for (const timer of this.round?.timers ?? []) clearTimeout(timer);
    const round: Round = { startedAt: performance.now(), lastChangeAt: null, timers: [] };
    this.round = round;
    this.log.info({ documents: names.length }, 'Redis is back: exchanging the state of every loaded document with the other instances');
    this.ask(names, 'recovery', true);
    const retry = setTimeout(() => {
      this.ask(this.host.loadedNames(), 'recovery', false);
      round.timers.push(setTimeout(() => this.finish(round), SETTLE_MS).unref());
    }, RETRY_AFTER_MS);
    round.timers.push(retry.unref());
  }

  private finish(round: Round): void {
    if (this.round !== round) return;
    this.round = null;
    if (round.lastChangeAt === null) return; // nothing was missing here
    const seconds = (round.lastChangeAt - round.startedAt) / 1000;
    this.metrics.clusterConvergence.observe(seconds);
    this.log.info({ seconds }, 'converged with the other instances after the outage');
  }

  private schedule(run: () => void, delayMs: number): void {
    setTimeout(() => {
      if (!this.closed) run();
    }, delayMs).unref();
  }

  /** Sends a `SyncRequest` for each of `names` still loaded, ROUND_BATCH per event-loop turn. */
  private ask(names: readonly string[], reason: ResyncReason, first: boolean): void {
    let at = 0;
    const batch = () => {
      if (this.closed || !this.bus.healthy) return; // the next recovery asks again
      for (const name of names.slice(at, at + ROUND_BATCH)) {
        const document = this.host.loaded(name);
        if (document === undefined) continue;
        if (first) this.metrics.busResyncs.inc({ reason });
        const request = encodeSyncRequest(Y.encodeStateVector(document));
        this.bus.publish(this.host.channelOf(name), BusKind.SyncRequest, request, () => this.publishFailed(name));
      }
      at += ROUND_BATCH;
      if (at < names.length) setImmediate(batch);
    };
    batch();
  }

  /** Another instance asked: what it lacks, to it alone, once durable here. */
  private answer(name: string, body: Uint8Array, asker: string): void {
    const document = this.host.loaded(name);
    if (document === undefined) return;
    const frame = encodeSyncReply({
      name,
      pushBack: false,
      diff: Y.encodeStateAsUpdate(document, decodeSyncRequest(body)),
      stateVector: Y.encodeStateVector(document),
      claims: this.host.claimsOf(name),
    });
    this.host.whenDurable(name, () => this.bus.publish(this.bus.inboxOf(asker), BusKind.SyncReply, frame));
  }

  /** An answer to this instance's request (then pushed back to its sender), or a push-back to one of its answers. */
  private receive(body: Uint8Array, sender: string): void {
    const reply = decodeSyncReply(body);
    const document = this.host.loaded(reply.name);
    if (document === undefined) return; // unloaded meanwhile: what it lacked is stored, and a load reads it
    const changed = this.host.applyRemote(reply.name, document, [reply.diff], reply.claims);
    if (changed && this.round !== null) this.round.lastChangeAt = performance.now();
    if (reply.pushBack) return;
    const frame = encodeSyncReply({
      name: reply.name,
      pushBack: true,
      diff: Y.encodeStateAsUpdate(document, reply.stateVector),
      stateVector: Y.encodeStateVector(document),
      claims: this.host.claimsOf(reply.name),
    });
    this.host.whenDurable(reply.name, () => this.bus.publish(this.bus.inboxOf(sender), BusKind.SyncReply, frame));
  }
}
