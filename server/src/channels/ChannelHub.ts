/**
 * Publishing events to channels and replaying them: the server side of engine/src/channels.ts.
 *
 * `publish` validates the event (channel and event names, a JSON payload within `maxEventBytes`), appends it to the
 * channel's log and sends it to every connection subscribed to the channel on this instance, at once. `replay`
 * answers a subscriber's `since` request from the log. Logs live in memory, one per channel that has had an event or
 * a subscriber within the retention age; a sweep drops the others, so idle channels cost nothing.
 */
import {
  assertTenant,
  CHANNEL_PREFIX,
  channelNameProblem,
  ConcordError,
  ErrorKind,
  eventNameProblem,
  TENANT_SEPARATOR,
  type ChannelEvent,
  type EventMessage,
  type ReplayMessage,
  type SinceRequest,
} from '@concord/engine';
import type { Hocuspocus } from '@hocuspocus/server';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { ChannelLog, type Retention } from './ChannelLog.js';

/** How often logs of quiet channels are dropped. */
const SWEEP_INTERVAL_MS = 60_000;

export interface ChannelHubOptions {
  readonly hocuspocus: Hocuspocus;
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

export class ChannelHub {
  private readonly options: ChannelHubOptions;
  private readonly now: () => number;
  private readonly logs = new Map<string, ChannelLog>();
  private readonly sweeper: ReturnType<typeof setInterval>;

  constructor(options: ChannelHubOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Appends an event to `tenant`'s `channel` and sends it to its subscribers; throws a ConcordError for bad input. */
  publish(tenant: string, channel: string, event: string, payload: unknown): PublishedEvent {
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
    const log = this.logFor(address);
    const stored = log.append(event, JSON.parse(json) as unknown, bytes);
    const document = this.options.hocuspocus.documents.get(address);
    const delivered = document?.getConnectionsCount() ?? 0;
    if (document) {
      const message: EventMessage = { concord: 'event', epoch: log.epoch, ...stored };
      document.broadcastStateless(JSON.stringify(message));
    }
    this.options.metrics.eventsPublished.inc();
    this.options.log.debug({ tenant, channel, event, seq: stored.seq, delivered }, 'published an event');
    return { channel, epoch: log.epoch, delivered, ...stored };
  }

  /** The answer to a subscriber's `since` request on the channel document `address` (`<tenant>/#<channel>`). */
  replay(address: string, request: SinceRequest): string {
    const position = request.epoch === null || request.seq === null ? null : { epoch: request.epoch, seq: request.seq };
    const replay = this.logFor(address).since(position);
    if (replay.events.length > 0) this.options.metrics.eventsReplayed.inc(replay.events.length);
    return JSON.stringify({ concord: 'replay', ...replay } satisfies ReplayMessage);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.logs.clear();
  }

  private logFor(address: string): ChannelLog {
    let log = this.logs.get(address);
    if (!log) {
      log = new ChannelLog(this.options.retention, this.now);
      this.logs.set(address, log);
    }
    return log;
  }

  /** Drops the logs of channels with no event left, no event within the retention age and no subscriber here. */
  sweep(): void {
    for (const [address, log] of this.logs) {
      if (log.trim() && !this.options.hocuspocus.documents.has(address)) this.logs.delete(address);
    }
  }
}
