/**
 * Collections of LWW records keyed by id (`tasks`, `accounts`): a `Y.Map` of `Y.Map`s.
 *
 * Creating a record validates every field of it first and writes it in one transaction, so other replicas never
 * see half a record. Ids are random (UUID v4) unless the app brings its own, so two offline replicas never collide.
 */
import { uuidv4 } from 'lib0/random';
import * as Y from 'yjs';
import { ConcordError, ErrorKind } from './codes.js';
import { LOCAL_EDIT_ORIGIN } from './origins.js';
import { LwwRecord, validateField, writeFields, type FieldName, type FieldSchemas, type FieldValues, type RecordInput, type RecordType } from './record.js';

export class RecordCollection<F extends FieldSchemas> {
  readonly type: RecordType<F>;
  readonly map: Y.Map<Y.Map<unknown>>;

  constructor(type: RecordType<F>, map: Y.Map<Y.Map<unknown>>) {
    this.type = type;
    this.map = map;
  }

  get size(): number {
    return this.map.size;
  }

  /** Validates `values` (every field the schema requires) and adds the record; returns it. */
  create(values: RecordInput<F>, id: string = uuidv4(), origin: unknown = LOCAL_EDIT_ORIGIN): LwwRecord<F> {
    if (this.map.has(id)) {
      throw new ConcordError(ErrorKind.InvalidField, `${this.type.name} ${JSON.stringify(id)} already exists`);
    }
    const parsed = (Object.keys(this.type.fields) as FieldName<F>[])
      .map((field) => [field, validateField(this.type, field, (values as Partial<Record<string, unknown>>)[field])] as const)
      .filter(([, value]) => value !== undefined);
    const entry = new Y.Map<unknown>();
    const record = new LwwRecord(this.type, entry);
    const write = () => {
      // Added first, so its fields are stamped by this document's writer.
      this.map.set(id, entry);
      writeFields(entry, parsed, { origin, force: true });
    };
    if (this.map.doc) this.map.doc.transact(write, origin);
    else write();
    return record;
  }

  get(id: string): LwwRecord<F> | undefined {
    const entry = this.map.get(id);
    return entry instanceof Y.Map ? new LwwRecord(this.type, entry) : undefined;
  }

  has(id: string): boolean {
    return this.map.get(id) instanceof Y.Map;
  }

  delete(id: string, origin: unknown = LOCAL_EDIT_ORIGIN): void {
    if (this.map.doc) this.map.doc.transact(() => this.map.delete(id), origin);
    else this.map.delete(id);
  }

  ids(): string[] {
    return [...this.map.keys()].filter((id) => this.has(id));
  }

  /** Every record as `[id, record]`; entries some other writer stored that are not maps are skipped. */
  entries(): Array<[string, LwwRecord<F>]> {
    const out: Array<[string, LwwRecord<F>]> = [];
    for (const [id, entry] of this.map.entries()) {
      if (entry instanceof Y.Map) out.push([id, new LwwRecord(this.type, entry)]);
    }
    return out;
  }

  toJSON(): Record<string, Partial<FieldValues<F>>> {
    return Object.fromEntries(this.entries().map(([id, record]) => [id, record.toJSON()]));
  }

  /** Calls back with the ids of records added, removed or changed by a transaction; returns the unsubscribe function. */
  observe(callback: (ids: ReadonlySet<string>, transaction: Y.Transaction) => void): () => void {
    const handler = (events: Array<Y.YEvent<Y.AbstractType<unknown>>>, transaction: Y.Transaction) => {
      const ids = new Set<string>();
      for (const event of events) {
        if (event.target === this.map) {
          for (const key of event.keys.keys()) ids.add(key);
        } else {
          const id = event.path[0];
          if (typeof id === 'string') ids.add(id);
        }
      }
      if (ids.size > 0) callback(ids, transaction);
    };
    this.map.observeDeep(handler);
    return () => this.map.unobserveDeep(handler);
  }
}
