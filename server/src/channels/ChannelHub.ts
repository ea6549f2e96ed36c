/**
 * Publishing events to channels and replaying them: the server side of engine/src/channels.ts.
 *
 * `publish` validates the event (channel and event names, a JSON payload within `maxEventBytes`), appends it to the
 * channel's log in the store (storage/ChannelStore.ts) and, once that is durable, sends it to every connection
 * subscribed to the channel on this instance. `replay` answers a subscriber's `since` request from the stored log.
 * The log's epoch and numbers are the store's, so they outlive a restart: a subscriber that reconnects gets what it
 * missed, with no gap unless the retention dropped some of it.
 *
 * The rule that keeps delivery in order (clients drop an event numbered at or below one they have): a channel's
 * publishes are appended one write at a time, in the order they were made; those made while a write is under way wait
 * and go together in the next one. So events are numbered, and sent, in publish order. Once stored, events go to the
 * `fanOut`: by default this instance's subscribers; in a cluster cluster/ChannelRelay.ts, which puts them in order
 * with the events other instances store on the same channel and sends them to those instances too.
 */
import {
  assertTenant,
  CHANNEL_PREFIX,
  channelNameProblem,
  ConcordError,
  ErrorKind,
  eventNameProblem,
  isChannelDocument,
  TENANT_SEPARATOR,
  type ChannelEvent,
  type EventMessage,
  type ReplayMessage,
  type SinceRequest,
} from '@concord/engine';
import type { Document, Hocuspocus } from '@hocuspocus/server';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ChannelKey, ChannelStore, NewChannelEvent, Retention } from '../storage/ChannelStore.js';

/** How often events beyond the retention and channels idle past it are dropped from the store. */
const SWEEP_INTERVAL_MS = 60_000;

/** Where stored events go: to every subscriber of the channel document `address`, in order. */
export interface ChannelFanOut {
  deliver(address: string, epoch: string, events: readonly ChannelEvent[]): void;
}

export interface ChannelHubOptions {
  readonly hocuspocus: Hocuspocus;
  /** Default: this instance's subscribers, as stored (only this instance appends to its channels). */
  readonly fanOut?: ChannelFanOut;
  readonly store: ChannelStore;
  readonly retention: Retention;
  /** Largest payload accepted, as JSON bytes. */
  readonly maxEventBytes: number;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now?: () => number;
}

/** What `publish` returns: where the event landed and how many connections of this instance it was sent to. */
export interface PublishedEvent extends ChannelEvent {
  readonly channel: string;
  readonly epoch: string;
  readonly delivered: number;
}

interface QueuedEvent extends NewChannelEvent {
  readonly payload: unknown;
  resolve(published: PublishedEvent): void;
  reject(error: unknown): void;
}

/** A channel's publishes waiting for the write under way (if any) to finish. */
interface Queue {
  readonly key: ChannelKey;
  readonly address: string;
  waiting: QueuedEvent[];
  writing: boolean;
}

export class ChannelHub {
  private readonly options: ChannelHubOptions;
  private readonly fanOut: ChannelFanOut;
  private readonly now: () => number;
  private readonly queues = new Map<string, Queue>();
  private readonly sweeper: ReturnType<typeof setInterval>;
  private sweeping: Promise<void> | undefined;
  /** Replays being read, by channel and position. */
  private readonly replays = new Map<string, Promise<string>>();
  /** Writes under way (one per channel at most). */
  private readonly writes = new Set<Promise<void>>();

