/**
 * Accepts WebSocket upgrades on the HTTP port and routes them by path: `/sync` to the Hocuspocus protocol,
 * `/y/<name>` to the y-websocket bridge. It owns the checks made before a socket exists (path, origin, and in dev
 * mode a loopback `Host`: see http/loopbackHost.ts), the connection caps (in all, not yet authenticated, per address:
 * HTTP 503/429 before a socket exists; see limits.ts), the frame size limit (ws `maxPayload`, the pre-authentication
 * budget until a socket authenticates: a larger frame closes the socket with 1009), permessage-deflate, the set of open sockets that shutdown closes, and the heartbeat: one timer
 * for every socket (not one per socket: an idle server holds thousands), which beats each socket once per
 * `heartbeatIntervalMs` (see ServerSocket.beat).
 *
 * The HTTP fallback's sessions (HttpSession.ts, opened through http/syncApi.ts) pass the same checks (`admit`) and
 * join the same set: the caps, the heartbeat, `size` and shutdown count them as sockets.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode } from '@concord/engine';
import { WebSocket, WebSocketServer } from 'ws';
import { isLoopbackHostHeader, notLoopbackMessage } from '../http/loopbackHost.js';
import { HttpSession } from './HttpSession.js';
import type { UpgradeRefusal } from './limits.js';
import type { ServerSocket, SocketContext } from './ServerSocket.js';
import { SyncSocket } from './SyncSocket.js';
import type { Wire } from './wire.js';
import { YWebsocketSocket } from './YWebsocketSocket.js';

/** Why a connection may not open: an HTTP status and a message for the client. */
export interface Refusal {
  readonly status: UpgradeRefusal['status'] | 403;
  readonly message: string;
}

export const SYNC_PATH = '/sync';
export const Y_WEBSOCKET_PATH_PREFIX = '/y/';

/**
 * permessage-deflate as negotiated with every client that offers it:
 * - no context takeover on the server's side: every message compresses on its own, so one deflated broadcast is
 *   valid on every socket; the server compresses itself (compression.ts), and an infinite threshold keeps ws from it;
 * - no context takeover on the client's side either: clients with a threshold (ws, 1 KiB) then send small frames
 *   plain, so their sockets need no zlib stream at all (one is ~60 KiB: window, state and output buffer), and the
 *   stream of a client that compresses everything (browsers) holds no history between messages;
 * - a 4 KiB output chunk for that stream instead of zlib's 16 KiB (client frames are small; a large one takes a
 *   few more chunks).
 */
const PERMESSAGE_DEFLATE = {
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  threshold: Number.POSITIVE_INFINITY,
  zlibInflateOptions: { chunkSize: 4 * 1024 },
};

export interface SocketServerOptions extends SocketContext {
  /** Browser origins allowed to open sockets; `*` for any; undefined for same origin only. */
  readonly allowedOrigins: readonly string[] | undefined;
  /** Offer permessage-deflate. */
  readonly permessageDeflate: boolean;
  /** How often every socket is pinged; one that answers none of two pings in a row is terminated. */
  readonly heartbeatIntervalMs: number;
  /** Dev mode: refuse upgrades whose `Host` is not a loopback name (DNS rebinding). */
  readonly loopbackHostOnly?: boolean;
}

/** Non-browser clients send no Origin; browsers always do, and only listed (or same) origins get in. */
export function isOriginAllowed(request: IncomingMessage, allowedOrigins: readonly string[] | undefined): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowedOrigins !== undefined) return allowedOrigins.includes('*') || allowedOrigins.includes(origin);
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

const STATUS_TEXT: Record<number, string> = { 403: 'Forbidden', 404: 'Not Found', 429: 'Too Many Requests', 503: 'Service Unavailable' };

