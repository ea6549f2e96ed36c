/**
 * The storage seam of revocations (auth/revocations.ts): an append-only list, kept beside the documents in the same
 * store, so a restart (and every instance sharing a PostgreSQL database) knows them.
 *
 * Rules every implementation keeps (the contract suite in test/storage/revocationContract.ts checks them on each one):
 * - `saveRevocation(r)` resolves only once `r` is durable; two saves of equal revocations keep both (the list is a
 *   log, not a set: callers tolerate repeats).
 * - `loadRevocations()` returns every revocation saved, field for field as given, oldest `at` first.
 * - `loadRevocationsSince(cursor)` returns every revocation saved since the load that gave `cursor` (`null`: every
 *   one), whatever its `at`, with a cursor for the next call. It may return some seen before (callers tolerate
 *   repeats: applying a revocation twice changes nothing); what another instance saves meanwhile is never missed.
 *   It is how instances learn of each other's revocations when the bus is down (the Redis fallback polling).
 * Stores never interpret a revocation: matching globs and tokens is auth/revocations.ts's job.
 */
import { RevokedAccess, type Revocation } from '../auth/revocations.js';

export interface RevocationStore {
  saveRevocation(revocation: Revocation): Promise<void>;
  loadRevocations(): Promise<readonly Revocation[]>;
  loadRevocationsSince(cursor: string | null): Promise<RevocationsSince>;
}

/** What `loadRevocationsSince` returns: the revocations, and the cursor (opaque, the store's own) to go on from. */
export interface RevocationsSince {
  readonly revocations: readonly Revocation[];
  readonly cursor: string;
}

/** Whether a store (a DocumentStore given by the embedding app, say) keeps revocations too. */
export function keepsRevocations(store: object): store is RevocationStore {
  const candidate = store as Partial<RevocationStore>;
  return typeof candidate.saveRevocation === 'function' && typeof candidate.loadRevocations === 'function';
}

/**
 * A stored revocation read back. A damaged one throws: skipping it would hand a revoked user their access back, so
 * the server refuses to start instead, naming what it could not read.
 */
export function revocationFrom(value: unknown, where: string): Revocation {
  const r = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof Revocation, unknown>>;
  const { tenant, user, documents, access, at } = r;
  if (
    typeof tenant !== 'string' ||
    typeof user !== 'string' ||
    typeof documents !== 'string' ||
    typeof at !== 'number' ||
    (access !== RevokedAccess.None && access !== RevokedAccess.Read)
  ) {
    throw new Error(`a stored revocation (${where}) is damaged: ${JSON.stringify(value)?.slice(0, 200)}`);
  }
  return { tenant, user, documents, access, at };
}

export function byTime(a: Revocation, b: Revocation): number {
  return a.at - b.at;
}
