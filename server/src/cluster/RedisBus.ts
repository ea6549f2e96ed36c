/**
 * The bus that joins instances sharing one PostgreSQL: Redis pub/sub over two ioredis connections, one that publishes
 * and one that subscribes.
 *
 * Nothing is queued while Redis is down (`enableOfflineQueue: false`, `maxRetriesPerRequest: 0`): a publish then fails
 * at once and is counted as dropped; what it carried is stored by the instance that sent it (its own commit), where
 * the next load finds it, and the instances exchange what they missed once the bus is healthy again
 * (cluster/DocumentResync.ts). Both connections retry every 500 ms at most, so Redis coming back is seen quickly; the bus keeps the channels it
 * wants itself and subscribes to them again on each reconnect (500 a command). It is `healthy` while both connections
 * are ready and the resubscription is done; each transition is logged once, with the URL's password hidden.
 *
 * Watchdog: a Redis that stops answering without closing the connection (a process stopped with SIGSTOP, a network
 * that drops packets without a reset) would leave both connections `ready` forever. Each connection is sent a PING
 * every WATCHDOG_INTERVAL_MS, and ioredis's `socketTimeout` destroys a connection that has a command waiting and
 * receives nothing for WATCHDOG_DEADLINE_MS: the bus turns unhealthy and the connection reconnects as after a close.
 *
 * Each instance also listens on its own channel (`i:<instance>`, `inbox`), where other instances send what is meant
 * for it alone (the answers of cluster/DocumentResync.ts).
 *
 * Frames published together (`publishAll`: a document's update frame and the durable mark that goes with it,
 * cluster/DocumentRelay.ts) reach Redis in one write, as a pipeline: each write wakes Redis, and then the instances.
 *
 * Frames are binary: `[version][kind][sender: 8 random bytes per process start][body]`. A frame this process sent
 * comes back to it through Redis when it subscribes to the same channel; it is dropped on the sender bytes before
 * anything else is read. Channel names start with `concord:<namespace>:`, the namespace being derived from the
 * PostgreSQL database and schema (cluster/namespace.ts), so clusters on different schemas never meet on one Redis.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';
import type { BusMetrics } from '../metrics.js';

/** Version of the frame layout (its first byte); frames of another version are dropped and counted. */
const FRAME_VERSION = 1;
/** Bytes of the per-process sender id. */
const SENDER_BYTES = 8;
const HEADER_BYTES = 2 + SENDER_BYTES;
/** The longest wait between reconnect attempts, so Redis coming back is seen within about this long. */
const MAX_RECONNECT_DELAY_MS = 500;
/** How long one connection attempt may take before it is abandoned and retried. */
const CONNECT_TIMEOUT_MS = 2_000;
/** Channels per SUBSCRIBE when resubscribing after a reconnect. */
const RESUBSCRIBE_CHUNK = 500;
/** How often each connection is sent a PING, so a Redis that stopped answering is noticed (see the header). */
const WATCHDOG_INTERVAL_MS = 1_000;
/** How long a connection with a command waiting may receive nothing before it is dropped and reconnected. */
const WATCHDOG_DEADLINE_MS = 2_000;
/** Prefix of an instance's own channel inside the namespace. */
const INSTANCE_CHANNEL = 'i:';

/** What a frame carries; the label of its metrics. */
export const BusKind = {
  /** Document updates, with the sender's ticket that covers them (0: already durable) (cluster/DocumentRelay.ts). */
  Update: 1,
  /** A document's presence changes of one window, those of this instance's own clients (cluster/AwarenessRelay.ts). */
  Awareness: 2,
  /** Asks the other instances for the presence of their clients on a document (answered with an `Awareness` frame). */
  AwarenessQuery: 3,
  /** Instance-wide events by name, JSON (cluster/ClusterEvents.ts). */
  Cluster: 4,
  /** Channel events, already stored (cluster/ChannelRelay.ts). */
  Event: 5,
  /** A document's state vector, asking the instances that have it loaded for what the sender lacks (cluster/DocumentResync.ts). */
  SyncRequest: 6,
  /** The answer to a `SyncRequest`, or the asker's push-back, on one instance's own channel (cluster/DocumentResync.ts). */
  SyncReply: 7,
  /** An instance's heartbeat or goodbye, on the cluster channel (cluster/Peers.ts). */
  Heartbeat: 8,
  /** An instance's durable mark after a commit that covered updates it published (cluster/DocumentRelay.ts). */
  Durable: 9,
  /**
   * On a document's channel: the sender stored changes of it that it could not publish (Redis was lost) and no longer
   * has it loaded; instances that have it read them from storage (cluster/DocumentRelay.ts).
   */
  Stored: 10,
} as const;
export type BusKind = (typeof BusKind)[keyof typeof BusKind];

