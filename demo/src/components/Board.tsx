/**
 * The signed-in screen: header (presence, connection status, who you are), the task list of the shared project,
 * and the description of the selected task. Opens the project document for as long as it is shown, and the
 * selected task's document while that task is selected.
 */
import type { SyncClient } from '@concord/client';
import { useEffect } from 'preact/hooks';
import { useDocument, useDocumentStatus, usePendingDocuments, useSelectedTask } from '../hooks';
import { PROJECT_DOCUMENT, taskDocumentName } from '../model';
import type { Session } from '../session';
import { FrequencySelect } from './FrequencySelect';
import { OutboxPanel } from './OutboxPanel';
import { PresenceAvatars } from './PresenceAvatars';
import { StatusIndicator } from './StatusIndicator';
import { TaskDetail } from './TaskDetail';
import { TaskList } from './TaskList';

interface BoardProps {
  client: SyncClient;
  session: Session;
  onSignOut: () => void;
}

export function Board({ client, session, onSignOut }: BoardProps) {
  const project = useDocument(client, PROJECT_DOCUMENT);
  const [selected, select] = useSelectedTask();
  const taskHandle = useDocument(client, selected ? taskDocumentName(selected) : null);
  const projectStatus = useDocumentStatus(project);
  const taskStatus = useDocumentStatus(taskHandle);
  const pendingElsewhere = usePendingDocuments(client).filter(({ name }) => name !== project?.name && name !== taskHandle?.name);
  // Signing out deletes this person's copy on the device; changes not on the server yet would go with it.
  const signOut = async () => {
    const pending = (projectStatus?.pendingChanges ?? 0) + (taskStatus?.pendingChanges ?? 0);
    const lose = `${pending} of your changes are not on the server yet and will be lost. Sign out anyway?`;
    if (pending > 0 && !confirm(lose)) return;
    await client.clearLocalData();
    onSignOut();
  };
  useEffect(() => {
    project?.presence.set({ page: selected ? taskDocumentName(selected) : PROJECT_DOCUMENT });
  }, [project, selected]);

  return (
    <div class="board">
      <header class="board__header">
        <h1>
          Concord <span class="muted">· Demo project</span>
        </h1>
        <PresenceAvatars handle={project} self={session.user} />
        <StatusIndicator
          client={client}
          documents={[
            [project, projectStatus],
            [taskHandle, taskStatus],
          ]}
          elsewhere={pendingElsewhere.reduce((sum, { entries }) => sum + entries.length, 0)}
        />
        <OutboxPanel
          client={client}
          project={project}
          task={taskHandle}
          statuses={[projectStatus, taskStatus]}
          elsewhere={pendingElsewhere}
        />
        <FrequencySelect client={client} />
        <div class="board__me">
          <span data-testid="signed-in-as" style={{ color: session.user.color }}>
            {session.user.name}
          </span>
          <button type="button" class="link" data-testid="sign-out" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main class="board__main">
        {project ? (
          <TaskList handle={project} selected={selected} onSelect={select} />
        ) : (
          <p class="muted">Opening the project…</p>
        )}
        {project && selected && taskHandle && (
          <TaskDetail project={project} taskId={selected} handle={taskHandle} user={session.user} onClose={() => select(null)} />
        )}
      </main>
    </div>
  );
}
