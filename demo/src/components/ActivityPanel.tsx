/**
 * **Activity**: who changed what on the project, newest on top — "Alice changed status of 'Pay invoice' from To do
 * to Done", "Bob added task 'Call the printer'", with when ("just now", "3 min ago", moving on) and the person's
 * colour. The feed is the server's read-only document `activity:project-demo` (engine `readActivity`), opened with
 * the client like any document: live, kept on this device, caught up after being offline. It stays open while the
 * board is shown, so the button counts what others did since the panel was last open.
 *
 * An entry that arrives while the panel is open slides in (fades in, without moving, with reduced motion); the ones
 * there when it opens do not. Picking an entry about a task on the board opens that task.
 *
 * Wide: a popover under the header's button. Narrow (styles.css, below 900 px): a full-screen sheet, 44 px buttons.
 */
import type { DocumentHandle, SyncClient } from '@concord/client';
import { activityDocumentName, colorForUser, readActivity, type ActivityEntry, type PresenceUser } from '@concord/engine';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { API_ACTOR, describeActivity, newestFirst, taskOf, titlesInFeed } from '../activity';
import { useDocument, useDocumentStatus, useNow, useRecords } from '../hooks';
import { ProjectDocument } from '../model';
import { directory, useTeam } from '../team';
import { relativeTime } from '../versions';
import { Avatar } from './Avatar';

/** "3 min ago" moves on this often. */
const CLOCK_TICK_MS = 15_000;
/** The panel lists this many entries, newest (the feed keeps up to 1 000). */
const SHOWN = 100;
/** The backend's avatar colour: no person's. */
const BACKEND_COLOR = '#495057';

/** The project's feed entries (oldest first, as stored), re-read on every change of the feed. */
function useFeed(handle: DocumentHandle | null): ActivityEntry[] {
  const [entries, setEntries] = useState<ActivityEntry[]>([]);
  useEffect(() => {
    if (!handle) {
      setEntries([]);
      return;
    }
    const read = () => setEntries(readActivity(handle.doc));
    read();
    handle.doc.on('update', read);
    return () => handle.doc.off('update', read);
  }, [handle]);
  return entries;
}

/**
 * When this person last looked at the feed (the newest entry's time then), kept on this device; the first time, now,
 * so a new device does not count the project's whole past as unread.
 */
function useSeenAt(userId: string): [number, (at: number) => void] {
  const key = `concord-demo-activity-seen:${userId}`;
  const [seenAt, setSeenAt] = useState(() => {
    const stored = Number(localStorage.getItem(key));
    if (Number.isFinite(stored) && stored > 0) return stored;
    const now = Date.now();
    localStorage.setItem(key, String(now));
    return now;
  });
  const markSeen = (at: number) => {
    if (at <= seenAt) return;
    localStorage.setItem(key, String(at));
    setSeenAt(at);
  };
  return [seenAt, markSeen];
}

interface ActivityProps {
  client: SyncClient;
  /** The project document, for the tasks' titles as they are now. */
  project: DocumentHandle | null;
  self: PresenceUser;
  onOpenTask: (id: string) => void;
}

/** The header's Activity button (with what others did since you last looked) and its panel. */
export function Activity({ client, project, self, onOpenTask }: ActivityProps) {
  const feed = useDocument(client, project ? activityDocumentName(project.name) : null);
  const entries = useFeed(feed);
  const [open, setOpen] = useState(false);
  const [seenAt, markSeen] = useSeenAt(self.id);
  const toggle = useRef<HTMLButtonElement>(null);
  const newestAt = entries.reduce((max, entry) => Math.max(max, entry.at), 0);
  useEffect(() => {
    if (open) markSeen(newestAt);
  }, [open, newestAt]);
  const unread = open ? 0 : entries.filter((entry) => entry.by !== self.id && entry.at > seenAt).length;

  const close = () => {
    setOpen(false);
    toggle.current?.focus();
  };

  return (
    <div class="activity">
      <button
        ref={toggle}
        type="button"
        class="activity__toggle"
        data-testid="activity-toggle"
        aria-expanded={open}
        aria-controls="activity-panel"
        aria-label={unread > 0 ? `Activity: ${unread} new` : 'Activity'}
        title="Who changed what on the project"
        onClick={() => (open ? close() : setOpen(true))}
      >
        <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true">
          <path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" d="M3 12h4l3-8 4 16 3-8h4" />
        </svg>
        <span class="activity__label">Activity</span>
        {unread > 0 && (
          <span class="activity__badge" data-testid="activity-badge">
            {unread > 99 ? '99+' : unread}
          </span>
        )}
      </button>
      {open && (
        <ActivityPanel
          feed={feed}
          entries={entries}
          project={project}
          onClose={close}
          onOpenTask={(id) => {
            onOpenTask(id);
            // On a phone the sheet covers the task: leave it for the task.
            if (matchMedia('(max-width: 899px)').matches) setOpen(false);
          }}
        />
      )}
    </div>
  );
}

