/**
 * Who is on the project: one avatar per person (several tabs of one person count once), yourself first.
 */
import type { DocumentHandle } from '@concord/client';
import type { PresenceUser } from '@concord/engine';
import { usePeers } from '../hooks';
import { Avatar } from './Avatar';

export function PresenceAvatars({ handle, self }: { handle: DocumentHandle | null; self: PresenceUser }) {
  const peers = usePeers(handle);
  const others = new Map<string, { user: PresenceUser; page: string | undefined }>();
  for (const peer of peers) {
    if (peer.user.id !== self.id && !others.has(peer.user.id)) others.set(peer.user.id, { user: peer.user, page: peer.page });
  }
  return (
    <ul class="avatars" data-testid="presence" aria-label="People on this project">
      <li>
        <Avatar user={self} note="you" />
      </li>
      {[...others.values()].map(({ user, page }) => (
        <li key={user.id}>
          <Avatar user={user} note={page?.startsWith('task-') ? 'viewing a task' : undefined} />
        </li>
      ))}
    </ul>
  );
}
