/**
 * What the app's own backend would do, done from the browser so the demo can show it: change a document through
 * Concord's HTTP API, publish an event to a channel, notify a user. The dev-mode token of the signed-in person
 * grants all three (`docs` write and `publish: ["*"]`); a real backend sends its API key instead, as the README's
 * curl examples do.
 */
import type { PresenceUser } from '@concord/engine';
import { STATUS_LABELS, TASK_STATUSES, type TaskStatus } from './model';
import type { Session } from './session';

/** Who the demo's simulated backend says it is, in events and notifications. */
export const BACKEND_NAME = 'Workflow bot';

async function post(session: Session, path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${session.token}` },
    body: JSON.stringify(body),
  });
  const answer = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) throw new Error(typeof answer.error === 'string' ? answer.error : `the server answered ${response.status}`);
  return answer;
}

/** The status after `status` in the board's order, wrapping around. */
export function nextStatus(status: TaskStatus): TaskStatus {
  return TASK_STATUSES[(TASK_STATUSES.indexOf(status) + 1) % TASK_STATUSES.length] as TaskStatus;
}

/** The backend moves a task to its next status, then tells everyone on the project's channel. */
export async function advanceTask(session: Session, task: { id: string; title: string; status: TaskStatus; project: string }): Promise<void> {
  const status = nextStatus(task.status);
  await post(session, `/api/documents/${task.project}/changes`, { records: { tasks: { [task.id]: { status } } } });
  await post(session, `/api/channels/${task.project}/events`, {
    event: 'task-updated',
    payload: { task: task.id, title: task.title, field: 'status', value: STATUS_LABELS[status], by: BACKEND_NAME },
  });
}

/**
 * The backend assigns a task to `assignee` (anyone of the workspace, the signed-in person included) and notifies
 * them: the notification goes to the assignee's inbox, so it lights their bell on every device they use. Someone
 * who is viewing the task when it arrives has it marked read at once (the client's rule, C16) and still gets the
 * toast; that is always the case for the person assigning themselves, since the button lives in the task's detail.
 */
export async function assignAndNotify(session: Session, task: { id: string; title: string; project: string }, assignee: PresenceUser): Promise<void> {
  const self = assignee.id === session.user.id;
  await post(session, `/api/documents/${task.project}/changes`, { records: { tasks: { [task.id]: { assignee: assignee.name } } } });
  await post(session, `/api/users/${encodeURIComponent(assignee.id)}/notifications`, {
    kind: 'assignment',
    // Asked for yourself, the bot did it; for someone else, the teammate who asked is the one to name.
    title: `${self ? BACKEND_NAME : session.user.name} assigned you "${task.title}"`,
    target: { document: task.project, record: task.id },
    actor: self ? 'workflow-bot' : session.user.id,
  });
}
