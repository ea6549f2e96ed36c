/**
 * The selected task: its fields (from the project document), its rich-text description, attachments and comments (its
 * own document), with the avatars of whoever else has the task open, and **History**: the task document's versions
 * (HistoryPanel.tsx), and the notice with Undo a restore leaves. Files dropped anywhere on the task attach to it.
 */
import type { DocumentHandle, SyncClient } from '@concord/client';
import type { PresenceUser } from '@concord/engine';
import { useMemo, useReducer, useState } from 'preact/hooks';
import { usePeers, useRecords } from '../hooks';
import { EDITABLE_FIELDS, ProjectDocument, STATUS_LABELS } from '../model';
import { Attachments, useAttaching, useFileDrop } from './Attachments';
import { Avatar } from './Avatar';
import { Comments } from './Comments';
import { DescriptionEditor } from './DescriptionEditor';
import { HistoryPanel, RestoredNotice, type Restored } from './HistoryPanel';
import { FIELD_LABELS, TaskField } from './TaskFields';

interface TaskDetailProps {
  client: SyncClient;
  project: DocumentHandle;
  taskId: string;
  handle: DocumentHandle;
  user: PresenceUser;
  onClose: () => void;
}

export function TaskDetail({ client, project, taskId, handle, user, onClose }: TaskDetailProps) {
  const tasks = useMemo(() => project.typed(ProjectDocument).collection('tasks'), [project]);
  // Re-reads the task whenever the collection changes, so the heading follows remote title edits.
  useRecords(tasks, () => 0);
  const task = tasks.get(taskId);
  const viewers = usePeers(handle).filter((peer) => peer.user.id !== user.id);
  const projectPeers = usePeers(project);
  const status = task?.get('status');
  const title = task?.get('title') || (task ? 'Untitled task' : 'Deleted task');
  // Both belong to one task document: another task opened shows neither.
  const [historyOf, setHistoryOf] = useState<string | null>(null);
  const historyOpen = historyOf === handle.name;
  const [restored, setRestored] = useState<Restored | null>(null);
  const [historyRevision, historyChanged] = useReducer((n: number) => n + 1, 0);
  const attaching = useAttaching(handle, taskId);
  const drop = useFileDrop(attaching.attach);

  return (
    <aside
      class={drop.dragging ? 'detail detail--dropping' : 'detail'}
      data-testid="task-detail"
      data-task-id={taskId}
      aria-label="Task description"
      {...drop.handlers}
    >
      {drop.dragging && (
        <div class="detail__drop" data-testid="attachment-drop-hint" aria-hidden="true">
          Drop to attach to this task
        </div>
      )}
      <header class="detail__header">
        <div>
          <h2 data-testid="detail-title">{title}</h2>
          {status && <span class={`status-pill status-pill--${status}`}>{STATUS_LABELS[status]}</span>}
        </div>
        <div class="detail__viewers">
          {[...new Map(viewers.map((peer) => [peer.user.id, peer.user])).values()].map((viewer) => (
            <Avatar key={viewer.id} user={viewer} note="here" small />
          ))}
          <button
            type="button"
            class="detail__history"
            data-testid="history-toggle"
            aria-expanded={historyOpen}
            title="Versions of this task's description and comments"
            onClick={() => setHistoryOf(historyOpen ? null : handle.name)}
          >
            History
          </button>
          <button type="button" class="link" data-testid="close-description" onClick={onClose} aria-label="Close">
            ✕
          </button>
        </div>
      </header>
      {historyOpen && (
        <HistoryPanel
          key={handle.name}
          handle={handle}
          title={title}
          revision={historyRevision}
          onClose={() => setHistoryOf(null)}
          onRestored={(version, result) => setRestored({ document: handle.name, version, result })}
        />
      )}
      {restored?.document === handle.name && (
        <RestoredNotice
          key={restored.result.before}
          handle={handle}
          restored={restored}
          onUndone={() => {
            setRestored(null);
            historyChanged(undefined);
          }}
          onDismiss={() => setRestored(null)}
        />
      )}
      {task && (
        <div class="detail__fields">
          {EDITABLE_FIELDS.map((field) => (
            <div key={field} class={`detail__field detail__field--${field}`}>
              <span class="muted">{FIELD_LABELS[field]}</span>
              <TaskField id={taskId} field={field} record={task} handle={project} peers={projectPeers} />
            </div>
          ))}
        </div>
      )}
      <DescriptionEditor key={handle.name} handle={handle} user={user} />
      <Attachments key={`attachments-${handle.name}`} client={client} handle={handle} taskId={taskId} user={user} attaching={attaching} />
      <Comments key={`comments-${handle.name}`} handle={handle} user={user} />
    </aside>
  );
}
