/**
 * A document's status, derived in one place from the facts the handle observes.
 *
 * The rule: status is a pure function of its inputs and is only ever emitted when it differs from the last one
 * emitted, so a UI bound to it re-renders on real changes only. A refusal by the server outranks everything (the
 * document will not sync whatever the socket does); next comes the socket; a document on an open socket is
 * `connected` only once the server has authenticated it, and `degraded` while the server says it cannot store.
 */
import { CloseReason } from '@concord/engine';
import type { ConnectionState, DocumentStatus } from './types.js';

/** The error of every document when the server closed the whole socket for its token. */
export const SOCKET_REFUSED = 'the server refused the token (4401 Unauthorized)';

export interface StatusInputs {
  readonly socket: ConnectionState;
  /** The server refused this document (PermissionDenied); the reason is in `refusal`. */
  readonly refusal: string | null;
  /** The reason the server sent with that refusal (`revoked`, `Forbidden`, …). */
  readonly refusalReason: string | null;
  readonly authenticated: boolean;
  readonly providerSynced: boolean;
  readonly pendingChanges: number;
  readonly loadedLocally: boolean;
  /** The stored copy gave the document content, or the server's copy arrived (see `DocumentStatus.onDevice`). */
  readonly onDevice: boolean;
  readonly localCopy: DocumentStatus['localCopy'];
  readonly readOnly: boolean;
  readonly heldUpdates: number;
  /** A problem that does not stop syncing (the local copy failed, the server closed the document). */
  readonly problem: string | null;
  /** The server said it cannot store changes right now. */
  readonly serverDegraded: boolean;
}

/** The error of a document while the server cannot store changes. */
export const SERVER_CANNOT_STORE = 'the server cannot store changes right now; yours are kept here and sent again until it can';

export function deriveStatus(inputs: StatusInputs): DocumentStatus {
  const state: ConnectionState =
    inputs.refusal !== null
      ? 'unauthorized'
      : inputs.socket === 'connected' && !inputs.authenticated
        ? 'connecting'
        : inputs.socket === 'connected' && inputs.serverDegraded
          ? 'degraded'
          : inputs.socket;
  const connected = state === 'connected';
  return Object.freeze({
    state,
    synced: connected && inputs.providerSynced && inputs.pendingChanges === 0,
    pendingChanges: inputs.pendingChanges,
    loadedLocally: inputs.loadedLocally,
    onDevice: inputs.onDevice,
    localCopy: inputs.localCopy,
    readOnly: inputs.readOnly,
    heldUpdates: inputs.heldUpdates,
    error:
      inputs.refusal ??
      (inputs.socket === 'unauthorized' ? SOCKET_REFUSED : state === 'degraded' ? SERVER_CANNOT_STORE : inputs.problem),
    reason: state === 'unauthorized' ? (inputs.refusalReason ?? (inputs.socket === 'unauthorized' ? CloseReason.Unauthorized : null)) : null,
  });
}

export function sameStatus(a: DocumentStatus, b: DocumentStatus): boolean {
  return (
    a.state === b.state &&
    a.synced === b.synced &&
    a.pendingChanges === b.pendingChanges &&
    a.loadedLocally === b.loadedLocally &&
    a.onDevice === b.onDevice &&
    a.localCopy === b.localCopy &&
    a.readOnly === b.readOnly &&
    a.heldUpdates === b.heldUpdates &&
    a.error === b.error &&
    a.reason === b.reason
  );
}
