/**
 * The notifications bell: the unread count as a badge, and a panel with the inbox (newest first), "mark all
 * read", and per-kind preferences (shown or not, with sound or not). Opening a notification's task reads it.
 */
import type { InboxNotification } from '@concord/client';
import { NotificationKind } from '@concord/engine';
import { useState } from 'preact/hooks';
import type { InboxState } from '../hooks';

interface BellProps {
  state: InboxState;
  onOpen: (notification: InboxNotification) => void;
}

const KINDS = Object.values(NotificationKind);

function ago(at: number): string {
  const seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return new Date(at).toLocaleString();
}

export function Bell({ state, onOpen }: BellProps) {
  const [open, setOpen] = useState(false);
  const { inbox, notifications, unread } = state;
  return (
    <div class="bell">
      <button
        type="button"
        class="bell__button"
        data-testid="bell"
        aria-expanded={open}
        aria-label={unread > 0 ? `${unread} unread notifications` : 'Notifications'}
        onClick={() => setOpen(!open)}
      >
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path
            fill="currentColor"
            d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
          />
        </svg>
        <span class="bell__label">Notifications</span>
        {unread > 0 && (
          <span class="bell__badge" data-testid="bell-badge">
            {unread}
          </span>
        )}
      </button>
      {open && inbox && (
        <div class="bell__panel" data-testid="inbox">
          <div class="bell__head">
            <strong>Notifications</strong>
            <button type="button" class="link" data-testid="mark-all-read" disabled={unread === 0} onClick={() => inbox.markAllRead()}>
              Mark all read
            </button>
          </div>
          {notifications.length === 0 ? (
            <p class="muted">Nothing yet.</p>
          ) : (
            <ul class="bell__list">
              {notifications.map((notification) => (
                <li key={notification.id} class={notification.read ? 'bell__item' : 'bell__item bell__item--unread'} data-testid="notification">
                  <button type="button" class="link" onClick={() => onOpen(notification)}>
                    {notification.title}
                  </button>
                  <span class="muted">
                    {' '}
                    · {notification.kind} · {ago(notification.createdAt)}
                  </span>
                  {!notification.read && (
                    <button type="button" class="link" data-testid="mark-read" onClick={() => inbox.markRead(notification.id)}>
                      Mark read
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )}
          <details class="bell__preferences">
            <summary>Preferences</summary>
            {KINDS.map((kind) => {
              const preference = inbox.preference(kind);
              return (
                <div key={kind} class="bell__preference">
                  <span>{kind}</span>
                  <label>
                    <input
                      type="checkbox"
                      data-testid={`preference-${kind}`}
                      checked={preference.enabled}
                      onChange={(event) => inbox.setPreference(kind, { enabled: event.currentTarget.checked })}
                    />{' '}
                    show
                  </label>
                  <label>
                    <input
                      type="checkbox"
                      checked={preference.sound}
                      onChange={(event) => inbox.setPreference(kind, { sound: event.currentTarget.checked })}
                    />{' '}
                    sound
                  </label>
                </div>
              );
            })}
          </details>
        </div>
      )}
    </div>
  );
}
