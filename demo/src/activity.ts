/**
 * The project's activity feed in the demo's own words. The server derives the feed of `project-demo` into the
 * read-only document `activity:project-demo` (engine `readActivity`: who changed which field from what to what, which
 * task was added or removed, which version was restored); this turns each entry into a sentence a person reads —
 * "Alice changed status of 'Pay invoice' from To do to Done", "Bob added task 'Call the printer'" — naming tasks by
 * their title as the board shows it now, or, for a task that is gone, as the feed last knew it.
 */
import type { ActivityEntry } from '@concord/engine';
import { STATUS_LABELS, TASK_STATUSES, type TaskStatus } from './model';

/** The actor the server writes for changes made with the backend's API key. */
export const API_ACTOR = 'api';

/** The collection the demo's tasks live in (`ProjectDocument`). */
const TASKS = 'tasks';

/** A sentence in two parts, so the person can be set apart: `${who} ${what}`. */
export interface ActivitySentence {
  readonly who: string;
  readonly what: string;
}

export function sentenceText(sentence: ActivitySentence): string {
  return `${sentence.who} ${sentence.what}`;
}

/** Who made the change: their name, or "The app backend" for the backend's API key. */
export function actorName(entry: Pick<ActivityEntry, 'by' | 'byName'>): string {
  if (entry.by === API_ACTOR) return 'The app backend';
  return entry.byName || entry.by || 'Someone';
}

/**
 * Task titles as the feed knows them, by record id: the title a task had when added, or the last title it was given
 * (entries oldest first are read newest first, so the first one seen wins). For tasks no longer on the board.
 */
export function titlesInFeed(entries: readonly ActivityEntry[]): Map<string, string> {
  const titles = new Map<string, string>();
  for (const entry of entries) {
    if (entry.kind === 'record-added' && entry.collection === TASKS && entry.title && !titles.has(entry.record)) {
      titles.set(entry.record, entry.title);
    } else if (
      entry.kind === 'field' &&
      entry.collection === TASKS &&
      entry.record !== null &&
      entry.field === 'title' &&
      typeof entry.to === 'string' &&
      entry.to &&
      !titles.has(entry.record)
    ) {
      titles.set(entry.record, entry.to);
    }
  }
  return titles;
}

/** How a task is called in a sentence: its title in quotes, or "an untitled task". */
function taskRef(title: string | null | undefined): string {
  return title ? `'${shorten(title)}'` : 'an untitled task';
}