  constructor(options: ChannelHubOptions) {
    this.options = options;
    this.fanOut = options.fanOut ?? {
      deliver: (address, epoch, events) => {
        const document = options.hocuspocus.documents.get(address);
        if (document) sendEvents(document, epoch, events);
      },
    };
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /**
   * Appends an event to `tenant`'s `channel` and, once it is stored, sends it to its subscribers; rejects with a
   * ConcordError for bad input (before anything is stored), or with the store's error. The event is queued before
   * the first `await`, so publishes made one after the other are numbered in that order.
   */
  async publish(tenant: string, channel: string, event: string, payload: unknown): Promise<PublishedEvent> {
    assertTenant(tenant);
    const channelProblem = channelNameProblem(channel);
    if (channelProblem) throw new ConcordError(ErrorKind.InvalidChannel, channelProblem);
    const eventProblem = eventNameProblem(event);
    if (eventProblem) throw new ConcordError(ErrorKind.InvalidEvent, eventProblem);
    const json = payload === undefined ? 'null' : JSON.stringify(payload);
    if (json === undefined) throw new ConcordError(ErrorKind.InvalidEvent, 'the payload must be JSON');
    const bytes = Buffer.byteLength(json);
    if (bytes > this.options.maxEventBytes) {
      throw new ConcordError(
        ErrorKind.InvalidEvent,
        `the payload is ${bytes} bytes of JSON; at most ${this.options.maxEventBytes} are accepted (CONCORD_MAX_EVENT_BYTES)`,
      );
    }
    const address = `${tenant}${TENANT_SEPARATOR}${CHANNEL_PREFIX}${channel}`;
    let queue = this.queues.get(address);
    if (!queue) {
      queue = { key: { tenant, channel }, address, waiting: [], writing: false };
      this.queues.set(address, queue);
    }
    const published = new Promise<PublishedEvent>((resolve, reject) => {
      queue.waiting.push({ event, json, bytes, at: this.now(), payload: JSON.parse(json) as unknown, resolve, reject });
    });
    if (!queue.writing) {
      const writing = this.write(queue);
      this.writes.add(writing);
      void writing.finally(() => this.writes.delete(writing));
    }
    return published;
  }

  /**
   * The answer to a subscriber's `since` request on the channel document `address` (`<tenant>/#<channel>`). Equal
   * requests made while one is being read share its read and its answer (a reconnect storm, or a client asking again
   * and again, costs one read).
   */
  replay(address: string, request: SinceRequest): Promise<string> {
    const key = `${address}\n${request.epoch}\n${request.seq}`;
    let answer = this.replays.get(key);
    if (!answer) {
      answer = this.readReplay(address, request).finally(() => this.replays.delete(key));
      this.replays.set(key, answer);
    }
    return answer;
  }

  private async readReplay(address: string, request: SinceRequest): Promise<string> {
    const position = request.epoch === null || request.seq === null ? null : { epoch: request.epoch, seq: request.seq };
    const { epoch, head, events } = await this.options.store.readEvents(keyOf(address), position, this.options.retention, this.now());
    const after = position === null ? head : position.epoch === epoch ? position.seq : 0;
    // Missed events the store no longer holds: an earlier epoch, or numbers between the client's and the first held.
    const gap = position !== null && (position.epoch !== epoch || (after < head && (events[0]?.seq ?? head + 1) > after + 1));
    if (events.length > 0) this.options.metrics.eventsReplayed.inc(events.length);
    return JSON.stringify({ concord: 'replay', epoch, head, events, gap } satisfies ReplayMessage);
  }

  /** Stops the sweep; resolves once the publishes and the sweep under way are done (close the store after). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.writes, this.sweeping]);
  }

  /** Appends what waits on `queue` in one write, sends it, and goes on while more waits. */
  private async write(queue: Queue): Promise<void> {
    queue.writing = true;
    while (queue.waiting.length > 0) {
      const batch = queue.waiting;
      queue.waiting = [];
      try {
        const { epoch, first } = await this.options.store.appendEvents(queue.key, batch, this.options.retention, this.now());
        const delivered = this.options.hocuspocus.documents.get(queue.address)?.getConnectionsCount() ?? 0;
        const events = batch.map((queued, i): ChannelEvent => ({ seq: first + i, event: queued.event, payload: queued.payload, at: queued.at }));
        this.fanOut.deliver(queue.address, epoch, events);
        batch.forEach((queued, i) => {
          const stored = events[i]!;
          this.options.metrics.eventsPublished.inc();
          this.options.log.debug({ ...queue.key, event: stored.event, seq: stored.seq, delivered }, 'published an event');
          queued.resolve({ channel: queue.key.channel, epoch, delivered, ...stored });
        });
      } catch (error) {
        this.options.log.error({ ...queue.key, err: error, events: batch.length }, 'channel events could not be stored');
        for (const queued of batch) queued.reject(error);
      }
    }
    queue.writing = false;
    this.queues.delete(queue.address);
  }

  /** Drops what the retention no longer keeps, and channels idle past it that have no subscriber here. */
  sweep(): Promise<void> {
    if (this.sweeping) return this.sweeping;
    const loaded: ChannelKey[] = [];
    for (const address of this.options.hocuspocus.documents.keys()) {
      if (isChannelDocument(address)) loaded.push(keyOf(address));
    }
    this.sweeping = this.options.store
      .sweepChannels(this.options.retention, this.now(), loaded)
      .catch((error: unknown) => this.options.log.warn({ err: error }, 'the channel sweep failed; it runs again later'))
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }
}

/** Sends stored events to every connection of the channel document `document`. */
export function sendEvents(document: Document, epoch: string, events: readonly ChannelEvent[]): void {
  for (const event of events) document.broadcastStateless(JSON.stringify({ concord: 'event', epoch, ...event } satisfies EventMessage));
}

/** The channel of the channel document `address` (`<tenant>/#<channel>`). */
export function keyOf(address: string): ChannelKey {
  const at = address.indexOf(TENANT_SEPARATOR);
  return { tenant: address.slice(0, at), channel: address.slice(at + 1 + CHANNEL_PREFIX.length) };
}
