/**
 * What the connection indicator shows, derived from the client's connection state and the status of every open
 * document. Green: connected and every document synced with nothing pending. Yellow: connecting, connected with
 * changes the server has not acknowledged yet, connected while the server cannot store (degraded), or an unstable
 * connection. Red: offline, unauthorized (edits are kept locally and counted as pending; a refused token is renewed
 * by the client on its own), or a local copy that cannot be written ("Not saved on this device"). A reconnect attempt
 * after the connection was lost stays red until it succeeds, so the light does not flicker with every retry. A document
 * whose access was revoked says so; one that turned read-only with local changes says they are not sent. A tab
 * hidden long enough that the client let go of its socket (`sleeping`) is paused, not offline: shown, it reconnects.
 * Connected over the HTTP fallback (WebSockets refused on this network) is yellow, "Connected · over HTTP": everything
 * works, with more latency and more requests.
 */
import type { ConnectionState, DocumentStatus, Transport } from '@concord/client';

export type Light = 'green' | 'yellow' | 'red';

export interface Indicator {
  readonly light: Light;
  readonly label: string;
  /** Local changes not yet acknowledged by the server, over every open document (kept in IndexedDB meanwhile). */
  readonly pending: number;
}

/**
 * @param state the client's connection state now
 * @param lastSettled the last state other than `connecting` (null before the first), to tell a first connection
 *   (yellow) from a retry after losing the connection (still red)
 * @param statuses the status of every document the screen shows; null for one opened but not reporting yet
 * @param sleeping the client let go of its socket because the tab was hidden (`SyncClient.sleeping`)
 * @param transport how the client is connected (`SyncClient.transport`): `http` is the fallback, a degraded mode
 */
export function indicatorFor(
  state: ConnectionState,
  lastSettled: ConnectionState | null,
  statuses: readonly (DocumentStatus | null)[],
  sleeping = false,
  transport: Transport = 'websocket',
): Indicator {
  const open = statuses.filter((status): status is DocumentStatus => status !== null);
  // A document whose status is not known yet (just opened) is not synced; nothing open is nothing to show green for.
  const unknown = statuses.length === 0 || open.length < statuses.length;
  const pending = open.reduce((sum, status) => sum + status.pendingChanges, 0);

  if (open.some((status) => status.state === 'unauthorized' && status.reason === 'revoked')) {
    return { light: 'red', label: 'Not authorized · access revoked', pending };
  }
  if (state === 'unauthorized' || open.some((status) => status.state === 'unauthorized')) {
    return { light: 'red', label: 'Not authorized', pending };
  }
  // Changes that are neither on the server nor on this device: the one state where closing the tab loses work.
  if (open.some((status) => status.localCopy === 'failed')) return { light: 'red', label: 'Not saved on this device', pending };
  if (state === 'offline' && sleeping) return { light: 'yellow', label: 'Paused · tab hidden', pending };
  if (state === 'offline') return { light: 'red', label: 'Offline', pending };
  if (state === 'connecting' && (lastSettled === 'offline' || lastSettled === 'unauthorized')) {
    return { light: 'red', label: 'Offline · reconnecting…', pending };
  }
  if (state === 'connecting') return { light: 'yellow', label: 'Connecting…', pending };
  if (state === 'degraded') return { light: 'yellow', label: 'Connection unstable · retrying', pending };
  if (open.some((status) => status.state === 'degraded')) {
    return { light: 'yellow', label: 'Server cannot save · changes kept here', pending };
  }
  // Access turned read-only (a downgrade): changes made here stay on this device, and the server takes none of them.
  if (pending > 0 && open.some((status) => status.readOnly)) return { light: 'yellow', label: 'Read only · changes not sent', pending };
  if (pending > 0) return { light: 'yellow', label: 'Syncing…', pending };
  if (unknown) return { light: 'yellow', label: 'Opening…', pending };
  if (open.some((status) => !status.synced)) return { light: 'yellow', label: 'Syncing…', pending };
  if (transport === 'http') return { light: 'yellow', label: 'Connected · over HTTP', pending };
  return { light: 'green', label: 'Connected · synced', pending };
}

/**
 * What the place of a document's content shows: `opening` until its local copy is loaded; `ready` once its content is
 * on this device (`status.onDevice`: from the local copy, or from the server); `not-on-device` when nothing of it is
 * here and there is no connection to fetch it (evicted from the cache or never opened here, while offline, or
 * retrying after the connection was lost), so an empty list is not mistaken for an empty project; `loading` while the
 * server's copy is on its way.
 */
export type Availability = 'opening' | 'ready' | 'not-on-device' | 'loading';

export function availabilityOf(status: DocumentStatus | null, state: ConnectionState, lastSettled: ConnectionState | null): Availability {
  if (!status?.loadedLocally) return 'opening';
  if (status.onDevice) return 'ready';
  return state === 'offline' || (state === 'connecting' && lastSettled === 'offline') ? 'not-on-device' : 'loading';
}
