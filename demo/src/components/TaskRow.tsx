/**
 * One task of the list, every field editable in place (see TaskFields.tsx). The list lays it out as a row of
 * aligned columns when it has the width, and as a card when it does not (a phone, or beside an open task).
 */
import type { DocumentHandle } from '@concord/client';
import type { Peer } from '@concord/engine';
import { EDITABLE_FIELDS } from '../model';
import { TaskField, type TaskRecord } from './TaskFields';

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

export function TaskRow({ id, record, handle, peers, selected, highlighted, onOpen, onDelete }: TaskRowProps) {
  return (
    <li
      class={['task', selected && 'task--selected', highlighted && 'task--highlighted'].filter(Boolean).join(' ')}
      data-testid="task-row"
      data-task-id={id}
      data-highlighted={highlighted ? 'true' : undefined}
    >
      {EDITABLE_FIELDS.map((field) => (
        <div key={field} class={`task__cell task__${field}`}>
          <TaskField id={id} field={field} record={record} handle={handle} peers={peers} />
        </div>
      ))}
      <div class="task__cell task__actions">
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
      </div>
    </li>
  );
}
