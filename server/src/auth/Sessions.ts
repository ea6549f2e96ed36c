/**
 * The registry of authenticated document sessions: one entry per document a socket has open (a Hocuspocus
 * `Connection`), with who holds it (tenant and `sub`), what it may do (`access`) and until when (`exp`). It is the one
 * place that ends a session or changes its access on an open connection: token expiry here, revocation and downgrade
 * (auth/revocations) through the same `end` and `setAccess`.
 *
 * The expiry rule: a session whose token carries `exp` ends within `SWEEP_INTERVAL_MS` of it — on `/sync` the client
 * is told `PermissionDenied` for that document alone (its socket stays for the others), on `/y/` the socket closes
 * 4401 — unless the client sent a fresh token over the same socket first (`refreshed`). Ahead of expiry the server
 * asks for one (`Connection.requestToken`, which a HocuspocusProvider answers by calling its token function again):
 * once `REFRESH_AT_FRACTION` of the token's remaining life has passed, and at least `MIN_REFRESH_LEAD_MS` before `exp`.
 * One timer for every session, not one per session, and nothing on the per-message path: an idle tick costs one
 * comparison (`nextDeadline`).
 */
import type { Connection, Extension, connectedPayload } from '@hocuspocus/server';
import { MessageType } from '@hocuspocus/server';
import { writeAuthenticated, writePermissionDenied } from '@hocuspocus/common';
import * as encoding from 'lib0/encoding';
import { Access, CloseCode, CloseReason, isChannelDocument, isWorkspaceDocument } from '@concord/engine';
import type { Logger } from '../logger.js';
import type { Metrics, Protocol } from '../metrics.js';
import type { ConnectionContext } from '../extensions/AuthExtension.js';

/** How often expiry is checked: a session outlives its `exp` by at most this. */
export const SWEEP_INTERVAL_MS = 250;
/** The server asks for a fresh token once this fraction of the token's remaining life (seen at connect) has passed. */
export const REFRESH_AT_FRACTION = 0.8;
/** ... and at least this long before `exp`, so the answer has time to arrive. */
export const MIN_REFRESH_LEAD_MS = 1_000;

/** One document a socket has open, as authenticated. Fields the registry changes are not readonly. */
export interface Session {
  /** The token's `sub`. */
  readonly user: string;
  readonly tenant: string;
  /** The document's tenant-local name (`notes`, `#channel`, `@workspace`, `inbox:<id>`). */
  readonly documentName: string;
  /** The server-side name, `<tenant>/<name>` (Hocuspocus' document name). */
  readonly address: string;
  /** What the session may do now (`setAccess` changes it). */
  access: Access;
  /** When the session's token expires (ms since the epoch); null: never. Moved by a refresh. */
  expiresAt: number | null;
  /** The session's token's `iat` (ms since the epoch); null when the token has none. Moved by a refresh. */
  issuedAt: number | null;
  readonly connection: Connection;
  /** The wire protocol of the socket: `hocuspocus` (`/sync`) or `y-websocket` (`/y/`). */
  readonly protocol: Protocol;
  /** When to ask the client for a fresh token (ms since the epoch); null: not (asked already, or no `exp`). */
  refreshAt: number | null;
}

/** Why a session ended, as counted (`concord_sessions_ended_total{reason}`). */
export type EndCause = 'expired' | 'refresh-refused' | 'forbidden' | 'revoked' | string;

export interface SessionsOptions {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly now?: () => number;
}

function userKey(tenant: string, user: string): string {
  return `${tenant}\0${user}`;
}

/** `connection.webSocket` is one of ours (sockets/ServerSocket.ts), which knows its protocol. */
function protocolOf(connection: Connection): Protocol {
  return (connection.webSocket as { wireProtocol?: Protocol }).wireProtocol ?? 'hocuspocus';
}

/** A Hocuspocus Auth message for the connection's document (the address SyncSocket strips the tenant from). */
function authFrame(connection: Connection, write: (encoder: encoding.Encoder) => void): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, connection.messageAddress);
  encoding.writeVarUint(encoder, MessageType.Auth);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

export class Sessions {
  private readonly byConnection = new Map<Connection, Session>();
  private readonly byUser = new Map<string, Set<Session>>();
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly now: () => number;
  private readonly timer: ReturnType<typeof setInterval>;
  /** No session expires or wants a refresh before this (ms since the epoch). */
  private nextDeadline = Number.POSITIVE_INFINITY;

