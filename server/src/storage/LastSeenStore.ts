/**
 * The storage seam of workspace last-seen times (extensions/PresenceExtension.ts): for every user who left a
 * tenant's workspace room, their name, colour and when, kept beside the documents in the same store, so a restart
 * (and every instance sharing a PostgreSQL database) still knows who was here.
 *
 * Rules every implementation keeps (the contract suite in test/storage/lastSeenContract.ts checks them on each one):
 * - `saveLastSeen(tenant, user, seen)` resolves once durable; a user has one entry per tenant, and a save older than
 *   the entry held changes nothing (the later `at` wins, whatever order saves arrive in).
 * - `loadLastSeen(tenant, limit)` returns the tenant's `limit` most recent entries, keyed by user id, field for field.
 */
import type { LastSeen } from '@concord/engine';

export interface LastSeenStore {
  saveLastSeen(tenant: string, user: string, seen: LastSeen): Promise<void>;
  loadLastSeen(tenant: string, limit: number): Promise<Record<string, LastSeen>>;
}

/** Whether a store (a DocumentStore given by the embedding app, say) keeps last-seen times too. */
export function keepsLastSeen(store: object): store is LastSeenStore {
  const candidate = store as Partial<LastSeenStore>;
  return typeof candidate.saveLastSeen === 'function' && typeof candidate.loadLastSeen === 'function';
}

/** The `limit` most recent of `entries`, as a table by user id. */
export function newestSeen(entries: ReadonlyArray<readonly [string, LastSeen]>, limit: number): Record<string, LastSeen> {
  const newest = [...entries].sort((a, b) => b[1].at - a[1].at).slice(0, limit);
  // fromEntries defines own properties: a user id such as `__proto__` stays an entry.
  return Object.fromEntries(newest.map(([user, { name, color, at }]) => [user, { name, color, at }]));
}

/**
 * Last-seen times in memory: the reference implementation (MemoryStore's), and what the server uses when the store
 * given by the embedding app keeps none (the table then outlives the room being unloaded, not the process).
 */
export class MemoryLastSeenStore implements LastSeenStore {
  private readonly tenants = new Map<string, Map<string, LastSeen>>();

  async saveLastSeen(tenant: string, user: string, { name, color, at }: LastSeen): Promise<void> {
    let users = this.tenants.get(tenant);
    if (!users) this.tenants.set(tenant, (users = new Map()));
    if ((users.get(user)?.at ?? -Infinity) <= at) users.set(user, { name, color, at });
  }

  async loadLastSeen(tenant: string, limit: number): Promise<Record<string, LastSeen>> {
    return newestSeen([...(this.tenants.get(tenant) ?? [])], limit);
  }
}
