/**
 * One instance-wide event path (docs/scale-out-design.md §3.6): `broadcast(kind, json)` sends a named JSON event to
 * every other instance of the cluster over one bus channel (`concord:<ns>:c`), and `on(kind, receive, refresh)`
 * takes them. Revocations ride it (`shareRevocations` below), and so do the source documents of live views
 * (views/SourceAnnouncer.ts); later instance-wide events (last-seen, settings reloads, cache invalidation) are meant to
 * as well.
 *
 * Pub/sub loses messages while Redis is away, so a kind that must not miss one names a `refresh`: a read of the state
 * it carries from PostgreSQL, which every instance shares. It runs
 * - when this instance's bus turns healthy (at start, and each time Redis is back: what was sent meanwhile is lost);
 * - on a gap: each sender numbers its frames (`seq`, per process start, counting those it could not publish too), so
 *   a jump shows that one was lost. A sender whose bus comes back sends a mark with its latest number, so a frame it
 *   failed to publish is noticed by peers whose own bus stayed up, without waiting for its next event;
 * - every POLL_INTERVAL_MS while this instance's bus is unhealthy, so events still reach it through PostgreSQL.
 * Refreshes of one kind run one at a time; one asked for meanwhile runs once after it.
 *
 * Frame body (after the bus header): `[seq varuint][kind varstring][json varstring]`; a mark has an empty kind.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { Revoker } from '../auth/Revoker.js';
import type { Logger } from '../logger.js';
import { revocationFrom } from '../storage/RevocationStore.js';
import { BusKind, type RedisBus } from './RedisBus.js';

/** Name of the cluster channel inside the namespace (heartbeats ride it too: cluster/Peers.ts). */
export const CLUSTER_CHANNEL = 'c';
/**
 * How often refreshes run while the bus is unhealthy. SPEC §3 gives a revocation 1 s to reach every instance; half
 * of it leaves room for the read itself.
 */
export const POLL_INTERVAL_MS = 500;
/** The kind of a mark frame: no event, only the sender's latest number. */
const MARK = '';

/** Why a refresh ran (logged). */
type RefreshReason = 'start' | 'recovery' | 'gap' | 'poll';

interface Kind {
  readonly receive: (json: unknown) => void;
  readonly refresh: (() => Promise<unknown>) | undefined;
  /** The refresh under way, and whether another was asked for meanwhile. */
  running: Promise<void> | null;
  again: boolean;
}

export function encodeClusterFrame(seq: number, kind: string, json: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, seq);
  encoding.writeVarString(encoder, kind);
  encoding.writeVarString(encoder, json);
  return encoding.toUint8Array(encoder);
}

export function decodeClusterFrame(body: Uint8Array): { seq: number; kind: string; json: string } {
  const decoder = decoding.createDecoder(body);
  return { seq: decoding.readVarUint(decoder), kind: decoding.readVarString(decoder), json: decoding.readVarString(decoder) };
}

export class ClusterEvents {
  private readonly bus: RedisBus;
  private readonly log: Logger;
  private readonly channel: string;
  private readonly kinds = new Map<string, Kind>();
  /** This instance's last frame number. */
  private seq = 0;
  /** Each sender's last frame number seen here. */
  private readonly senders = new Map<string, number>();
  private readonly poller: ReturnType<typeof setInterval>;
  private closed = false;

  constructor(bus: RedisBus, log: Logger) {
    this.bus = bus;
    this.log = log.child({ component: 'cluster-events' });
    this.channel = bus.channel(CLUSTER_CHANNEL);
    bus.onMessage((channel, kind, body, sender) => {
      if (kind === BusKind.Cluster && channel === this.channel) this.receive(body, sender);
    });
    bus.onHealthy(() => {
      this.sendMark();
      this.refreshAll('recovery');
    });
    this.poller = setInterval(() => {
      if (!this.bus.healthy) this.refreshAll('poll');
    }, POLL_INTERVAL_MS);
    this.poller.unref();
  }

  /**
   * Takes events of `kind` from other instances; `refresh` reads what they carry from storage, when some may have
   * been missed (see the header). Register every kind before `start`.
   */
  on(kind: string, receive: (json: unknown) => void, refresh?: () => Promise<unknown>): void {
    if (kind === MARK) throw new Error('a cluster event needs a name');
    this.kinds.set(kind, { receive, refresh, running: null, again: false });
  }

  /** Joins the cluster channel, then refreshes every kind (what happened before this instance listened). */
  async start(): Promise<void> {
    await this.bus.subscribe(this.channel);
    this.refreshAll('start');
  }

  /** Sends `json` as a `kind` event to every other instance; false when Redis is unreachable (peers refresh later). */
  broadcast(kind: string, json: unknown): boolean {
    this.seq += 1;
    return this.bus.publish(this.channel, BusKind.Cluster, encodeClusterFrame(this.seq, kind, JSON.stringify(json)));
  }

  /** Resolves once the refreshes under way are done; none run after. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    await Promise.all([...this.kinds.values()].map((kind) => kind.running));
  }

  private sendMark(): void {
    if (this.seq > 0) this.bus.publish(this.channel, BusKind.Cluster, encodeClusterFrame(this.seq, MARK, ''));
  }

  private receive(body: Uint8Array, sender: string): void {
    const { seq, kind, json } = decodeClusterFrame(body);
    const last = this.senders.get(sender);
    // A sender first heard of now may have sent before: what it sent is in storage, read at start or since.
    const expected = last === undefined ? seq : kind === MARK ? last : last + 1;
    if (last === undefined || seq > last) this.senders.set(sender, seq);
    if (seq > expected) {
      this.log.info({ sender, expected, seq }, 'missed an instance-wide event: refreshing from storage');
      this.refreshAll('gap');
    }
    if (kind === MARK) return;
    const handler = this.kinds.get(kind);
    if (handler === undefined) return; // a kind a newer version sends
    handler.receive(JSON.parse(json) as unknown);
  }

  private refreshAll(reason: RefreshReason): void {
    for (const [name, kind] of this.kinds) this.refresh(name, kind, reason);
  }

  private refresh(name: string, kind: Kind, reason: RefreshReason): void {
    if (kind.refresh === undefined || this.closed) return;
    if (kind.running !== null) {
      kind.again = true;
      return;
    }
    const read = kind.refresh;
    kind.running = (async () => {
      do {
        kind.again = false;
        try {
          await read();
        } catch (error) {
          // The next poll, gap or recovery tries again.
          this.log.warn({ err: error, kind: name, reason }, 'an instance-wide refresh from storage failed');
        }
      } while (kind.again && !this.closed);
      kind.running = null;
    })();
  }
}

/** The cluster event that carries a revocation (its fields as JSON). */
const REVOCATION = 'revocation';

/**
 * Revocations across instances: one made here is broadcast once stored; one broadcast elsewhere is applied here
 * (`Revoker.learn`, once); a refresh applies those stored by any instance since the last read.
 */
export function shareRevocations(events: ClusterEvents, revoker: Revoker): void {
  revoker.onStored((revocation) => events.broadcast(REVOCATION, revocation));
  events.on(
    REVOCATION,
    (json) => revoker.learn(revocationFrom(json, 'a revocation from another instance')),
    () => revoker.refresh(),
  );
}
