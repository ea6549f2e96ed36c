/**
 * The `where` filter of a live view and what a viewer computes from a view's rows (design: docs/live-views-design.md).
 *
 * The rule: one evaluator, `matchesWhere`, used by every side; no code travels. A filter is JSON: `{ <field>: {
 * <op>: value, … }, … }` (every field's every condition holds), `{ and: [filters] }`, `{ or: [filters] }`. Operators:
 * `eq`, `ne` (a missing field is not equal), `in` (a list), `lt`, `lte`, `gt`, `gte` (numbers with numbers, strings
 * with strings; a date operand compares with numbers as ms since the epoch and with ISO date strings), `exists`
 * (true: set and not null). Operand values may be `"$me"` (the viewer's user id) and `"$now"`, `"$now+7d"`,
 * `"$now-2h"` (units s, m, h, d, w), resolved when the filter is evaluated.
 */
import { z } from 'zod';

const FIELD = /^[A-Za-z0-9_$][A-Za-z0-9_$.-]*$/;
const DATE_TOKEN = /^\$now(?:([+-])(\d+)([smhdw]))?$/;
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

const scalar = z.union([z.string(), z.number().finite(), z.boolean(), z.null()]);

const conditionSchema = z
  .object({
    eq: scalar,
    ne: scalar,
    in: z.array(scalar),
    lt: z.union([z.string(), z.number().finite()]),
    lte: z.union([z.string(), z.number().finite()]),
    gt: z.union([z.string(), z.number().finite()]),
    gte: z.union([z.string(), z.number().finite()]),
    exists: z.boolean(),
  })
  .partial()
  .strict()
  .refine((condition) => Object.keys(condition).length > 0, 'a condition needs at least one operator');

export type Scalar = string | number | boolean | null;
export type Condition = {
  readonly eq?: Scalar;
  readonly ne?: Scalar;
  readonly in?: readonly Scalar[];
  readonly lt?: string | number;
  readonly lte?: string | number;
  readonly gt?: string | number;
  readonly gte?: string | number;
  readonly exists?: boolean;
};
export type Where = { readonly and: readonly Where[] } | { readonly or: readonly Where[] } | { readonly [field: string]: Condition };

export const whereSchema: z.ZodType<Where> = z.lazy(() =>
  z.union([
    z.object({ and: z.array(whereSchema).min(1) }).strict(),
    z.object({ or: z.array(whereSchema).min(1) }).strict(),
    z
      .record(z.string().regex(FIELD, 'a field name is letters, digits, _ $ . -').refine((field) => field !== 'and' && field !== 'or', 'and/or combine filters'), conditionSchema)
      .refine((fields) => Object.keys(fields).length > 0, 'a filter needs at least one field'),
  ]),
) as z.ZodType<Where>;

/** What `$me` and `$now` stand for when a filter is evaluated. */
export interface WhereContext {
  readonly me: string | null;
  /** ms since the epoch. */
  readonly now: number;
}

/** The fields a filter reads. */
export function whereFields(where: Where): string[] {
  if ('and' in where && Array.isArray(where.and)) return (where.and as Where[]).flatMap(whereFields);
  if ('or' in where && Array.isArray(where.or)) return (where.or as Where[]).flatMap(whereFields);
  return Object.keys(where);
}

type Operand = Scalar | { readonly date: number };

function resolve(value: Scalar, context: WhereContext): Operand {
  if (value === '$me') return context.me;
  if (typeof value === 'string') {
    const date = DATE_TOKEN.exec(value);
    if (date) {
      const offset = date[1] === undefined ? 0 : Number(date[2]) * UNIT_MS[date[3]!]! * (date[1] === '-' ? -1 : 1);
      return { date: context.now + offset };
    }
  }
  return value;
}

