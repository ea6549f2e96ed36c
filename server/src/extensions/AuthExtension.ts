/**
 * Authentication and authorization of every document a socket opens (Hocuspocus `onAuthenticate`).
 *
 * Order of checks: the token (missing, forged, expired or with bad claims → Unauthorized, 4401), then the document
 * (not in the token's tenant, not a valid name, or not granted by `docs` → Forbidden, 4403). A "read" grant makes
 * the connection read-only: Hocuspocus then applies none of its updates. Channels (`#<channel>`) are granted by the
 * same globs on the channel's name, and always read-only. A user's inbox (`inbox:<sub>`) is granted to that user only;
 * the tenant's workspace room (`@workspace`, presence only) to every token of the tenant, read-only. The verified user lands in the connection context for the
 * hooks after this one.
 *
 * A token sent again over an open connection (a HocuspocusProvider answers the server's token request, see
 * auth/Sessions.ts, by calling its token function) is checked the same way (`onTokenSync`): it must be valid and of the
 * same tenant and user — another identity closes the socket with 4400, identity is bound to the connection — and its
 * grant on the document is applied live (write → read makes the session read-only, none ends it Forbidden); the
 * session's expiry moves to the new token's. With `requireExp`, a token without `exp` is refused (4401).
 *
 * Revocations cap the grant last, at connect and on refresh (auth/revocations.ts, the iat rule): a token issued before
 * a revocation of its user on the document is refused with reason `revoked` (Forbidden, 4403 on `/y/`) or granted read
 * only.
 */
import type { Extension, onAuthenticatePayload, onTokenSyncPayload } from '@hocuspocus/server';
import {
  Access,
  assertTenant,
  channelNameProblem,
  channelOf,
  CloseCode,
  CloseReason,
  ConcordError,
  ErrorKind,
  isChannelDocument,
  isWorkspaceDocument,
  parseQualifiedName,
  TENANT_SEPARATOR,
  WORKSPACE_ROOM,
  type QualifiedName,
  type TokenClaims,
} from '@concord/engine';
import { accessFor, documentAccess, grantName } from '../auth/access.js';
import { capAccess, type RevocationList } from '../auth/revocations.js';
import type { Sessions } from '../auth/Sessions.js';
import type { TokenVerifier } from '../auth/TokenVerifier.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** What every hook after authentication knows about the connection. */
export interface ConnectionContext {
  readonly user: { readonly id: string; readonly name: string };
  readonly tenant: string;
  /** The document's name within its tenant. */
  readonly documentName: string;
  /** The access granted at authentication (a session's current access is `Session.access`, auth/Sessions.ts). */
  readonly access: Access;
  /** The token's `exp` and `iat` (seconds since the epoch), when it has them. */
  readonly exp?: number;
  readonly iat?: number;
}

export interface AuthOptions {
  /** Refuse tokens without `exp` (CONCORD_REQUIRE_TOKEN_EXP). */
  readonly requireExp?: boolean;
  /** Sessions whose expiry and access a fresh token moves; without it a token sent again is ignored. */
  readonly sessions?: Sessions;
  /** Revocations that cap tokens issued before them (auth/revocations.ts). */
  readonly revocations?: RevocationList;
  readonly now?: () => number;
}

const UNAUTHORIZED_KINDS: ReadonlySet<string> = new Set([
  ErrorKind.MissingToken,
  ErrorKind.InvalidToken,
  ErrorKind.TokenExpired,
  ErrorKind.InvalidClaims,
]);

/**
 * What Hocuspocus gets when a document is refused: it sends `reason` to the client. Deliberately not an Error:
 * Hocuspocus prints every thrown Error with a message to the console, and refusals are logged here, structured.
 */
export interface Refusal {
  readonly code: number;
  readonly reason: string;
}

/** Splits a server-side name: a document (`acme/notes`) or a channel (`acme/#account-123`, granted like a document). */
function parseAddress(qualified: string): QualifiedName & { channel: string | null; workspace: boolean } {
  if (isWorkspaceDocument(qualified)) {
    const tenant = qualified.slice(0, qualified.indexOf(TENANT_SEPARATOR));
    assertTenant(tenant);
    return { tenant, name: WORKSPACE_ROOM, channel: null, workspace: true };
  }
  if (!isChannelDocument(qualified)) return { ...parseQualifiedName(qualified), channel: null, workspace: false };
  const at = qualified.indexOf(TENANT_SEPARATOR);
  const channel = channelOf(qualified.slice(at + 1)) as string;
  const problem = channelNameProblem(channel);
  if (problem) throw new ConcordError(ErrorKind.InvalidChannel, problem);
  const tenant = qualified.slice(0, at);
  assertTenant(tenant);
  return { tenant, name: qualified.slice(at + 1), channel, workspace: false };
}

/**
 * What a token grants on a document: the workspace room is every member's (presence only, read); a channel is granted
 * by its name's globs; an inbox is its owner's alone, anything else what the globs grant (documentAccess).
 */
function grantOf(claims: TokenClaims, name: string, channel: string | null, workspace: boolean): Access | null {
  if (workspace) return Access.Read;
  return channel !== null ? accessFor(claims.docs, channel) : documentAccess(claims, name);
}

export class AuthExtension implements Extension {
  readonly extensionName = 'concord-auth';
  private readonly verifier: TokenVerifier;
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly options: AuthOptions;
  private readonly now: () => number;