interface ActivityPanelProps {
  feed: DocumentHandle | null;
  entries: readonly ActivityEntry[];
  project: DocumentHandle | null;
  onClose: () => void;
  onOpenTask: (id: string) => void;
}

function ActivityPanel({ feed, entries, project, onClose, onOpenTask }: ActivityPanelProps) {
  const now = useNow(CLOCK_TICK_MS);
  const status = useDocumentStatus(feed);
  const tasks = useMemo(() => project?.typed(ProjectDocument).collection('tasks') ?? null, [project]);
  useRecords(tasks, () => 0); // titles follow the board
  const closeButton = useRef<HTMLButtonElement>(null);

  // Entries there when the panel opened, or brought by the feed's first sync, are not arrivals; later ones are.
  const known = useRef<Set<string> | null>(null);
  const arrived = useRef(new Set<string>());
  if (known.current === null) known.current = new Set(entries.map((entry) => entry.id));
  for (const entry of entries) {
    if (known.current.has(entry.id)) continue;
    known.current.add(entry.id);
    if (status?.synced) arrived.current.add(entry.id);
  }

  useEffect(() => {
    closeButton.current?.focus({ preventScroll: true });
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose();
    };
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, []);

  const feedTitles = useMemo(() => titlesInFeed(entries), [entries]);
  const shown = useMemo(() => newestFirst(entries).slice(0, SHOWN), [entries]);
  const titleOf = (record: string) => {
    const task = tasks?.get(record);
    return task ? task.get('title') || '' : undefined;
  };
  const people = directory(useTeam());
  const nameOf = (id: string) => people.get(id)?.name ?? id;
  const offline = status !== null && status.state !== 'connected';

  return (
    <section id="activity-panel" class="activity__panel" data-testid="activity-panel" role="region" aria-label="Project activity">
      <header class="activity__head">
        <h2>
          Activity <span class="muted activity__of">· Demo project</span>
        </h2>
        <button ref={closeButton} type="button" class="link activity__close" data-testid="activity-close" aria-label="Close activity" onClick={onClose}>
          ✕
        </button>
      </header>
      {offline && (
        <p class="muted activity__note" data-testid="activity-offline">
          Offline: this is the activity this device has; the rest arrives when you are back online.
        </p>
      )}
      {entries.length === 0 ? (
        <p class="muted activity__empty" data-testid={status?.synced ? 'activity-empty' : 'activity-loading'}>
          {status?.synced ? 'Nothing yet. Changes to the tasks show up here a second after they are made.' : 'Loading activity…'}
        </p>
      ) : (
        <ol class="activity__list" data-testid="activity-list" aria-live="polite">
          {shown.map((entry) => {
            const sentence = describeActivity(entry, titleOf, feedTitles, nameOf);
            const task = taskOf(entry);
            const onBoard = task !== null && titleOf(task) !== undefined;
            const actor: PresenceUser = {
              id: entry.by,
              name: sentence.who,
              color: entry.by === API_ACTOR ? BACKEND_COLOR : colorForUser(entry.by),
            };
            const body = (
              <>
                <Avatar user={actor} small />
                <span class="activity__body">
                  <span class="activity__text" data-testid="activity-text">
                    <strong style={{ color: actor.color }}>{sentence.who}</strong> {sentence.what}
                  </span>
                  <time
                    class="activity__time muted"
                    data-testid="activity-time"
                    dateTime={new Date(entry.at).toISOString()}
                    title={new Date(entry.at).toLocaleString()}
                  >
                    {relativeTime(entry.at, now)}
                  </time>
                </span>
              </>
            );
            return (
              <li
                key={entry.id}
                class={arrived.current.has(entry.id) ? 'activity__entry activity__entry--new' : 'activity__entry'}
                data-testid="activity-entry"
                data-entry-id={entry.id}
                data-kind={entry.kind}
              >
                {onBoard ? (
                  <button type="button" class="activity__open" title="Open this task" onClick={() => onOpenTask(task)}>
                    {body}
                  </button>
                ) : (
                  <div class="activity__open activity__open--static">{body}</div>
                )}
              </li>
            );
          })}
        </ol>
      )}
      {entries.length > SHOWN && <p class="muted activity__more">The latest {SHOWN} of {entries.length} changes.</p>}
    </section>
  );
}