/** -1, 0, 1, or null when `value` and `operand` do not compare (different kinds, a missing value). */
function compare(value: unknown, operand: Operand): number | null {
  let a: number | string;
  let b: number | string;
  if (operand !== null && typeof operand === 'object') {
    b = operand.date;
    if (typeof value === 'number') a = value;
    else if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) a = Date.parse(value);
    else return null;
  } else if (typeof value === 'number' && typeof operand === 'number') {
    [a, b] = [value, operand];
  } else if (typeof value === 'string' && typeof operand === 'string') {
    [a, b] = [value, operand];
  } else {
    return null;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function equal(value: unknown, operand: Operand): boolean {
  if (operand !== null && typeof operand === 'object') return compare(value, operand) === 0;
  return value === operand;
}

function holds(value: unknown, condition: Condition, context: WhereContext): boolean {
  if (condition.exists !== undefined && (value !== undefined && value !== null) !== condition.exists) return false;
  if (condition.eq !== undefined && !equal(value, resolve(condition.eq, context))) return false;
  if (condition.ne !== undefined && equal(value, resolve(condition.ne, context))) return false;
  if (condition.in !== undefined && !condition.in.some((operand) => equal(value, resolve(operand, context)))) return false;
  const ordered: Array<[string | number | undefined, (order: number) => boolean]> = [
    [condition.lt, (order) => order < 0],
    [condition.lte, (order) => order <= 0],
    [condition.gt, (order) => order > 0],
    [condition.gte, (order) => order >= 0],
  ];
  for (const [operand, accepts] of ordered) {
    if (operand === undefined) continue;
    const order = compare(value, resolve(operand, context));
    if (order === null || !accepts(order)) return false;
  }
  return true;
}

/** Whether a record's `values` pass `where`. */
export function matchesWhere(where: Where | undefined, values: Readonly<Record<string, unknown>>, context: WhereContext): boolean {
  if (where === undefined) return true;
  if ('and' in where && Array.isArray(where.and)) return (where.and as Where[]).every((part) => matchesWhere(part, values, context));
  if ('or' in where && Array.isArray(where.or)) return (where.or as Where[]).some((part) => matchesWhere(part, values, context));
  return Object.entries(where as Record<string, Condition>).every(([field, condition]) =>
    holds(Object.hasOwn(values, field) ? values[field] : undefined, condition, context),
  );
}

/** Totals by aggregate (`count`, `sum:f` — 0 when no number —, `min:f`, `max:f` — null when no number). */
export type ViewTotals = Record<string, number | null>;

export function viewTotals(rows: ReadonlyArray<{ readonly values: Readonly<Record<string, unknown>> }>, aggregates: readonly string[]): ViewTotals {
  const totals: ViewTotals = {};
  for (const aggregate of aggregates) {
    if (aggregate === 'count') {
      totals[aggregate] = rows.length;
      continue;
    }
    const [kind, field] = aggregate.split(/:(.*)/s) as [string, string];
    const numbers = rows.map((row) => row.values[field]).filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
    if (kind === 'sum') totals[aggregate] = numbers.reduce((sum, value) => sum + value, 0);
    else if (numbers.length === 0) totals[aggregate] = null;
    // Folded, not spread: a view may hold more rows than a call takes arguments.
    else totals[aggregate] = numbers.reduce((best, value) => (kind === 'min' ? Math.min(best, value) : Math.max(best, value)));
  }
  return totals;
}

export interface ViewGroup<R> {
  /** The `groupBy` field's value (null when unset). */
  readonly key: unknown;
  readonly rows: readonly R[];
  readonly totals: ViewTotals;
}

/** Rows grouped by `field`'s value, groups ordered by their key's JSON; each with its totals. */
export function groupRows<R extends { readonly values: Readonly<Record<string, unknown>> }>(
  rows: readonly R[],
  field: string,
  aggregates: readonly string[],
): ViewGroup<R>[] {
  const groups = new Map<string, { key: unknown; rows: R[] }>();
  for (const row of rows) {
    const key = row.values[field] ?? null;
    const id = JSON.stringify(key);
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { key, rows: [] }));
    group.rows.push(row);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, group]) => ({ key: group.key, rows: group.rows, totals: viewTotals(group.rows, aggregates) }));
}
