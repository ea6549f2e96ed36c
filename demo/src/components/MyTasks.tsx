/**
 * "My tasks": every task assigned to the signed-in person in every project, including projects this device has never
 * opened, from one live view the server keeps (`client.view` over `project-*`, docs/live-views-design.md). It changes
 * as anyone assigns, moves or finishes a task anywhere, with the totals strip's "updating" sign while it does; offline
 * it shows the view's last state. A task opens in its project.
 */
import type { SyncClient, ViewSpec } from '@concord/client';
import type { ViewRow } from '@concord/engine';
import { useMemo, useState } from 'preact/hooks';
import { taskTotals } from '../filters';
import { useLiveView } from '../hooks';
import { PROJECT_PATTERN, projectName, projectOf, STATUS_LABELS, type TaskStatus } from '../model';
import { TotalsStrip } from './TotalsStrip';

const MY_TASKS: ViewSpec = {
  documents: PROJECT_PATTERN,
  collection: 'tasks',
  where: { assignee: { eq: '$me' } },
  // The view's name holds what it extracts (at most 128 characters in all): only what the list shows.
  fields: ['title', 'status', 'due'],
};

interface MyTasksProps {
  client: SyncClient;
  onOpen: (project: string, task: string) => void;
}

const text = (value: unknown) => (typeof value === 'string' ? value : '');
/** Soonest due first, tasks without a due date last, then by title. */
const byDue = (a: ViewRow, b: ViewRow) =>
  (text(a.values.due) || '9999').localeCompare(text(b.values.due) || '9999') || text(a.values.title).localeCompare(text(b.values.title));

export function MyTasks({ client, onOpen }: MyTasksProps) {
  const { rows, updating, synced } = useLiveView(client, MY_TASKS);
  const [showDone, setShowDone] = useState(false);
  const now = Date.now();
  const totals = taskTotals(rows.map((row) => row.values), now);
  const byProject = useMemo(() => {
    const projects = new Map<string, ViewRow[]>();
    for (const row of [...rows].sort(byDue)) {
      if (!showDone && row.values.status === 'done') continue;
      projects.set(row.document, [...(projects.get(row.document) ?? []), row]);
    }
    return [...projects].sort(([a], [b]) => projectName(projectOf(a)).localeCompare(projectName(projectOf(b))));
  }, [rows, showDone]);

  return (
    <section class="my-tasks" aria-label="My tasks" data-testid="my-tasks">
      <TotalsStrip totals={totals} updating={updating} label="My tasks" />
      <label class="my-tasks__done">
        <input type="checkbox" data-testid="show-done" checked={showDone} onChange={(event) => setShowDone(event.currentTarget.checked)} /> Show done
      </label>
      {byProject.length === 0 ? (
        <p class="muted" data-testid="my-tasks-empty">
          {synced ? 'Nothing assigned to you' + (showDone ? '.' : ' that is still open.') : 'Gathering your tasks from every project…'}
        </p>
      ) : (
        byProject.map(([document, tasks]) => (
          <section key={document} class="my-tasks__project" data-testid="my-tasks-project" data-document={document}>
            <h2>{projectName(projectOf(document))}</h2>
            <ul>
              {tasks.map((row) => {
                const status = (typeof row.values.status === 'string' ? row.values.status : 'todo') as TaskStatus;
                const due = typeof row.values.due === 'string' ? row.values.due : '';
                return (
                  <li key={row.id} class="my-task" data-testid="my-task" data-task-id={row.id}>
                    <button type="button" class="link my-task__title" onClick={() => onOpen(projectOf(document), row.id)}>
                      {typeof row.values.title === 'string' && row.values.title ? row.values.title : 'Untitled task'}
                    </button>
                    <span class={`status-pill status-pill--${status} my-task__status`} data-testid="my-task-status">
                      {STATUS_LABELS[status] ?? status}
                    </span>
                    {due && <span class="muted my-task__due">Due {due}</span>}
                  </li>
                );
              })}
            </ul>
          </section>
        ))
      )}
    </section>
  );
}
