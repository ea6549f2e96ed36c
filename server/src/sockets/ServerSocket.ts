/**
 * The server end of one WebSocket, as Hocuspocus sees it (`WebSocketLike`). Subclasses translate frames between
 * the wire protocol and Hocuspocus (`inbound`, `outbound`); this base owns what both protocols share: handing the
 * socket to Hocuspocus, relaying and counting messages and bytes, closing with a code and a reason the client can
 * show, and the heartbeat. It composes the rest, each with its own rule: what goes out and the send-buffer budget
 * (Outbound.ts), acknowledgements held until what they acknowledge is durable (Acknowledgements.ts), and the limits
 * of one socket (SocketLimits.ts).
 *
 * The heartbeat rule: every socket is sent a ping once per heartbeat (SocketServer's one sweep for all of them,
 * `beat()`); anything that arrives from the client (a frame, a pong) counts as an answer. A socket that answered none
 * of its last `SILENT_BEATS_BEFORE_DEAD` pings is terminated at once, without a close handshake (its network is gone:
 * nothing would answer one), which runs Hocuspocus' disconnect path and removes its presence.
 */
import type { IncomingMessage } from 'node:http';
import { MessageType, type Hocuspocus, type WebSocketLike } from '@hocuspocus/server';
import { CloseCode } from '@concord/engine';
import { WebSocket, type RawData } from 'ws';
import type { Wire } from './wire.js';
import type { Logger } from '../logger.js';
import type { Metrics, Protocol, Traffic } from '../metrics.js';
import type { DurabilityGate } from '../durability/Durability.js';
import { Acknowledgements } from './Acknowledgements.js';
import type { AwarenessGuard } from './AwarenessGuard.js';
import { broadcastOf } from './compression.js';
import { frameType, MalformedFrameError } from './frames.js';
import type { ConnectionCounts } from './limits.js';
import { Outbound, type OutboundSocket } from './Outbound.js';
import { SocketLimits, type LimitedSocket } from './SocketLimits.js';
import type { UpdateGuard } from './UpdateGuard.js';

type ClientConnection = ReturnType<Hocuspocus['handleConnection']>;

export interface SocketContext {
  readonly hocuspocus: Hocuspocus;
  /** When acknowledgements may go out (durability/Durability.ts). */
  readonly durability: DurabilityGate;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Largest frame accepted once the socket authenticated a document, in bytes. */
  readonly maxMessageBytes: number;
  /** Bytes the server may hold unsent for one socket before closing it (the send-buffer rule, Outbound.ts). */
  readonly maxSendBufferBytes: number;
  /** Who may say what in presence (awareness). */
  readonly awareness: AwarenessGuard;
  /** What clients' updates are checked against before they reach Hocuspocus (UpdateGate). */
  readonly updates: UpdateGuard;
  /** The server's connection limits and counts (sockets/limits.ts). */
  readonly limits: ConnectionCounts;
}

/**
 * Heartbeats in a row a client may leave unanswered before its socket is terminated. Two: a healthy client that
 * misses one whole ping round (a slow link, a busy tab, a stalled server loop) stays, and a client that went silent
 * is dropped two to three heartbeat intervals later (5–7.5 s at the default 2.5 s; see `heartbeatIntervalMs` in
 * config.ts). Counting beats rather than comparing clocks means a server that stalled for a while reads what waited
 * in its sockets before any socket can miss a second beat.
 */
export const SILENT_BEATS_BEFORE_DEAD = 2;

function toBytes(data: string | ArrayBufferLike | Blob | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return new TextEncoder().encode(data);
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return new Uint8Array(data);
  throw new TypeError('Blob frames are not supported');
}

function rawToBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

/** Headers of the WebSocket handshake itself: nothing after it needs them, and every open socket would keep them. */
const HANDSHAKE_HEADERS = new Set(['connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions']);

/**
 * The request as Hocuspocus reads it: headers, and a path-only URL without the token a y-websocket URL carries.
 * Hocuspocus takes a Web Request but reads only `headers` and `url`, and parses a path-only URL (the Node
 * IncomingMessage shape it also accepts) without building a URL object, which it does for hook payloads of every
 * message. Hocuspocus keeps it as long as the socket is open.
 */
function toRequest(request: IncomingMessage): Request {
  const url = new URL(request.url ?? '/', 'http://localhost');
  url.searchParams.delete('token');
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined && !HANDSHAKE_HEADERS.has(name)) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  return { url: `${url.pathname}${url.search}`, headers } as unknown as Request;
}

