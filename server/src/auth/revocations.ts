/**
 * Revocations (SPEC §3 `POST /api/revocations`): "user U of tenant T keeps at most `access` on the documents matching
 * `documents`, for every token issued before `at`".
 *
 * The iat rule, kept here for every path (sockets at connect and on refresh, the HTTP API): a token of U issued
 * (`iat`, seconds) before a revocation's `at` (milliseconds) is capped by it on the matching documents — `none`
 * refuses them (reason `revoked`), `read` grants at most read. A token is issued after a revocation only when its
 * `iat` second begins after `at`: a token minted in the same second as the revocation may be older than it, so it is
 * taken as issued before (mint the new one a second later). A token without `iat` cannot say when it was issued, so
 * it is taken as issued before every revocation. Several revocations of one user add up: the strongest cap wins.
 *
 * Globs match what grants match (auth/access.ts): the tenant-local document name, a channel's name, `@workspace`,
 * `inbox:<id>`. The list lives in memory (loaded from storage at start, see auth/Revoker.ts), indexed by tenant and
 * user, so checking a token costs a map lookup for a user never revoked.
 */
import { Access } from '@concord/engine';
import { revocationCovers } from './access.js';

/** What a revocation leaves the user on the matching documents. */
export const RevokedAccess = {
  None: 'none',
  Read: 'read',
} as const;
export type RevokedAccess = (typeof RevokedAccess)[keyof typeof RevokedAccess];

export interface Revocation {
  readonly tenant: string;
  /** The user's id (the tokens' `sub`). */
  readonly user: string;
  /** A document-name glob, as in a token's `docs` claim. */
  readonly documents: string;
  readonly access: RevokedAccess;
  /** When it was made (ms since the epoch): tokens issued before are capped. */
  readonly at: number;
}

/** What a token carries that revocations look at. */
export interface TokenIdentity {
  readonly tenant: string;
  readonly sub: string;
  /** Seconds since the epoch; undefined: issued before every revocation. */
  readonly iat?: number | undefined;
}

const ORDER: Readonly<Record<RevokedAccess, number>> = { none: 0, read: 1 };

function key(tenant: string, user: string): string {
  return `${tenant}\0${user}`;
}

/** Whether a token issued at `iat` (seconds) counts as issued before `at` (ms): see the header. */
export function issuedBefore(iat: number | undefined, at: number): boolean {
  return iat === undefined || iat * 1000 <= at;
}

/** `granted`, capped by `cap`: null when nothing is left. */
export function capAccess(granted: Access | null, cap: RevokedAccess | null): Access | null {
  if (granted === null || cap === null) return granted;
  return cap === RevokedAccess.None ? null : Access.Read;
}

export class RevocationList {
  private readonly byUser = new Map<string, Revocation[]>();

  /** Revocations kept (after dropping those a later one makes redundant). */
  get size(): number {
    let total = 0;
    for (const list of this.byUser.values()) total += list.length;
    return total;
  }

  /**
   * Adds a revocation (idempotent: the same one twice changes nothing). One of the same user and glob that is older
   * and leaves at least as much is dropped: every token it caps, the new one caps as hard or harder.
   */
  add(revocation: Revocation): void {
    const id = key(revocation.tenant, revocation.user);
    const list = this.byUser.get(id) ?? [];
    const redundant = list.some(
      (other) => other.documents === revocation.documents && other.at >= revocation.at && ORDER[other.access] <= ORDER[revocation.access],
    );
    if (redundant) return;
    const kept = list.filter(
      (other) => !(other.documents === revocation.documents && other.at <= revocation.at && ORDER[other.access] >= ORDER[revocation.access]),
    );
    kept.push(revocation);
    this.byUser.set(id, kept);
  }

  /** The strongest cap the revocations put on `token` for `name` (a grant's name: see the header); null: none. */
  capFor(token: TokenIdentity, name: string): RevokedAccess | null {
    const list = this.byUser.get(key(token.tenant, token.sub));
    if (list === undefined) return null;
    let cap: RevokedAccess | null = null;
    for (const revocation of list) {
      if (!issuedBefore(token.iat, revocation.at) || !revocationCovers(revocation.documents, name)) continue;
      if (revocation.access === RevokedAccess.None) return RevokedAccess.None;
      cap = RevokedAccess.Read;
    }
    return cap;
  }
}
