/**
 * Which other instances of the cluster are alive (docs/scale-out-design.md §3.1, §3.10), from heartbeats on the
 * cluster channel (`concord:<ns>:c`, shared with cluster/ClusterEvents.ts; frames of their own kind, `Heartbeat`).
 *
 * Each instance sends a heartbeat every HEARTBEAT_INTERVAL_MS while its bus is healthy, and one at once each time it
 * becomes healthy. A peer is **silent** once SILENT_AFTER_MS passed without one (or any other frame from it), for
 * whatever reason; it is **dead** when it is silent while this instance's own bus is healthy, silence counted from the
 * moment the bus last became healthy (during a Redis outage every peer is silent, and none is dead: they come back with
 * Redis). A graceful stop sends a goodbye, and a peer that says goodbye is gone at once. `onGone` listeners are told of
 * both, once per peer: the awareness relay drops the cursors of that instance's clients, who would otherwise stay for
 * y-protocols' 30 s timeout. A peer taken for dead that is heard again (it was only stalled) is a peer again.
 *
 * `live` counts the peers heard within SILENT_AFTER_MS while the bus is healthy: `/healthz` `redis.peers` and the
 * `concord_cluster_peers` gauge.
 *
 * Frame body (after the bus header): `[signal u8]`, 1 a heartbeat, 2 a goodbye; a heartbeat then carries the
 * instance's durable mark (`varUint`: every update it queued up to that ticket is stored), which settles what the
 * other instances hold of its published updates (durability/RelayLedger.ts) even if a `Durable` frame was lost.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { Logger } from '../logger.js';
import { CLUSTER_CHANNEL } from './ClusterEvents.js';
import { BusKind, type RedisBus } from './RedisBus.js';

/** Between two heartbeats of one instance. */
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** A peer unheard this long is silent: three heartbeats missed, and half an interval for a slow event loop. */
export const SILENT_AFTER_MS = 3_500;
/** How often silence is looked for; a dead peer is noticed at most this long after SILENT_AFTER_MS. */
const CHECK_INTERVAL_MS = 250;

const Signal = { Heartbeat: 1, Bye: 2 } as const;

/** Why a peer is gone: it said goodbye, or it fell silent while Redis was reachable from here. */
export type GoneReason = 'bye' | 'dead';
export type GoneListener = (instance: string, reason: GoneReason) => void;
/** A peer's durable mark, from its heartbeat. */
export type MarkListener = (instance: string, durableThrough: number) => void;

export class Peers {
  private readonly bus: RedisBus;
  private readonly log: Logger;
  private readonly channel: string;
  /** Each peer heard from, and when its last heartbeat came (performance.now()). */
  private readonly heard = new Map<string, number>();
  private readonly goneListeners: GoneListener[] = [];
  private readonly markListeners: MarkListener[] = [];
  /** This instance's durable mark, sent with each heartbeat. */
  private readonly durableMark: () => number;
  /** When this instance's bus last became healthy (performance.now()); silence before it does not count. */
  private healthySince = performance.now();
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private check: ReturnType<typeof setInterval> | undefined;
  private closed = false;

  constructor(bus: RedisBus, log: Logger, durableMark: () => number = () => 0) {
    this.bus = bus;
    this.durableMark = durableMark;
    this.log = log.child({ component: 'peers' });
    this.channel = bus.channel(CLUSTER_CHANNEL);
    bus.onMessage((channel, kind, body, sender) => {
      if (kind === BusKind.Heartbeat && channel === this.channel) this.receive(body, sender);
      else this.heardFrom(sender);
    });
    bus.onHealthy(() => {
      this.healthySince = performance.now();
      this.send(Signal.Heartbeat);
    });
  }

  /** Peers heard within SILENT_AFTER_MS, while this instance's bus is healthy. */
  get live(): number {
    if (!this.bus.healthy) return 0;
    const now = performance.now();
    let live = 0;
    for (const last of this.heard.values()) if (now - last <= SILENT_AFTER_MS) live += 1;
    return live;
  }

