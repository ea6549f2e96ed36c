/**
 * The server end of one WebSocket, as Hocuspocus sees it (`WebSocketLike`). Subclasses translate frames between
 * the wire protocol and Hocuspocus (`inbound`, `outbound`); this base owns what both protocols share: handing the
 * socket to Hocuspocus, counting messages and bytes, closing with a code and a reason the client can show, and
 * holding back acknowledgements until what they acknowledge is durable.
 *
 * What goes out is compressed by Concord, not by ws (see compression.ts): a broadcast frame is translated and deflated
 * once for all its recipients; a large frame for this socket alone is deflated on zlib's thread pool while later
 * frames wait behind it, so the client receives everything in the order Hocuspocus sent it.
 *
 * The heartbeat rule: every socket is sent a ping once per heartbeat (SocketServer's one sweep for all of them,
 * `beat()`); anything that arrives from the client (a frame, a pong) counts as an answer. A socket that answered none
 * of its last `SILENT_BEATS_BEFORE_DEAD` pings is terminated at once, without a close handshake (its network is gone:
 * nothing would answer one), which runs Hocuspocus' disconnect path and removes its presence.
 *
 * The send-buffer rule: a client that stops reading is closed (`CloseCode.SendBufferFull`) before the server holds more
 * than `maxSendBufferBytes` for it: what ws has not yet handed to the kernel (`bufferedAmount`) plus the frames waiting
 * here behind a compression, beyond the largest single frame sent to it (so the first sync of a document larger than
 * the budget still goes to a client on a slow link, and the edits that follow it too). The check is made where a frame
 * is written, before it is written: the most a socket holds is the budget plus two of its largest frames. From then on nothing more is sent to it or read from it (its requests would only be
 * answered into the void), and since a close frame waits behind the unread bytes, the next heartbeat but one
 * terminates it and frees them.
 *
 * The acknowledgement rule: Hocuspocus sends `SyncStatus` right after it applied a client's update in memory.
 * Storage registers the ticket of that update's durable write first (`holdAcknowledgements`, called from the
 * document's update event, which fires before the acknowledgement is sent), so a `SyncStatus` goes out only once
 * every ticket registered for its document before it is durable. A document's acknowledgements keep their order.
 */
import type { IncomingMessage } from 'node:http';
import { AuthMessageType } from '@hocuspocus/common';
import { MessageType, type Hocuspocus, type WebSocketLike } from '@hocuspocus/server';
import { CloseCode, CloseReason, RateLimitReason } from '@concord/engine';
import { WebSocket, type RawData } from 'ws';
import type { Logger } from '../logger.js';
import type { Metrics, Protocol, Traffic } from '../metrics.js';
import { corked, raiseMaxPayload, sendFrame, serverDeflateWindowBits } from '../seams/ws.js';
import type { AwarenessGuard } from './AwarenessGuard.js';
import { broadcastOf, deflateLater, worthDeflating, type BroadcastFrame } from './compression.js';
import { AddressReader, frameType, MalformedFrameError, readServerFrameHead } from './frames.js';
import { SocketRates, type ConnectionCounts, type RateLimit } from './limits.js';
import type { UpdateGuard } from './UpdateGuard.js';

type ClientConnection = ReturnType<Hocuspocus['handleConnection']>;

/** A frame waiting behind a compression in flight: the message, and the whole frame once ready (null: send plain). */
interface QueuedFrame {
  readonly bytes: Uint8Array;
  frame: Buffer[] | null;
  ready: boolean;
}

interface HeldAcknowledgement {
  readonly ticket: number;
  readonly frame: Uint8Array;
  /** How many client messages it stands for (see `acknowledgementCopies`). */
  readonly copies: number;
}

/** Shared by every socket while it holds no acknowledgement. */
const NONE_HELD: HeldAcknowledgement[] = [];

/** Where acknowledgements learn what is durable (the group committer). */
export interface DurableTickets {
  /** Every ticket up to this one is durable. */
  readonly durableThrough: number;
  /** The last ticket of document `name` not yet durable, or 0. */
  lastPendingTicket(name: string): number;
  /** Calls back once after the next successful write. */
  onceDurable(callback: () => void): void;
}

