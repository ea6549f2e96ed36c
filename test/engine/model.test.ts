/**
 * The typed document model: LWW fields validated on write, invalid stored values hidden on read, collections
 * written whole, concurrent field writes merging deterministically, typed roots that stock Yjs clients can read.
 */
import { defineDocument, defineRecord, ErrorKind, FieldValidationError, LOCAL_EDIT_ORIGIN } from '@concord/engine';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { z } from 'zod';

const Task = defineRecord('Task', {
  title: z.string().min(1).max(200),
  status: z.enum(['todo', 'doing', 'done']),
  assignee: z.string().nullable().optional(),
  due: z.iso.date().nullable().optional(),
});

const Project = defineDocument('Project', {
  fields: defineRecord('Project fields', { name: z.string(), balance: z.number() }),
  collections: { tasks: Task },
  texts: ['notes'],
  richTexts: ['description'],
  lists: ['activity'],
});

function sync(a: Y.Doc, b: Y.Doc): void {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)));
}

describe('LWW fields', () => {
  test('valid writes land; invalid writes throw FieldValidationError and write nothing', () => {
    const project = Project.open(new Y.Doc());
    project.fields.set('name', 'Launch');
    project.fields.update({ balance: 12.5 });
    expect(project.fields.toJSON()).toEqual({ name: 'Launch', balance: 12.5 });

    const error = (() => {
      try {
        project.fields.set('balance', 'lots' as unknown as number);
      } catch (e) {
        return e as FieldValidationError;
      }
    })();
    expect(error).toBeInstanceOf(FieldValidationError);
    expect(error?.kind).toBe(ErrorKind.InvalidField);
    expect(error?.field).toBe('balance');
    expect(error?.message).toMatch(/^Project fields\.balance: /);
    expect(project.fields.get('balance')).toBe(12.5);

    expect(() => project.fields.update({ name: 'ok', balance: Number.NaN })).toThrow(FieldValidationError);
    expect(project.fields.get('name')).toBe('Launch');
    expect(() => (project.fields as unknown as { set(f: string, v: unknown): void }).set('owner', 'x')).toThrow(/has no field "owner"/);
  });

  test('a value another writer stored that fails the schema reads as undefined', () => {
    const doc = new Y.Doc();
    doc.getMap('fields').set('balance', 'not a number');
    doc.getMap('fields').set('name', 'Raw');
    const project = Project.open(doc);
    expect(project.fields.get('balance')).toBeUndefined();
    expect(project.fields.toJSON()).toEqual({ name: 'Raw' });
  });

  test('concurrent writes: different fields both survive, the same field resolves identically everywhere', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    const pa = Project.open(a);
    const pb = Project.open(b);
    pa.fields.set('name', 'from A');
    pb.fields.set('name', 'from B');
    pa.fields.set('balance', 1);
    pb.fields.update({});
    sync(a, b);
    expect(pa.fields.get('name')).toBe(pb.fields.get('name'));
    expect(['from A', 'from B']).toContain(pa.fields.get('name'));
    expect(pb.fields.get('balance')).toBe(1);
  });

  test('observe reports the changed fields and writes carry the local-edit origin', () => {
    const project = Project.open(new Y.Doc());
    const seen: Array<{ fields: string[]; origin: unknown }> = [];
    const stop = project.fields.observe((fields, tx) => seen.push({ fields: [...fields], origin: tx.origin }));
    project.fields.update({ name: 'x', balance: 2 });
    stop();
    project.fields.set('name', 'y');
    expect(seen).toEqual([{ fields: ['name', 'balance'], origin: LOCAL_EDIT_ORIGIN }]);
  });
});

describe('collections', () => {
  test('create validates the whole record and writes it in one transaction', () => {
    const doc = new Y.Doc();
    const tasks = Project.open(doc).collection('tasks');
    const updates: Uint8Array[] = [];
    doc.on('update', (u: Uint8Array) => updates.push(u));
    const task = tasks.create({ title: 'Pay invoice', status: 'todo', due: '2026-12-01' }, 'task-1');
    expect(updates).toHaveLength(1);
    expect(task.toJSON()).toEqual({ title: 'Pay invoice', status: 'todo', due: '2026-12-01' });
    expect(() => tasks.create({ title: '', status: 'todo' })).toThrow(/Task\.title/);
    expect(() => tasks.create({ title: 'x', status: 'blocked' as 'todo' })).toThrow(/Task\.status/);
    expect(() => tasks.create({ title: 'dup', status: 'todo' }, 'task-1')).toThrow(/already exists/);
    expect(tasks.ids()).toEqual(['task-1']);
  });

  test('records merge across replicas and observe reports record ids', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    const ta = Project.open(a).collection('tasks');
    const tb = Project.open(b).collection('tasks');
    const changed: string[][] = [];
    tb.observe((ids) => changed.push([...ids]));
    ta.create({ title: 'A', status: 'todo' }, 'a');
    sync(a, b);
    tb.get('a')?.set('status', 'done');
    ta.create({ title: 'B', status: 'doing' }, 'b');
    sync(a, b);
    expect(ta.toJSON()).toEqual({ a: { title: 'A', status: 'done' }, b: { title: 'B', status: 'doing' } });
    expect(tb.toJSON()).toEqual(ta.toJSON());
    expect(changed.flat()).toEqual(expect.arrayContaining(['a', 'b']));
    ta.delete('a');
    sync(a, b);
    expect(tb.has('a')).toBe(false);
  });
});

describe('document types', () => {
  test('roots are plain Yjs types under their own names', () => {
    const doc = new Y.Doc();
    const project = Project.open(doc);
    project.text('notes').insert(0, 'hello');
    project.list<string>('activity').push(['created']);
    expect(project.richText('description')).toBe(doc.getXmlFragment('description'));
    expect(doc.getText('notes').toString()).toBe('hello');
    expect(doc.getArray('activity').toJSON()).toEqual(['created']);
  });

  test('undeclared roots and duplicate declarations are schema errors', () => {
    const project = Project.open(new Y.Doc());
    expect(() => project.text('description' as 'notes')).toThrow(/declares no text "description"/);
    expect(() => defineDocument('Bad', { texts: ['x'], lists: ['x'] })).toThrow(/declares "x" twice/);
    expect(() => defineRecord('Empty', {})).toThrow(/declares no fields/);
  });

  test('field schemas must produce JSON values', () => {
    const Bad = defineRecord('Bad', { when: z.date() });
    const doc = new Y.Doc();
    const record = defineDocument('D', { fields: Bad }).open(doc).fields;
    expect(() => record.set('when', new Date())).toThrow(/must produce a JSON value/);
  });
});
