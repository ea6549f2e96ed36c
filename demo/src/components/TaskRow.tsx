/**
 * One task, every field editable in place. Each edit is written at once as a last-writer-wins field, so others
 * see it while it is typed; the field being edited is shared as presence, and a field someone else is editing
 * carries their colour and name.
 */
import type { DocumentHandle } from '@concord/client';
import type { LwwRecord, Peer } from '@concord/engine';
import type { ComponentChildren } from 'preact';
import { STATUS_LABELS, TASK_STATUSES, type EditableField, type Task, type TaskStatus } from '../model';

type TaskRecord = LwwRecord<(typeof Task)['fields']>;

interface TaskRowProps {
  id: string;
  record: TaskRecord;
  handle: DocumentHandle;
  peers: readonly Peer[];
  selected: boolean;
  highlighted: boolean;
  onOpen: () => void;
  onDelete: () => void;
}

/** The presence `field` value for one field of one task. */
export function fieldKey(taskId: string, field: EditableField): string {
  return `${taskId}.${field}`;
}

export function TaskRow({ id, record, handle, peers, selected, highlighted, onOpen, onDelete }: TaskRowProps) {
  const cell = (field: EditableField, children: ComponentChildren) => (
    <EditedBy
      editors={peers.filter((peer) => peer.field === fieldKey(id, field))}
      onFocus={() => handle.presence.set({ field: fieldKey(id, field) })}
      onBlur={() => handle.presence.set({ field: null })}
    >
      {children}
    </EditedBy>
  );

  return (
    <tr
      class={['task', selected && 'task--selected', highlighted && 'task--highlighted'].filter(Boolean).join(' ')}
      data-testid="task-row"
      data-task-id={id}
      data-highlighted={highlighted ? 'true' : undefined}
    >
      <td class="task__title">
        {cell(
          'title',
          <input
            data-testid="field-title"
            value={record.get('title') ?? ''}
            maxLength={200}
            aria-label="Title"
            onInput={(event) => record.set('title', event.currentTarget.value)}
          />,
        )}
      </td>
      <td>
        {cell(
          'status',
          <select
            data-testid="field-status"
            class={`status-pill status-pill--${record.get('status') ?? 'todo'}`}
            value={record.get('status') ?? 'todo'}
            aria-label="Status"
            onChange={(event) => record.set('status', event.currentTarget.value as TaskStatus)}
          >
            {TASK_STATUSES.map((status) => (
              <option key={status} value={status}>
                {STATUS_LABELS[status]}
              </option>
            ))}
          </select>,
        )}
      </td>
      <td>
        {cell(
          'assignee',
          <input
            data-testid="field-assignee"
            value={record.get('assignee') ?? ''}
            list="people"
            maxLength={100}
            placeholder="Nobody"
            aria-label="Assignee"
            onInput={(event) => record.set('assignee', event.currentTarget.value)}
          />,
        )}
      </td>
      <td>
        {cell(
          'due',
          <input
            data-testid="field-due"
            type="date"
            value={record.get('due') ?? ''}
            aria-label="Due date"
            onChange={(event) => record.set('due', event.currentTarget.value)}
          />,
        )}
      </td>
      <td class="task__actions">
        <button
          type="button"
          data-testid="open-description"
          onClick={onOpen}
          aria-pressed={selected}
          aria-label="Open the description"
          title="Open the description"
        >
          Open
        </button>
        <button type="button" class="link danger" data-testid="delete-task" onClick={onDelete} aria-label="Delete task">
          ✕
        </button>
      </td>
    </tr>
  );
}

function EditedBy(props: { editors: readonly Peer[]; onFocus: () => void; onBlur: () => void; children: ComponentChildren }) {
  const editor = props.editors[0];
  return (
    <div
      class={editor ? 'field field--edited' : 'field'}
      style={editor ? { borderColor: editor.user.color } : undefined}
      onFocusIn={props.onFocus}
      onFocusOut={props.onBlur}
    >
      {props.children}
      {editor && (
        <span class="field__editor" style={{ backgroundColor: editor.user.color }} data-testid="field-editor">
          {props.editors.map((peer) => peer.user.name).join(', ')}
        </span>
      )}
    </div>
  );
}