function refuse(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Service Unavailable'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class SocketServer {
  private readonly options: SocketServerOptions;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<ServerSocket>();
  /** The HTTP fallback's open sessions by id (their SyncSockets are in `sockets` too). */
  private readonly sessions = new Map<string, HttpSession>();
  /** The frame size limit until a socket authenticates (SocketLimits raises it then). */
  private readonly maxPayloadBeforeAuth: number;
  private accepting = true;
  private readonly heartbeat: ReturnType<typeof setInterval>;

  constructor(options: SocketServerOptions) {
    this.options = options;
    this.maxPayloadBeforeAuth = Math.min(options.maxMessageBytes, options.limits.settings.maxBytesBeforeAuth);
    this.wss = new WebSocketServer({
      noServer: true,
      // Until a socket authenticates; SocketLimits raises it to maxMessageBytes then.
      maxPayload: this.maxPayloadBeforeAuth,
      perMessageDeflate: options.permessageDeflate ? PERMESSAGE_DEFLATE : false,
    });
    let lastBeatAt = performance.now();
    this.heartbeat = setInterval(() => {
      // A beat that comes early by the real clock is not one (an interval driven by fake timers in a test): sockets
      // get no time to answer it.
      const now = performance.now();
      if (now - lastBeatAt < options.heartbeatIntervalMs / 2) return;
      lastBeatAt = now;
      for (const socket of this.sockets) socket.beat(options.heartbeatIntervalMs);
    }, options.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.sockets.size;
  }

  /** The HTTP server's `upgrade` listener. */
  handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (!this.accepting) return refuse(socket, 503, 'the server is shutting down');
    if (path !== SYNC_PATH && !path.startsWith(Y_WEBSOCKET_PATH_PREFIX)) {
      return refuse(socket, 404, `no WebSocket endpoint at ${path}; use ${SYNC_PATH} or ${Y_WEBSOCKET_PATH_PREFIX}<document>`);
    }
    const refusal = this.admit(request);
    if (refusal !== null) return refuse(socket, refusal.status, refusal.message);
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, request, path));
  };

  /**
   * The checks made before a connection exists, for a WebSocket upgrade and for an HTTP fallback session alike: dev
   * mode's loopback `Host`, the Origin, the connection caps. Null when the connection may open.
   */
  private admit(request: IncomingMessage): Refusal | null {
    const { metrics, log } = this.options;
    if (!this.accepting) return { status: 503, message: 'the server is shutting down' };
    if (this.options.loopbackHostOnly && !isLoopbackHostHeader(request.headers.host)) {
      metrics.rejectedConnections.inc({ reason: 'host' });
      log.warn({ host: request.headers.host }, 'refused a WebSocket addressed to a name that is not loopback (dev mode)');
      return { status: 403, message: notLoopbackMessage(request.headers.host) };
    }
    if (!isOriginAllowed(request, this.options.allowedOrigins)) {
      metrics.rejectedConnections.inc({ reason: 'origin' });
      log.warn({ origin: request.headers.origin }, 'refused a WebSocket from an origin that is not allowed');
      return { status: 403, message: `origin ${request.headers.origin} is not allowed (CONCORD_ALLOWED_ORIGINS)` };
    }
    const refusal = this.options.limits.refusal(request, this.sockets.size);
    if (refusal !== null) {
      metrics.rejectedConnections.inc({ reason: refusal.reason });
      log.debug({ reason: refusal.reason, remote: request.socket.remoteAddress }, 'refused a WebSocket: a connection limit is reached');
      return refusal;
    }
    return null;
  }

  private accept(ws: WebSocket, request: IncomingMessage, path: string): void {
    const remote = request.socket.remoteAddress;
    let socket: ServerSocket;
    if (path === SYNC_PATH) {
      socket = new SyncSocket(ws, this.options, 'hocuspocus', { remote });
      this.countTransport(ws, 'websocket');
    } else {
      const name = YWebsocketSocket.documentNameOf(request);
      const token = new URL(request.url ?? '/', 'http://localhost').searchParams.get('token') ?? '';
      socket = new YWebsocketSocket(ws, this.options, { remote, document: name }, name, token);
    }
    this.sockets.add(socket);
    ws.once('close', () => this.sockets.delete(socket));
    socket.attach(request);
  }

  /**
   * Opens an HTTP fallback session for `request` (`POST /api/sync/sessions`) after the same checks as an upgrade to
   * `/sync`: a SyncSocket over an HttpSession, counted, beaten and closed with the WebSockets.
   */
  openSession(request: IncomingMessage): HttpSession | Refusal {
    const refusal = this.admit(request);
    if (refusal !== null) return refusal;
    const session = new HttpSession({
      heartbeatMs: this.options.heartbeatIntervalMs,
      maxFrameBytes: this.maxPayloadBeforeAuth,
      origin: request.headers.origin,
    });
    const remote = request.socket.remoteAddress;
    const socket = new SyncSocket(session, this.options, 'hocuspocus', { remote, transport: 'http', session: session.shortId });
    this.sessions.set(session.id, session);
    this.sockets.add(socket);
    this.countTransport(session, 'http');
    session.once('close', () => {
      this.sockets.delete(socket);
      this.sessions.delete(session.id);
    });
    // What Hocuspocus reads of the request: its headers and a path (the sessions endpoint has nothing for it).
    socket.attach({ url: SYNC_PATH, headers: request.headers, socket: request.socket } as IncomingMessage);
    return session;
  }

  /** The open HTTP session `id`, if any. */
  session(id: string): HttpSession | undefined {
    return this.sessions.get(id);
  }

  private countTransport(wire: Wire, transport: 'websocket' | 'http'): void {
    const gauge = this.options.metrics.syncTransportConnections;
    gauge.inc({ transport });
    wire.once('close', () => gauge.dec({ transport }));
  }

  /**
   * Stops accepting and closes every socket with 1012 (clients reconnect later); sockets still open after
   * `graceMs` are terminated. Resolves when all are closed.
   */
  async closeAll(graceMs: number): Promise<void> {
    this.accepting = false;
    const closed = [...this.sockets].map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.onceClosed(resolve);
          socket.close(CloseCode.ServiceRestart, 'Server restarting');
        }),
    );
    const timer = setTimeout(() => {
      for (const socket of this.sockets) socket.terminate();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(timer);
    clearInterval(this.heartbeat);
    this.wss.close();
  }
}
