/**
 * A channel subscription (engine/src/channels.ts): events the app backend publishes, delivered to `on(event)`
 * listeners exactly once and in order, including those published while this client was offline.
 *
 * The rule (C15): after every authentication the subscription asks the server for what came after its position
 * (`since`). Live events that arrive before the answer wait for it; then the replayed events and the waiting ones
 * are delivered in sequence order, each once (by sequence number within the server log's epoch). When the server no
 * longer holds everything that was missed (beyond its retention, or its log started again), `$gap` fires after the
 * replay so the app can refetch. A new subscription starts at the server's current position; one given `since` (a
 * `position` saved earlier) resumes after it.
 */
import { parseChannelMessage, type ChannelEvent, type ChannelPosition, type ReplayMessage, sinceRequestPayload } from '@concord/engine';
import type { SyncedDocument } from './document.js';
import type { Channel, ChannelEventMeta, ChannelGap, ChannelState } from './types.js';

type AnyListener = (...args: never[]) => void;

export class ChannelSubscription implements Channel {
  readonly name: string;
  private readonly handle: SyncedDocument;
  private readonly listeners = new Map<string, Set<AnyListener>>();
  private position: ChannelPosition | null;
  /** Live events received since the last authentication, before the replay answered. */
  private waiting: Array<{ epoch: string; event: ChannelEvent }> | null = null;
  private references = 1;
  private current: ChannelState = 'subscribing';
  private readonly release: () => void;

  constructor(name: string, handle: SyncedDocument, since: ChannelPosition | null, release: () => void) {
    this.name = name;
    this.handle = handle;
    this.position = since;
    this.release = release;
    handle.on('authenticated', this.onAuthenticated);
    handle.on('stateless', this.onMessage);
    handle.on('status', this.onStatus);
  }

  get state(): ChannelState {
    return this.current;
  }

  get error(): string | null {
    return this.handle.status.error;
  }

  get lastPosition(): ChannelPosition | null {
    return this.position;
  }

  on(event: string, listener: AnyListener): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  off(event: string, listener: AnyListener): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  /** One more `subscribe` of the same channel. */
  retain(): this {
    this.references += 1;
    return this;
  }

  async unsubscribe(): Promise<void> {
    if (this.references === 0) return;
    this.references -= 1;
    if (this.references > 0) return;
    this.handle.off('authenticated', this.onAuthenticated);
    this.handle.off('stateless', this.onMessage);
    this.handle.off('status', this.onStatus);
    this.setState('closed');
    this.listeners.clear();
    this.release();
    await this.handle.close();
  }

  /** Ends the subscription whatever its references (the client is being destroyed). */
  close(): Promise<void> {
    this.references = Math.min(this.references, 1);
    return this.unsubscribe();
  }

  private readonly onAuthenticated = () => {
    this.waiting = [];
    this.handle.sendStateless(sinceRequestPayload(this.position));
  };

  private readonly onMessage = (payload: string) => {
    const message = parseChannelMessage(payload);
    if (!message) return;
    if (message.concord === 'replay') {
      this.replayed(message);
      return;
    }
    const { concord: _concord, epoch, ...event } = message;
    if (this.waiting) this.waiting.push({ epoch, event });
    else this.deliver(epoch, event, false);
  };

  private replayed(replay: ReplayMessage): void {
    const waiting = this.waiting ?? [];
    this.waiting = null;
    const resumed = this.position !== null;
    if (this.position === null || this.position.epoch !== replay.epoch) {
      // A new subscription starts at the server's head; a changed epoch means everything before it is unknowable.
      this.position = { epoch: replay.epoch, seq: resumed ? 0 : replay.head };
    }
    for (const event of replay.events) this.deliver(replay.epoch, event, true);
    for (const { epoch, event } of waiting) this.deliver(epoch, event, false);
    if (resumed && replay.gap) this.emit('$gap', { channel: this.name, position: this.position } satisfies ChannelGap);
    this.setState('subscribed');
  }

  private deliver(epoch: string, event: ChannelEvent, replayed: boolean): void {
    if (this.position === null || epoch !== this.position.epoch || event.seq <= this.position.seq) return;
    this.position = { epoch, seq: event.seq };
    const meta: ChannelEventMeta = { channel: this.name, event: event.event, seq: event.seq, at: event.at, replayed };
    this.emit(event.event, event.payload, meta);
    this.emit('*', event.payload, meta);
  }

  private readonly onStatus = () => {
    const { state } = this.handle.status;
    if (state === 'unauthorized') this.setState('refused');
    else if (state !== 'connected' && state !== 'degraded' && this.current !== 'closed') this.setState('subscribing');
  };

  private setState(state: ChannelState): void {
    if (state === this.current) return;
    this.current = state;
    this.emit('$state', state);
  }

  private emit(event: string, ...args: unknown[]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as (...values: unknown[]) => void)(...args);
      } catch (error) {
        // One listener's failure must not keep the event from the others, nor stop later events.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
