/**
 * "What the backend does", for the selected task: buttons that call Concord's HTTP API the way an app backend would
 * (see backend.ts). Everyone viewing the project sees the change, a toast and the row light up; the assignee gets a
 * notification in their inbox.
 */
import { useState } from 'preact/hooks';
import { advanceTask, assignToMe, nextStatus } from '../backend';
import { STATUS_LABELS, type TaskStatus } from '../model';
import type { Session } from '../session';

interface BackendActionsProps {
  session: Session;
  task: { id: string; title: string; status: TaskStatus };
}

export function BackendActions({ session, task }: BackendActionsProps) {
  const [problem, setProblem] = useState<string | null>(null);
  const run = (action: () => Promise<void>) => {
    setProblem(null);
    action().catch((error: unknown) => setProblem(error instanceof Error ? error.message : String(error)));
  };
  return (
    <section class="backend" aria-label="Backend actions">
      <span class="muted">Backend (HTTP API):</span>
      <button type="button" data-testid="backend-advance" onClick={() => run(() => advanceTask(session, task))}>
        Set status to {STATUS_LABELS[nextStatus(task.status)]}
      </button>
      <button type="button" data-testid="backend-assign" onClick={() => run(() => assignToMe(session, task))}>
        Assign to me and notify
      </button>
      {problem && (
        <span class="danger" role="alert">
          {problem}
        </span>
      )}
    </section>
  );
}
