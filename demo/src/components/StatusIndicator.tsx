import type { ConnectionState, DocumentHandle, DocumentStatus, SyncClient } from '@concord/client';
import { useRef } from 'preact/hooks';
import { useConnectionState, useNextRetry, useSecondsUntil } from '../hooks';
import { indicatorFor } from '../status';

interface StatusIndicatorProps {
  client: SyncClient;
  /** The documents the screen shows (the project, and the selected task when there is one; null while not open). */
  documents: ReadonlyArray<readonly [DocumentHandle | null, DocumentStatus | null]>;
  /** Pending changes of documents not on screen (sent in the background once connected). */
  elsewhere: number;
}

/** The connection light, its label and the pending count; `data-*` attributes carry the same for tests and support. */
export function StatusIndicator({ client, documents, elsewhere }: StatusIndicatorProps) {
  const state = useConnectionState(client);
  const retryIn = useSecondsUntil(useNextRetry(client));
  const lastSettled = useRef<ConnectionState | null>(null);
  const previous = lastSettled.current;
  if (state !== 'connecting') lastSettled.current = state;
  const shown = documents.filter(([handle]) => handle !== null);
  // A new transport comes with a new connection, so the state change re-renders this.
  const transport = client.transport;
  const onScreen = indicatorFor(state, previous, shown.map(([, status]) => status), client.sleeping, transport);
  const pending = onScreen.pending + elsewhere;
  const { light, label } = onScreen.light === 'green' && elsewhere > 0 ? { light: 'yellow', label: 'Syncing…' } : onScreen;
  const perDocument = shown
    .map(([handle, status]) => (handle && status ? `${handle.name}:${status.state}:${status.synced ? 'synced' : 'unsynced'}` : ''))
    .filter(Boolean)
    .join(' ');
  return (
    <div
      class={`status status--${light}`}
      data-testid="status-indicator"
      data-light={light}
      data-state={state}
      data-transport={transport}
      data-pending={pending}
      data-documents={perDocument}
      data-retry-in={retryIn ?? ''}
      role="status"
      aria-live="polite"
      title={
        pending > 0
          ? `${label}: ${pending} local change${pending === 1 ? '' : 's'} not yet on the server (kept on this device)`
          : transport === 'http' && state === 'connected'
            ? `${label}: this network refuses WebSockets, so changes go over HTTP (may lag); WebSockets are tried again now and then`
            : label
      }
    >
      <span class="status__dot" aria-hidden="true" />
      <span class="status__label">{label}</span>
      {retryIn !== null && state !== 'connected' && (
        <span class="status__retry muted" data-testid="next-retry">
          {retryIn > 0 ? `retry in ${retryIn} s` : 'retrying…'}
        </span>
      )}
      {pending > 0 && (
        <span class="status__pending" data-testid="pending-count">
          {pending} pending
        </span>
      )}
    </div>
  );
}
