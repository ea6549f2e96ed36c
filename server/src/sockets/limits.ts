/**
 * Limits on WebSocket connections (issue 14): what one socket, one address, one user and the server as a whole may
 * hold, so that no single client can take memory or CPU from everyone else.
 *
 * - Before a socket's first authenticated document: a byte budget (`maxBytesBeforeAuth`, in all and per frame, the
 *   per-frame part enforced by ws' `maxPayload`), a deadline (`authTimeoutMs`), and a global cap on such sockets.
 * - Open sockets: in all, per remote address (refused at the upgrade, before a socket exists), per user (counted once
 *   the socket authenticated a document; the newest beyond the cap is closed).
 * - Traffic of one socket: token buckets for messages, bytes and presence updates a second.
 *
 * The rule for the per-message path: a bucket costs a subtraction and a comparison per frame; the clock is read only
 * when a bucket runs dry (see SocketRates). Counting per address and per user happens at open, first authentication
 * and close, never per message.
 */
import type { IncomingMessage } from 'node:http';

export interface SocketLimitSettings {
  /** Bytes a socket may send before its first document is authenticated, in all and per frame. */
  readonly maxBytesBeforeAuth: number;
  /** A socket that authenticated no document within this long after opening is closed (4408). */
  readonly authTimeoutMs: number;
  readonly maxUnauthenticatedConnections: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  readonly maxConnectionsPerUser: number;
  readonly messagesPerSecond: number;
  readonly messagesBurst: number;
  readonly bytesPerSecond: number;
  readonly bytesBurst: number;
  readonly awarenessPerSecond: number;
  readonly awarenessBurst: number;
  readonly maxDocumentsPerConnection: number;
}

/** Limits for callers that give none (tests of single parts): every default of config.ts. */
export const DEFAULT_SOCKET_LIMITS: SocketLimitSettings = {
  maxBytesBeforeAuth: 64 * 1024,
  authTimeoutMs: 5_000,
  maxUnauthenticatedConnections: 2_000,
  maxConnections: 20_000,
  maxConnectionsPerIp: 10_000,
  maxConnectionsPerUser: 10_000,
  messagesPerSecond: 50_000,
  messagesBurst: 10_000,
  bytesPerSecond: 16 * 1024 * 1024,
  bytesBurst: 64 * 1024 * 1024,
  awarenessPerSecond: 100,
  awarenessBurst: 300,
  maxDocumentsPerConnection: 1_000,
};

/** Which of a socket's buckets ran dry. */
export type RateLimit = 'messages' | 'bytes' | 'awareness';

/**
 * A socket's token buckets (messages, bytes, presence updates), as plain numbers in one object. Each `take` subtracts
 * and compares; only when a bucket runs out does it read the clock and credit the time since that bucket's last
 * refill (capped at its burst). Crediting lazily lets a socket that was quiet for a while send up to twice a burst
 * at once, never more.
 */
export class SocketRates {
  private messages: number;
  private bytes: number;
  private awareness: number;
  private messagesAt: number;
  private bytesAt: number;
  private awarenessAt: number;
  private readonly settings: SocketLimitSettings;

  constructor(settings: SocketLimitSettings) {
    this.settings = settings;
    this.messages = settings.messagesBurst;
    this.bytes = settings.bytesBurst;
    this.awareness = settings.awarenessBurst;
    this.messagesAt = this.bytesAt = this.awarenessAt = performance.now();
  }

  /** One message of `size` bytes: null while within the limits, else the bucket that ran dry. */
  takeMessage(size: number): RateLimit | null {
    this.messages -= 1;
    this.bytes -= size;
    if (this.messages < 0) {
      const now = performance.now();
      const { messagesPerSecond, messagesBurst } = this.settings;
      this.messages = Math.min(messagesBurst, this.messages + ((now - this.messagesAt) * messagesPerSecond) / 1000);
      this.messagesAt = now;
      if (this.messages < 0) return 'messages';
    }
    if (this.bytes < 0) {
      const now = performance.now();
      const { bytesPerSecond, bytesBurst } = this.settings;
      this.bytes = Math.min(bytesBurst, this.bytes + ((now - this.bytesAt) * bytesPerSecond) / 1000);
      this.bytesAt = now;
      if (this.bytes < 0) return 'bytes';
    }
    return null;
  }

