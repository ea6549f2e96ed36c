/**
 * Last-writer-wins records: a typed view over a `Y.Map` whose fields are declared.
 *
 * Each field is stored as stamped entries (fields.ts): a write carries a hybrid logical clock stamp and every replica
 * reads the write with the later stamp, whatever the order updates arrive in, so concurrent writes to different
 * fields both survive and concurrent writes to one field resolve to the later one everywhere. Values are validated
 * with the field's zod schema on write; on read, a value some other writer stored that does not pass the schema reads
 * as `undefined` rather than reaching the app. A write to a field someone else holds a lock on (fieldContext.ts) is
 * refused with a FieldLockedError unless forced.
 */
import * as Y from 'yjs';
import type { z } from 'zod';
import { ConcordError, ErrorKind } from './codes.js';
import { fieldContextOf, FieldLockedError, writerOfOrigin, type FieldTarget } from './fieldContext.js';
import { fieldNameProblem, fieldOfKey, readField, writeField } from './fields.js';
import { LOCAL_EDIT_ORIGIN } from './origins.js';

export type FieldSchemas = Record<string, z.ZodType>;
export type FieldValues<F extends FieldSchemas> = { [K in keyof F]: z.output<F[K]> };
type OptionalFieldName<F extends FieldSchemas> = { [K in keyof F]: undefined extends z.input<F[K]> ? K : never }[keyof F];
/** A whole new record: fields whose schema accepts undefined (`.optional()`) may be left out. */
export type RecordInput<F extends FieldSchemas> = { [K in Exclude<keyof F, OptionalFieldName<F>>]: z.input<F[K]> } & {
  [K in OptionalFieldName<F>]?: z.input<F[K]>;
};
export type FieldName<F extends FieldSchemas> = keyof F & string;

export interface RecordType<F extends FieldSchemas> {
  readonly name: string;
  readonly fields: F;
}

/** Declares a record type; field schemas must produce JSON values (strings, numbers, booleans, null, arrays, objects). */
export function defineRecord<F extends FieldSchemas>(name: string, fields: F): RecordType<F> {
  if (Object.keys(fields).length === 0) {
    throw new ConcordError(ErrorKind.InvalidSchema, `record type ${name} declares no fields`);
  }
  for (const field of Object.keys(fields)) {
    const problem = fieldNameProblem(field);
    if (problem) throw new ConcordError(ErrorKind.InvalidSchema, `record type ${name}: ${problem}`);
  }
  return Object.freeze({ name, fields });
}

export class FieldValidationError extends ConcordError {
  readonly field: string;

  constructor(kind: ErrorKind, field: string, message: string) {
    super(kind, message);
    this.name = 'FieldValidationError';
    this.field = field;
  }
}

function isJsonValue(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value as object).every(isJsonValue);
  }
  return false;
}

/**
 * Validates one field value against its declared schema; returns the parsed value (undefined for an optional
 * field left unset) or throws FieldValidationError.
 */
