/**
 * The outbox in the demo's own words: the client's entries name roots, record ids and raw values ("added 'x' to
 * tasks", "12 characters typed in description", "assignee of 'x' → bob"); here a task's description is named by the
 * task's title, from the project document, so the list reads "12 characters typed in 'Launch plan'", an assignee by
 * the person's name ("assigned 'Launch plan' to Bob"), and a notification read by its title.
 */
import type { OutboxEntry } from '@concord/client';
import { isProjectDocument } from './model';

/** The title of a task by id, or undefined when the project does not know it (yet). */
export type TaskTitle = (taskId: string) => string | undefined;
/** A teammate's name by user id, or undefined for someone the team does not list. */
export type PersonName = (userId: string) => string | undefined;

const TASK_DOCUMENT_PREFIX = 'task-';
const INBOX_DOCUMENT_PREFIX = 'inbox:';

/** Whether `documentName` is the signed-in person's notifications (the client's `inbox:<user>`). */
export function isInbox(documentName: string): boolean {
  return documentName.startsWith(INBOX_DOCUMENT_PREFIX);
}

function quoted(title: string | undefined, fallback: string): string {
  return title ? `'${title}'` : fallback;
}

function countOf(count: number, one: string): string {
  return `${count} ${one}${count === 1 ? '' : 's'}`;
}

export function describeEntry(documentName: string, entry: OutboxEntry, taskTitle: TaskTitle, personName: PersonName = () => undefined): string {
  if (entry.kind === 'field' && entry.field === 'assignee') {
    const task = quoted(entry.label ?? undefined, 'the project');
    if (entry.removed || typeof entry.value !== 'string' || entry.value === '') return `unassigned ${task}`;
    return `assigned ${task} to ${personName(entry.value) ?? entry.value}`;
  }
  if (isInbox(documentName) && entry.kind === 'field' && entry.field === 'readAt') {
    return `read ${quoted(entry.label ?? undefined, 'a notification')}`;
  }
  if (isProjectDocument(documentName) && entry.kind === 'record' && entry.root === 'tasks') {
    return entry.removed ? `deleted task '${entry.label}'` : `added task '${entry.label}'`;
  }
  if (documentName.startsWith(TASK_DOCUMENT_PREFIX) && entry.kind === 'text') {
    const task = quoted(taskTitle(documentName.slice(TASK_DOCUMENT_PREFIX.length)), 'a task description');
    const parts = [
      entry.inserted > 0 ? `${countOf(entry.inserted, 'character')} typed` : '',
      entry.deleted > 0 ? `${countOf(entry.deleted, 'character')} deleted` : '',
    ].filter(Boolean);
    return `${parts.join(', ') || 'formatting changed'} in ${task}`;
  }
  return entry.summary;
}
