/**
 * Authentication and authorization of every document a socket opens (Hocuspocus `onAuthenticate`).
 *
 * Order of checks: the token (missing, forged, expired or with bad claims → Unauthorized, 4401), then the document
 * (not in the token's tenant, not a valid name, or not granted by `docs` → Forbidden, 4403). A "read" grant makes
 * the connection read-only: Hocuspocus then applies none of its updates. Channels (`#<channel>`) are granted by the
 * same globs on the channel's name, and always read-only. A user's inbox (`inbox:<sub>`) is granted to that user only;
 * the tenant's workspace room (`@workspace`, presence only) to every token of the tenant, read-only. The verified user lands in the connection context for the
 * hooks after this one.
 */
import type { Extension, onAuthenticatePayload } from '@hocuspocus/server';
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
} from '@concord/engine';
import { accessFor, documentAccess } from '../auth/access.js';
import type { TokenVerifier } from '../auth/TokenVerifier.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

/** What every hook after authentication knows about the connection. */
export interface ConnectionContext {
  readonly user: { readonly id: string; readonly name: string };
  readonly tenant: string;
  /** The document's name within its tenant. */
  readonly documentName: string;
  readonly access: Access;
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

export class AuthExtension implements Extension {
  readonly extensionName = 'concord-auth';
  private readonly verifier: TokenVerifier;
  private readonly log: Logger;
  private readonly metrics: Metrics;

  constructor(verifier: TokenVerifier, log: Logger, metrics: Metrics) {
    this.verifier = verifier;
    this.log = log.child({ component: 'auth' });
    this.metrics = metrics;
  }

  async onAuthenticate({ token, documentName, connectionConfig }: onAuthenticatePayload): Promise<ConnectionContext> {
    let userId: string | undefined;
    try {
      const claims = await this.verifier.verify(token);
      userId = claims.sub;
      const { tenant, name, channel, workspace } = parseAddress(documentName);
      if (claims.tenant !== tenant) {
        throw new ConcordError(ErrorKind.TenantMismatch, `the token is for tenant ${claims.tenant}, not ${tenant}`);
      }
      // The workspace room is every member's (presence only); a channel is granted by its name's globs; an inbox is
      // its owner's alone (documentAccess).
      const access = workspace ? Access.Read : channel !== null ? accessFor(claims.docs, channel) : documentAccess(claims, name);
      if (access === null) throw new ConcordError(ErrorKind.DocumentNotGranted, `the token does not grant ${channel ?? name}`);
      // A channel carries events from the server only: its subscribers, whatever their grant, never write to it.
      connectionConfig.readOnly = access === Access.Read || channel !== null;
      this.log.debug({ user: claims.sub, document: documentName, access }, 'authenticated');
      return { user: { id: claims.sub, name: claims.name ?? claims.sub }, tenant, documentName: name, access };
    } catch (error) {
      throw this.refuse(error, documentName, userId);
    }
  }

  private refuse(error: unknown, documentName: string, userId: string | undefined): Refusal {
    const kind = error instanceof ConcordError ? error.kind : ErrorKind.InvalidDocumentName;
    const unauthorized = UNAUTHORIZED_KINDS.has(kind);
    this.metrics.authFailures.inc({ kind });
    this.log.info({ kind, document: documentName, user: userId, detail: (error as Error).message }, 'refused a document');
    return unauthorized
      ? { code: CloseCode.Unauthorized, reason: CloseReason.Unauthorized }
      : { code: CloseCode.Forbidden, reason: CloseReason.Forbidden };
  }
}
