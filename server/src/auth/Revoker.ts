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
 * Scale-out (issue 15) carries revocations to every instance through this function: the instance that made one tells
 * `onStored` listeners once it is stored (cluster/ClusterEvents.ts publishes it on Redis), and each other instance
 * calls `learn(revocation)` with it as received, or `refresh()`, which reads those stored since the last read
 * (`loadRevocationsSince`) when a message may have been lost or Redis is down. Each revocation is applied once per
 * instance, whichever way it arrives first (a set of those seen, loaded at start, made here or learnt).
 */
import { Access, assertTenant, channelOf, CloseReason, ConcordError, DEFAULT_TENANT, ErrorKind } from '@concord/engine';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RevocationStore } from '../storage/RevocationStore.js';
import { grantName, revocationCovers } from './access.js';
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

/** One revocation's identity: equal fields make the same revocation (made twice, it changes nothing more). */
function seenKey({ tenant, user, documents, access, at }: Revocation): string {
  return JSON.stringify([tenant, user, documents, access, at]);
}

/** The name a session's grant was matched against: a channel's own name, otherwise the document's. */
function grantNameOf(documentName: string): string {
  return channelOf(documentName) ?? grantName(documentName);
}

export class Revoker<S extends RevocableSession = RevocableSession> {
  /** What the iat rule reads (AuthExtension, the HTTP API). */
  readonly list = new RevocationList();
  private readonly options: RevokerOptions<S>;
  private readonly log: Logger;
  private readonly now: () => number;
  /** Every revocation this instance has applied or loaded, by `seenKey`. */
  private readonly seen = new Set<string>();
  /** Where `refresh` reads on from (the store's cursor; null: from the start). */
  private cursor: string | null = null;
  private readonly storedListeners: Array<(revocation: Revocation) => void> = [];

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
    let stored: readonly Revocation[];
    if (typeof store.loadRevocationsSince === 'function') {
      const since = await store.loadRevocationsSince(null);
      stored = since.revocations;
      this.cursor = since.cursor;
    } else {
      stored = await store.loadRevocations(); // a store given by the embedding app, older than loadRevocationsSince
    }
    for (const revocation of stored) {
      this.seen.add(seenKey(revocation));
      this.list.add(revocation);
    }
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
    this.seen.add(seenKey(revocation));
    const sessions = this.apply(revocation);
    if (this.options.store !== null) await this.options.store.saveRevocation(revocation);
    this.log.info({ ...revocation, sessions }, 'revoked');
    for (const listener of this.storedListeners) listener(revocation);
    const { user, documents, access, at } = revocation;
    return { user, documents, access, sessions, at };
  }

  /** `listener` gets each revocation made here once it is stored (before `revoke` resolves). */
  onStored(listener: (revocation: Revocation) => void): void {
    this.storedListeners.push(listener);
  }

  /**
   * Applies a revocation made on another instance, unless this one has already: how many sessions it changed (0 for
   * one seen before).
   */
  learn(revocation: Revocation): number {
    const key = seenKey(revocation);
    if (this.seen.has(key)) return 0;
    this.seen.add(key);
    const sessions = this.apply(revocation);
    this.log.info({ ...revocation, sessions }, 'applied a revocation made on another instance');
    return sessions;
  }

  /**
   * Reads the revocations stored since the last read (by any instance) and applies those not seen yet; resolves with
   * how many were new. Overlapping calls are harmless (the seen set); ClusterEvents runs one at a time.
   */
  async refresh(): Promise<number> {
    const { store } = this.options;
    if (store === null || typeof store.loadRevocationsSince !== 'function') return 0;
    const { revocations, cursor } = await store.loadRevocationsSince(this.cursor);
    this.cursor = cursor;
    let learnt = 0;
    for (const revocation of revocations) {
      if (this.seen.has(seenKey(revocation))) continue;
      this.learn(revocation);
      learnt += 1;
    }
    return learnt;
  }

  /**
   * Applies a revocation to this instance: the iat rule from now on, and every open session it covers (see the
   * header). Returns how many sessions it changed. The entry point for revocations made on other instances.
   */
  apply(revocation: Revocation): number {
    const { sessions, metrics } = this.options;
    this.list.add(revocation);
    metrics.revocations.inc({ access: revocation.access });
    const matches = (name: string) => revocationCovers(revocation.documents, name);
    let changed = 0;
    for (const session of [...sessions.ofUser(revocation.tenant, revocation.user)]) {
      if (!matches(grantNameOf(session.documentName))) continue;
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
