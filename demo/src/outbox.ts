/**
 * The outbox in the demo's own words: the client's entries name roots and record ids ("added 'x' to tasks", "12
 * characters typed in description"); here a task's description is named by the task's title, from the project
 * document, so the list reads "12 characters typed in 'Launch plan'".
 */
import type { OutboxEntry } from '@concord/client';
import { PROJECT_DOCUMENT } from './model';

/** The title of a task by id, or undefined when the project does not know it (yet). */
export type TaskTitle = (taskId: string) => string | undefined;

const TASK_DOCUMENT_PREFIX = 'task-';

function quoted(title: string | undefined, fallback: string): string {
  return title ? `'${title}'` : fallback;
}

function countOf(count: number, one: string): string {
  return `${count} ${one}${count === 1 ? '' : 's'}`;
}

export function describeEntry(documentName: string, entry: OutboxEntry, taskTitle: TaskTitle): string {
  if (documentName === PROJECT_DOCUMENT && entry.kind === 'record' && entry.root === 'tasks') {
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