function shorten(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function isStatus(value: unknown): value is TaskStatus {
  return typeof value === 'string' && (TASK_STATUSES as readonly string[]).includes(value);
}

function isEmpty(value: unknown): boolean {
  return value === null || value === undefined || value === '';
}

/** `2030-05-01` as "1 May 2030". */
function dateLabel(value: unknown): string {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return valueLabel(value);
  const date = new Date(`${value}T00:00:00`);
  return Number.isNaN(date.getTime()) ? value : date.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
}

/** A field value as a sentence shows it: statuses by their label, text in quotes, nothing as "nothing". */
export function valueLabel(value: unknown): string {
  if (isStatus(value)) return STATUS_LABELS[value];
  if (isEmpty(value)) return 'nothing';
  if (typeof value === 'string') return `'${shorten(value, 60)}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return shorten(JSON.stringify(value), 60);
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The sentence for a change of one field of a task. */
function taskFieldSentence(field: string, from: unknown, to: unknown, title: string | null, nameOf: (id: string) => string): string {
  const task = taskRef(title);
  const unchanged = JSON.stringify(from) === JSON.stringify(to);
  switch (field) {
    case 'title':
      if (unchanged) return `edited the title of ${taskRef(typeof to === 'string' ? to : title)} and changed it back`;
      if (isEmpty(from)) return `named ${taskRef(null)} '${shorten(String(to))}'`;
      if (isEmpty(to)) return `cleared the title of '${shorten(String(from))}'`;
      return `renamed '${shorten(String(from))}' to '${shorten(String(to))}'`;
    case 'status':
      if (unchanged) return `changed status of ${task} and changed it back to ${valueLabel(to)}`;
      if (isEmpty(from)) return `set status of ${task} to ${valueLabel(to)}`;
      return `changed status of ${task} from ${valueLabel(from)} to ${valueLabel(to)}`;
    case 'assignee':
      if (unchanged) return isEmpty(to) ? `assigned ${task} and took it back` : `reassigned ${task} and gave it back to ${nameOf(String(to))}`;
      if (isEmpty(to)) return `unassigned ${nameOf(String(from))} from ${task}`;
      return `assigned ${task} to ${nameOf(String(to))}`;
    case 'due':
      if (unchanged) return `changed the due date of ${task} and changed it back`;
      if (isEmpty(to)) return `removed the due date of ${task}`;
      if (isEmpty(from)) return `set the due date of ${task} to ${dateLabel(to)}`;
      return `moved the due date of ${task} from ${dateLabel(from)} to ${dateLabel(to)}`;
    default:
      return `changed ${field} of ${task} from ${valueLabel(from)} to ${valueLabel(to)}`;
  }
}

/**
 * The sentence for one entry. `titleOf(record)` is a task's title on the board now (undefined when it is not there);
 * `feedTitles` what the feed knew it as (`titlesInFeed`); `nameOf(userId)` a teammate's name (an assignee is stored as
 * a user id), the id itself for someone unknown.
 */
export function describeActivity(
  entry: ActivityEntry,
  titleOf: (record: string) => string | undefined,
  feedTitles: ReadonlyMap<string, string> = new Map(),
  nameOf: (id: string) => string = (id) => id,
): ActivitySentence {
  const who = actorName(entry);
  const title = (record: string, fallback: string | null = null): string | null => titleOf(record) ?? feedTitles.get(record) ?? fallback;
  switch (entry.kind) {
    case 'field': {
      if (entry.collection === TASKS && entry.record !== null) {
        return { who, what: taskFieldSentence(entry.field, entry.from, entry.to, title(entry.record), nameOf) };
      }
      const owner = entry.collection === null ? 'the project' : `${entry.collection} ${entry.record ?? ''}`.trim();
      if (isEmpty(entry.from)) return { who, what: `set ${entry.field} of ${owner} to ${valueLabel(entry.to)}` };
      if (isEmpty(entry.to)) return { who, what: `cleared ${entry.field} of ${owner}` };
      return { who, what: `changed ${entry.field} of ${owner} from ${valueLabel(entry.from)} to ${valueLabel(entry.to)}` };
    }
    case 'record-added':
      if (entry.collection === TASKS) {
        const name = title(entry.record, entry.title);
        return { who, what: name ? `added task '${shorten(name)}'` : 'added an untitled task' };
      }
      return { who, what: `added ${entry.title ? `'${shorten(entry.title)}'` : 'an item'} to ${entry.collection}` };
    case 'record-removed':
      if (entry.collection === TASKS) {
        const name = title(entry.record, entry.title);
        return { who, what: name ? `removed task '${shorten(name)}'` : 'removed a task' };
      }
      return { who, what: `removed ${entry.title ? `'${shorten(entry.title)}'` : 'an item'} from ${entry.collection}` };
    case 'text': {
      const where = entry.record !== null ? `the text of ${entry.root === TASKS ? taskRef(title(entry.record)) : `${entry.root} ${entry.record}`}` : `the ${entry.root}`;
      const parts = [
        entry.inserted > 0 ? `typed ${plural(entry.inserted, 'character')}` : null,
        entry.deleted > 0 ? `deleted ${plural(entry.deleted, 'character')}` : null,
      ].filter((part): part is string => part !== null);
      return { who, what: `${parts.join(' and ') || 'edited'} in ${where}` };
    }
    case 'list': {
      const item = entry.root === 'comments' ? 'comment' : 'item';
      const where = entry.root === 'comments' ? '' : ` to ${entry.root}`;
      if (entry.added > 0) {
        const preview = entry.preview ? `: “${shorten(entry.preview, 100)}”` : '';
        const removed = entry.removed > 0 ? ` and removed ${plural(entry.removed, item)}` : '';
        return { who, what: `added ${entry.added === 1 ? `a ${item}` : plural(entry.added, item)}${where}${removed}${preview}` };
      }
      return { who, what: `removed ${entry.removed === 1 ? `a ${item}` : plural(entry.removed, item)}${entry.root === 'comments' ? '' : ` from ${entry.root}`}` };
    }
    case 'restore':
      return { who, what: entry.versionName ? `restored version '${shorten(entry.versionName)}'` : 'restored an earlier version' };
    default: {
      const unknown = entry as { kind?: unknown };
      return { who, what: `made a change (${String(unknown.kind)})` };
    }
  }
}

/** The task an entry is about, when it is one of the demo's tasks. */
export function taskOf(entry: ActivityEntry): string | null {
  if ((entry.kind === 'field' || entry.kind === 'record-added' || entry.kind === 'record-removed') && entry.collection === TASKS) {
    return entry.record;
  }
  return entry.kind === 'text' && entry.root === TASKS ? entry.record : null;
}

/** The entries newest first by when they were last updated (a merged entry moves up), ties in the feed's order. */
export function newestFirst(entries: readonly ActivityEntry[]): ActivityEntry[] {
  return [...entries].sort((a, b) => b.at - a.at);
}
