/**
 * The limits of one socket (ServerSocket's `limits` field; the settings and the server-wide counts are in limits.ts):
 * until its first document authenticates, a deadline and a byte budget; once it does, the user it is counted for
 * (the per-user cap); all along, its token buckets for messages, bytes and presence updates.
 *
 * The rule: a socket over a limit is closed with the code and reason of that limit, counted in
 * `rejectedConnections{reason}`, and from then on nothing it sends is handled; it is cut when it does not finish the
 * close handshake within `LIMIT_CLOSE_GRACE_MS` (a client flooding the server may not read). Per frame this costs a
 * flag test and the buckets' subtraction and comparison.
 */
import { AuthMessageType } from '@hocuspocus/common';
import { MessageType } from '@hocuspocus/server';
import { CloseCode, CloseReason, RateLimitReason } from '@concord/engine';
import { WebSocket } from 'ws';
import type { Wire } from './wire.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { raiseMaxPayload } from '../seams/ws.js';
import { readServerFrameHead } from './frames.js';
import { SocketRates, type ConnectionCounts, type RateLimit } from './limits.js';
import type { Outbound } from './Outbound.js';

/** Presence updates a socket may send for each document it opens, above its burst: a provider announces itself once. */
const AWARENESS_CREDIT_PER_DOCUMENT = 2;

/** A socket closed for a limit gets this long to finish the close handshake before it is cut. */
const LIMIT_CLOSE_GRACE_MS = 1_000;

const RATE_LIMIT_REASONS: Record<RateLimit, string> = {
  messages: RateLimitReason.Messages,
  bytes: RateLimitReason.Bytes,
  awareness: RateLimitReason.Awareness,
};

/** The socket whose limits these are: it closes through its own `close`, which its protocol may adapt (YWebsocketSocket). */
export interface LimitedSocket {
  close(code?: number, reason?: string): void;
  readonly log: Logger;
}

/** The buckets are the base class, not a field: one object per socket, not two (see the Idle row of `npm run bench`). */
export class SocketLimits extends SocketRates {
  private readonly ws: Wire;
  private readonly socket: LimitedSocket;
  private readonly counts: ConnectionCounts;
  private readonly metrics: Metrics;
  private readonly outbound: Outbound;
  /** Largest frame accepted once the socket authenticated a document, in bytes. */
  private readonly maxMessageBytes: number;
  private readonly remoteAddress: string;
  /** A document authenticated on this socket (sticky): the pre-authentication limits no longer apply. */
  private isAuthenticated = false;
  /** Bytes received before the first authentication, Auth frames aside. */
  private bytesBeforeAuth = 0;
  private authDeadline: ReturnType<typeof setTimeout> | undefined;
  /** The user the socket is counted for (the first authenticated document's), once known. */
  private user: string | undefined;
  /** Closed for a limit: nothing more it sends is handled. */
  private isLimited = false;

  constructor(
    ws: Wire,
    socket: LimitedSocket,
    counts: ConnectionCounts,
    metrics: Metrics,
    outbound: Outbound,
    maxMessageBytes: number,
    remoteAddress: string,
  ) {
    super(counts.settings);
    this.ws = ws;
    this.socket = socket;
    this.counts = counts;
    this.metrics = metrics;
    this.outbound = outbound;
    this.maxMessageBytes = maxMessageBytes;
    this.remoteAddress = remoteAddress;
  }

  /** Whether a document authenticated on this socket. */
  get authenticated(): boolean {
    return this.isAuthenticated;
  }

  /** Closed for a limit: nothing more it sends is handled. */
  get limited(): boolean {
    return this.isLimited;
  }

  /** The socket opened: counted for its address, and given until the authentication deadline. */
  opened(): void {
    this.counts.opened(this.remoteAddress);
    this.authDeadline = setTimeout(() => this.authenticationTimedOut(), this.counts.settings.authTimeoutMs);
    this.authDeadline.unref();
  }

  /** The socket closed: no longer counted. */
  closed(): void {
    clearTimeout(this.authDeadline);
    this.counts.closed(this.remoteAddress, this.isAuthenticated, this.user);
  }

