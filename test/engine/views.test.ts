/**
 * Live views in the engine: spec validation, the canonical view document name (and its length limit), reading it back,
 * extracting rows from a document, and the `where`/group/totals computation against a straightforward recomputation
 * over seeded random specs and records (the seed is logged; CONCORD_TEST_SEED replays it).
 */
import {
  ConcordError,
  ErrorKind,
  extractRows,
  groupRows,
  writeField,
  matchesWhere,
  parseViewName,
  parseViewSpec,
  readViewRows,
  VIEW_ROWS_ROOT,
  viewDocumentName,
  viewTotals,
  documentNameProblem,
  type ViewSpec,
  type Where,
  type WhereContext,
} from '@concord/engine';
import * as prng from 'lib0/prng';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { seededRandom } from '../support/random.js';

const NOW = Date.UTC(2026, 11, 4, 12);
const DAY_MS = 86_400_000;

describe('view names', () => {
  test('the name holds the extraction only: filters that read the same fields share one document', () => {
    const a = viewDocumentName({ documents: 'project-*', collection: 'tasks', where: { status: { eq: 'open' } }, aggregate: ['count'] });
    const b = viewDocumentName({ documents: 'project-*', collection: 'tasks', where: { status: { ne: 'done' } } });
    expect(a).toBe(b);
    expect(a.startsWith('view:')).toBe(true);
    expect(documentNameProblem(a)).toBeUndefined();
    expect(parseViewName(a)).toEqual({ documents: 'project-*', collection: 'tasks', fields: ['status'] });
    const c = viewDocumentName({ documents: 'project-*', collection: 'tasks', groupBy: 'status', aggregate: ['sum:points'], where: { assignee: { eq: '$me' } } });
    expect(parseViewName(c)).toEqual({ documents: 'project-*', collection: 'tasks', fields: ['assignee', 'points', 'status'] });
    // Compact: what the demo's "My tasks" extracts, with room to spare.
    const mine = viewDocumentName({ documents: 'project-*', collection: 'tasks', where: { assignee: { eq: '$me' } }, fields: ['title', 'status', 'due', 'createdAt'] });
    expect(mine.length).toBeLessThanOrEqual(80);
    expect(parseViewName(mine)).toEqual({ documents: 'project-*', collection: 'tasks', fields: ['assignee', 'createdAt', 'due', 'status', 'title'] });
  });

  test('a spec too long for a document name is refused with a clear error', () => {
    const spec: ViewSpec = { documents: 'project-*', collection: 'tasks', fields: Array.from({ length: 12 }, (_, i) => `someLongFieldName${i}`) };
    expect(() => viewDocumentName(spec)).toThrow(/over the 128 a document name may have/);
    try {
      viewDocumentName(spec);
    } catch (error) {
      expect((error as ConcordError).kind).toBe(ErrorKind.InvalidDocumentName);
    }
  });

  test.each([
    [{ documents: 'project/*', collection: 'tasks' }, 'documents'],
    [{ documents: 'project-*', collection: '' }, 'collection'],
    [{ documents: 'project-*', collection: 'tasks', aggregate: ['avg:x'] }, 'aggregate'],
    [{ documents: 'project-*', collection: 'tasks', where: { status: { like: 'x' } } }, 'where'],
    [{ documents: 'project-*', collection: 'tasks', where: { status: {} } }, 'where'],
    [{ documents: 'project-*', collection: 'tasks', code: 'x => true' }, 'code'],
  ])('invalid spec %j is refused (%s)', (spec, path) => {
    expect(() => parseViewSpec(spec)).toThrow(new RegExp(`invalid view spec: .*${path}`));
  });

  test.each(['view:', 'view:!!!', 'view:e30', 'project-1', `view:${btoa('t\np-*\nb,a').replace(/=+$/, '')}`, `view:${btoa('t\np-*').replace(/=+$/, '')}`])(
    '%s is not a (canonical) view name',
    (name) => expect(parseViewName(name)).toBeNull(),
  );
});

