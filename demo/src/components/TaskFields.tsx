/**
 * A task's editable fields (title, status, assignee, due date), one control each, shared by the task's card in the
 * list and by its detail. Each edit is written at once as a last-writer-wins field, so others see it while it is
 * typed; the field being edited is shared as presence, and a field someone else is editing carries their colour and
 * name.
 */
import type { DocumentHandle } from '@concord/client';
import type { LwwRecord, Peer } from '@concord/engine';
import type { ComponentChildren } from 'preact';
import { STATUS_LABELS, TASK_STATUSES, type EditableField, type Task, type TaskStatus } from '../model';
import { burstProps } from '../undo';

export type TaskRecord = LwwRecord<(typeof Task)['fields']>;

/** The presence `field` value for one field of one task. */
export function fieldKey(taskId: string, field: EditableField): string {
  return `${taskId}.${field}`;
}

export const FIELD_LABELS: Record<EditableField, string> = { title: 'Title', status: 'Status', assignee: 'Assignee', due: 'Due date' };

interface TaskFieldProps {
  id: string;
  field: EditableField;
  record: TaskRecord;
  handle: DocumentHandle;
  peers: readonly Peer[];
}

/** One field of one task, wrapped in who else is editing it. */
export function TaskField({ id, field, record, handle, peers }: TaskFieldProps) {
  return (
    <EditedBy
      editors={peers.filter((peer) => peer.field === fieldKey(id, field))}
      onFocus={() => handle.presence.set({ field: fieldKey(id, field) })}
      onBlur={() => handle.presence.set({ field: null })}
    >
      {control(field, record, handle)}
    </EditedBy>
  );
}

function control(field: EditableField, record: TaskRecord, handle: DocumentHandle) {
  const label = FIELD_LABELS[field];
  switch (field) {
    case 'title':
      return (
        <input
          data-testid="field-title"
          value={record.get('title') ?? ''}
          maxLength={200}
          aria-label={label}
          {...burstProps(handle.history, (value) => record.set('title', value))}
        />
      );
    case 'status':
      return (
        <select
          data-testid="field-status"
          class={`status-pill status-pill--${record.get('status') ?? 'todo'}`}
          value={record.get('status') ?? 'todo'}
          aria-label={label}
          onChange={(event) => handle.history.batch(() => record.set('status', event.currentTarget.value as TaskStatus))}
        >
          {TASK_STATUSES.map((status) => (
            <option key={status} value={status}>
              {STATUS_LABELS[status]}
            </option>
          ))}
        </select>
      );
    case 'assignee':
      return (
        <input
          data-testid="field-assignee"
          value={record.get('assignee') ?? ''}
          list="people"
          maxLength={100}
          placeholder="Nobody"
          aria-label={label}
          {...burstProps(handle.history, (value) => record.set('assignee', value))}
        />
      );
    case 'due':
      return (
        <input
          data-testid="field-due"
          type="date"
          value={record.get('due') ?? ''}
          aria-label={label}
          onChange={(event) => handle.history.batch(() => record.set('due', event.currentTarget.value))}
        />
      );
  }
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
