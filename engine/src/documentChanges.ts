/**
 * Field changes an app backend applies to a document from outside (a payment recorded, a task assigned), through
 * the engine model: the document's own LWW fields (root map `fields`) and records of collections (root maps of
 * record id → fields), exactly what `LwwRecord` and `RecordCollection` write (stamped entries, fields.ts, with the server's clock and
 * the origin's `context.user` as author), so every client reads them as if a person had made them.
 *
 * The rule: all or nothing. Every change is checked first (JSON values, names, that each collection root is a map in
 * this document); then all are written in one transaction, so viewers never see half of them. `null` clears a field;
 * a record given as `null` is removed; a record that does not exist yet is created whole.
 */
import * as Y from 'yjs';
import { z } from 'zod';
import { ConcordError, ErrorKind } from './codes.js';
import { RecordCollection } from './collection.js';
import { FIELD_KEY_SEPARATOR, fieldNameProblem } from './fields.js';
import { defineRecord, LwwRecord, type FieldSchemas } from './record.js';
import { FIELDS_ROOT } from './schema.js';

const MAX_NAME_LENGTH = 200;
const name = z.string().min(1, 'names must not be empty').max(MAX_NAME_LENGTH, `names must be at most ${MAX_NAME_LENGTH} characters`);
const fieldName = name.refine((field) => fieldNameProblem(field) === null, {
  message: `field names must not contain "${FIELD_KEY_SEPARATOR}"`,
});
const fieldValues = z.record(fieldName, z.json());

export const documentChangesSchema = z
  .object({
    /** The document's own fields: `{ "balance": 1250 }`; null clears a field. */
    fields: fieldValues.optional(),
    /** Records by collection and id: `{ "payments": { "p-1": { "amount": 250 } } }`; a null record is removed. */
    records: z.record(name, z.record(name, fieldValues.nullable())).optional(),
  })
  .strict()
  .refine((changes) => Object.keys(changes.fields ?? {}).length > 0 || Object.keys(changes.records ?? {}).length > 0, {
    message: 'give at least one change in "fields" or "records"',
  })
  .refine((changes) => !Object.hasOwn(changes.records ?? {}, FIELDS_ROOT), {
    message: `"${FIELDS_ROOT}" holds the document's own fields: change them under "fields"`,
  });

export type DocumentChanges = z.output<typeof documentChangesSchema>;

/** Any JSON value, for every field named: what a change from outside may write without the app's schema. */
function anyJsonType(label: string, fields: Iterable<string>) {
  const schemas: FieldSchemas = {};
  for (const field of fields) schemas[field] = z.json().optional();
  return defineRecord(label, schemas);
}

/**
 * The root map `root`. A root that holds a sequence (text, list, rich text) is refused, also when this replica has not
 * given it a type yet (a server that never read it): turning its items into map entries would corrupt it for clients.
 */
function mapRoot(doc: Y.Doc, root: string): Y.Map<unknown> {
  const existing = doc.share.get(root);
  const sequence = existing !== undefined && !(existing instanceof Y.Map) && (existing._start !== null || existing.constructor !== Y.AbstractType);
  if (!sequence) {
    try {
      return doc.getMap(root);
    } catch {
      // defined as another type: refused below
    }
  }
  throw new ConcordError(ErrorKind.InvalidField, `${JSON.stringify(root)} is not a map in this document, so it holds no records`);
}

/** Applies `changes` to `doc` in one transaction with `origin`; returns how many fields and records were written. */
export function applyDocumentChanges(doc: Y.Doc, changes: DocumentChanges, origin: unknown): number {
  const writes: Array<() => void> = [];
  const { fields = {}, records = {} } = changes;
  if (Object.keys(fields).length > 0) {
    const record = new LwwRecord(anyJsonType('fields', Object.keys(fields)), mapRoot(doc, FIELDS_ROOT));
    for (const [field, value] of Object.entries(fields)) {
      writes.push(() => (value === null ? record.unset(field, origin) : record.set(field, value, origin)));
    }
  }
  for (const [root, byId] of Object.entries(records)) {
    const map = mapRoot(doc, root);
    for (const [id, values] of Object.entries(byId)) {
      if (values === null) {
        writes.push(() => map.delete(id));
        continue;
      }
      if (Object.keys(values).length === 0) continue;
      const collection = new RecordCollection(anyJsonType(root, Object.keys(values)), map as Y.Map<Y.Map<unknown>>);
      const existing = collection.get(id);
      const present = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null));
      const cleared = Object.keys(values).filter((field) => values[field] === null);
      writes.push(() => {
        if (existing) {
          existing.update(present, origin);
          for (const field of cleared) existing.unset(field, origin);
        } else {
          collection.create(present as never, id, origin);
        }
      });
    }
  }
  doc.transact(() => {
    for (const write of writes) write();
  }, origin);
  return writes.length;
}