export interface SocketContext {
  readonly hocuspocus: Hocuspocus;
  readonly durability: DurableTickets;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Largest frame accepted once the socket authenticated a document, in bytes. */
  readonly maxMessageBytes: number;
  /** Bytes the server may hold unsent for one socket before closing it (see the send-buffer rule). */
  readonly maxSendBufferBytes: number;
  /** Who may say what in presence (awareness). */
  readonly awareness: AwarenessGuard;
  /** What clients' updates are checked against before they reach Hocuspocus (UpdateGate). */
  readonly updates: UpdateGuard;
  /** The server's connection limits and counts (sockets/limits.ts). */
  readonly limits: ConnectionCounts;
}

/** Presence updates a socket may send for each document it opens, above its burst: a provider announces itself once. */
const AWARENESS_CREDIT_PER_DOCUMENT = 2;

/** A socket closed for a limit gets this long to finish the close handshake before it is cut. */
const LIMIT_CLOSE_GRACE_MS = 1_000;

const RATE_LIMIT_REASONS: Record<RateLimit, string> = {
  messages: RateLimitReason.Messages,
  bytes: RateLimitReason.Bytes,
  awareness: RateLimitReason.Awareness,
};

/**
 * Heartbeats in a row a client may leave unanswered before its socket is terminated. Two: a healthy client that
 * misses one whole ping round (a slow link, a busy tab, a stalled server loop) stays, and a client that went silent
 * is dropped two to three heartbeat intervals later (5–7.5 s at the default 2.5 s; see `heartbeatIntervalMs` in
 * config.ts). Counting beats rather than comparing clocks means a server that stalled for a while reads what waited
 * in its sockets before any socket can miss a second beat.
 */
export const SILENT_BEATS_BEFORE_DEAD = 2;

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
const MAX_CLOSE_REASON_BYTES = 123;

function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason);
  return bytes.length <= MAX_CLOSE_REASON_BYTES ? reason : `${bytes.subarray(0, MAX_CLOSE_REASON_BYTES - 3).toString()}...`;
}

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

export abstract class ServerSocket implements WebSocketLike {
  protected readonly ws: WebSocket;
  protected readonly context: SocketContext;
  /** What this socket's log records carry; the child logger is made on the first record (most sockets never log). */
  private readonly logBindings: Record<string, unknown>;
  private childLog: Logger | undefined;
  private readonly protocol: Protocol;
  /** This protocol's message and byte totals (plain numbers; reported to Prometheus when scraped). */
  private readonly traffic: Traffic;
  private readonly openedAt = performance.now();
  private connection: ClientConnection | undefined;
  /** Per message address: the ticket its next acknowledgement must wait for (made with the first; most sockets never write). */
  private requiredTickets: Map<string, number> | null = null;
  /** Acknowledgements waiting for their ticket, in the order Hocuspocus sent them. */
  private heldAcks: HeldAcknowledgement[] = NONE_HELD;
  private releaseScheduled = false;
  private ackAddressReader: AddressReader | undefined;
  /** The deflate window the client allows the server; null when frames go plain. */
  private readonly windowBits: number | null;
  /** Frames waiting behind a compression in flight, in order; null while nothing waits. */
  private queue: QueuedFrame[] | null = null;
  /** Bytes of the frames in `queue`. */
  private queuedBytes = 0;
  /** The largest frame written to this socket: held on top of the budget (see the send-buffer rule). */
  private largestFrameBytes = 0;
  /** Heartbeats since the socket went over its send budget and was closed; -1 while it is within it. */
  private beatsSinceOverflow = -1;
  /** A close asked for while frames were waiting: done once they are sent. */
  private closeAfterQueue: { code?: number; reason?: string } | undefined;
  /** Heartbeats sent since something last arrived from the client. */
  private silentBeats = 0;
  /** A document authenticated on this socket (sticky): the pre-authentication limits no longer apply. */
  private authenticated = false;
  /** Bytes received before the first authentication, Auth frames aside. */
  private bytesBeforeAuth = 0;
  private authDeadline: ReturnType<typeof setTimeout> | undefined;
  /** The user the socket is counted for (the first authenticated document's), once known. */
  private user: string | undefined;
  /** Closed for a limit: nothing more it sends is handled. */
  private limited = false;
  private readonly rates: SocketRates;
  private readonly remoteAddress: string;

  constructor(ws: WebSocket, context: SocketContext, protocol: Protocol, logBindings: Record<string, unknown>) {
    this.ws = ws;
    this.context = context;
    this.protocol = protocol;
    this.logBindings = logBindings;
    this.traffic = context.metrics.traffic[protocol];
    this.windowBits = serverDeflateWindowBits(ws);
    this.rates = new SocketRates(context.limits.settings);
    this.remoteAddress = typeof logBindings.remote === 'string' ? logBindings.remote : '';
  }