  /**
   * A document opened: its provider announces presence there at once, so a socket that opens many documents together
   * is not cut for their first presence updates (the documents cap bounds this credit).
   */
  creditAwareness(updates: number): void {
    this.awareness += updates;
  }

  /** One presence update: false when the socket sent more than its limit. */
  takeAwareness(): boolean {
    this.awareness -= 1;
    if (this.awareness >= 0) return true;
    const now = performance.now();
    const { awarenessPerSecond, awarenessBurst } = this.settings;
    this.awareness = Math.min(awarenessBurst, this.awareness + ((now - this.awarenessAt) * awarenessPerSecond) / 1000);
    this.awarenessAt = now;
    return this.awareness >= 0;
  }
}

/** Why an upgrade is refused: the HTTP status, a message for the client, the metric's reason. */
export interface UpgradeRefusal {
  readonly status: 429 | 503;
  readonly message: string;
  readonly reason: 'connection-limit' | 'unauthenticated-limit' | 'ip-limit';
}

/** Sockets counted per server: in all (SocketServer's set), not yet authenticated, per address, per user. */
export class ConnectionCounts {
  readonly settings: SocketLimitSettings;
  private unauthenticatedCount = 0;
  private readonly perIp = new Map<string, number>();
  private readonly perUser = new Map<string, number>();
  /** Called with +1/-1 as sockets open unauthenticated and authenticate or close (the metric's gauge). */
  private readonly onUnauthenticatedChange: (delta: number) => void;

  constructor(settings: SocketLimitSettings, onUnauthenticatedChange: (delta: number) => void = () => {}) {
    this.settings = settings;
    this.onUnauthenticatedChange = onUnauthenticatedChange;
  }

  get unauthenticated(): number {
    return this.unauthenticatedCount;
  }

  /** Why an upgrade from `request` must be refused with `open` sockets already open, or null to accept it. */
  refusal(request: IncomingMessage, open: number): UpgradeRefusal | null {
    const { settings } = this;
    if (open >= settings.maxConnections) {
      return { status: 503, reason: 'connection-limit', message: `the server holds its maximum of ${settings.maxConnections} connections; retry later` };
    }
    if (this.unauthenticatedCount >= settings.maxUnauthenticatedConnections) {
      return { status: 503, reason: 'unauthenticated-limit', message: 'too many connections are waiting to authenticate; retry later' };
    }
    const ip = request.socket.remoteAddress ?? '';
    if ((this.perIp.get(ip) ?? 0) >= settings.maxConnectionsPerIp) {
      return { status: 429, reason: 'ip-limit', message: `too many connections from ${ip} (at most ${settings.maxConnectionsPerIp})` };
    }
    return null;
  }

  /** A socket from `ip` opened, not yet authenticated. */
  opened(ip: string): void {
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    this.unauthenticatedCount += 1;
    this.onUnauthenticatedChange(1);
  }

  /** A socket authenticated its first document. */
  authenticated(): void {
    this.unauthenticatedCount -= 1;
    this.onUnauthenticatedChange(-1);
  }

  /** A socket that never authenticated closed. */
  private leftUnauthenticated(): void {
    this.authenticated();
  }

  /** Counts a socket of `user`; false when the user already had the maximum (the socket must go). */
  addUser(user: string): boolean {
    const count = (this.perUser.get(user) ?? 0) + 1;
    this.perUser.set(user, count);
    return count <= this.settings.maxConnectionsPerUser;
  }

  /** A socket closed: what it was counted as. */
  closed(ip: string, authenticated: boolean, user: string | undefined): void {
    const fromIp = (this.perIp.get(ip) ?? 1) - 1;
    if (fromIp > 0) this.perIp.set(ip, fromIp);
    else this.perIp.delete(ip);
    if (!authenticated) this.leftUnauthenticated();
    if (user !== undefined) {
      const ofUser = (this.perUser.get(user) ?? 1) - 1;
      if (ofUser > 0) this.perUser.set(user, ofUser);
      else this.perUser.delete(user);
    }
  }
}
