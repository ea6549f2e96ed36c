/**
 * A task's editable fields (title, status, assignee, due date), one control each, shared by the task's card in the
 * list and by its detail. Each edit is written at once as a last-writer-wins field, so others see it while it is
 * typed.
 *
 * The assignee is picked from the team (AssigneePicker): the field holds the teammate's user id, which is what the
 * server's convention reads to notify them ("Alice assigned you 'Ship it'"); the picker shows their name. A value
 * that is nobody's id (a name typed before there was a picker) shows as it is.
 *
 * Warn before overwriting: focusing a field shares "editing" as presence and locks it (`presence.editing(field, task,
 * { lock: true })`, released on blur), so a field someone else is editing carries their colour and "Alice is
 * editing". A write to it is refused by the model (FieldLockedError): the control keeps what was typed and offers
 * "Change anyway" (a forced write) or "Discard" (FieldLock.tsx).
 */
import type { DocumentHandle, Member } from '@concord/client';
import type { FieldWriter, LwwRecord, Peer } from '@concord/engine';
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { STATUS_LABELS, TASK_STATUSES, type EditableField, type Task, type TaskStatus } from '../model';
import { useTeam } from '../team';
import { burstProps } from '../undo';
import { LockWarning, lockHolderOf } from './FieldLock';

export type TaskRecord = LwwRecord<(typeof Task)['fields']>;

export const FIELD_LABELS: Record<EditableField, string> = { title: 'Title', status: 'Status', assignee: 'Assignee', due: 'Due date' };

interface TaskFieldProps {
  id: string;
  field: EditableField;
  record: TaskRecord;
  handle: DocumentHandle;
  peers: readonly Peer[];
}

/** A write the model refused because someone else holds the field: what was typed, and who holds it. */
interface Refused {
  readonly value: string;
  readonly holder: FieldWriter;
}

/** Writes `value` to the field; returns who holds the lock when the model refused it, else null. */
export function writeTaskField(record: TaskRecord, field: EditableField, value: string, force = false): FieldWriter | null {
  try {
    record.set(field, value as never, force ? { force: true } : undefined);
    return null;
  } catch (error) {
    const holder = lockHolderOf(error);
    if (!holder) throw error;
    return holder;
  }
}

/** One field of one task, wrapped in who else is editing it. */
export function TaskField({ id, field, record, handle, peers }: TaskFieldProps) {
  const [refused, setRefused] = useState<Refused | null>(null);
  const write = (value: string) => {
    const holder = writeTaskField(record, field, value);
    setRefused(holder ? { value, holder } : null);
  };
  const stored = String(record.get(field) ?? '');
  return (
    <>
      <EditedBy
        editors={peers.filter((peer) => peer.field === field && peer.record === id)}
        onFocus={() => handle.presence.editing(field, id, { lock: true })}
        onBlur={() => handle.presence.stopEditing()}
      >
        {control(field, refused?.value ?? stored, handle, write)}
      </EditedBy>
      {/* Outside the field: focusing its buttons is not editing the field. */}
      {refused && (
        <LockWarning
          what="your change"
          holder={refused.holder}
          onForce={() => {
            handle.history.batch(() => writeTaskField(record, field, refused.value, true));
            setRefused(null);
          }}
          onDiscard={() => setRefused(null)}
        />
      )}
    </>
  );
}

function control(field: EditableField, value: string, handle: DocumentHandle, write: (value: string) => void) {
  const label = FIELD_LABELS[field];
  switch (field) {
    case 'title':
      return <input data-testid="field-title" value={value} maxLength={200} aria-label={label} {...burstProps(handle.history, write)} />;
    case 'status': {
      const status = (value || 'todo') as TaskStatus;
      return (
        <select
          data-testid="field-status"
          class={`status-pill status-pill--${status}`}
          value={status}
          aria-label={label}
          onChange={(event) => handle.history.batch(() => write(event.currentTarget.value))}
        >
          {TASK_STATUSES.map((option) => (
            <option key={option} value={option}>
              {STATUS_LABELS[option]}
            </option>
          ))}
        </select>
      );
    }
    case 'assignee':
      return <AssigneePicker value={value} label={label} onPick={(id) => handle.history.batch(() => write(id))} />;
    case 'due':
      return (
        <input
          data-testid="field-due"
          type="date"
          value={value}
          aria-label={label}
          onChange={(event) => handle.history.batch(() => write(event.currentTarget.value))}
        />
      );
  }
}

/** Who can be picked: nobody, then the team by name (you marked), and a value that is nobody's id as it is. */
function assigneeOptions(members: readonly Member[], value: string): Array<{ value: string; label: string }> {
  const team = [...members].sort((a, b) => a.user.name.localeCompare(b.user.name));
  const options = team.map(({ user, self }) => ({ value: user.id, label: self ? `${user.name} (you)` : user.name }));
  const known = value === '' || options.some((option) => option.value === value);
  return [{ value: '', label: 'Nobody' }, ...(known ? [] : [{ value, label: value }]), ...options];
}

/** The assignee: a teammate's user id picked by name from the workspace's members (the **N online** panel's list). */
function AssigneePicker({ value, label, onPick }: { value: string; label: string; onPick: (id: string) => void }) {
  const options = assigneeOptions(useTeam(), value);
  return (
    <select
      data-testid="field-assignee"
      class={value ? 'assignee' : 'assignee assignee--nobody'}
      value={value}
      aria-label={label}
      onChange={(event) => onPick(event.currentTarget.value)}
    >
      {options.map((option) => (
        <option key={option.value} value={option.value}>
          {option.label}
        </option>
      ))}
    </select>
  );
}

function EditedBy(props: { editors: readonly Peer[]; onFocus: () => void; onBlur: () => void; children: ComponentChildren }) {
  const editor = props.editors[0];
  const names = [...new Set(props.editors.map((peer) => peer.user.name))];
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
          {names.join(', ')} {names.length > 1 ? 'are' : 'is'} editing
        </span>
      )}
    </div>
  );
}