  /** Before the first authentication: whether `frame` (from Hocuspocus) says a document authenticated. */
  noticeAuthentication(frame: Uint8Array): void {
    if (frame.length < 3) return;
    const { type, decoder } = readServerFrameHead(frame);
    if (type !== MessageType.Auth || decoder.arr[decoder.pos] !== AuthMessageType.Authenticated) return;
    this.isAuthenticated = true;
    clearTimeout(this.authDeadline);
    this.authDeadline = undefined;
    this.counts.authenticated();
    if (!(this.ws.raiseMaxPayload?.(this.maxMessageBytes) ?? raiseMaxPayload(this.ws, this.maxMessageBytes))) {
      this.socket.log.error('cannot raise the frame size limit after authentication (ws internals changed; see seams/ws.ts)');
    }
  }

  /** ws refused a frame over the size limit (its `maxPayload`, raised at authentication) and is closing the socket 1009. */
  frameTooBig(): void {
    const authenticated = this.isAuthenticated;
    const limitBytes = authenticated ? this.maxMessageBytes : this.counts.settings.maxBytesBeforeAuth;
    this.metrics.rejectedConnections.inc({ reason: authenticated ? 'message-too-big' : 'pre-auth-bytes' });
    this.socket.log.warn({ limitBytes, authenticated }, 'closed a connection that sent a frame over the size limit');
  }

  /**
   * The socket's user, from its first authenticated document (LimitsExtension): counted against the per-user cap,
   * and closed with 4430 when the user already has the most allowed.
   */
  identify(user: string): void {
    if (this.user !== undefined) return;
    this.user = user;
    if (!this.counts.addUser(user)) {
      this.closeForLimit('user-limit', CloseCode.TooManyConnections, CloseReason.TooManyConnections, { user });
    }
  }

  /** One frame of `bytes` from the client: false when it was over a bucket (the socket is being closed). */
  admitMessage(bytes: number): boolean {
    const dry = this.takeMessage(bytes);
    if (dry === null) return true;
    this.rateLimited(dry);
    return false;
  }

  /** A document opened on this socket: room for its first presence updates (see SocketRates.creditAwareness). */
  documentOpened(): void {
    this.creditAwareness(AWARENESS_CREDIT_PER_DOCUMENT);
  }

  /**
   * Counts `bytes` the client sent before its first authenticated document (Auth frames aside: they are answered, not
   * held); false, and the socket is being closed 1009, once they pass the budget.
   */
  takeBeforeAuth(bytes: number): boolean {
    if (this.isAuthenticated || (this.bytesBeforeAuth += bytes) <= this.counts.settings.maxBytesBeforeAuth) return true;
    this.closeForLimit('pre-auth-bytes', CloseCode.MessageTooBig, CloseReason.TooMuchBeforeAuthentication);
    return false;
  }

  /** Counts a presence update the client sent; false when that was over its limit (the socket is being closed). */
  admitPresence(): boolean {
    if (this.takeAwareness()) return true;
    this.rateLimited('awareness');
    return false;
  }

  /** Closes the socket because it sent more than a bucket allows. */
  rateLimited(limit: RateLimit): void {
    this.closeForLimit(`rate-${limit}`, CloseCode.RateLimited, RATE_LIMIT_REASONS[limit]);
  }

  private authenticationTimedOut(): void {
    if (this.isAuthenticated) return;
    this.closeForLimit('auth-timeout', CloseCode.AuthenticationTimeout, CloseReason.AuthenticationTimeout);
  }

  /**
   * Closes the socket for a limit: nothing more it sends is handled, and it is cut when it does not finish the close
   * handshake within a second (a client flooding the server may not read).
   */
  private closeForLimit(reason: string, code: number, message: string, details: Record<string, unknown> = {}): void {
    if (this.isLimited) return;
    this.isLimited = true;
    this.metrics.rejectedConnections.inc({ reason });
    this.socket.log.info({ reason, ...details }, `closed a connection: ${message}`);
    this.outbound.dropQueue(); // nothing waiting to go out matters more than closing
    this.socket.close(code, message);
    setTimeout(() => {
      if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
    }, LIMIT_CLOSE_GRACE_MS).unref();
  }
}
