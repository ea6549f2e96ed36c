/**
 * Delivers one channel's events to this instance's subscribers in sequence order, none twice, when they arrive out of
 * order: with several instances publishing to one channel (docs/scale-out-design.md §3.7), events this instance
 * stored itself and events relayed from others over Redis can come in either order, and a client drops for good any
 * event numbered at or below one it has (client/src/channel.ts).
 *
 * The rule: it starts at the channel's stored head (events at or below it are answered by the replay a subscriber
 * asks for) and delivers the next number as soon as it is offered. A later number is held; if what is missing has not
 * come HOLD_MS later (a lost Redis message, or a slow one), the missing events are read from the store, which holds
 * every event before it is offered anywhere, and everything goes out in order. A read that finds the channel in
 * another epoch (the store forgot it and started again) moves to that epoch.
 */
import type { ChannelEvent, ChannelPosition } from '@concord/engine';
import type { Logger } from '../logger.js';
import type { ChannelRead } from '../storage/ChannelStore.js';

/** How long a later event waits for the ones before it before they are read from the store. */
export const HOLD_MS = 150;

export interface ChannelSequencerOptions {
  /** The channel's epoch, head and the events after `position` (null: none, the head only), from the store. */
  read(position: ChannelPosition | null): Promise<ChannelRead>;
  /** Sends events, in order, to this instance's subscribers. */
  deliver(epoch: string, events: readonly ChannelEvent[]): void;
  log: Pick<Logger, 'warn'>;
  holdMs?: number;
}

interface Held {
  readonly epoch: string;
  readonly event: ChannelEvent;
}

export class ChannelSequencer {
  private readonly options: ChannelSequencerOptions;
  /** Null until `start` has read the head. */
  private epoch: string | null = null;
  /** The last number delivered (or the head at start). */
  private delivered = 0;
  private held: Held[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reading = false;
  private closed = false;

  constructor(options: ChannelSequencerOptions) {
    this.options = options;
  }

  /** Reads the stored head: delivery starts after it. Events offered meanwhile wait. */
  async start(): Promise<void> {
    const { epoch, head } = await this.options.read(null);
    this.epoch = epoch;
    this.delivered = head;
    this.drain();
  }

  /** Events as stored (in `epoch`), from this instance or another, in any order and possibly again. */
  offer(epoch: string, events: readonly ChannelEvent[]): void {
    if (this.closed) return;
    for (const event of events) this.held.push({ epoch, event });
    this.drain();
  }

  /** Reads from the store now whatever came after the last delivered event (Redis was away: some may be lost). */
  catchUp(): void {
    if (this.epoch === null || this.closed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.fill();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.held = [];
  }

  /** Delivers what follows on, drops what is old, and waits HOLD_MS for the rest. */
  private drain(): void {
    if (this.epoch === null || this.reading || this.closed) return;
    this.held.sort((a, b) => a.event.seq - b.event.seq);
    const ready: ChannelEvent[] = [];
    const kept: Held[] = [];
    for (const held of this.held) {
      if (held.epoch === this.epoch && held.event.seq <= this.delivered) continue;
      if (held.epoch === this.epoch && held.event.seq === this.delivered + 1) {
        ready.push(held.event);
        this.delivered += 1;
      } else {
        kept.push(held);
      }
    }
    this.held = kept;
    if (ready.length > 0) this.options.deliver(this.epoch, ready);
    if (this.held.length === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.fill();
      }, this.options.holdMs ?? HOLD_MS);
    }
  }

  /** Reads the missing events from the store and delivers them with everything held before the read began. */
  private async fill(): Promise<void> {
    if (this.epoch === null || this.reading || this.closed) return;
    this.reading = true;
    const waiting = this.held;
    this.held = [];
    try {
      const { epoch, events } = await this.options.read({ epoch: this.epoch, seq: this.delivered });
      if (this.closed) return;
      if (epoch !== this.epoch) {
        this.epoch = epoch;
        this.delivered = 0;
      }
      // Everything held was stored before it was offered, so the read has it, unless the retention dropped it since:
      // what is held goes out in order after the read, past any hole the retention left.
      const byNumber = new Map<number, ChannelEvent>();
      for (const event of events) byNumber.set(event.seq, event);
      for (const { epoch: heldEpoch, event } of waiting) if (heldEpoch === epoch && !byNumber.has(event.seq)) byNumber.set(event.seq, event);
      const ready = [...byNumber.values()].filter((event) => event.seq > this.delivered).sort((a, b) => a.seq - b.seq);
      if (ready.length > 0) {
        this.delivered = ready[ready.length - 1]!.seq;
        this.options.deliver(epoch, ready);
      }
    } catch (error) {
      this.options.log.warn({ err: error }, 'missing channel events could not be read; trying again');
      this.held = [...waiting, ...this.held];
    } finally {
      this.reading = false;
    }
    this.drain();
  }
}