  /**
   * Whether this instance leads the cluster for work only one instance may do (firing scheduled notifications): its
   * id is below every live peer's. While its own bus is unhealthy it cannot know, and leads (each instance then does
   * the work for what it sees, as a single instance would).
   */
  get leads(): boolean {
    if (!this.bus.healthy) return true;
    const now = performance.now();
    for (const [peer, last] of this.heard) if (now - last <= SILENT_AFTER_MS && peer < this.bus.instance) return false;
    return true;
  }

  /** `listener` is told of each peer that said goodbye or died, once. */
  onGone(listener: GoneListener): void {
    this.goneListeners.push(listener);
  }

  /** `listener` is told of each peer's durable mark, with each of its heartbeats. */
  onMark(listener: MarkListener): void {
    this.markListeners.push(listener);
  }

  /** Joins the cluster channel, then sends heartbeats and looks for silent peers. */
  async start(): Promise<void> {
    await this.bus.subscribe(this.channel);
    this.send(Signal.Heartbeat);
    this.heartbeat = setInterval(() => this.send(Signal.Heartbeat), HEARTBEAT_INTERVAL_MS);
    this.check = setInterval(() => this.findDead(), CHECK_INTERVAL_MS);
    this.heartbeat.unref();
    this.check.unref();
  }

  /** Says goodbye (the peers drop this instance's cursors at once) and stops. Before the bus closes. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    clearInterval(this.check);
    this.send(Signal.Bye);
  }

  private send(signal: number): void {
    // Nothing is sent while Redis is unreachable: a heartbeat is worth nothing later, and need not count as dropped.
    if (!this.bus.healthy || (this.closed && signal !== Signal.Bye)) return;
    const encoder = encoding.createEncoder();
    encoding.writeUint8(encoder, signal);
    if (signal === Signal.Heartbeat) encoding.writeVarUint(encoder, this.durableMark());
    this.bus.publish(this.channel, BusKind.Heartbeat, encoding.toUint8Array(encoder));
  }

  private receive(body: Uint8Array, sender: string): void {
    const signal = body[0];
    if (signal === Signal.Bye) {
      if (this.heard.delete(sender)) this.gone(sender, 'bye');
      return;
    }
    if (signal !== Signal.Heartbeat) return; // a signal a newer version sends
    this.heardFrom(sender);
    if (body.byteLength < 2) return; // no mark
    const decoder = decoding.createDecoder(body.subarray(1));
    const mark = decoding.readVarUint(decoder);
    for (const listener of this.markListeners) listener(sender, mark);
  }

  /**
   * Any frame from a peer shows it alive, not only its heartbeat: one heard only through what it published (it was cut
   * off or died within a heartbeat interval of starting, before this instance heard a heartbeat) still falls silent,
   * and what the others hold of its updates is then adopted (durability/RelayLedger.ts) instead of waited for forever.
   */
  private heardFrom(sender: string): void {
    if (!this.heard.has(sender)) this.log.info({ peer: sender }, 'a peer instance joined the cluster');
    this.heard.set(sender, performance.now());
  }

  private findDead(): void {
    if (!this.bus.healthy) return;
    const now = performance.now();
    for (const [peer, last] of this.heard) {
      if (now - Math.max(last, this.healthySince) <= SILENT_AFTER_MS) continue;
      this.heard.delete(peer);
      this.gone(peer, 'dead');
    }
  }

  private gone(peer: string, reason: GoneReason): void {
    if (reason === 'dead') {
      this.log.warn({ peer, silentForMs: SILENT_AFTER_MS }, 'a peer instance fell silent while Redis is reachable: taken for dead');
    } else {
      this.log.info({ peer }, 'a peer instance said goodbye');
    }
    for (const listener of this.goneListeners) {
      try {
        listener(peer, reason);
      } catch (error) {
        this.log.error({ err: error, peer }, 'a listener of a peer going failed');
      }
    }
  }
}
