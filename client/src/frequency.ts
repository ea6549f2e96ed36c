/**
 * The update-frequency preference: remote changes shown live, or gathered and applied every 30 seconds or every
 * minute, so a screen that people only glance at does not redraw with every keystroke elsewhere (and a phone's
 * radio and CPU rest in between).
 *
 * The rule: only the server's incremental updates to a document (sync messages of type "update") are held; the sync
 * handshake, acknowledgements of our own changes, authentication, presence and notices pass at once, so local changes
 * still go out and are confirmed immediately, and a document still completes its first sync. Held updates are
 * delivered to the provider in the order they arrived, at the next tick of the client's clock, when the preference
 * changes to live, or on `syncNow()`. An update the document already has (the server echoes our own updates back
 * to us) is not held, so `heldUpdates` counts changes from others. Nothing is lost by holding them: the server has
 * them, and a reconnect's handshake brings them again.
 */
import * as decoding from 'lib0/decoding';
import { ObservableV2 } from 'lib0/observable';
import * as Y from 'yjs';

export type UpdateFrequency = 'live' | 'every-30s' | 'every-minute';

export const UPDATE_FREQUENCIES: readonly UpdateFrequency[] = ['live', 'every-30s', 'every-minute'];

/** How long remote changes are gathered before they are applied, per preference. */
export const UPDATE_INTERVAL_MS: Readonly<Record<Exclude<UpdateFrequency, 'live'>, number>> = {
  'every-30s': 30_000,
  'every-minute': 60_000,
};

/** Hocuspocus message type of sync messages, and y-protocols' sync message type of an incremental update. */
const HOCUSPOCUS_SYNC_MESSAGE = 0;
const YJS_SYNC_UPDATE = 2;

export function assertUpdateFrequency(value: unknown): asserts value is UpdateFrequency {
  if (!UPDATE_FREQUENCIES.includes(value as UpdateFrequency)) {
    throw new TypeError(`updateFrequency must be one of ${UPDATE_FREQUENCIES.join(', ')}; got ${JSON.stringify(value)}`);
  }
}

type ClockEvents = {
  /** Apply what is held now. */
  tick: () => void;
  change: (frequency: UpdateFrequency) => void;
};

/** The client's one clock for every document: ticks at the preferred interval, and at once when it becomes live. */
export class UpdateClock extends ObservableV2<ClockEvents> {
  private current: UpdateFrequency;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(frequency: UpdateFrequency) {
    super();
    assertUpdateFrequency(frequency);
    this.current = frequency;
    this.restart();
  }

  get frequency(): UpdateFrequency {
    return this.current;
  }

  get live(): boolean {
    return this.current === 'live';
  }

  set(frequency: UpdateFrequency): void {
    assertUpdateFrequency(frequency);
    if (frequency === this.current) return;
    this.current = frequency;
    this.restart();
    this.emit('change', [frequency]);
    if (frequency === 'live') this.emit('tick', []);
  }

  /** Applies what is held now, whatever the preference. */
  tick(): void {
    this.emit('tick', []);
  }

  override destroy(): void {
    clearInterval(this.timer);
    super.destroy();
  }

  private restart(): void {
    clearInterval(this.timer);
    this.timer = this.current === 'live' ? undefined : setInterval(() => this.emit('tick', []), UPDATE_INTERVAL_MS[this.current]);
  }
}

/** The Yjs update a Hocuspocus frame carries when it is a document update (the only kind held), else null. */
function remoteUpdateOf(data: ArrayBuffer | Uint8Array): Uint8Array | null {
  try {
    const decoder = decoding.createDecoder(data instanceof Uint8Array ? data : new Uint8Array(data));
    decoding.readVarString(decoder);
    if (decoding.readVarUint(decoder) !== HOCUSPOCUS_SYNC_MESSAGE || decoding.readVarUint(decoder) !== YJS_SYNC_UPDATE) {
      return null;
    }
    return decoding.readVarUint8Array(decoder);
  } catch {
    return null; // not ours to judge: the provider reports malformed frames
  }
}

/** Whether `doc` already has everything `update` inserts and deletes. */
function alreadyApplied(doc: Y.Doc, update: Uint8Array): boolean {
  try {
    const { structs, ds } = Y.decodeUpdate(update);
    for (const struct of structs) {
      if (Y.getState(doc.store, struct.id.client) < struct.id.clock + struct.length) return false;
    }
    for (const [client, ranges] of ds.clients) {
      for (const { clock, len } of ranges) {
        for (let at = clock; at < clock + len; ) {
          if (Y.getState(doc.store, client) <= at) return false;
          const item = Y.getItem(doc.store, Y.createID(client, at));
          if (!item.deleted) return false;
          at = item.id.clock + item.length;
        }
      }
    }
    return true;
  } catch {
    return false;
  }
}

type Deliver = (event: MessageEvent) => void;

/** One document's held remote updates, in arrival order. */
export class HeldUpdates {
  private readonly doc: Y.Doc;
  private readonly clock: UpdateClock;
  private readonly onChange: () => void;
  private held: MessageEvent[] = [];
  private deliver: Deliver | null = null;

  constructor(doc: Y.Doc, clock: UpdateClock, onChange: () => void) {
    this.doc = doc;
    this.clock = clock;
    this.onChange = onChange;
    clock.on('tick', this.flush);
  }

  get count(): number {
    return this.held.length;
  }

  /** Puts itself between the socket and `provider`: updates pass through `receive` from now on. */
  intercept(provider: { onMessage(event: MessageEvent): void }): void {
    const deliver = provider.onMessage.bind(provider);
    this.deliver = deliver;
    provider.onMessage = (event: MessageEvent) => this.receive(event, deliver);
  }

  destroy(): void {
    this.clock.off('tick', this.flush);
    this.held = [];
    this.deliver = null;
  }

  private receive(event: MessageEvent, deliver: Deliver): void {
    const update = this.clock.live ? null : remoteUpdateOf(event.data);
    if (!update || alreadyApplied(this.doc, update)) {
      deliver(event);
      return;
    }
    this.held.push(event);
    this.onChange();
  }

  private readonly flush = () => {
    if (this.held.length === 0 || !this.deliver) return;
    const held = this.held;
    this.held = [];
    for (const event of held) this.deliver(event);
    this.onChange();
  };
}