const KIND_NAMES: Readonly<Record<number, string>> = {
  [BusKind.Update]: 'update',
  [BusKind.Awareness]: 'awareness',
  [BusKind.AwarenessQuery]: 'awareness-query',
  [BusKind.Cluster]: 'cluster',
  [BusKind.Event]: 'event',
  [BusKind.SyncRequest]: 'sync-request',
  [BusKind.SyncReply]: 'sync-reply',
  [BusKind.Heartbeat]: 'heartbeat',
  [BusKind.Durable]: 'durable',
  [BusKind.Stored]: 'stored',
};
const kindName = (kind: number) => KIND_NAMES[kind] ?? 'unknown';

/** A frame to publish, and what to do if it is not published (see `RedisBus.publish`). */
export interface BusFrame {
  readonly channel: string;
  readonly kind: BusKind;
  readonly body: Uint8Array;
  readonly dropped?: () => void;
  /** Called with Redis's reply to the PUBLISH: how many subscriptions received the frame (this instance's own included). */
  readonly heard?: (receivers: number) => void;
}

/** Receives every frame another instance sent to a channel this bus is subscribed to; `sender` is its instance id (hex). */
export type BusHandler = (channel: string, kind: BusKind, body: Uint8Array, sender: string) => void;

export interface RedisBusOptions {
  url: string;
  /** Prefix of every channel, shared by the instances of one cluster (cluster/namespace.ts). */
  namespace: string;
  log: Logger;
  metrics: BusMetrics;
}

/** What `/healthz` shows of the bus. */
export interface BusHealth {
  readonly healthy: boolean;
  /** This process's sender id (hex). */
  readonly instance: string;
  readonly namespace: string;
  /** The URL, password hidden. */
  readonly url: string;
  /** When `healthy` last changed (ISO time). */
  readonly since: string;
  readonly lastError: string | null;
  /** Times the bus lost Redis since the start. */
  readonly disconnects: number;
}

