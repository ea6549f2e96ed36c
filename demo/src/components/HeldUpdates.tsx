/**
 * Others' updates held back by the update-frequency preference ("every 30 s", "every minute"), told in the header
 * next to the connection light, on every screen size, with a button that shows them now. Nothing shows while none
 * are held (always, with "live").
 */
import type { DocumentStatus, SyncClient } from '@concord/client';

interface HeldUpdatesProps {
  client: SyncClient;
  /** The status of every document on screen; null for one not reporting yet. */
  statuses: ReadonlyArray<DocumentStatus | null>;
}

export function HeldUpdates({ client, statuses }: HeldUpdatesProps) {
  const held = statuses.reduce((sum, status) => sum + (status?.heldUpdates ?? 0), 0);
  if (held === 0) return null;
  return (
    <button
      type="button"
      class="held"
      data-testid="held-notice"
      data-held={held}
      title="Changes others made, held by your update-frequency setting"
      onClick={() => client.syncNow()}
    >
      {held} update{held === 1 ? '' : 's'} waiting — show now
    </button>
  );
}
