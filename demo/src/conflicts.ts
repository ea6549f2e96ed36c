/**
 * Conflict notices in words, and whether a conflict happened while this person was offline.
 *
 * The client emits `conflict` when a write of this user lost to a concurrent one (README "Conflicts"); the demo
 * tells it as "While you were offline Alice set status of 'Pay invoice' to Doing; your Done was replaced". "While you
 * were offline" when the winning write was made while this client was not connected (or before this page was open:
 * an earlier session); otherwise "at the same time".
 */
import type { FieldConflict, SyncClient } from '@concord/client';
import { useEffect, useRef } from 'preact/hooks';
import { FIELD_LABELS } from './components/TaskFields';
import { EDITABLE_FIELDS, STATUS_LABELS, TASK_STATUSES, type EditableField, type TaskStatus } from './model';

/** Whether a write made at `at` (ms) was made while this client could not hear it. */
export type OfflineAt = (at: number) => boolean;

/**
 * Remembers when the client was not connected since the page opened. `connected` and `degraded` (connected while the
 * server cannot store) hear others' writes live; anything else does not.
 */
export function useOfflineSpans(client: SyncClient): OfflineAt {
  const opened = useRef(Date.now());
  // Each span is [from, to]; `to` null while it lasts.
  const spans = useRef<Array<[number, number | null]>>([]);
  useEffect(() => {
    const onState = (state: string) => {
      const live = state === 'connected' || state === 'degraded';
      const last = spans.current[spans.current.length - 1];
      const open = last !== undefined && last[1] === null;
      if (!live && !open) spans.current.push([Date.now(), null]);
      if (live && open) last[1] = Date.now();
    };
    onState(client.state);
    client.on('state', onState);
    return () => client.off('state', onState);
  }, [client]);
  return (at) => at < opened.current || spans.current.some(([from, to]) => at >= from && (to === null || at <= to));
}

function isEditableField(field: string): field is EditableField {
  return (EDITABLE_FIELDS as readonly string[]).includes(field);
}

/** A field's name in a sentence: "status", "due date". */
export function fieldName(field: string): string {
  return isEditableField(field) ? FIELD_LABELS[field].toLowerCase() : field;
}

/** A value in a sentence: a status by its label, text quoted, nothing as "empty". */
export function valueText(field: string, value: unknown): string {
  if (value === undefined || value === null || value === '') return 'empty';
  if (field === 'status' && (TASK_STATUSES as readonly unknown[]).includes(value)) return STATUS_LABELS[value as TaskStatus];
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

/**
 * "While you were offline Alice set status of 'Pay invoice' to Doing; your Done was replaced."
 * @param recordLabel what the record is called (a task's title), or null for a document's own field
 */
export function describeConflict(conflict: FieldConflict, whileOffline: boolean, recordLabel: string | null): string {
  const who = conflict.by.name ?? conflict.by.id ?? 'Someone';
  const what = recordLabel === null ? fieldName(conflict.field) : `${fieldName(conflict.field)} of '${recordLabel}'`;
  const set = `${who} set ${what} to ${valueText(conflict.field, conflict.winner)}`;
  const sentence = whileOffline ? `While you were offline ${set}` : `${set} at the same time as you`;
  return `${sentence}; your ${valueText(conflict.field, conflict.yours)} was replaced.`;
}