  constructor(verifier: TokenVerifier, log: Logger, metrics: Metrics, options: AuthOptions = {}) {
    this.verifier = verifier;
    this.log = log.child({ component: 'auth' });
    this.metrics = metrics;
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  async onAuthenticate({ token, documentName, connectionConfig }: onAuthenticatePayload): Promise<ConnectionContext> {
    let userId: string | undefined;
    try {
      const claims = await this.verified(token);
      userId = claims.sub;
      const { tenant, name, channel, workspace } = parseAddress(documentName);
      if (claims.tenant !== tenant) {
        throw new ConcordError(ErrorKind.TenantMismatch, `the token is for tenant ${claims.tenant}, not ${tenant}`);
      }
      const granted = grantOf(claims, name, channel, workspace);
      if (granted === null) throw new ConcordError(ErrorKind.DocumentNotGranted, `the token does not grant ${channel ?? name}`);
      const access = this.capped(claims, granted, channel ?? name);
      if (access === null) throw new ConcordError(ErrorKind.Revoked, `${channel ?? name} was revoked for ${claims.sub} after this token was issued`);
      // A channel carries events from the server only: its subscribers, whatever their grant, never write to it.
      connectionConfig.readOnly = access === Access.Read || channel !== null;
      this.log.debug({ user: claims.sub, document: documentName, access }, 'authenticated');
      return { user: { id: claims.sub, name: claims.name ?? claims.sub }, tenant, documentName: name, access, exp: claims.exp, iat: claims.iat };
    } catch (error) {
      throw this.refuse(error, documentName, userId);
    }
  }

  /** A fresh token over an open connection: same identity, checked like the first, moves the session's expiry. */
  async onTokenSync({ token, connection, documentName }: onTokenSyncPayload): Promise<void> {
    const sessions = this.options.sessions;
    const session = sessions?.of(connection);
    if (sessions === undefined || session === undefined) return; // the session ended (or never began) meanwhile
    let claims: TokenClaims;
    try {
      claims = await this.verified(token);
    } catch (error) {
      const kind = error instanceof ConcordError ? error.kind : ErrorKind.InvalidToken;
      this.metrics.authFailures.inc({ kind });
      this.metrics.tokenRefreshes.inc({ result: 'refused' });
      this.log.info({ kind, document: documentName, user: session.user, detail: (error as Error).message }, 'refused a fresh token');
      sessions.end(session, CloseReason.Unauthorized, 'refresh-refused');
      return;
    }
    if (claims.tenant !== session.tenant || claims.sub !== session.user) {
      this.metrics.tokenRefreshes.inc({ result: 'identity-changed' });
      this.metrics.rejectedConnections.inc({ reason: 'identity-changed' });
      this.log.warn({ document: documentName, user: session.user, tenant: session.tenant, sent: { user: claims.sub, tenant: claims.tenant } }, 'closed a connection that sent a token of another user or tenant');
      connection.webSocket.close(CloseCode.MalformedMessage, CloseReason.IdentityChanged);
      return;
    }
    if (sessions.of(connection) !== session) return; // ended while the token was checked
    const { name, channel, workspace } = parseAddress(documentName);
    const granted = grantOf(claims, name, channel, workspace);
    if (granted === null) {
      this.metrics.tokenRefreshes.inc({ result: 'not-granted' });
      sessions.end(session, CloseReason.Forbidden, 'forbidden');
      return;
    }
    // A token issued before a revocation does not undo it: the session keeps what the revocation left, or ends.
    const access = this.capped(claims, granted, channel ?? name);
    if (access === null) {
      this.metrics.tokenRefreshes.inc({ result: 'revoked' });
      sessions.end(session, CloseReason.Revoked, 'revoked');
      return;
    }
    this.metrics.tokenRefreshes.inc({ result: 'accepted' });
    sessions.refreshed(session, claims.exp === undefined ? null : claims.exp * 1000, claims.iat === undefined ? null : claims.iat * 1000);
    sessions.setAccess(session, access);
  }

  /**
   * The token's claims, once verified; an `exp` already passed (the verifier tolerates clock skew, but a session ends
   * at `exp`, so one taken within the skew would end at once) and, with `requireExp`, a missing one are refused.
   */
  private async verified(token: string): Promise<TokenClaims> {
    const claims = await this.verifier.verify(token);
    if (claims.exp === undefined) {
      if (this.options.requireExp) throw new ConcordError(ErrorKind.InvalidClaims, 'the token has no exp, which this server requires (CONCORD_REQUIRE_TOKEN_EXP)');
    } else if (claims.exp * 1000 <= this.now()) {
      throw new ConcordError(ErrorKind.TokenExpired, 'the token has expired');
    }
    return claims;
  }

  /** `granted`, capped by the revocations of the token's user on `name` (the iat rule). */
  private capped(claims: TokenClaims, granted: Access, name: string): Access | null {
    return capAccess(granted, this.options.revocations?.capFor(claims, grantName(name)) ?? null);
  }

  private refuse(error: unknown, documentName: string, userId: string | undefined): Refusal {
    const kind = error instanceof ConcordError ? error.kind : ErrorKind.InvalidDocumentName;
    const unauthorized = UNAUTHORIZED_KINDS.has(kind);
    this.metrics.authFailures.inc({ kind });
    this.log.info({ kind, document: documentName, user: userId, detail: (error as Error).message }, 'refused a document');
    if (unauthorized) return { code: CloseCode.Unauthorized, reason: CloseReason.Unauthorized };
    return { code: CloseCode.Forbidden, reason: kind === ErrorKind.Revoked ? CloseReason.Revoked : CloseReason.Forbidden };
  }
}
