/**
 * Delivery measured from the client (issue 18, point 4; messages in engine/src/telemetry.ts), reported to the
 * server over the client's connection, which exports it as `concord_client_*` metrics.
 *
 * What is measured:
 * - **Propagation** (a peer's edit to this client's document): a writer stamps at most one local edit per
 *   `STAMP_INTERVAL_MS` and document with its time on the server's clock and its Yjs client id and clock; a peer
 *   records the time from the stamp until its own document holds that clock (held updates of the update frequency
 *   count: they are not on screen before). A stamp whose edit does not arrive within `STAMP_WAIT_MS` is dropped.
 * - **Clock**: on each connection the first document authenticated asks the server's time (`clock?`), and asks
 *   again at the times of `CLOCK_SAMPLES_AT_MS`; the offset is the server's answer plus half the round trip minus the
 *   time it arrived, from the answer with the shortest round trip (a page still loading answers late, and half a late
 *   round trip is that much error). Until an answer came back within `TRUSTED_CLOCK_ROUND_TRIP_MS`, or
 *   `CLOCK_ANSWERS_ON_A_SLOW_NETWORK` answers came (on a slow network the best of them is as good as it gets), the
 *   client neither stamps its edits nor measures a peer's: a clock known to ±150 ms puts that much error in a sample.
 * - **Acknowledgements**: from the moment a document has a change the server has not acknowledged to the moment it
 *   has none (the server acknowledges only what is durable).
 * - **Connections lost or failed**, by cause: `dead-connection` (the watchdog), `offline` (the browser),
 *   `failed-to-open`, `closed-<code>` (the server's or the network's close).
 * - **Errors**: the page's uncaught errors and unhandled rejections while the client runs (in a browser).
 *
 * Reports go every `telemetryIntervalMs` (when something was measured), and when the page turns hidden (a tab closed
 * or put away would otherwise take its last minute with it), as one stateless message on an authenticated document,
 * bounded (MAX_TELEMETRY_SAMPLES per kind: the oldest go), never two within `MIN_REPORT_GAP_MS` (the server takes one
 * per connection in that time). Nothing is kept across reloads.
 */
import {
  CloseCode,
  ConnectionLoss,
  MAX_TELEMETRY_LABELS,
  MAX_TELEMETRY_MS,
  MAX_TELEMETRY_SAMPLES,
  telemetryPayload,
  type ClockAnswer,
  type EditStamp,
} from '@concord/engine';
import type { HocuspocusProvider } from '@hocuspocus/provider';
import * as Y from 'yjs';
import type { Clock } from './clock.js';
import type { Socket } from './socket.js';

/** A document stamps at most one local edit in this time. */
export const STAMP_INTERVAL_MS = 1_000;
/** A stamp whose edit has not arrived after this long is dropped. */
export const STAMP_WAIT_MS = 30_000;
/** How often the client reports what it measured, by default. */
export const TELEMETRY_INTERVAL_MS = 60_000;
/** Two reports are never sent closer than this (the server's REPORT_INTERVAL_MS). */
export const MIN_REPORT_GAP_MS = 5_000;
/** After the first clock question of a connection, it is asked again this long after it (ms). */
export const CLOCK_SAMPLES_AT_MS = [500, 2_000, 6_000, 20_000, 60_000] as const;
/**
 * A clock known from an answer with a longer round trip is not used to measure propagation: the offset is off by up to
 * half the round trip (50 ms here), on the writer's side and again on the reader's.
 */
export const TRUSTED_CLOCK_ROUND_TRIP_MS = 100;
/** After this many answers on a connection, the best of them is used whatever its round trip (a phone on 3G). */
export const CLOCK_ANSWERS_ON_A_SLOW_NETWORK = 3;
/** A clock answer after a longer round trip than this is not trusted. */
const MAX_CLOCK_ROUND_TRIP_MS = 10_000;

export interface TelemetryOptions {
  readonly socket: Socket;
  readonly clock: Clock;
  /** null: measure and report nothing. */
  readonly intervalMs: number | null;
  /** Sends a stateless payload on some authenticated document; false when none is. */
  readonly send: (payload: string) => boolean;
}

interface WatchedDocument {
  readonly doc: Y.Doc;
  readonly provider: HocuspocusProvider;
  readonly send: (payload: string) => void;
  lastStampAt: number;
  pending: EditStamp[];
  unackedSince: number | null;
}