/** `url` with its password, if any, hidden. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = 'hidden';
    return parsed.toString();
  } catch {
    return '<unparsable URL>';
  }
}

export class RedisBus {
  readonly instance: string;
  readonly namespace: string;
  /** This instance's own channel: frames other instances address to it alone. */
  readonly inbox: string;
  private readonly sender: Buffer;
  private readonly url: string;
  private readonly log: Logger;
  private readonly metrics: BusMetrics;
  private readonly pub: Redis;
  private readonly sub: Redis;
  /** Channels wanted, whether or not Redis is reachable now. */
  private readonly desired = new Set<string>();
  private readonly handlers: BusHandler[] = [];
  /** Told at every transition to healthy (the first one included). */
  private readonly healthyListeners: Array<() => void> = [];
  /** Told at every transition from healthy to unreachable. */
  private readonly unhealthyListeners: Array<() => void> = [];
  /** The subscribe connection is ready and has subscribed again to every desired channel. */
  private subscribed = false;
  private isHealthy = false;
  private since = new Date();
  private lastError: string | null = null;
  private disconnects = 0;
  /** Resolved at the next transition to healthy. */
  private healthyWaiters: Array<() => void> = [];
  private readonly watchdog: ReturnType<typeof setInterval>;
  private closed = false;

  constructor({ url, namespace, log, metrics }: RedisBusOptions) {
    this.sender = randomBytes(SENDER_BYTES);
    this.instance = this.sender.toString('hex');
    this.namespace = namespace;
    this.url = redactUrl(url);
    this.log = log.child({ component: 'redis', redis: this.url, instance: this.instance });
    this.metrics = metrics;
    const options: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      retryStrategy: (attempt) => Math.min(100 * attempt, MAX_RECONNECT_DELAY_MS),
      connectTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: WATCHDOG_DEADLINE_MS,
      keepAlive: 5_000,
    };
    this.pub = new Redis(url, { ...options, connectionName: `concord-${this.instance}-pub` });
    this.sub = new Redis(url, { ...options, connectionName: `concord-${this.instance}-sub` });
    for (const connection of [this.pub, this.sub]) {
      connection.on('error', (error: Error) => {
        this.lastError = error.message;
      });
      connection.on('close', () => {
        if (connection === this.sub) this.subscribed = false;
        this.update();
      });
      connection.on('ready', () => this.update());
    }
    this.sub.on('ready', () => void this.resubscribe());
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
    this.inbox = this.channel(INSTANCE_CHANNEL + this.instance);
    this.desired.add(this.inbox);
    this.watchdog = setInterval(() => {
      for (const connection of [this.pub, this.sub]) {
        // A failed PING needs nothing here: the socket timeout or the close already turned the bus unhealthy.
        if (connection.status === 'ready') connection.ping().catch(() => undefined);
      }
    }, WATCHDOG_INTERVAL_MS);
    this.watchdog.unref();
  }

  get healthy(): boolean {
    return this.isHealthy;
  }

  health(): BusHealth {
    return {
      healthy: this.isHealthy,
      instance: this.instance,
      namespace: this.namespace,
      url: this.url,
      since: this.since.toISOString(),
      lastError: this.lastError,
      disconnects: this.disconnects,
    };
  }

  /** Resolves true once healthy, or false after `timeoutMs`. */
  whenHealthy(timeoutMs: number): Promise<boolean> {
    if (this.isHealthy) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.healthyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** The bus channel named `name` in this cluster's namespace. */
  channel(name: string): string {
    return `concord:${this.namespace}:${name}`;
  }

  /** The own channel (`inbox`) of the instance whose sender id is `instance`. */
  inboxOf(instance: string): string {
    return this.channel(INSTANCE_CHANNEL + instance);
  }

  /** Where frames from other instances go; each handler gets every frame and picks the kinds it reads. */
  onMessage(handler: BusHandler): void {
    this.handlers.push(handler);
  }

  /**
   * `listener` runs each time the bus becomes healthy: at the start, and whenever Redis is back after an outage, when
   * whatever was published meanwhile is lost and has to be asked for again.
   */
  onHealthy(listener: () => void): void {
    this.healthyListeners.push(listener);
  }

  /** `listener` runs each time the bus stops being healthy (Redis lost, or closed). */
  onUnhealthy(listener: () => void): void {
    this.unhealthyListeners.push(listener);
  }

  /**
   * Wants frames of `channel` from now on. Resolves once Redis confirmed the subscription, or at once while Redis is
   * unreachable (the subscription is made when it is back).
   */
  async subscribe(channel: string): Promise<void> {
    this.desired.add(channel);
    if (!this.subscribed) return;
    try {
      await this.sub.subscribe(channel);
    } catch (error) {
      this.lastError = (error as Error).message;
    }
  }

  unsubscribe(channel: string): void {
    if (!this.desired.delete(channel) || !this.subscribed) return;
    this.sub.unsubscribe(channel).catch((error: Error) => {
      this.lastError = error.message;
    });
  }

  /**
   * Publishes a frame; false (and counted as dropped) when Redis is unreachable. `dropped` is called when the frame is
   * not published: at once with false, or later when Redis refuses it or the connection drops before it answers.
   */
  publish(channel: string, kind: BusKind, body: Uint8Array, dropped?: () => void): boolean {
    return this.publishAll([{ channel, kind, body, ...(dropped ? { dropped } : {}) }]);
  }

  /** Publishes `frames` in order, in one write to Redis; each as `publish` does (false when Redis is unreachable). */
  publishAll(frames: readonly BusFrame[]): boolean {
    if (!this.isHealthy || this.closed) {
      for (const { kind, dropped } of frames) {
        this.metrics.busDropped.inc({ kind: kindName(kind) });
        dropped?.();
      }
      return false;
    }
    const failed = (frame: BusFrame, error: Error) => {
      this.lastError = error.message;
      this.metrics.busDropped.inc({ kind: kindName(frame.kind) });
      frame.dropped?.();
    };
    if (frames.length === 1) {
      const [only] = frames as [BusFrame];
      this.pub.publish(only.channel, this.encode(only)).then(
        (receivers) => only.heard?.(receivers),
        (error: Error) => failed(only, error),
      );
      return true;
    }
    const pipeline = this.pub.pipeline();
    for (const frame of frames) pipeline.publish(frame.channel, this.encode(frame));
    pipeline
      .exec()
      .then((results) =>
        results?.forEach(([error, receivers], i) => {
          if (error) failed(frames[i]!, error);
          else frames[i]!.heard?.(receivers as number);
        }),
      )
      .catch((error: Error) => frames.forEach((frame) => failed(frame, error)));
    return true;
  }

  /** A frame's bytes, counted as sent. */
  private encode({ kind, body }: BusFrame): Buffer {
    const frame = Buffer.allocUnsafe(HEADER_BYTES + body.byteLength);
    frame[0] = FRAME_VERSION;
    frame[1] = kind;
    this.sender.copy(frame, 2);
    frame.set(body, HEADER_BYTES);
    this.metrics.busMessages.inc({ direction: 'out', kind: kindName(kind) });
    this.metrics.busBytes.inc({ direction: 'out' }, frame.byteLength);
    return frame;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    this.pub.disconnect();
    this.sub.disconnect();
  }

  private receive(channelBytes: Buffer, frame: Buffer): void {
    if (frame.byteLength >= HEADER_BYTES && frame.compare(this.sender, 0, SENDER_BYTES, 2, HEADER_BYTES) === 0) return; // own echo
    if (frame.byteLength < HEADER_BYTES || frame[0] !== FRAME_VERSION) {
      this.metrics.busDropped.inc({ kind: 'unknown' });
      return;
    }
    const kind = frame[1]! as BusKind;
    this.metrics.busMessages.inc({ direction: 'in', kind: kindName(kind) });
    this.metrics.busBytes.inc({ direction: 'in' }, frame.byteLength);
    const channel = channelBytes.toString('utf8');
    const sender = frame.toString('hex', 2, HEADER_BYTES);
    const body = frame.subarray(HEADER_BYTES);
    for (const handler of this.handlers) {
      try {
        handler(channel, kind, body, sender);
      } catch (error) {
        this.metrics.busDropped.inc({ kind: kindName(kind) });
        this.log.error({ err: error, channel }, 'a bus frame could not be applied');
      }
    }
  }

  private async resubscribe(): Promise<void> {
    const channels = [...this.desired];
    try {
      for (let at = 0; at < channels.length; at += RESUBSCRIBE_CHUNK) {
        await this.sub.subscribe(...channels.slice(at, at + RESUBSCRIBE_CHUNK));
      }
    } catch (error) {
      this.lastError = (error as Error).message;
      return; // the connection dropped again; its next ready retries
    }
    if (this.sub.status !== 'ready') return;
    this.subscribed = true;
    // Channels wanted or dropped while the resubscription ran.
    const done = new Set(channels);
    for (const channel of this.desired) if (!done.has(channel)) void this.subscribe(channel);
    for (const channel of done) {
      if (!this.desired.has(channel)) this.sub.unsubscribe(channel).catch(() => undefined);
    }
    this.update();
  }

  private update(): void {
    const healthy = !this.closed && this.pub.status === 'ready' && this.sub.status === 'ready' && this.subscribed;
    if (healthy === this.isHealthy) return;
    this.isHealthy = healthy;
    this.since = new Date();
    if (healthy) {
      this.log.info({ namespace: this.namespace }, 'Redis is reachable: this instance is joined to the cluster');
      const waiters = this.healthyWaiters;
      this.healthyWaiters = [];
      for (const waiter of waiters) waiter();
      this.tell(this.healthyListeners, 'healthy');
    } else {
      this.disconnects += 1;
      this.metrics.redisDisconnects.inc();
      if (!this.closed) {
        this.log.warn({ lastError: this.lastError }, 'Redis is unreachable: serving this instance\'s clients only until it is back');
      }
      this.tell(this.unhealthyListeners, 'unreachable');
    }
  }

  private tell(listeners: ReadonlyArray<() => void>, state: string): void {
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        this.log.error({ err: error, state }, 'a listener of the bus\'s health failed');
      }
    }
  }
}
