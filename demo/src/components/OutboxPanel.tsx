/**
 * The outbox: how many of your changes are not on the server yet, per document and in total, and what they are
 * ("status of 'Pay invoice' → done", "12 characters typed in 'Launch plan'"). The list is rebuilt by the client from
 * what is stored on this device, so it is the same after a reload; documents not on screen (a description closed
 * while offline) are listed from the client's record of pending documents and sent in the background once online.
 * "Sync now" reconnects at once and applies remote changes held by the update-frequency preference.
 */
import type { DocumentHandle, DocumentStatus, OutboxEntry, PendingDocument, SyncClient } from '@concord/client';
import { useMemo, useState } from 'preact/hooks';
import { useOutbox, useRecords } from '../hooks';
import { isProjectDocument, projectName, projectOf, ProjectDocument } from '../model';
import { describeEntry, isInbox } from '../outbox';
import { directory, useTeam } from '../team';

interface OutboxPanelProps {
  client: SyncClient;
  project: DocumentHandle | null;
  task: DocumentHandle | null;
  statuses: ReadonlyArray<DocumentStatus | null>;
  /** Documents not on screen with changes not on the server yet. */
  elsewhere: readonly PendingDocument[];
}

/** A heading for a document that is not on screen. */
function titleOf(name: string, taskTitle: (id: string) => string | undefined): string {
  if (isProjectDocument(name)) return `Project '${projectName(projectOf(name))}'`;
  if (isInbox(name)) return 'Notifications';
  const title = name.startsWith('task-') ? taskTitle(name.slice('task-'.length)) : undefined;
  return title ? `Description of '${title}'` : name;
}

export function OutboxPanel({ client, project, task, statuses, elsewhere }: OutboxPanelProps) {
  const [open, setOpen] = useState(false);
  const tasks = useMemo(() => project?.typed(ProjectDocument).collection('tasks') ?? null, [project]);
  useRecords(tasks, () => 0); // task titles name the descriptions
  const projectEntries = useOutbox(project);
  const taskEntries = useOutbox(task);
  const taskTitle = (id: string) => tasks?.get(id)?.get('title') || undefined;
  const team = useTeam();
  const people = useMemo(() => directory(team), [team]);
  const personName = (id: string) => people.get(id)?.name;
  const groups = [
    { name: project?.name, title: 'Project', entries: projectEntries },
    { name: task?.name, title: 'Description', entries: taskEntries },
    ...elsewhere.map(({ name, entries }) => ({ name, title: titleOf(name, taskTitle), entries })),
  ].filter((group): group is { name: string; title: string; entries: readonly OutboxEntry[] } => !!group.name && group.entries.length > 0);
  const total = groups.reduce((sum, group) => sum + group.entries.length, 0);
  const held = statuses.reduce((sum, status) => sum + (status?.heldUpdates ?? 0), 0);

  return (
    <div class="outbox" data-testid="outbox" data-total={total} data-held={held}>
      <button
        type="button"
        class={total > 0 ? 'outbox__toggle outbox__toggle--pending' : 'outbox__toggle'}
        data-testid="outbox-toggle"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
      >
        Outbox <span class="outbox__count">{total}</span>
      </button>
      <button type="button" data-testid="sync-now" title="Reconnect now and show every change" onClick={() => client.syncNow()}>
        Sync now
      </button>
      {open && (
        <div class="outbox__panel" data-testid="outbox-panel" role="region" aria-label="Your changes not yet on the server">
          {held > 0 && (
            <p class="outbox__held" data-testid="held-updates">
              {held} update{held === 1 ? '' : 's'} from others waiting ·{' '}
              <button type="button" class="link" onClick={() => client.syncNow()}>
                show now
              </button>
            </p>
          )}
          {total === 0 ? (
            <p class="muted" data-testid="outbox-empty">
              Everything you changed is on the server.
            </p>
          ) : (
            groups.map(({ name, title, entries }) => (
              <section key={name} data-testid="outbox-document" data-document={name}>
                <h3>
                  {title} <span class="muted">· {entries.length} not on the server yet</span>
                </h3>
                <ul>
                  {entries.map((entry) => (
                    <li key={entry.summary} data-testid="outbox-entry">
                      {describeEntry(name, entry, taskTitle, personName)}
                    </li>
                  ))}
                </ul>
              </section>
            ))
          )}
        </div>
      )}
    </div>
  );
}