export function validateField<F extends FieldSchemas, K extends FieldName<F>>(
  type: RecordType<F>,
  field: K,
  value: unknown,
): FieldValues<F>[K] {
  const schema = type.fields[field];
  if (!schema || !Object.hasOwn(type.fields, field)) {
    throw new FieldValidationError(ErrorKind.UnknownField, field, `${type.name} has no field ${JSON.stringify(field)}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const detail = result.error.issues.map((issue) => issue.message).join('; ');
    throw new FieldValidationError(ErrorKind.InvalidField, field, `${type.name}.${field}: ${detail}`);
  }
  if (result.data !== undefined && !isJsonValue(result.data)) {
    throw new FieldValidationError(
      ErrorKind.InvalidField,
      field,
      `${type.name}.${field}: the schema must produce a JSON value (got ${typeof result.data})`,
    );
  }
  return result.data as FieldValues<F>[K];
}

/** How a write is made: its transaction origin, and whether it overrides someone else's lock on the field. */
export interface WriteOptions {
  /** @default LOCAL_EDIT_ORIGIN */
  readonly origin?: unknown;
  /** Write even when someone else holds a lock on the field. @default false */
  readonly force?: boolean;
}

/** The third argument of `set`/`update`/`unset`: an origin (as before options existed) or `WriteOptions`. */
export type OriginOrOptions = unknown;

function writeOptions(arg: OriginOrOptions): { origin: unknown; force: boolean } {
  if (arg === undefined) return { origin: LOCAL_EDIT_ORIGIN, force: false };
  if (typeof arg === 'object' && arg !== null && Object.getPrototypeOf(arg) === Object.prototype) {
    const keys = Object.keys(arg);
    if (keys.length > 0 && keys.every((key) => key === 'origin' || key === 'force')) {
      const options = arg as WriteOptions;
      return { origin: options.origin ?? LOCAL_EDIT_ORIGIN, force: options.force === true };
    }
  }
  return { origin: arg, force: false };
}

/** Where a record map sits: its root's name and, for a record in a collection, its id. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
export function placeOfMap(map: Y.AbstractType<any>): { root: string; record: string | null } {
  const item = map._item;
  if (item === null) return { root: map.doc ? Y.findRootTypeKey(map) : '', record: null };
  const parent = item.parent as Y.AbstractType<unknown>;
  return { root: parent._item === null && parent.doc ? Y.findRootTypeKey(parent) : '', record: item.parentSub };
}

export class LwwRecord<F extends FieldSchemas> {
  readonly type: RecordType<F>;
  readonly map: Y.Map<unknown>;

  constructor(type: RecordType<F>, map: Y.Map<unknown>) {
    this.type = type;
    this.map = map;
  }

  /** The field's value (the write with the latest stamp), or undefined when it is unset or fails the schema. */
  get<K extends FieldName<F>>(field: K): FieldValues<F>[K] | undefined {
    const stored = readField(this.map, field);
    if (stored === undefined) return undefined;
    const schema = this.type.fields[field];
    const result = schema?.safeParse(stored);
    return result?.success ? (result.data as FieldValues<F>[K]) : undefined;
  }

  /**
   * Validates, then writes one field (undefined, where the schema allows it, unsets it). Throws
   * FieldValidationError and writes nothing when the value is invalid, FieldLockedError when someone else holds a
   * lock on the field (unless `{ force: true }`). The third argument is an origin or `WriteOptions`.
   */
  set<K extends FieldName<F>>(field: K, value: FieldValues<F>[K], options?: OriginOrOptions): void {
    const parsed = validateField(this.type, field, value);
    writeFields(this.map, [[field, parsed]], writeOptions(options));
  }

  /** Validates every given field first (and their locks), then writes them all in one transaction (all or nothing). */
  update(values: Partial<FieldValues<F>>, options?: OriginOrOptions): void {
    const parsed = Object.entries(values).map(([field, value]) => [field, validateField(this.type, field, value)] as [string, unknown]);
    writeFields(this.map, parsed, writeOptions(options));
  }

  /** Unsets a field (a stamped write of "no value": it reads as undefined afterwards, and beats older writes). */
  unset(field: FieldName<F>, options?: OriginOrOptions): void {
    writeFields(this.map, [[field, undefined]], writeOptions(options));
  }

  /** Every declared field that holds a valid value. */
  toJSON(): Partial<FieldValues<F>> {
    const out: Partial<FieldValues<F>> = {};
    for (const field of Object.keys(this.type.fields) as FieldName<F>[]) {
      const value = this.get(field);
      if (value !== undefined) out[field] = value;
    }
    return out;
  }

  /** Calls back with the names of the fields a transaction changed; returns the unsubscribe function. */
  observe(callback: (fields: ReadonlySet<FieldName<F>>, transaction: Y.Transaction) => void): () => void {
    const handler = (event: Y.YMapEvent<unknown>) => {
      const changed = new Set<FieldName<F>>();
      for (const key of event.keysChanged) {
        const field = fieldOfKey(key);
        if (Object.hasOwn(this.type.fields, field)) changed.add(field as FieldName<F>);
      }
      if (changed.size > 0) callback(changed, event.transaction);
    };
    this.map.observe(handler);
    return () => this.map.unobserve(handler);
  }
}

/**
 * Writes validated values into a record map: checks every lock first (unless `force`), then writes each field
 * stamped, in one transaction with `origin`, carrying the replica's writer and clock (fieldContext.ts).
 */
export function writeFields(
  map: Y.Map<unknown>,
  writes: ReadonlyArray<readonly [string, unknown]>,
  { origin, force }: { origin: unknown; force: boolean },
): void {
  const context = fieldContextOf(map.doc);
  if (context?.locks && !force) {
    const place = placeOfMap(map);
    for (const [field] of writes) {
      const target: FieldTarget = { ...place, field };
      const holder = context.locks.lockedBy(target);
      if (holder) throw new FieldLockedError(target, holder);
    }
  }
  const by = context?.writer?.() ?? writerOfOrigin(origin);
  const now = context?.now?.();
  const write = () => {
    for (const [field, value] of writes) writeField(map, field, value, { by, ...(now === undefined ? {} : { now }) });
  };
  if (map.doc) map.doc.transact(write, origin);
  else write();
}