export class Telemetry {
  private readonly options: TelemetryOptions;
  private offsetMs: number | null = null;
  private clockAskedOn = -1;
  /** The round trip of the clock answer the offset comes from (shorter is better). */
  private offsetRoundTripMs = Number.POSITIVE_INFINITY;
  /** Clock answers received on this connection. */
  private clockAnswers = 0;
  private clockTimers: unknown[] = [];
  private delivery: number[] = [];
  private ack: number[] = [];
  private reconnects = new Map<string, number>();
  private errors = new Map<string, number>();
  private opened = false;
  private timer: unknown = null;
  private reportedAt = Number.NEGATIVE_INFINITY;
  private readonly documents = new Map<Y.Doc, WatchedDocument>();
  private readonly window = (globalThis as { addEventListener?: EventTarget['addEventListener']; removeEventListener?: EventTarget['removeEventListener'] });

  constructor(options: TelemetryOptions) {
    this.options = options;
    if (!this.enabled) return;
    options.socket.provider.on('open', this.onOpen);
    options.socket.provider.on('close', this.onClose);
    if (typeof this.window.addEventListener === 'function') {
      this.window.addEventListener('error', this.onError);
      this.window.addEventListener('unhandledrejection', this.onRejection);
    }
    this.page?.addEventListener?.('visibilitychange', this.onVisibility);
    this.schedule();
  }

  get enabled(): boolean {
    return this.options.intervalMs !== null;
  }

  /** The server's time now, as this client best knows it; null before the first clock answer. */
  serverNow(): number | null {
    return this.offsetMs === null ? null : this.options.clock.now() + this.offsetMs;
  }

  /** The server's time now, when the clock is known well enough to measure propagation with it; else null. */
  private trustedServerNow(): number | null {
    const trusted = this.offsetRoundTripMs <= TRUSTED_CLOCK_ROUND_TRIP_MS || this.clockAnswers >= CLOCK_ANSWERS_ON_A_SLOW_NETWORK;
    return trusted ? this.serverNow() : null;
  }

  /** Measures `doc`'s edits and acknowledgements on `provider`; returns the way to stop. */
  watch(doc: Y.Doc, provider: HocuspocusProvider, send: (payload: string) => void): () => void {
    if (!this.enabled) return () => {};
    const watched: WatchedDocument = { doc, provider, send, lastStampAt: Number.NEGATIVE_INFINITY, pending: [], unackedSince: null };
    const onUpdate = (_update: Uint8Array, _origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
      if (transaction.local) this.stampLater(watched);
      else if (watched.pending.length > 0) this.settle(watched);
    };
    const onUnsynced = ({ number }: { number: number }) => {
      const now = this.options.clock.now();
      if (number > 0 && watched.unackedSince === null) watched.unackedSince = now;
      else if (number === 0 && watched.unackedSince !== null) {
        this.sample(this.ack, now - watched.unackedSince);
        watched.unackedSince = null;
      }
    };
    doc.on('update', onUpdate);
    provider.on('unsyncedChanges', onUnsynced);
    this.documents.set(doc, watched);
    return () => {
      this.documents.delete(doc);
      doc.off('update', onUpdate);
      provider.off('unsyncedChanges', onUnsynced);
    };
  }

  /** A document was authenticated: the first one on a connection asks the server's time. */
  authenticated(send: (payload: string) => void): void {
    if (!this.enabled || this.clockAskedOn === this.options.socket.connection) return;
    const connection = this.options.socket.connection;
    this.clockAskedOn = connection;
    this.offsetRoundTripMs = Number.POSITIVE_INFINITY; // a new connection: a new path, measured anew
    this.clockAnswers = 0;
    const ask = () => send(telemetryPayload({ concord: 'clock?', at: this.options.clock.now() }));
    ask();
    for (const timer of this.clockTimers) this.options.clock.clearTimeout(timer);
    this.clockTimers = CLOCK_SAMPLES_AT_MS.map((ms) =>
      this.options.clock.setTimeout(() => {
        if (this.options.socket.connection === connection && this.options.socket.isOpen) ask();
      }, ms),
    );
  }

  clockAnswer(answer: ClockAnswer): void {
    const arrived = this.options.clock.now();
    const roundTrip = arrived - answer.at;
    if (roundTrip < 0 || roundTrip > MAX_CLOCK_ROUND_TRIP_MS) return;
    this.clockAnswers += 1;
    if (roundTrip >= this.offsetRoundTripMs) return;
    this.offsetRoundTripMs = roundTrip;
    this.offsetMs = answer.now + roundTrip / 2 - arrived;
  }

