/**
 * Which transport the client's next connection attempt uses: a WebSocket, or the HTTP fallback (httpSocket.ts) on a
 * network that refuses WebSockets (docs/http-fallback-design.md).
 *
 * The rule (`auto`): WebSocket first. HTTP after `afterFailures` WebSocket attempts in a row that failed before
 * opening, or `UNSTABLE_CONNECTIONS_IN_A_ROW` WebSocket connections in a row that dropped before
 * `STABLE_CONNECTION_MS`, and only while the browser says it is online (offline, everything fails and proves nothing).
 * An HTTP attempt that fails too means the server or the network is down: the next attempt is a WebSocket again, with
 * the usual backoff. While on HTTP, a WebSocket is probed `FIRST_PROBE_MS` after each HTTP connection opens (a server
 * that was restarting refused both: it is back), then every `retryWebSocketMs` (±20 %): one that opens and stays
 * open `PROBE_HOLD_MS` moves the client back (one reconnect). When WebSockets then fail again before one connection
 * stayed up `STABLE_CONNECTION_MS`, the probe interval doubles, up to `MAX_RETRY_WEBSOCKET_MS`. The choice is
 * remembered (localStorage, until the next probe is due), so a reload on a blocked network goes to HTTP at once.
 * `websocket` and `http` fix the transport.
 */
import { STABLE_CONNECTION_MS } from './backoff.js';
import { systemClock, type Clock } from './clock.js';

export type Transport = 'websocket' | 'http';
export type TransportOption = 'auto' | Transport;

export interface HttpFallbackOptions {
  /**
   * WebSocket attempts in a row that fail before opening before the client moves to HTTP.
   * @default 2 — one failure is any network hiccup; two fast ones in a row (a refused upgrade) are a pattern.
   */
  afterFailures?: number;
  /**
   * While on HTTP, how often a WebSocket is tried again (±20 %).
   * @default 300_000 (5 min) — a probe is one short connection, and networks that refuse WebSockets rarely change.
   */
  retryWebSocketMs?: number;
}

/** WebSocket connections in a row that drop before `STABLE_CONNECTION_MS` that move the client to HTTP. */
export const QUICK_DROPS_BEFORE_HTTP = 3;
export const DEFAULT_AFTER_FAILURES = 2;
export const DEFAULT_RETRY_WEBSOCKET_MS = 5 * 60_000;
/** The longest probe interval, after WebSockets kept failing soon after moving back. */
export const MAX_RETRY_WEBSOCKET_MS = 60 * 60_000;
/** How long a probe WebSocket must stay open to count as working. */
export const PROBE_HOLD_MS = 3_000;
const STORAGE_KEY = 'concord/transport';

interface Storage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function storage(): Storage | null {
  try {
    return (globalThis as { localStorage?: Storage }).localStorage ?? null;
  } catch {
    return null;
  }
}

function browserSaysOffline(): boolean {
  return (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine === false;
}

export class TransportChoice {
  readonly option: TransportOption;
  private readonly afterFailures: number;
  private readonly baseRetryMs: number;
  private readonly clock: Clock;
  private current: Transport;
  private failedOpens = 0;
  private quickDrops = 0;
  private retryMs: number;
  /** When the client last moved back to WebSocket after a probe (null: it did not, or that move held). */
  private movedBackAt: number | null = null;

  constructor(option: TransportOption = 'auto', options: HttpFallbackOptions = {}, clock: Clock = systemClock) {
    this.option = option;
    this.afterFailures = options.afterFailures ?? DEFAULT_AFTER_FAILURES;
    this.baseRetryMs = options.retryWebSocketMs ?? DEFAULT_RETRY_WEBSOCKET_MS;
    this.retryMs = this.baseRetryMs;
    this.clock = clock;
    this.current = option === 'auto' ? this.remembered() : option;
  }

  /** The transport of the next attempt. */
  get mode(): Transport {
    return this.current;
  }

  /** How long to wait before the next WebSocket probe, jittered ±20 %. */
  nextProbeDelayMs(): number {
    return Math.round(this.retryMs * (0.8 + Math.random() * 0.4));
  }

  /**
   * An attempt of the current mode ended: `openedForMs` is how long it was open (null: it never opened). Returns
   * true when the mode changed (the next attempt should go at once).
   */
  ended(openedForMs: number | null): boolean {
    if (this.option !== 'auto' || browserSaysOffline()) return false;
    const stable = openedForMs !== null && openedForMs >= STABLE_CONNECTION_MS;
    if (this.current === 'http') {
      if (openedForMs !== null) return false;
      // HTTP failed too: the server or the network is down, not WebSockets alone. WebSocket next, HTTP after it.
      this.failedOpens = this.afterFailures - 1;
      return this.set('websocket');
    }
    if (stable) {
      this.failedOpens = 0;
      this.quickDrops = 0;
      this.movedBackAt = null;
      this.retryMs = this.baseRetryMs;
      return false;
    }
    if (openedForMs === null) this.failedOpens += 1;
    else this.quickDrops += 1;
    if (this.failedOpens < this.afterFailures && this.quickDrops < QUICK_DROPS_BEFORE_HTTP) return false;
    if (this.movedBackAt !== null) {
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_WEBSOCKET_MS); // no stable WebSocket since the probe: probe less often
    }
    this.movedBackAt = null;
    return this.set('http');
  }

  /** A WebSocket probe held: back to WebSocket. */
  probeSucceeded(): boolean {
    if (this.option !== 'auto' || this.current !== 'http') return false;
    this.movedBackAt = this.clock.now();
    this.quickDrops = 0;
    this.failedOpens = 0;
    return this.set('websocket');
  }

  private set(mode: Transport): boolean {
    if (mode === this.current) return false;
    this.current = mode;
    this.failedOpens = mode === 'http' ? 0 : this.failedOpens;
    this.quickDrops = 0;
    const store = storage();
    try {
      if (mode === 'http') store?.setItem(STORAGE_KEY, JSON.stringify({ mode, until: this.clock.now() + this.retryMs }));
      else store?.removeItem(STORAGE_KEY);
    } catch {
      // storage full or denied: the choice is not remembered, nothing more
    }
    return true;
  }

  private remembered(): Transport {
    try {
      const saved = JSON.parse(storage()?.getItem(STORAGE_KEY) ?? 'null') as { mode?: string; until?: number } | null;
      if (saved?.mode === 'http' && typeof saved.until === 'number' && saved.until > this.clock.now()) return 'http';
    } catch {
      // unreadable: start with WebSocket
    }
    return 'websocket';
  }
}
