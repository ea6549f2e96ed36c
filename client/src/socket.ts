/**
 * The one socket of a client: a `HocuspocusProviderWebsocket` that every document multiplexes over, its state, and
 * when it tries the server again.
 *
 * The rule: the socket's state is what the provider reports (connecting, connected, disconnected → offline), except
 * that a browser that says it has no network is `offline` whatever the socket thinks, a socket the server closed for
 * a bad token is `unauthorized` until it connects again, and a socket whose connections keep dropping soon after
 * they open (`UNSTABLE_CONNECTIONS_IN_A_ROW` in a row) is `degraded` until one stays up. Reconnection is ours, not the
 * provider's (it makes one attempt per `connect()`): at once after losing a good connection, when the browser comes
 * back online, when the tab is focused or shown again, and on `syncNow()`; otherwise after the backoff of
 * backoff.ts, whose next attempt time is published (`retry`). Each opened socket gets a new connection number, so
 * tokens can be fetched once per connection.
 *
 * A dead connection is dropped, not closed: an open socket that hears nothing from the server (whose heartbeat comes
 * every 2.5 s) for `deadConnectionAfterMs`, an attempt that does not open within `CONNECT_TIMEOUT_MS` (watchdog.ts),
 * and any socket when the browser says it went offline. A close handshake over a network that is gone never
 * completes (the socket would sit in CLOSING for minutes, documents and presence still writing to it), so the
 * provider is handed the close event at once, as its own `checkConnection` does, and the socket turns `offline` and
 * reconnects like after any lost connection.
 *
 * The transport of each attempt is a WebSocket, or the HTTP fallback (httpSocket.ts) when WebSockets keep failing:
 * the rule is transport.ts'; the provider is handed a constructor that builds the one chosen, per attempt.
 *
 * Asleep (`sleep()`: a tab hidden for a long while, client.ts) the socket closes its connection and makes no attempt
 * at all, whatever happens (focus, network, the backoff), until `wake()`; it reads `offline` meanwhile.
 */
import { CloseCode } from '@concord/engine';
import { HocuspocusProviderWebsocket, WebSocketStatus, type HocuspocusProvider } from '@hocuspocus/provider';
import { ObservableV2 } from 'lib0/observable';
import { DEFAULT_MAX_RECONNECT_DELAY_MS, reconnectDelayMs, STABLE_CONNECTION_MS } from './backoff.js';
import { HttpWebSocket } from './httpSocket.js';
import { PROBE_HOLD_MS, TransportChoice, type HttpFallbackOptions, type Transport, type TransportOption } from './transport.js';
import type { ConnectionState } from './types.js';
import { CONNECT_TIMEOUT_MS, DEAD_CONNECTION_AFTER_MS, Watchdog } from './watchdog.js';

/** Connections in a row that closed before `STABLE_CONNECTION_MS` that make the socket `degraded`. */
export const UNSTABLE_CONNECTIONS_IN_A_ROW = 3;
/**
 * After a connection over HTTP opens, a WebSocket is probed this soon: a server that was down (a restart, a deploy)
 * refused WebSockets and HTTP alike, and the connection that finds it back may be an HTTP one. A network that blocks
 * WebSockets costs one failed probe; then they are probed every `retryWebSocketMs`.
 */
export const FIRST_PROBE_MS = 1_000;

export interface SocketOptions {
  url: string;
  WebSocketPolyfill?: unknown;
  maxReconnectDelayMs?: number;
  deadConnectionAfterMs?: number;
  /** `auto` (default): WebSocket, and HTTP when WebSockets are refused (transport.ts); or one transport only. */
  transport?: TransportOption;
  httpFallback?: HttpFallbackOptions;
}

export type SocketEvents = {
  state: (state: ConnectionState) => void;
  /** A new connection is open; fires before the documents attached to the socket authenticate on it. */
  open: (connection: number) => void;
  /** The next connection attempt is due at this time (ms since the epoch), or none is scheduled (null). */
  retry: (at: number | null) => void;
  /** The transport of the open connection (or of the next attempt) changed. */
  transport: (transport: Transport) => void;
};

