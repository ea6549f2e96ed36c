/**
 * The one socket of a client: a `HocuspocusProviderWebsocket` that every document multiplexes over, and its state.
 *
 * The rule: the socket's state is what the provider reports (connecting, connected, disconnected → offline), except
 * that a browser that says it has no network is `offline` whatever the socket thinks, and a socket the server
 * closed for a bad token is `unauthorized` until it connects again. Each opened socket gets a new connection
 * number, so tokens can be fetched once per connection. When the browser comes back online, the socket retries
 * at once instead of waiting out its backoff.
 */
import { CloseCode } from '@concord/engine';
import { HocuspocusProviderWebsocket, WebSocketStatus, type HocuspocusProvider } from '@hocuspocus/provider';
import { ObservableV2 } from 'lib0/observable';
import type { ConnectionState } from './types.js';

/** Delay of the first retry after a failed connection; it doubles on each further failure (with jitter). */
export const RECONNECT_MIN_DELAY_MS = 1_000;
export const DEFAULT_MAX_RECONNECT_DELAY_MS = 30_000;

export interface SocketOptions {
  url: string;
  WebSocketPolyfill?: unknown;
  maxReconnectDelayMs?: number;
}

export type SocketEvents = {
  state: (state: ConnectionState) => void;
  /** A new connection is open; fires before the documents attached to the socket authenticate on it. */
  open: (connection: number) => void;
};

interface NetworkEvents {
  addEventListener(type: 'online' | 'offline', listener: () => void): void;
  removeEventListener(type: 'online' | 'offline', listener: () => void): void;
}

function browserSaysOffline(): boolean {
  const nav = (globalThis as { navigator?: { onLine?: boolean } }).navigator;
  return nav?.onLine === false;
}

function networkEvents(): NetworkEvents | null {
  const target = globalThis as Partial<NetworkEvents>;
  return typeof target.addEventListener === 'function' && typeof target.removeEventListener === 'function'
    ? (target as NetworkEvents)
    : null;
}

export class Socket extends ObservableV2<SocketEvents> {
  readonly provider: HocuspocusProviderWebsocket;
  private socketStatus: WebSocketStatus;
  private refused = false;
  private connections = 0;
  private current: ConnectionState;
  private readonly network = networkEvents();

  constructor(options: SocketOptions) {
    super();
    const maxDelay = options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS;
    this.provider = new HocuspocusProviderWebsocket({
      url: options.url,
      ...(options.WebSocketPolyfill ? { WebSocketPolyfill: options.WebSocketPolyfill } : {}),
      delay: Math.min(RECONNECT_MIN_DELAY_MS, maxDelay),
      minDelay: Math.min(RECONNECT_MIN_DELAY_MS, maxDelay),
      maxDelay,
    });
    this.socketStatus = this.provider.status;
    this.current = this.derive();
    this.provider.on('status', this.onStatus);
    this.provider.on('open', this.onOpen);
    this.provider.on('close', this.onClose);
    this.network?.addEventListener('online', this.onNetworkChange);
    this.network?.addEventListener('offline', this.onNetworkChange);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The number of the connection now open (or last opened). */
  get connection(): number {
    return this.connections;
  }

  get isOpen(): boolean {
    return this.socketStatus === WebSocketStatus.Connected;
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
    this.network?.removeEventListener('online', this.onNetworkChange);
    this.network?.removeEventListener('offline', this.onNetworkChange);
    this.provider.destroy();
    super.destroy();
  }

  private derive(): ConnectionState {
    if (browserSaysOffline()) return 'offline';
    if (this.refused) return 'unauthorized';
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
    const next = this.derive();
    if (next === this.current) return;
    this.current = next;
    this.emit('state', [next]);
  }

  private readonly onStatus = ({ status }: { status: WebSocketStatus }) => {
    this.socketStatus = status;
    if (status === WebSocketStatus.Connected) this.refused = false;
    this.update();
  };

  private readonly onOpen = () => {
    this.connections += 1;
    this.emit('open', [this.connections]);
  };

  private readonly onClose = ({ event }: { event?: { code?: number } }) => {
    if (event?.code === CloseCode.Unauthorized) this.refused = true;
    this.update();
  };

  private readonly onNetworkChange = () => {
    this.update();
    if (!browserSaysOffline() && this.socketStatus === WebSocketStatus.Disconnected) void this.provider.connect();
  };
}
