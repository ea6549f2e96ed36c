/**
 * Transaction origins.
 *
 * Every Concord write path tags its Yjs transactions, and every listener checks the tag before it forwards an
 * update, so nothing echoes between storage, the socket, IndexedDB and the app: an update loaded from storage is
 * not stored again, one applied by the server API is stored but not attributed to a client. Origins are frozen
 * objects with `source: 'local'`, the shape Hocuspocus gives server-side changes, so its hooks treat them as such.
 */

export const OriginTag = {
  /** Loaded from the server's store; never written back. */
  Storage: 'storage',
  /** Written by the server on behalf of the app backend (HTTP or Node API). */
  ServerApi: 'server-api',
  /** A user's edit made through the engine's typed model. */
  LocalEdit: 'local-edit',
  /** The server re-wrote a field entry stamped beyond its clock with a clamped stamp (server/src/extensions/StampClamp). */
  ServerClamp: 'server-clamp',
  /**
   * Relayed from another server instance, where it was checked, clamped, hooked and stored already: here it is only
   * applied and sent to this instance's clients (no lifecycle hook, webhook or clamp runs for it a second time).
   */
  Relay: 'relay',
} as const;
export type OriginTag = (typeof OriginTag)[keyof typeof OriginTag];

export interface ConcordOrigin {
  readonly source: 'local';
  readonly concord: OriginTag;
  /** Hocuspocus: do not run onStoreDocument for this change. */
  readonly skipStoreHooks: boolean;
}

function origin(tag: OriginTag, skipStoreHooks: boolean): ConcordOrigin {
  return Object.freeze({ source: 'local', concord: tag, skipStoreHooks });
}

export const STORAGE_ORIGIN = origin(OriginTag.Storage, true);
export const SERVER_API_ORIGIN = origin(OriginTag.ServerApi, false);
export const LOCAL_EDIT_ORIGIN = origin(OriginTag.LocalEdit, false);
export const SERVER_CLAMP_ORIGIN = origin(OriginTag.ServerClamp, false);
export const RELAY_ORIGIN = origin(OriginTag.Relay, true);

export function isConcordOrigin(value: unknown, tag?: OriginTag): value is ConcordOrigin {
  if (typeof value !== 'object' || value === null) return false;
  const concord = (value as { concord?: unknown }).concord;
  return typeof concord === 'string' && (tag === undefined || concord === tag);
}

/**
 * Whether a change was made before, elsewhere: loaded from storage, or relayed from another instance. Such a change
 * already had its hooks, webhooks and clamps where it was made, and must not have them again.
 */
export function isMadeElsewhere(origin: unknown): boolean {
  return isConcordOrigin(origin, OriginTag.Storage) || isConcordOrigin(origin, OriginTag.Relay);
}
