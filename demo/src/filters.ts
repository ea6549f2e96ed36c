/**
 * The task filters (assignee, status, due) and the totals strip's figures, as the engine's view filters (`Where`,
 * engine/src/viewQuery.ts): the same filter reads the project's records on this device and the rows of a live view
 * across projects ("My tasks"), evaluated by the same code.
 *
 * Dates: `due` is a `YYYY-MM-DD` string and is compared as one with today's date on this device, so a task due today is
 * "due this week" until the day is over here, not at midnight UTC. "This week" is today and the 6 days after it.
 */
import { matchesWhere, type Where } from '@concord/engine';
import { TASK_STATUSES, type TaskStatus } from './model';

export interface TaskFilter {
  /** '' anyone, 'me', 'nobody', or a teammate's user id. */
  readonly assignee: string;
  /** '' any, 'open' (not done), or one status. */
  readonly status: '' | 'open' | TaskStatus;
  /** '' any, 'overdue', 'week' (due in the 7 days from today), 'none' (no due date). */
  readonly due: '' | 'overdue' | 'week' | 'none';
}

export const EMPTY_FILTER: TaskFilter = { assignee: '', status: '', due: '' };

const DUE_CHOICES = ['overdue', 'week', 'none'] as const;
const DAYS_IN_WEEK = 7;

export function isFiltering(filter: TaskFilter): boolean {
  return filter.assignee !== '' || filter.status !== '' || filter.due !== '';
}

export function filterFromParams(params: URLSearchParams): TaskFilter {
  const status = params.get('status') ?? '';
  const due = params.get('due') ?? '';
  return {
    assignee: params.get('assignee') ?? '',
    status: status === 'open' || (TASK_STATUSES as readonly string[]).includes(status) ? (status as TaskFilter['status']) : '',
    due: (DUE_CHOICES as readonly string[]).includes(due) ? (due as TaskFilter['due']) : '',
  };
}

export function filterToParams(filter: TaskFilter, params: URLSearchParams): void {
  for (const key of ['assignee', 'status', 'due'] as const) if (filter[key]) params.set(key, filter[key]);
}

/** `YYYY-MM-DD` of the day `days` after `now`, on this device's calendar. */
export function localDate(now: number, days = 0): string {
  const day = new Date(now);
  day.setDate(day.getDate() + days);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
}

const OPEN: Where = { status: { ne: 'done' } };

function overdue(now: number): Where {
  return { due: { ne: '', lt: localDate(now) } };
}

function dueThisWeek(now: number): Where {
  return { due: { gte: localDate(now), lte: localDate(now, DAYS_IN_WEEK - 1) } };
}

/** The filter as a view filter; undefined lets everything through. */
export function whereOf(filter: TaskFilter, now: number): Where | undefined {
  const parts: Where[] = [];
  if (filter.assignee === 'me') parts.push({ assignee: { eq: '$me' } });
  else if (filter.assignee === 'nobody') parts.push({ or: [{ assignee: { eq: '' } }, { assignee: { exists: false } }] });
  else if (filter.assignee) parts.push({ assignee: { eq: filter.assignee } });
  if (filter.status === 'open') parts.push(OPEN);
  else if (filter.status) parts.push({ status: { eq: filter.status } });
  if (filter.due === 'overdue') parts.push(overdue(now));
  else if (filter.due === 'week') parts.push(dueThisWeek(now));
  else if (filter.due === 'none') parts.push({ or: [{ due: { eq: '' } }, { due: { exists: false } }] });
  return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : { and: parts };
}

export interface TaskValues {
  readonly status?: string;
  readonly due?: string;
  readonly assignee?: string;
}

/** "7 open, 3 due this week, 1 overdue" over the tasks shown. */
export interface TaskTotals {
  readonly open: number;
  readonly dueThisWeek: number;
  readonly overdue: number;
  readonly done: number;
}

export function taskTotals(tasks: Iterable<TaskValues>, now: number): TaskTotals {
  const context = { me: null, now };
  const week = { and: [OPEN, dueThisWeek(now)] };
  const late = { and: [OPEN, overdue(now)] };
  let open = 0;
  let dueSoon = 0;
  let behind = 0;
  let done = 0;
  for (const values of tasks) {
    const record = values as Readonly<Record<string, unknown>>;
    if (matchesWhere(OPEN, record, context)) open += 1;
    else done += 1;
    if (matchesWhere(week, record, context)) dueSoon += 1;
    if (matchesWhere(late, record, context)) behind += 1;
  }
  return { open, dueThisWeek: dueSoon, overdue: behind, done };
}
