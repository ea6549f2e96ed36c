/**
 * Channel events across the instances of a cluster (docs/scale-out-design.md §3.7), over the Redis bus
 * (cluster/RedisBus.ts): ChannelHub's fan-out when clustered.
 *
 * An event is stored first (ChannelHub appends it to the shared PostgreSQL log, which numbers it), then delivered to
 * this instance's subscribers, then published as an `Event` frame on the channel's bus channel
 * (`concord:<ns>:e:<tenant>/#<channel>`). Only instances where the channel document is loaded (it has subscribers
 * there) listen to that channel: they subscribe before the document is ready, and leave when it unloads.
 *
 * Events of one channel published on several instances are numbered by the store in commit order, but reach an
 * instance in any order, its own at once and others' one Redis hop later. Each loaded channel therefore has a
 * ChannelSequencer, which delivers to local subscribers in number order, holds a later number for a moment, and reads
 * what is still missing from the store, so no subscriber drops an event or sees a `$gap` because of the relay. When
 * Redis comes back after an outage, every loaded channel reads what it missed from the store.
 */
import type { Document, Extension, onLoadDocumentPayload } from '@hocuspocus/server';
import { isChannelDocument, type ChannelEvent } from '@concord/engine';
import type { Logger } from '../logger.js';
import { keyOf, sendEvents, type ChannelFanOut } from '../channels/ChannelHub.js';
import { ChannelSequencer } from '../channels/ChannelSequencer.js';
import type { ChannelStore, Retention } from '../storage/ChannelStore.js';
import { BusKind, type RedisBus } from './RedisBus.js';

/** Prefix of a channel document's bus channel inside the cluster's namespace. */
const EVENT_CHANNEL = 'e:';

export interface ChannelRelayOptions {
  readonly bus: RedisBus;
  readonly store: ChannelStore;
  readonly retention: Retention;
  readonly log: Logger;
  readonly now?: () => number;
}

/** A channel document loaded here, with the order of its deliveries. */
interface Loaded {
  readonly document: Document;
  readonly sequencer: ChannelSequencer;
}

/** The body of an `Event` frame: a batch of stored events of one channel. */
interface EventFrame {
  readonly epoch: string;
  readonly events: readonly ChannelEvent[];
}

export class ChannelRelay implements Extension, ChannelFanOut {
  readonly extensionName = 'concord-channel-relay';
  private readonly options: ChannelRelayOptions;
  private readonly bus: RedisBus;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly channels = new Map<string, Loaded>();

  constructor(options: ChannelRelayOptions) {
    this.options = options;
    this.bus = options.bus;
    this.log = options.log.child({ component: 'channel-relay' });
    this.now = options.now ?? Date.now;
    this.bus.onMessage((channel, kind, body) => {
      if (kind === BusKind.Event) this.receive(channel, body);
    });
    this.bus.onHealthy(() => {
      for (const { sequencer } of this.channels.values()) sequencer.catchUp();
    });
  }

  /** Listens to the channel, then starts its sequencer at the stored head, before any subscriber asks for a replay. */
  async onLoadDocument({ document, documentName }: onLoadDocumentPayload): Promise<void> {
    if (!isChannelDocument(documentName)) return;
    const key = keyOf(documentName);
    const sequencer = new ChannelSequencer({
      read: (position) => this.options.store.readEvents(key, position, this.options.retention, this.now()),
      deliver: (epoch, events) => sendEvents(document, epoch, events),
      log: this.log.child({ document: documentName }),
    });
    // A copy whose load failed never reaches destroy: the reload takes its place (and its subscription).
    this.channels.get(documentName)?.sequencer.close();
    this.channels.set(documentName, { document, sequencer });
    document.once('destroy', () => this.forget(documentName, document));
    try {
      await this.bus.subscribe(this.channelOf(documentName));
      await sequencer.start();
    } catch (error) {
      this.forget(documentName, document); // the load fails: nothing to deliver to
      throw error;
    }
  }

  /** ChannelHub's fan-out: this instance's subscribers, in order, then the other instances. */
  deliver(address: string, epoch: string, events: readonly ChannelEvent[]): void {
    this.channels.get(address)?.sequencer.offer(epoch, events);
    const frame: EventFrame = { epoch, events };
    this.bus.publish(this.channelOf(address), BusKind.Event, Buffer.from(JSON.stringify(frame)));
  }

  private receive(channel: string, body: Uint8Array): void {
    const prefix = this.bus.channel(EVENT_CHANNEL);
    if (!channel.startsWith(prefix)) return;
    const loaded = this.channels.get(channel.slice(prefix.length));
    if (loaded === undefined) return;
    const { epoch, events } = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8')) as EventFrame;
    if (typeof epoch !== 'string' || !Array.isArray(events)) throw new Error('an Event frame without epoch and events');
    loaded.sequencer.offer(epoch, events);
  }

  private forget(name: string, document: Document): void {
    const loaded = this.channels.get(name);
    if (loaded?.document !== document) return; // reloaded meanwhile: keep the subscription
    loaded.sequencer.close();
    this.channels.delete(name);
    this.bus.unsubscribe(this.channelOf(name));
  }

  private channelOf(address: string): string {
    return this.bus.channel(EVENT_CHANNEL + address);
  }
}
