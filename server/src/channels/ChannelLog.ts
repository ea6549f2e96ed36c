/**
 * One channel's recent events, kept so that a client that was offline gets what it missed, in order.
 *
 * The rule: events are numbered 1, 2, 3 … within the log's epoch (a random id chosen when the log is created, so a
 * client that saw `seq` 40 of an earlier log — before a restart — is never mistaken for one that saw 40 of this one).
 * The log keeps the newest events within the retention (a count, an age, and a byte budget per channel); a client
 * asking for events the log no longer holds gets those it still has and `gap: true`.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelEvent, ChannelPosition } from '@concord/engine';

export interface Retention {
  /** Newest events kept per channel. */
  readonly maxEvents: number;
  /** Events older than this are dropped. */
  readonly maxAgeMs: number;
  /** Payload bytes kept per channel, so a channel of large events cannot hold much memory. */
  readonly maxBytes: number;
}

interface StoredEvent extends ChannelEvent {
  readonly bytes: number;
}

export interface Replay {
  readonly epoch: string;
  readonly head: number;
  readonly events: ChannelEvent[];
  readonly gap: boolean;
}

export class ChannelLog {
  readonly epoch = randomUUID();
  private readonly retention: Retention;
  private readonly now: () => number;
  private events: StoredEvent[] = [];
  private bytes = 0;
  /** The last sequence number handed out. */
  private last = 0;
  /** When the last event was appended (or the log created). */
  lastActivityAt: number;

  constructor(retention: Retention, now: () => number) {
    this.retention = retention;
    this.now = now;
    this.lastActivityAt = now();
  }

  get head(): number {
    return this.last;
  }

  get size(): number {
    return this.events.length;
  }

  append(event: string, payload: unknown, bytes: number): ChannelEvent {
    const at = this.now();
    const stored: StoredEvent = { seq: ++this.last, event, payload, at, bytes };
    this.events.push(stored);
    this.bytes += bytes;
    this.lastActivityAt = at;
    this.trim();
    return { seq: stored.seq, event, payload, at };
  }

  /** What a client at `position` (null: a new subscriber) is missing. */
  since(position: ChannelPosition | null): Replay {
    this.trim();
    if (position === null) return { epoch: this.epoch, head: this.last, events: [], gap: false };
    const sameEpoch = position.epoch === this.epoch;
    const after = sameEpoch ? position.seq : 0;
    const events = this.events.filter((event) => event.seq > after).map(({ bytes: _bytes, ...event }) => event);
    const oldestHeld = this.events[0]?.seq ?? this.last + 1;
    // Missed events the log no longer holds: an earlier epoch, or numbers between the client's and the oldest held.
    const gap = !sameEpoch || (after < this.last && after + 1 < oldestHeld);
    return { epoch: this.epoch, head: this.last, events, gap };
  }

  /** Drops events beyond the retention; true when nothing is left and nothing happened within the age limit. */
  trim(): boolean {
    const { maxEvents, maxAgeMs, maxBytes } = this.retention;
    const oldestKept = this.now() - maxAgeMs;
    let drop = 0;
    while (
      drop < this.events.length &&
      (this.events.length - drop > maxEvents || this.bytes > maxBytes || (this.events[drop] as StoredEvent).at < oldestKept)
    ) {
      this.bytes -= (this.events[drop] as StoredEvent).bytes;
      drop += 1;
    }
    if (drop > 0) this.events = this.events.slice(drop);
    return this.events.length === 0 && this.lastActivityAt < oldestKept;
  }
}
