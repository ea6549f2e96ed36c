import type { ConnectionState, DocumentHandle, SyncClient } from '@concord/client';
import { useRef } from 'preact/hooks';
import { useConnectionState, useDocumentStatus } from '../hooks';
import { indicatorFor } from '../status';

interface StatusIndicatorProps {
  client: SyncClient;
  /** The documents the screen has open: the project, and the selected task when there is one. */
  handles: readonly [DocumentHandle | null, DocumentHandle | null];
}

export function StatusIndicator({ client, handles }: StatusIndicatorProps) {
  const state = useConnectionState(client);
  const lastSettled = useRef<ConnectionState | null>(null);
  const previous = lastSettled.current;
  if (state !== 'connecting') lastSettled.current = state;
  const project = useDocumentStatus(handles[0]);
  const task = useDocumentStatus(handles[1]);
  const { light, label, pending } = indicatorFor(state, previous, [project, task]);
  return (
    <div
      class={`status status--${light}`}
      data-testid="status-indicator"
      data-light={light}
      data-state={state}
      data-pending={pending}
      role="status"
      aria-live="polite"
      title={label}
    >
      <span class="status__dot" aria-hidden="true" />
      <span class="status__label">{label}</span>
      {pending > 0 && (
        <span class="status__pending" data-testid="pending-count">
          {pending}
        </span>
      )}
    </div>
  );
}