interface EventSource {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

function browserSaysOffline(): boolean {
  const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
  return nav?.onLine === false;
}

function eventSource(target: unknown): EventSource | null {
  const candidate = target as Partial<EventSource> | undefined;
  return typeof candidate?.addEventListener === 'function' && typeof candidate.removeEventListener === 'function'
    ? (candidate as EventSource)
    : null;
}

/** A close event as a WebSocket fires it (Node and browsers have CloseEvent; a bare Event with the fields otherwise). */
function closeEvent(code: number, reason: string): Event {
  if (typeof CloseEvent === 'function') return new CloseEvent('close', { code, reason, wasClean: false });
  return Object.assign(new Event('close'), { code, reason, wasClean: false });
}

function pageIsVisible(): boolean {
  return (globalThis as { document?: { visibilityState?: string } }).document?.visibilityState !== 'hidden';
}

export class Socket extends ObservableV2<SocketEvents> {
  readonly provider: HocuspocusProviderWebsocket;
  private readonly maxDelayMs: number;
  private readonly deadAfterMs: number;
  private readonly watchdog = new Watchdog((silentMs) => this.onSilence(silentMs));
  private socketStatus: WebSocketStatus;
  private refused = false;
  private connections = 0;
  private current: ConnectionState;
  /** Failed attempts and lost connections in a row; 0 after a connection that stayed up `STABLE_CONNECTION_MS`. */
  private failures = 0;
  /** Connections in a row that opened but dropped before `STABLE_CONNECTION_MS`, after an earlier failure. */
  private unstable = 0;
  private openedAt: number | null = null;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retryAt: number | null = null;
  /** The next close is one we asked for (`syncNow`): reconnect at once. */
  private reconnectAtOnce = false;
  /** Let go of the connection on purpose (`sleep`): no attempt until `wake`. */
  private sleeping = false;
  private destroyed = false;
  /** Which transport the next attempt takes (transport.ts). */
  private readonly choice: TransportChoice;
  /** The transport of the attempt made last (the open connection's, while one is open). */
  private attemptTransport: Transport;
  private shownTransport: Transport;
  private readonly WebSocketClass: new (url: string) => WebSocket;
  private probeTimer: ReturnType<typeof setTimeout> | undefined;
  private probe: WebSocket | null = null;
  private readonly window = eventSource(globalThis);
  private readonly document = eventSource((globalThis as { document?: unknown }).document);