  constructor(options: SessionsOptions) {
    this.log = options.log.child({ component: 'sessions' });
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  get size(): number {
    return this.byConnection.size;
  }

  /** Every open session. */
  [Symbol.iterator](): IterableIterator<Session> {
    return this.byConnection.values();
  }

  /** The open sessions of user `user` of `tenant` (empty when none). */
  ofUser(tenant: string, user: string): ReadonlySet<Session> {
    return this.byUser.get(userKey(tenant, user)) ?? new Set();
  }

  /** The session of a document connection, if it is open. */
  of(connection: Connection): Session | undefined {
    return this.byConnection.get(connection);
  }

  /**
   * Ends a session: `PermissionDenied` with `reason` for its document (on `/y/` the socket closes with the code of
   * `reason`, see YWebsocketSocket), then the document's connection closes; the socket stays for its other documents.
   * `cause` labels the metric (default: the reason).
   */
  end(session: Session, reason: string, cause: EndCause = reason): void {
    if (this.byConnection.get(session.connection) !== session) return;
    this.remove(session);
    this.metrics.sessionsEnded.inc({ reason: cause });
    const fields = { user: session.user, tenant: session.tenant, document: session.documentName, reason, cause };
    if (cause === 'expired') this.log.debug(fields, 'ended a session');
    else this.log.info(fields, 'ended a session');
    const { connection } = session;
    connection.send(authFrame(connection, (encoder) => writePermissionDenied(encoder, reason)));
    connection.close({ code: reason === CloseReason.Unauthorized ? CloseCode.Unauthorized : CloseCode.Forbidden, reason });
  }

  /**
   * Changes what a session may do, live: `read` makes the connection read-only (Hocuspocus applies none of its
   * updates from then on), and the client is told its new scope (an Authenticated message: `readonly` or
   * `read-write`; a HocuspocusProvider updates `authorizedScope`). Channels and the workspace room stay read-only.
   */
  setAccess(session: Session, access: Access): void {
    if (this.byConnection.get(session.connection) !== session) return;
    const alwaysReadOnly = isChannelDocument(session.address) || isWorkspaceDocument(session.address);
    const readOnly = access === Access.Read || alwaysReadOnly;
    const changed = session.access !== access || session.connection.readOnly !== readOnly;
    session.access = access;
    if (!changed) return;
    session.connection.readOnly = readOnly;
    session.connection.send(authFrame(session.connection, (encoder) => writeAuthenticated(encoder, readOnly ? 'readonly' : 'read-write')));
  }

  /** The client sent a fresh token for the session (verified, same identity): its expiry moves. */
  refreshed(session: Session, expiresAt: number | null, issuedAt: number | null): void {
    const sameExpiry = expiresAt === session.expiresAt;
    session.expiresAt = expiresAt;
    session.issuedAt = issuedAt;
    // The same token again (a client whose token function cannot do better) is not asked for once more.
    if (!sameExpiry || session.refreshAt !== null) this.schedule(session);
  }

  /** Hocuspocus' `connected` hook: a document session begins. */
  add(connection: Connection, context: ConnectionContext): Session | undefined {
    if (!connection.document.hasConnection(connection)) return undefined; // closed before it was set up
    const session: Session = {
      user: context.user.id,
      tenant: context.tenant,
      documentName: context.documentName,
      address: connection.document.name,
      access: context.access,
      expiresAt: context.exp === undefined ? null : context.exp * 1000,
      issuedAt: context.iat === undefined ? null : context.iat * 1000,
      connection,
      protocol: protocolOf(connection),
      refreshAt: null,
    };
    this.byConnection.set(connection, session);
    const key = userKey(session.tenant, session.user);
    let sessions = this.byUser.get(key);
    if (sessions === undefined) this.byUser.set(key, (sessions = new Set()));
    sessions.add(session);
    connection.onClose(() => this.remove(session));
    this.schedule(session);
    return session;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private remove(session: Session): void {
    if (this.byConnection.get(session.connection) !== session) return;
    this.byConnection.delete(session.connection);
    const key = userKey(session.tenant, session.user);
    const sessions = this.byUser.get(key);
    sessions?.delete(session);
    if (sessions?.size === 0) this.byUser.delete(key);
  }

  private schedule(session: Session): void {
    const { expiresAt } = session;
    if (expiresAt === null) {
      session.refreshAt = null;
      return;
    }
    // y-websocket has no way to send a token on an open socket: its session just ends at `exp`.
    if (session.protocol === 'hocuspocus') {
      const now = this.now();
      const remaining = Math.max(0, expiresAt - now);
      session.refreshAt = Math.max(now, Math.min(now + remaining * REFRESH_AT_FRACTION, expiresAt - MIN_REFRESH_LEAD_MS));
    } else {
      session.refreshAt = null;
    }
    this.nextDeadline = Math.min(this.nextDeadline, session.refreshAt ?? expiresAt, expiresAt);
  }

  /** Ends expired sessions and asks for fresh tokens that are due; idle ticks stop at `nextDeadline`. */
  private sweep(): void {
    const now = this.now();
    if (now < this.nextDeadline) return;
    let next = Number.POSITIVE_INFINITY;
    for (const session of [...this.byConnection.values()]) {
      const { expiresAt } = session;
      if (expiresAt === null) continue;
      if (now >= expiresAt) {
        this.end(session, CloseReason.Unauthorized, 'expired');
        continue;
      }
      if (session.refreshAt !== null && now >= session.refreshAt) {
        session.refreshAt = null;
        this.metrics.tokenRefreshes.inc({ result: 'requested' });
        session.connection.requestToken();
      }
      next = Math.min(next, session.refreshAt ?? expiresAt, expiresAt);
    }
    this.nextDeadline = next;
  }
}

/** Registers every authenticated document session with the registry (`connected` runs once per document). */
export class SessionsExtension implements Extension {
  readonly extensionName = 'concord-sessions';
  private readonly sessions: Sessions;

  constructor(sessions: Sessions) {
    this.sessions = sessions;
  }

  async connected({ connection, context }: connectedPayload): Promise<void> {
    if ((context as ConnectionContext | undefined)?.user === undefined) return;
    this.sessions.add(connection, context as ConnectionContext);
  }
}