describe('where', () => {
  const context: WhereContext = { me: 'ada', now: NOW };
  test.each<[Where, Record<string, unknown>, boolean]>([
    [{ status: { eq: 'open' } }, { status: 'open' }, true],
    [{ status: { ne: 'open' } }, {}, true],
    [{ status: { in: ['a', 'b'] } }, { status: 'b' }, true],
    [{ points: { gt: 3, lte: 5 } }, { points: 5 }, true],
    [{ points: { gt: 3 } }, { points: '9' }, false],
    [{ assignee: { eq: '$me' } }, { assignee: 'ada' }, true],
    [{ due: { lt: '$now+7d' } }, { due: NOW + 6 * DAY_MS }, true],
    [{ due: { lt: '$now+7d' } }, { due: new Date(NOW + 8 * DAY_MS).toISOString() }, false],
    [{ due: { gte: '$now-1h' } }, { due: new Date(NOW).toISOString() }, true],
    [{ due: { exists: true } }, { due: null }, false],
    [{ or: [{ a: { eq: 1 } }, { b: { eq: 2 } }] }, { b: 2 }, true],
    [{ and: [{ a: { eq: 1 } }, { b: { eq: 2 } }] }, { b: 2 }, false],
  ])('%j on %j is %s', (where, values, expected) => expect(matchesWhere(parseViewSpec({ documents: 'x', collection: 'c', where }).where, values, context)).toBe(expected));
});

describe('rows', () => {
  test('extractRows reads the records of the collection with the fields the view needs, by the LWW reading rule', () => {
    const doc = new Y.Doc();
    const tasks = doc.getMap<Y.Map<unknown>>('tasks');
    const entry = new Y.Map<unknown>();
    doc.transact(() => {
      tasks.set('t1', entry);
      tasks.set('junk', 'not a record' as unknown as Y.Map<unknown>);
    });
    writeField(entry, 'status', 'open');
    entry.set('points', 3); // a plain (unstamped) field is read too
    const rows = extractRows(doc, { documents: 'p-*', collection: 'tasks', fields: ['points', 'status', 'missing'] });
    expect(Object.keys(rows)).toEqual(['t1']);
    expect(rows.t1!.points).toBe(3);
    expect(rows.t1!.status).toBe('open');
    expect(rows.t1).not.toHaveProperty('missing');
    expect(extractRows(doc, { documents: 'p-*', collection: 'nothing', fields: [] })).toEqual({});
  });
});

const STATUSES = ['open', 'doing', 'done', null];
const USERS = ['ada', 'bob', 'cy'];

function randomWhere(gen: prng.PRNG, depth = 0): Where {
  const kind = prng.int32(gen, 0, depth < 2 ? 9 : 6);
  if (kind === 8) return { and: [randomWhere(gen, depth + 1), randomWhere(gen, depth + 1)] };
  if (kind === 9) return { or: [randomWhere(gen, depth + 1), randomWhere(gen, depth + 1)] };
  switch (kind) {
    case 0:
      return { status: { eq: prng.oneOf(gen, STATUSES) } };
    case 1:
      return { status: { in: [prng.oneOf(gen, STATUSES), prng.oneOf(gen, STATUSES)] } };
    case 2:
      return { assignee: { eq: '$me' } };
    case 3:
      return { points: { [prng.oneOf(gen, ['lt', 'lte'])]: prng.int32(gen, 0, 6), [prng.oneOf(gen, ['gt', 'gte'])]: prng.int32(gen, 0, 6) } };
    case 4:
      return { due: { lt: `$now+${prng.int32(gen, 0, 10)}d` } };
    case 5:
      return { due: { exists: prng.bool(gen) } };
    default:
      return { assignee: { ne: prng.oneOf(gen, USERS) } };
  }
}

function randomValues(gen: prng.PRNG): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const status = prng.oneOf(gen, STATUSES);
  if (status !== null || prng.bool(gen)) values.status = status;
  if (prng.bool(gen)) values.assignee = prng.oneOf(gen, USERS);
  if (prng.int32(gen, 0, 3) > 0) values.points = prng.int32(gen, 0, 6);
  const due = prng.int32(gen, 0, 3);
  if (due === 1) values.due = NOW + prng.int32(gen, -5, 12) * DAY_MS;
  if (due === 2) values.due = new Date(NOW + prng.int32(gen, -5, 12) * DAY_MS).toISOString();
  return values;
}

