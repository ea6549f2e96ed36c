import type { PresenceUser } from '@concord/engine';

function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0]?.[0], words[words.length - 1]?.[0]] : [words[0]?.[0]];
  return letters.join('').toUpperCase() || '?';
}

export function Avatar({ user, note, small }: { user: PresenceUser; note?: string | undefined; small?: boolean }) {
  return (
    <span
      class={small ? 'avatar avatar--small' : 'avatar'}
      style={{ backgroundColor: user.color }}
      title={note ? `${user.name} (${note})` : user.name}
      data-testid="presence-avatar"
      data-user-id={user.id}
      data-user-name={user.name}
    >
      {initials(user.name)}
    </span>
  );
}