  constructor(options: SocketOptions) {
    super();
    this.maxDelayMs = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
    this.deadAfterMs = options.deadConnectionAfterMs ?? DEAD_CONNECTION_AFTER_MS;
    this.choice = new TransportChoice(options.transport, options.httpFallback);
    this.attemptTransport = this.shownTransport = this.choice.mode;
    this.WebSocketClass = (options.WebSocketPolyfill ?? globalThis.WebSocket) as new (url: string) => WebSocket;
    // The provider makes `new WebSocketPolyfill(url)` per attempt: this constructor returns the transport chosen for it.
    const socket = this; // eslint-disable-line @typescript-eslint/no-this-alias
    const selector = function TransportSelector(url: string) {
      socket.attemptTransport = socket.choice.mode;
      return socket.attemptTransport === 'http' ? new HttpWebSocket(url) : new socket.WebSocketClass(url);
    };
    const polyfill = this.choice.option === 'websocket' ? options.WebSocketPolyfill : selector;
    this.provider = new HocuspocusProviderWebsocket({
      url: options.url,
      ...(polyfill ? { WebSocketPolyfill: polyfill } : {}),
      // One attempt per connect(); the retries are scheduled here, so their time is known.
      maxAttempts: 1,
      delay: 0,
      minDelay: 0,
    });
    this.socketStatus = this.provider.status;
    this.current = this.derive();
    this.provider.on('status', this.onStatus);
    this.provider.on('open', this.onOpen);
    this.provider.on('close', this.onClose);
    this.provider.on('message', this.onMessage);
    this.window?.addEventListener('online', this.onNetworkChange);
    this.window?.addEventListener('offline', this.onNetworkChange);
    this.window?.addEventListener('focus', this.onAttention);
    this.document?.addEventListener('visibilitychange', this.onAttention);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** When the next connection attempt is due (ms since the epoch), or null when none is scheduled. */
  get nextRetryAt(): number | null {
    return this.retryAt;
  }

  /** The number of the connection now open (or last opened). */
  get connection(): number {
    return this.connections;
  }

  /** The transport of the open connection, or of the next attempt while none is open. */
  get transport(): Transport {
    return this.shownTransport;
  }

  get isOpen(): boolean {
    return this.socketStatus === WebSocketStatus.Connected;
  }

  get asleep(): boolean {
    return this.sleeping;
  }

  /** Closes the connection (gracefully) and makes no attempt until `wake()`. */
  sleep(): void {
    if (this.destroyed || this.sleeping) return;
    this.sleeping = true;
    clearTimeout(this.retryTimer);
    this.setRetryAt(null);
    this.provider.disconnect();
    this.update();
  }

  /** Connects again at once after `sleep()`, with the backoff started over. */
  wake(): void {
    if (!this.sleeping) return;
    this.sleeping = false;
    this.failures = 0;
    this.unstable = 0;
    this.update();
    this.connectNow();
  }

  /**
   * Reconnects now and resyncs every document: a closed socket tries at once (the backoff starts over); an open one
   * is closed and opened again, so every document runs its sync handshake anew.
   */
  syncNow(): void {
    if (this.destroyed || this.sleeping) return;
    this.failures = 0;
    if (this.socketStatus === WebSocketStatus.Connected && this.provider.webSocket) {
      this.reconnectAtOnce = true;
      this.provider.webSocket.close();
    } else {
      this.connectNow();
    }
  }

  /**
   * Takes a document's provider off the socket without telling the server. Used once the server has refused or
   * closed the document: a stock detach would send a Close message the server queues as unauthenticated and
   * replays after the next successful authentication, closing the document again.
   */
  detachSilently(provider: HocuspocusProvider): void {
    this.provider.configuration.providerMap.delete(provider.effectiveName);
    provider.detach();
  }

  override destroy(): void {
    this.destroyed = true;
    this.stopProbe();
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    this.watchdog.stop();
    this.window?.removeEventListener('online', this.onNetworkChange);
    this.window?.removeEventListener('offline', this.onNetworkChange);
    this.window?.removeEventListener('focus', this.onAttention);
    this.document?.removeEventListener('visibilitychange', this.onAttention);
    this.provider.destroy();
    super.destroy();
  }

  private derive(): ConnectionState {
    if (browserSaysOffline()) return 'offline';
    if (this.sleeping && this.socketStatus === WebSocketStatus.Disconnected) return 'offline';
    if (this.refused) return 'unauthorized';
    if (this.unstable >= UNSTABLE_CONNECTIONS_IN_A_ROW) return 'degraded';
    switch (this.socketStatus) {
      case WebSocketStatus.Connected:
        return 'connected';
      case WebSocketStatus.Connecting:
        return 'connecting';
      default:
        return 'offline';
    }
  }

  private update(): void {
    const transport = this.socketStatus === WebSocketStatus.Disconnected ? this.choice.mode : this.attemptTransport;
    if (transport !== this.shownTransport) {
      this.shownTransport = transport;
      this.emit('transport', [transport]);
    }
    const next = this.derive();
    if (next === this.current) return;
    this.current = next;
    this.emit('state', [next]);
  }

  private setRetryAt(at: number | null): void {
    if (at === this.retryAt) return;
    this.retryAt = at;
    this.emit('retry', [at]);
  }

  /** Tries now, unless a connection is open or an attempt is under way. */
  private connectNow(): void {
    clearTimeout(this.retryTimer);
    this.setRetryAt(null);
    if (this.destroyed || this.sleeping || this.socketStatus !== WebSocketStatus.Disconnected) return;
    void this.provider.connect();
  }

  /** Schedules the next attempt; none while the browser says it has no network (its `online` event reconnects). */
  private scheduleRetry(delayMs: number): void {
    clearTimeout(this.retryTimer);
    if (this.destroyed || browserSaysOffline()) {
      this.setRetryAt(null);
      return;
    }
    this.setRetryAt(Date.now() + delayMs);
    this.retryTimer = setTimeout(() => this.connectNow(), delayMs);
  }

  private readonly onStatus = ({ status }: { status: WebSocketStatus }) => {
    const previous = this.socketStatus;
    this.socketStatus = status;
    if (status === WebSocketStatus.Connected) this.refused = false;
    if (status === WebSocketStatus.Disconnected) this.watchdog.stop();
    else if (status !== previous) this.watchdog.watch(status === WebSocketStatus.Connected ? this.deadAfterMs : CONNECT_TIMEOUT_MS);
    this.update();
  };

  private readonly onMessage = () => {
    this.watchdog.heard();
  };

  /** The open connection heard nothing for too long, or the attempt did not open in time. */
  private onSilence(silentMs: number): void {
    const open = this.socketStatus === WebSocketStatus.Connected;
    this.dropConnection(
      CloseCode.ConnectionTimeout,
      open ? `nothing from the server for ${Math.round(silentMs)} ms` : `no connection after ${Math.round(silentMs)} ms`,
    );
  }

  /**
   * Ends the connection (or the attempt) now, without a close handshake: the provider gets its socket's close event
   * at once, and forgets the socket, which the browser then closes on its own time.
   */
  private dropConnection(code: number, reason: string): void {
    const event = closeEvent(code, reason);
    const webSocket = this.provider.webSocket as unknown as Partial<EventTarget> | null;
    if (typeof webSocket?.dispatchEvent === 'function') {
      webSocket.dispatchEvent(event); // through the listener the provider put on its socket, as a real close
    } else {
      // A WebSocket implementation that cannot dispatch events: the provider's own forced close, then ours.
      this.provider.onClose({ event: event as CloseEvent });
      this.onClose({ event: event as CloseEvent });
    }
  }

  private readonly onOpen = () => {
    this.connections += 1;
    this.openedAt = Date.now();
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      this.failures = 0;
      this.unstable = 0;
      this.update();
    }, STABLE_CONNECTION_MS);
    this.emit('open', [this.connections]);
    this.update();
    // The first probe comes soon: WebSockets that failed while the server was down (a restart) work again now.
    // `transport: 'http'` fixes the transport: no probe.
    if (this.attemptTransport === 'http' && this.choice.option === 'auto') this.scheduleProbe(FIRST_PROBE_MS);
  };