  /** The wire protocol (auth/Sessions.ts reads it from a Hocuspocus connection's socket). */
  get wireProtocol(): Protocol {
    return this.protocol;
  }

  protected get log(): Logger {
    return (this.childLog ??= this.context.log.child(this.logBindings));
  }

  /** Hands the socket to Hocuspocus and starts relaying frames. */
  attach(request: IncomingMessage): void {
    const { metrics, limits } = this.context;
    metrics.connections.inc({ protocol: this.protocol });
    metrics.connectionsOpened.inc({ protocol: this.protocol });
    limits.opened(this.remoteAddress);
    this.authDeadline = setTimeout(() => this.authenticationTimedOut(), limits.settings.authTimeoutMs);
    this.authDeadline.unref();
    this.connection = this.context.hocuspocus.handleConnection(this, toRequest(request));
    this.ws.on('message', (data, isBinary) => {
      this.silentBeats = 0;
      if (this.limited) return;
      const frame = rawToBytes(data);
      this.traffic.messagesIn += 1;
      this.traffic.bytesIn += frame.byteLength;
      if (this.ws.readyState !== WebSocket.OPEN) return; // closing: what the client sent after its close is not read
      if (this.beatsSinceOverflow >= 0) return; // closed for not reading: its requests would be answered into the void
      const dry = this.rates.takeMessage(frame.byteLength);
      if (dry !== null) {
        this.rateLimited(dry);
        return;
      }
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
      clearTimeout(this.authDeadline);
      limits.closed(this.remoteAddress, this.authenticated, this.user);
      this.beforeClose();
      metrics.connections.dec({ protocol: this.protocol });
      metrics.connectionDuration.observe({ protocol: this.protocol }, (performance.now() - this.openedAt) / 1000);
      this.connection?.handleClose({ code, reason: reason.toString() });
    });
    this.ws.on('pong', () => {
      this.silentBeats = 0;
    });
    this.ws.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        const limitBytes = this.authenticated ? this.context.maxMessageBytes : limits.settings.maxBytesBeforeAuth;
        metrics.rejectedConnections.inc({ reason: this.authenticated ? 'message-too-big' : 'pre-auth-bytes' });
        this.log.warn({ limitBytes, authenticated: this.authenticated }, 'closed a connection that sent a frame over the size limit');
      } else {
        this.log.warn({ err: error }, 'WebSocket error');
      }
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
      this.sendBroadcast(broadcast); // updates, presence, events: never an acknowledgement
      return;
    }
    if (frame.length > 1 && frameType(frame) === MessageType.SyncStatus) {
      this.acknowledge(frame);
      return;
    }
    if (!this.authenticated) this.noticeAuthentication(frame);
    this.transmit(frame);
  }

  /** Before the first authentication: whether `frame` (from Hocuspocus) says a document authenticated. */
  private noticeAuthentication(frame: Uint8Array): void {
    if (frame.length < 3) return;
    const { type, decoder } = readServerFrameHead(frame);
    if (type !== MessageType.Auth || decoder.arr[decoder.pos] !== AuthMessageType.Authenticated) return;
    this.authenticated = true;
    clearTimeout(this.authDeadline);
    this.authDeadline = undefined;
    this.context.limits.authenticated();
    if (!raiseMaxPayload(this.ws, this.context.maxMessageBytes)) {
      this.log.error('cannot raise the frame size limit after authentication (ws internals changed; see seams/ws.ts)');
    }
  }

  /**
   * The socket's user, from its first authenticated document (LimitsExtension): counted against the per-user cap,
   * and closed with 4430 when the user already has the most allowed.
   */
  identify(user: string): void {
    if (this.user !== undefined) return;
    this.user = user;
    if (!this.context.limits.addUser(user)) {
      this.closeForLimit('user-limit', CloseCode.TooManyConnections, CloseReason.TooManyConnections, { user });
    }
  }

  /** A document opened on this socket: room for its first presence updates (see SocketRates.creditAwareness). */
  protected documentOpened(): void {
    this.rates.creditAwareness(AWARENESS_CREDIT_PER_DOCUMENT);
  }

  /**
   * Counts `bytes` the client sent before its first authenticated document (Auth frames aside: they are answered, not
   * held); false, and the socket is being closed 1009, once they pass the budget.
   */
  protected takeBeforeAuth(bytes: number): boolean {
    if (this.authenticated || (this.bytesBeforeAuth += bytes) <= this.context.limits.settings.maxBytesBeforeAuth) return true;
    this.closeForLimit('pre-auth-bytes', CloseCode.MessageTooBig, CloseReason.TooMuchBeforeAuthentication);
    return false;
  }

  /** Counts a presence update the client sent; false when that was over its limit (the socket is being closed). */
  protected takeAwareness(): boolean {
    if (this.rates.takeAwareness()) return true;
    this.rateLimited('awareness');
    return false;
  }

  private authenticationTimedOut(): void {
    if (this.authenticated) return;
    this.closeForLimit('auth-timeout', CloseCode.AuthenticationTimeout, CloseReason.AuthenticationTimeout);
  }

  /** Closes the socket because it sent more than a bucket allows. */
  protected rateLimited(limit: RateLimit): void {
    this.closeForLimit(`rate-${limit}`, CloseCode.RateLimited, RATE_LIMIT_REASONS[limit]);
  }

  /**
   * Closes the socket for a limit: nothing more it sends is handled, and it is cut when it does not finish the close
   * handshake within a second (a client flooding the server may not read).
   */
  private closeForLimit(reason: string, code: number, message: string, details: Record<string, unknown> = {}): void {
    if (this.limited) return;
    this.limited = true;
    this.context.metrics.rejectedConnections.inc({ reason });
    this.log.info({ reason, ...details }, `closed a connection: ${message}`);
    this.queue = null; // nothing waiting to go out matters more than closing
    this.queuedBytes = 0;
    this.close(code, message);
    setTimeout(() => {
      if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    }, LIMIT_CLOSE_GRACE_MS).unref();
  }

  /** Sends an acknowledgement (as many times as client messages it stands for) once what it acknowledges is durable. */
  private acknowledge(frame: Uint8Array): void {
    const address = (this.ackAddressReader ??= new AddressReader()).read(frame);
    const copies = this.acknowledgementCopies(address);
    if (this.requiredTickets !== null && this.requiredTickets.size > 0) {
      const ticket = this.requiredTickets.get(address) ?? 0;
      if (ticket > this.context.durability.durableThrough) {
        // Acknowledgements still held are for other documents (an address's tickets never decrease, and every
        // durable one is released as its write completes), so one that is durable already need not wait for them.
        if (this.heldAcks === NONE_HELD) this.heldAcks = [];
        this.heldAcks.push({ ticket, frame, copies });
        this.releaseAfterNextWrite();
        return;
      }
      this.requiredTickets.delete(address);
    }
    this.transmitCopies(frame, copies);
  }

  /** How many client messages the acknowledgement Hocuspocus sends for `address` now stands for. */
  protected acknowledgementCopies(_address: string): number {
    return 1;
  }

  /** Acknowledgements for `address` sent from now on wait until `ticket` is durable. */
  holdAcknowledgements(address: string, ticket: number): void {
    const required = (this.requiredTickets ??= new Map());
    if (ticket > (required.get(address) ?? 0)) required.set(address, ticket);
  }

  /**
   * Sends the held acknowledgements whose ticket is durable, in order (an address's tickets never decrease, so
   * none overtakes an earlier one of its document); waits for the next write for the rest.
   */
  private releaseAcks(): void {
    this.releaseScheduled = false;
    const durable = this.context.durability.durableThrough;
    const waiting: HeldAcknowledgement[] = [];
    // One write for the whole burst instead of one per acknowledgement.
    corked(this.ws, () => {
      for (const held of this.heldAcks) {
        if (held.ticket <= durable) this.transmitCopies(held.frame, held.copies);
        else waiting.push(held);
      }
    });
    this.heldAcks = waiting.length > 0 ? waiting : NONE_HELD;
    if (waiting.length > 0) this.releaseAfterNextWrite();
  }

  private releaseAfterNextWrite(): void {
    if (this.releaseScheduled || this.ws.readyState !== WebSocket.OPEN) return;
    this.releaseScheduled = true;
    this.context.durability.onceDurable(() => this.releaseAcks());
  }

  /** An acknowledgement, `copies` times (translated once). */
  private transmitCopies(frame: Uint8Array, copies: number): void {
    if (copies === 1) {
      this.transmit(frame);
      return;
    }
    const bytes = this.outbound(frame);
    if (bytes === null) return;
    corked(this.ws, () => {
      for (let i = 0; i < copies; i++) this.write(bytes, null);
    });
  }

  /** A frame for this socket alone: translated, and deflated on the thread pool when large. */
  private transmit(frame: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN || this.overBudget()) return;
    const bytes = this.outbound(frame);
    if (bytes === null) return;
    if (!worthDeflating(bytes, this.windowBits)) {
      this.write(bytes, null);
      return;
    }
    const queued: QueuedFrame = { bytes, frame: null, ready: false };
    (this.queue ??= []).push(queued);
    this.queuedBytes += bytes.byteLength;
    if (bytes.byteLength > this.largestFrameBytes) this.largestFrameBytes = bytes.byteLength;
    void deflateLater(bytes, this.windowBits, this.context.metrics.compression).then((deflated) => {
      queued.frame = deflated;
      queued.ready = true;
      this.sendQueued();
    });
  }

  /** A frame broadcast to many sockets: its translation and compression are shared with the other recipients. */
  private sendBroadcast(broadcast: BroadcastFrame): void {
    const translation = broadcast.translation(this.translationKey, (frame) => this.outbound(frame));
    if (translation.bytes === null) return;
    this.write(translation.bytes, translation.frameFor(this.windowBits, this.context.metrics.compression));
  }

  /** Sends `bytes` (as `frame` when built) now, or after the frames waiting before it. */
  private write(bytes: Uint8Array, frame: Buffer[] | null): void {
    if (this.overBudget()) return;
    if (bytes.byteLength > this.largestFrameBytes) this.largestFrameBytes = bytes.byteLength;
    if (this.queue !== null) {
      this.queue.push({ bytes, frame, ready: true });
      this.queuedBytes += bytes.byteLength;
    } else {
      this.writeNow(bytes, frame);
    }
  }

  /** Whether the client left more than its send budget unread; then it is closed (once) and nothing more is sent. */
  private overBudget(): boolean {
    const held = this.ws.bufferedAmount + this.queuedBytes;
    if (held <= this.context.maxSendBufferBytes + this.largestFrameBytes) return false;
    if (this.beatsSinceOverflow < 0) {
      this.beatsSinceOverflow = 0;
      this.context.metrics.rejectedConnections.inc({ reason: 'send-buffer-full' });
      this.log.warn({ heldBytes: held, limitBytes: this.context.maxSendBufferBytes }, 'closed a connection that stopped reading (send buffer full)');
      this.queue = null; // deflates in flight find no queue and send nothing
      this.queuedBytes = 0;
      this.ws.close(CloseCode.SendBufferFull, CloseReason.SendBufferFull);
    }
    return true;
  }

  private writeNow(bytes: Uint8Array, frame: Buffer[] | null): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (frame !== null && sendFrame(this.ws, frame)) {
      this.traffic.bytesOut += frame[frame.length - 1]!.byteLength;
    } else {
      this.ws.send(bytes, { compress: false });
      this.traffic.bytesOut += bytes.byteLength;
    }
    this.traffic.messagesOut += 1;
  }

  /** Sends the waiting frames that are ready, in order, up to the first still being compressed. */
  private sendQueued(): void {
    const queue = this.queue;
    if (queue === null) return;
    corked(this.ws, () => {
      while (queue.length > 0 && queue[0]!.ready) {
        const next = queue.shift()!;
        this.queuedBytes -= next.bytes.byteLength;
        this.writeNow(next.bytes, next.frame);
      }
    });
    if (queue.length > 0 || this.queue !== queue) return;
    this.queue = null;
    if (this.closeAfterQueue !== undefined) this.close(this.closeAfterQueue.code, this.closeAfterQueue.reason);
  }

  close(code?: number, reason?: string): void {
    if (this.ws.readyState === WebSocket.CLOSING || this.ws.readyState === WebSocket.CLOSED) return;
    if (this.queue !== null) {
      this.closeAfterQueue ??= { code, reason }; // what was sent before the close reaches the client first
      return;
    }
    this.ws.close(code, reason === undefined ? undefined : truncateReason(reason));
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
    if (this.beatsSinceOverflow >= 0) {
      // Closed for not reading: its close frame waits behind what it did not read. One whole interval to read it.
      if (++this.beatsSinceOverflow >= 2) this.ws.terminate();
      return;
    }
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
    this.write(frame, null);
  }

  /** Sends a frame the socket itself makes (already in the client's terms), after what is queued. */
  protected sendToClient(frame: Uint8Array): void {
    this.write(frame, null);
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
