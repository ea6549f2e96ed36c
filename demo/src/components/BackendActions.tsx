/**
 * "What the backend does", for the selected task: buttons that call Concord's HTTP API the way an app backend would
 * (see backend.ts). Everyone viewing the project sees the change, a toast and the row light up; the person picked as
 * assignee (anyone of the workspace) gets a notification in their inbox, which lights their bell.
 *
 * One line tells how the last call went. Only the call made last may write it: an earlier call that fails after a
 * later one succeeded does not bring back a stale "Failed to fetch", and a new call clears the old outcome at once.
 */
import type { SyncClient } from '@concord/client';
import type { PresenceUser } from '@concord/engine';
import { useRef, useState } from 'preact/hooks';
import { advanceTask, assignAndNotify, nextStatus } from '../backend';
import { useWorkspace } from '../hooks';
import { STATUS_LABELS, type TaskStatus } from '../model';
import type { Session } from '../session';

interface BackendActionsProps {
  client: SyncClient;
  session: Session;
  task: { id: string; title: string; status: TaskStatus; project: string };
}

interface Outcome {
  readonly state: 'busy' | 'done' | 'failed';
  readonly text: string;
}

/** Who can be assigned: you first, then everyone else the workspace knows (online, idle or offline), by name. */
function assignable(session: Session, members: ReadonlyArray<{ user: PresenceUser }>): PresenceUser[] {
  const others = new Map<string, PresenceUser>();
  for (const { user } of members) if (user.id !== session.user.id) others.set(user.id, user);
  return [session.user, ...[...others.values()].sort((a, b) => a.name.localeCompare(b.name))];
}

export function BackendActions({ client, session, task }: BackendActionsProps) {
  const members = useWorkspace(client);
  const people = assignable(session, members);
  const [assigneeId, setAssigneeId] = useState(session.user.id);
  const assignee = people.find(({ id }) => id === assigneeId) ?? session.user;
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const lastCall = useRef(0);

  const run = (busy: string, done: string, failed: string, action: () => Promise<void>) => {
    const call = ++lastCall.current;
    setOutcome({ state: 'busy', text: busy });
    action().then(
      () => call === lastCall.current && setOutcome({ state: 'done', text: done }),
      (error: unknown) =>
        call === lastCall.current && setOutcome({ state: 'failed', text: `${failed}: ${error instanceof Error ? error.message : String(error)}` }),
    );
  };

  const next = STATUS_LABELS[nextStatus(task.status)];
  const self = assignee.id === session.user.id;
  return (
    <section class="backend" aria-label="Backend actions">
      <h3 class="backend__title">Backend (HTTP API)</h3>
      <div class="backend__row">
        <button
          type="button"
          data-testid="backend-advance"
          onClick={() => run(`Setting the status to ${next}…`, `Status set to ${next}.`, 'Could not set the status', () => advanceTask(session, task))}
        >
          Set status to {next}
        </button>
      </div>
      <div class="backend__row">
        <label class="backend__assignee">
          <span class="muted">Assign to</span>
          <select data-testid="backend-assignee" value={assignee.id} onChange={(event) => setAssigneeId(event.currentTarget.value)}>
            {people.map((person) => (
              <option key={person.id} value={person.id}>
                {person.id === session.user.id ? `me (${person.name})` : person.name}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          data-testid="backend-assign"
          aria-label={`Assign to ${self ? 'me' : assignee.name} and notify`}
          onClick={() =>
            run(
              `Assigning ${self ? 'you' : assignee.name}…`,
              self
                ? 'Assigned to you. You are viewing this task, so its notification is in your inbox already read (a teammate who is not viewing it gets a lit bell).'
                : `Assigned to ${assignee.name}; ${assignee.name}'s bell shows the notification.`,
              'Could not assign',
              () => assignAndNotify(session, task, assignee),
            )
          }
        >
          and notify
        </button>
      </div>
      {outcome && (
        <p
          class={`backend__outcome backend__outcome--${outcome.state}`}
          data-testid="backend-outcome"
          data-state={outcome.state}
          role={outcome.state === 'failed' ? 'alert' : 'status'}
        >
          {outcome.text}
        </p>
      )}
    </section>
  );
}
