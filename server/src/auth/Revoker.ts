/**
 * Makes revocations (SPEC §3 `POST /api/revocations`, `server.revoke`): checks the request, stamps it, applies it
 * to this instance and stores it; at start, loads every stored revocation so the iat rule (auth/revocations.ts) holds
 * across restarts.
 *
 * The rule: a revocation takes effect before it is answered, and is answered once it is durable. `apply` is the one
 * place a revocation reaches open sessions, and it takes nothing but the revocation: it adds it to the list the iat
 * rule reads, then ends (`none`, reason `revoked`: PermissionDenied on `/sync`, 4403 on `/y/`) or downgrades (`read`:
 * read-only, live) each open session of the user whose document matches and whose token was issued before it.
 * Applying one twice changes nothing more, so it is safe to deliver more than once.
 *
 * Scale-out (issue 15) carries revocations to every instance through this function: the instance that made one
 * publishes it after `apply` (Redis), and each other instance's subscriber calls `apply(revocation)` with it as
 * received. PostgreSQL, shared by instances, already gives every instance every revocation at its next start.
 */
import { Access, assertTenant, channelOf, CloseReason, ConcordError, DEFAULT_TENANT, ErrorKind } from '@concord/engine';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RevocationStore } from '../storage/RevocationStore.js';
import { matcherFor } from './access.js';
import { issuedBefore, RevocationList, RevokedAccess, type Revocation } from './revocations.js';

/** A user id or a glob longer than this is refused (a token's `sub` is an id, not a document). */
const MAX_REVOCATION_FIELD_CHARS = 1_000;

export interface RevocationInput {
  /** The user (the tokens' `sub`). */
  readonly user: string;
  /** A document-name glob; default `*`, every document. */
  readonly documents?: string;
  /** What is left on them: `none` (default) or `read`. */
  readonly access?: RevokedAccess;
  /** Default `default`. */
  readonly tenant?: string;
}

/** The answer: SPEC §3, field for field. */
export interface RevocationResult {
  readonly user: string;
  readonly documents: string;
  readonly access: RevokedAccess;
  /** Open sessions on this instance it ended or made read-only. */
  readonly sessions: number;
  /** When it was made (ms since the epoch). */
  readonly at: number;
}

export const revocationBody = z.object({
  user: z
    .string({ message: 'user (the id of the user, as in the tokens\' "sub") is required' })
    .min(1, 'user must not be empty')
    .max(MAX_REVOCATION_FIELD_CHARS, `user must be at most ${MAX_REVOCATION_FIELD_CHARS} characters`),
  documents: z
    .string({ message: 'documents must be a document-name glob, e.g. "project-*" or "*"' })
    .min(1, 'documents must not be empty (use "*" for every document)')
    .max(MAX_REVOCATION_FIELD_CHARS, `documents must be at most ${MAX_REVOCATION_FIELD_CHARS} characters`)
    .default('*'),
  access: z.enum([RevokedAccess.None, RevokedAccess.Read], { message: 'access must be "none" or "read"' }).default(RevokedAccess.None),
});

/** A session as the registry (auth/Sessions.ts) keeps it: what a revocation looks at. */
export interface RevocableSession {
  /** The tenant-local name: a document, `#<channel>`, `@workspace`, `inbox:<id>`. */
  readonly documentName: string;
  readonly access: Access;
  /** The token's `iat` in ms; null when it had none. */
  readonly issuedAt: number | null;
}

/** What a revocation does to open sessions (the session registry). */
export interface SessionControl<S extends RevocableSession> {
  ofUser(tenant: string, user: string): Iterable<S>;
  end(session: S, reason: string, cause?: string): void;
  setAccess(session: S, access: Access): void;
}

export interface RevokerOptions<S extends RevocableSession> {
  /** Where revocations are kept; null: in memory only (a given store that keeps none: logged at start). */
  readonly store: RevocationStore | null;
  readonly sessions: SessionControl<S>;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly now?: () => number;
}

/** The name a session's grant was matched against: a channel's own name, otherwise the document's. */
function grantName(documentName: string): string {
  return channelOf(documentName) ?? documentName;
}

export class Revoker<S extends RevocableSession = RevocableSession> {
  /** What the iat rule reads (AuthExtension, the HTTP API). */
  readonly list = new RevocationList();
  private readonly options: RevokerOptions<S>;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(options: RevokerOptions<S>) {
    this.options = options;
    this.log = options.log.child({ component: 'revocations' });
    this.now = options.now ?? Date.now;
  }

  /** Loads every stored revocation (before the server accepts connections). */
  async load(): Promise<void> {
    const { store } = this.options;
    if (store === null) {
      this.log.warn('the storage given keeps no revocations (RevocationStore): they hold until this process stops');
      return;
    }
    const stored = await store.loadRevocations();
    for (const revocation of stored) this.list.add(revocation);
    if (stored.length > 0) this.log.info({ stored: stored.length, kept: this.list.size }, 'loaded revocations');
  }

  /**
   * Checks, stamps, applies and stores a revocation; resolves once it is durable. Throws a ConcordError for bad
   * input; a storage failure rejects after the revocation was applied here (it holds until a restart).
   */
  async revoke(input: RevocationInput): Promise<RevocationResult> {
    const tenant = input.tenant ?? DEFAULT_TENANT;
    assertTenant(tenant);
    const body = revocationBody.safeParse({ user: input.user, documents: input.documents, access: input.access });
    if (!body.success) throw new ConcordError(ErrorKind.InvalidRevocation, body.error.issues.map((issue) => issue.message).join('; '));
    const revocation: Revocation = { tenant, ...body.data, at: this.now() };
    const sessions = this.apply(revocation);
    if (this.options.store !== null) await this.options.store.saveRevocation(revocation);
    this.log.info({ ...revocation, sessions }, 'revoked');
    const { user, documents, access, at } = revocation;
    return { user, documents, access, sessions, at };
  }

  /**
   * Applies a revocation to this instance: the iat rule from now on, and every open session it covers (see the
   * header). Returns how many sessions it changed. The entry point for revocations made on other instances.
   */
  apply(revocation: Revocation): number {
    const { sessions, metrics } = this.options;
    this.list.add(revocation);
    metrics.revocations.inc({ access: revocation.access });
    const matches = matcherFor(revocation.documents);
    let changed = 0;
    for (const session of [...sessions.ofUser(revocation.tenant, revocation.user)]) {
      if (!matches(grantName(session.documentName))) continue;
      // A session authenticated since (a token issued after the revocation) keeps its grant.
      if (!issuedBefore(session.issuedAt === null ? undefined : session.issuedAt / 1000, revocation.at)) continue;
      if (revocation.access === RevokedAccess.None) {
        sessions.end(session, CloseReason.Revoked, 'revoked');
      } else if (session.access === Access.Write) {
        sessions.setAccess(session, Access.Read);
      } else {
        continue;
      }
      changed += 1;
    }
    if (changed > 0) metrics.revokedSessions.inc({ access: revocation.access }, changed);
    return changed;
  }
}