  /** A peer's stamp arrived on `doc`. */
  stamp(doc: Y.Doc, stamp: EditStamp): void {
    const watched = this.documents.get(doc);
    if (!watched || stamp.client === doc.clientID) return;
    watched.pending.push(stamp);
    this.settle(watched);
  }

  destroy(): void {
    this.options.clock.clearTimeout(this.timer);
    for (const timer of this.clockTimers) this.options.clock.clearTimeout(timer);
    this.options.socket.provider.off('open', this.onOpen);
    this.options.socket.provider.off('close', this.onClose);
    this.window.removeEventListener?.('error', this.onError);
    this.window.removeEventListener?.('unhandledrejection', this.onRejection);
    this.page?.removeEventListener?.('visibilitychange', this.onVisibility);
  }

  private stampLater(watched: WatchedDocument): void {
    const now = this.options.clock.now();
    if (now - watched.lastStampAt < STAMP_INTERVAL_MS) return;
    const at = this.trustedServerNow();
    if (at === null) return;
    watched.lastStampAt = now;
    // After the provider has sent the edit itself (its listener runs in this same 'update' event).
    queueMicrotask(() =>
      watched.send(telemetryPayload({ concord: 'stamp', at, client: watched.doc.clientID, clock: Y.getState(watched.doc.store, watched.doc.clientID) })),
    );
  }

  /** Records every pending stamp whose edit the document now holds; drops those waited for too long. */
  private settle(watched: WatchedDocument): void {
    const now = this.trustedServerNow();
    watched.pending = watched.pending.filter((stamp) => {
      if (Y.getState(watched.doc.store, stamp.client) >= stamp.clock) {
        // Measured now or never: later, the time since it arrived would count too.
        if (now !== null) this.sample(this.delivery, now - stamp.at);
        return false;
      }
      return now === null || now - stamp.at < STAMP_WAIT_MS;
    });
  }

  private sample(into: number[], ms: number): void {
    if (!(ms >= 0 && ms <= MAX_TELEMETRY_MS)) return; // a clock that jumped, a device that slept
    into.push(Math.round(ms * 10) / 10);
    if (into.length > MAX_TELEMETRY_SAMPLES) into.shift();
  }

  private count(into: Map<string, number>, label: string): void {
    if (!into.has(label) && into.size >= MAX_TELEMETRY_LABELS) return;
    into.set(label, (into.get(label) ?? 0) + 1);
  }

  private readonly onOpen = () => {
    this.opened = true;
  };

  private readonly onClose = ({ event }: { event?: { code?: number; reason?: string } }) => {
    const code = event?.code ?? 1006;
    const opened = this.opened;
    this.opened = false;
    if (this.options.socket.asleep) return; // let go on purpose (a hidden tab): not a lost connection
    if (!opened) this.count(this.reconnects, ConnectionLoss.FailedToOpen);
    else if (code === CloseCode.ConnectionTimeout) this.count(this.reconnects, ConnectionLoss.Dead);
    else if (code === CloseCode.GoingAway && /offline/.test(event?.reason ?? '')) this.count(this.reconnects, ConnectionLoss.Offline);
    else this.count(this.reconnects, `${ConnectionLoss.Closed}-${code}`);
  };

  private readonly page = (globalThis as { document?: EventTarget & { visibilityState?: string } }).document;

  private readonly onVisibility = () => {
    if (this.page?.visibilityState === 'hidden') this.report();
  };

  private readonly onError = () => this.count(this.errors, 'uncaught');
  private readonly onRejection = () => this.count(this.errors, 'unhandled-rejection');

  private schedule(): void {
    this.timer = this.options.clock.setTimeout(() => {
      this.report();
      this.schedule();
    }, this.options.intervalMs!);
  }

  /** Sends what was measured since the last report, if anything was and a document is authenticated. */
  report(): void {
    if (this.delivery.length + this.ack.length + this.reconnects.size + this.errors.size === 0) return;
    if (this.options.clock.now() - this.reportedAt < MIN_REPORT_GAP_MS) return; // kept for the next one
    const sent = this.options.send(
      telemetryPayload({
        concord: 'telemetry',
        delivery: this.delivery,
        ack: this.ack,
        reconnects: Object.fromEntries(this.reconnects),
        errors: Object.fromEntries(this.errors),
      }),
    );
    if (!sent) return; // kept (bounded) for the next report
    this.reportedAt = this.options.clock.now();
    this.delivery = [];
    this.ack = [];
    this.reconnects = new Map();
    this.errors = new Map();
  }
}
