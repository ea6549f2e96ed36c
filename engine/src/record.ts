/**
 * Last-writer-wins records: a typed view over a `Y.Map` whose keys are declared fields.
 *
 * Each field is one map key, so concurrent writes to different fields both survive and concurrent writes to the
 * same field resolve the same way on every replica (Yjs keeps one value per key, deterministically). Values are
 * validated with the field's zod schema on write; on read, a value some other writer stored that does not pass the
 * schema reads as `undefined` rather than reaching the app.
 */
import * as Y from 'yjs';
import type { z } from 'zod';
import { ConcordError, ErrorKind } from './codes.js';
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

export class LwwRecord<F extends FieldSchemas> {
  readonly type: RecordType<F>;
  readonly map: Y.Map<unknown>;

  constructor(type: RecordType<F>, map: Y.Map<unknown>) {
    this.type = type;
    this.map = map;
  }

  /** The field's value, or undefined when it is unset or what is stored does not pass the schema. */
  get<K extends FieldName<F>>(field: K): FieldValues<F>[K] | undefined {
    if (!this.map.has(field)) return undefined;
    const schema = this.type.fields[field];
    const result = schema?.safeParse(this.map.get(field));
    return result?.success ? (result.data as FieldValues<F>[K]) : undefined;
  }

  /**
   * Validates, then writes one field (undefined, where the schema allows it, unsets it). Throws
   * FieldValidationError and writes nothing when the value is invalid.
   */
  set<K extends FieldName<F>>(field: K, value: FieldValues<F>[K], origin: unknown = LOCAL_EDIT_ORIGIN): void {
    const parsed = validateField(this.type, field, value);
    this.transact(() => this.write(field, parsed), origin);
  }

  /** Validates every given field first, then writes them all in one transaction (all or nothing). */
  update(values: Partial<FieldValues<F>>, origin: unknown = LOCAL_EDIT_ORIGIN): void {
    const parsed = Object.entries(values).map(([field, value]) => [field, validateField(this.type, field, value)]);
    this.transact(() => {
      for (const [field, value] of parsed) this.write(field as string, value);
    }, origin);
  }

  /** Removes a field's value (it reads as undefined afterwards). */
  unset(field: FieldName<F>, origin: unknown = LOCAL_EDIT_ORIGIN): void {
    this.transact(() => this.map.delete(field), origin);
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
        if (Object.hasOwn(this.type.fields, key)) changed.add(key as FieldName<F>);
      }
      if (changed.size > 0) callback(changed, event.transaction);
    };
    this.map.observe(handler);
    return () => this.map.unobserve(handler);
  }

  private write(field: string, value: unknown): void {
    if (value === undefined) this.map.delete(field);
    else this.map.set(field, value);
  }

  private transact(fn: () => void, origin: unknown): void {
    if (this.map.doc) this.map.doc.transact(fn, origin);
    else fn();
  }
}