export abstract class ServerSocket implements WebSocketLike, OutboundSocket, LimitedSocket {
  protected readonly ws: Wire;
  protected readonly context: SocketContext;
  /** What this socket's log records carry; the child logger is made on the first record (most sockets never log). */
  private readonly logBindings: Record<string, unknown>;
  private childLog: Logger | undefined;
  private readonly protocol: Protocol;
  /** This protocol's message and byte totals (plain numbers; reported to Prometheus when scraped). */
  private readonly traffic: Traffic;
  private readonly openedAt = performance.now();
  private connection: ClientConnection | undefined;
  /** What goes out, in order, within the send budget. */
  private readonly out: Outbound;
  /** Acknowledgements waiting for durable writes (made with the first; most sockets never write). */
  private acks: Acknowledgements | null = null;
  /** The authentication deadline, the bytes before it, the user, the rate buckets. */
  private readonly limits: SocketLimits;
  /** Heartbeats sent since something last arrived from the client. */
  private silentBeats = 0;

  constructor(ws: Wire, context: SocketContext, protocol: Protocol, logBindings: Record<string, unknown>) {
    this.ws = ws;
    this.context = context;
    this.protocol = protocol;
    this.logBindings = logBindings;
    this.traffic = context.metrics.traffic[protocol];
    this.out = new Outbound(ws, this, context.metrics, this.traffic, context.maxSendBufferBytes);
    const remoteAddress = typeof logBindings.remote === 'string' ? logBindings.remote : '';
    this.limits = new SocketLimits(ws, this, context.limits, context.metrics, this.out, context.maxMessageBytes, remoteAddress);
  }

  /** The wire protocol (auth/Sessions.ts reads it from a Hocuspocus connection's socket). */
  get wireProtocol(): Protocol {
    return this.protocol;
  }

  /** The socket's logger, made on its first record. */
  get log(): Logger {
    return (this.childLog ??= this.context.log.child(this.logBindings));
  }

  /** Translates a Hocuspocus frame for the client (Outbound's and broadcasts' Translator; see `outbound`). */
  translateOutbound(frame: Uint8Array): Uint8Array | null {
    return this.outbound(frame);
  }