/** The filter evaluated the plainest way, for comparison. */
function plainMatch(where: Where, values: Record<string, unknown>, me: string): boolean {
  if ('and' in where) return (where.and as Where[]).every((part) => plainMatch(part, values, me));
  if ('or' in where) return (where.or as Where[]).some((part) => plainMatch(part, values, me));
  return Object.entries(where as Record<string, Record<string, unknown>>).every(([field, condition]) => {
    const value = values[field];
    const num = (operand: unknown): number | null => {
      const m = typeof operand === 'string' ? /^\$now\+(\d+)d$/.exec(operand) : null;
      return m ? NOW + Number(m[1]) * DAY_MS : typeof operand === 'number' ? operand : null;
    };
    const asNumber = typeof value === 'number' ? value : typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? Date.parse(value) : null;
    for (const [op, raw] of Object.entries(condition)) {
      const operand = raw === '$me' ? me : raw;
      if (op === 'eq' && value !== operand) return false;
      if (op === 'ne' && value === operand) return false;
      if (op === 'in' && !(operand as unknown[]).includes(value)) return false;
      if (op === 'exists' && (value !== undefined && value !== null) !== operand) return false;
      if (['lt', 'lte', 'gt', 'gte'].includes(op)) {
        const b = num(operand);
        const isDate = typeof operand === 'string';
        const a = isDate ? asNumber : typeof value === 'number' ? value : null;
        if (a === null || b === null) return false;
        if (op === 'lt' && !(a < b)) return false;
        if (op === 'lte' && !(a <= b)) return false;
        if (op === 'gt' && !(a > b)) return false;
        if (op === 'gte' && !(a >= b)) return false;
      }
    }
    return true;
  });
}

test('seeded random specs and records: rows, groups and totals equal a plain recomputation', () => {
  const { gen } = seededRandom('views');
  for (let round = 0; round < 500; round++) {
    const doc = new Y.Doc();
    const rowsRoot = doc.getMap<unknown>(VIEW_ROWS_ROOT);
    const all: Array<{ document: string; id: string; values: Record<string, unknown> }> = [];
    for (let d = 0; d < prng.int32(gen, 0, 5); d++) {
      const records: Record<string, Record<string, unknown>> = {};
      for (let r = 0; r < prng.int32(gen, 0, 6); r++) {
        records[`r${r}`] = randomValues(gen);
        all.push({ document: `project-${d}`, id: `r${r}`, values: records[`r${r}`]! });
      }
      rowsRoot.set(`project-${d}`, records);
    }
    const where = prng.bool(gen) ? randomWhere(gen) : undefined;
    const spec = parseViewSpec({ documents: 'project-*', collection: 'tasks', where, groupBy: 'status', aggregate: ['count', 'sum:points', 'min:points', 'max:points'] });
    const me = prng.oneOf(gen, USERS);
    const rows = readViewRows(doc).filter((row) => matchesWhere(spec.where, row.values, { me, now: NOW }));
    const expected = all.filter((row) => where === undefined || plainMatch(where, row.values, me));
    const key = (row: { document: string; id: string }) => `${row.document}/${row.id}`;
    expect(rows.map(key).sort(), JSON.stringify({ where, me })).toEqual(expected.map(key).sort());
    const points = expected.map((row) => row.values.points).filter((p): p is number => typeof p === 'number');
    expect(viewTotals(rows, spec.aggregate!)).toEqual({
      count: expected.length,
      'sum:points': points.reduce((a, b) => a + b, 0),
      'min:points': points.length ? Math.min(...points) : null,
      'max:points': points.length ? Math.max(...points) : null,
    });
    const groups = groupRows(rows, 'status', ['count']);
    for (const status of STATUSES) {
      const inGroup = expected.filter((row) => (row.values.status ?? null) === status);
      const group = groups.find((g) => g.key === status);
      expect(group?.rows.length ?? 0).toBe(inGroup.length);
      if (group) expect(group.totals.count).toBe(inGroup.length);
    }
    expect(groups.reduce((n, g) => n + g.rows.length, 0)).toBe(rows.length);
  }
});