  /** While on HTTP: a WebSocket is tried again later; one that opens and holds moves the client back (transport.ts). */
  private scheduleProbe(delayMs = this.choice.nextProbeDelayMs()): void {
    this.stopProbe();
    this.probeTimer = setTimeout(() => this.runProbe(), delayMs);
  }

  private runProbe(): void {
    if (this.destroyed || this.sleeping || this.attemptTransport !== 'http' || !this.isOpen) return;
    let probe: WebSocket;
    try {
      probe = new this.WebSocketClass(this.provider.url);
    } catch {
      this.scheduleProbe();
      return;
    }
    this.probe = probe;
    let held: ReturnType<typeof setTimeout> | undefined;
    const failed = () => {
      clearTimeout(held);
      if (this.probe !== probe) return;
      this.probe = null;
      if (this.attemptTransport === 'http' && this.isOpen) this.scheduleProbe();
    };
    probe.addEventListener('open', () => {
      held = setTimeout(() => {
        if (this.probe !== probe) return;
        this.probe = null;
        probe.close(1000);
        if (this.choice.probeSucceeded()) this.syncNow();
      }, PROBE_HOLD_MS);
    });
    probe.addEventListener('close', failed);
    probe.addEventListener('error', failed);
  }

  private stopProbe(): void {
    clearTimeout(this.probeTimer);
    const probe = this.probe;
    this.probe = null;
    probe?.close();
  }

  private readonly onClose = ({ event }: { event?: { code?: number } }) => {
    // The provider scheduled its own reconnect; the schedule is ours.
    this.provider.clearReconnectTimeout();
    clearTimeout(this.stableTimer);
    if (event?.code === CloseCode.Unauthorized) this.refused = true;
    const openedAt = this.openedAt;
    this.openedAt = null;
    this.stopProbe();
    if (openedAt !== null && Date.now() - openedAt >= STABLE_CONNECTION_MS) {
      this.failures = 0;
      this.unstable = 0;
    }
    if (this.sleeping) {
      // Closed on purpose: not a failure, and no attempt until woken.
      this.update();
      return;
    }
    const atOnce = this.reconnectAtOnce;
    this.reconnectAtOnce = false;
    if (!atOnce) {
      this.failures += 1;
      if (openedAt !== null && this.failures > 1) this.unstable += 1;
      // The next attempt may take the other transport; it waits the same backoff (a server that is down is tried no
      // more often for it).
      this.choice.ended(openedAt === null ? null : Date.now() - openedAt);
    }
    this.update();
    // The first failure in a row (losing a good connection) retries at once; the backoff starts with the second.
    this.scheduleRetry(atOnce ? 0 : reconnectDelayMs(this.failures - 1, this.maxDelayMs));
  };

  private readonly onNetworkChange = () => {
    if (browserSaysOffline() && this.socketStatus !== WebSocketStatus.Disconnected) {
      // No network: whatever the socket looks like, nothing it sends arrives (no retry is scheduled while offline).
      this.dropConnection(CloseCode.GoingAway, 'the browser is offline');
    }
    this.update();
    if (!browserSaysOffline()) this.connectNow();
  };

  /** The tab was focused or shown: someone is looking, so do not make them wait out the backoff. */
  private readonly onAttention = () => {
    if (pageIsVisible()) this.connectNow();
  };
}