  /** Hands the socket to Hocuspocus and starts relaying frames. */
  attach(request: IncomingMessage): void {
    const { metrics } = this.context;
    metrics.connections.inc({ protocol: this.protocol });
    metrics.connectionsOpened.inc({ protocol: this.protocol });
    this.limits.opened();
    this.connection = this.context.hocuspocus.handleConnection(this, toRequest(request));
    this.ws.on('message', (data, isBinary) => {
      this.silentBeats = 0;
      if (this.limits.limited) return;
      const frame = rawToBytes(data);
      this.traffic.messagesIn += 1;
      this.traffic.bytesIn += frame.byteLength;
      if (this.ws.readyState !== WebSocket.OPEN) return; // closing: what the client sent after its close is not read
      if (this.out.overflowed) return; // closed for not reading: its requests would be answered into the void
      if (!this.limits.admitMessage(frame.byteLength)) return;
      if (!isBinary) {
        this.reject(new MalformedFrameError('text frames are not part of the protocol'));
        return;
      }
      try {
        this.inbound(frame);
      } catch (error) {
        if (error instanceof MalformedFrameError) {
          this.reject(error);
        } else {
          // A bug, not the client's fault: this socket goes, the server stays.
          this.log.error({ err: error }, 'failed to handle a message; closing the connection');
          this.close(CloseCode.InternalError, 'Internal error');
        }
      }
    });
    this.ws.on('close', (code, reason) => {
      this.limits.closed();
      this.beforeClose();
      metrics.connections.dec({ protocol: this.protocol });
      metrics.connectionDuration.observe({ protocol: this.protocol }, (performance.now() - this.openedAt) / 1000);
      this.connection?.handleClose({ code, reason: reason.toString() });
    });
    this.ws.on('pong', () => {
      this.silentBeats = 0;
    });
    this.ws.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.limits.frameTooBig();
      else this.log.warn({ err: error }, 'WebSocket error');
    });
    this.start();
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  /** Called by Hocuspocus with a frame for the client. */
  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const frame = toBytes(data);
    const broadcast = broadcastOf(frame);
    if (broadcast !== undefined) {
      this.out.sendBroadcast(broadcast, this.translationKey); // updates, presence, events: never an acknowledgement
      return;
    }
    if (frame.length > 1 && frameType(frame) === MessageType.SyncStatus) {
      if (this.acknowledges) (this.acks ??= this.makeAcknowledgements()).acknowledge(frame);
      return;
    }
    if (!this.limits.authenticated) this.limits.noticeAuthentication(frame);
    this.out.transmit(frame);
  }

  /** The socket's user, from its first authenticated document (LimitsExtension; see SocketLimits.identify). */
  identify(user: string): void {
    this.limits.identify(user);
  }

  /** A document opened on this socket: room for its first presence updates (see SocketRates.creditAwareness). */
  protected documentOpened(): void {
    this.limits.documentOpened();
  }

  /** Counts `bytes` the client sent before its first authenticated document, Auth frames aside (SocketLimits). */
  protected takeBeforeAuth(bytes: number): boolean {
    return this.limits.takeBeforeAuth(bytes);
  }

  /** Counts a presence update the client sent; false when that was over its limit (the socket is being closed). */
  protected takeAwareness(): boolean {
    return this.limits.admitPresence();
  }

  /** How many client messages the acknowledgement Hocuspocus sends for `address` now stands for. */
  protected acknowledgementCopies(_address: string): number {
    return 1;
  }

  /** Whether the protocol has acknowledgements (`SyncStatus`); a protocol without them drops Hocuspocus'. */
  protected get acknowledges(): boolean {
    return true;
  }

  private makeAcknowledgements(): Acknowledgements {
    return new Acknowledgements(this.ws, this.context.durability, this.out, (address) => this.acknowledgementCopies(address));
  }

  close(code?: number, reason?: string): void {
    this.out.close(code, reason);
  }

  onceClosed(callback: () => void): void {
    this.ws.once('close', callback);
  }

  /** Forces the socket shut (shutdown, after the grace period). */
  terminate(): void {
    this.ws.terminate();
  }

  /**
   * One heartbeat, called by SocketServer for every socket once per interval: terminates the socket when the client
   * answered none of the last `SILENT_BEATS_BEFORE_DEAD` pings, else pings it. A closing socket is not pinged but
   * is terminated the same way, so a close handshake with a client that is gone ends within the same bound instead of
   * ws' 30 s close timeout.
   */
  beat(intervalMs: number): void {
    if (this.out.beatAfterOverflow()) return; // closed for not reading: terminated once it had time to read its close
    if (this.silentBeats >= SILENT_BEATS_BEFORE_DEAD) {
      this.context.metrics.deadConnections.inc({ protocol: this.protocol });
      this.log.debug({ silentForMs: this.silentBeats * intervalMs }, 'dropped a connection that answered no heartbeat');
      this.ws.terminate();
      return;
    }
    this.silentBeats += 1;
    if (this.ws.readyState === WebSocket.OPEN) this.ping();
  }

  /** Sends the heartbeat: a WebSocket ping, which every WebSocket implementation answers with a pong by itself. */
  protected ping(): void {
    this.ws.ping();
  }

  /**
   * Sends a one-byte frame of the protocol's own heartbeat (a client that reads it knows the link is alive, which a
   * WebSocket ping, invisible to browser code, cannot tell it).
   */
  protected sendHeartbeatFrame(frame: Uint8Array): void {
    this.out.write(frame, null);
  }

  /** Sends a frame the socket itself makes (already in the client's terms), after what is queued. */
  protected sendToClient(frame: Uint8Array): void {
    this.out.write(frame, null);
  }

  /** Passes a frame from the client on to Hocuspocus. */
  protected forward(frame: Uint8Array): void {
    this.connection?.handleMessage(frame);
  }

  /** Closes the socket because the client sent something unacceptable; nothing of it reached Hocuspocus. */
  protected reject(error: MalformedFrameError): void {
    this.context.metrics.rejectedConnections.inc({ reason: error.reason });
    this.log.warn({ reason: error.message }, 'closed a connection that sent a malformed message');
    this.close(CloseCode.MalformedMessage, `Malformed message: ${error.message}`);
  }

  /** Runs once Hocuspocus has the socket. */
  protected start(): void {}

  /** Runs when the socket has closed, before Hocuspocus hears of it. */
  protected beforeClose(): void {}

  /** Translates a client frame and forwards it; throws MalformedFrameError for bad bytes. */
  protected abstract inbound(frame: Uint8Array): void;

  /** Translates a Hocuspocus frame for the client, or null to drop it. */
  protected abstract outbound(frame: Uint8Array): Uint8Array | null;

  /** Sockets with the same key translate a frame to the same bytes (protocol, and tenant where it matters). */
  protected abstract get translationKey(): string;
}
