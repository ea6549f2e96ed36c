/**
 * What the typed model needs to know about the replica it writes from, beyond the document: who writes (carried in
 * each field entry so conflict notices can name the winner), the wall clock stamps are taken from, and who holds a
 * lock on which field.
 *
 * The rule: a context is bound to a `Y.Doc` by whoever owns the replica (the client binds one per document handle),
 * and every `LwwRecord` over a map of that document reads it at write time. A document without one writes with
 * `Date.now()`, no author (unless the transaction origin carries `context.user`, as server API writes do) and no
 * locks.
 */
import type * as Y from 'yjs';
import { ConcordError, ErrorKind } from './codes.js';
import type { FieldWriter } from './fields.js';

/** A field of a document: of its own fields (`record` null, root `fields`) or of a record in a collection. */
export interface FieldTarget {
  readonly root: string;
  readonly record: string | null;
  readonly field: string;
}

/** Tells the model who, other than this replica's user, holds a lock on a field. */
export interface FieldLocks {
  /** The user holding a lock on `target`, or null when it is free (or locked by this replica's own user). */
  lockedBy(target: FieldTarget): FieldWriter | null;
}

export interface FieldContext {
  /** The user writing from this replica, or null while unknown. */
  readonly writer?: () => FieldWriter | null;
  /** Wall time for stamps, ms since the epoch. @default Date.now */
  readonly now?: () => number;
  readonly locks?: FieldLocks;
}

const contexts = new WeakMap<Y.Doc, FieldContext>();

/** Binds `context` to `doc` (replacing any other); returns the function that unbinds it. */
export function bindFieldContext(doc: Y.Doc, context: FieldContext): () => void {
  contexts.set(doc, context);
  return () => {
    if (contexts.get(doc) === context) contexts.delete(doc);
  };
}

export function fieldContextOf(doc: Y.Doc | null): FieldContext | undefined {
  return doc ? contexts.get(doc) : undefined;
}

/** The author a transaction origin names (`{ context: { user: { id, name? } } }`, the server API's shape), or null. */
export function writerOfOrigin(origin: unknown): FieldWriter | null {
  const user = (origin as { context?: { user?: { id?: unknown; name?: unknown } } } | null | undefined)?.context?.user;
  if (!user || typeof user.id !== 'string') return null;
  return typeof user.name === 'string' ? { id: user.id, name: user.name } : { id: user.id };
}

/** A write refused because someone else holds a lock on the field; pass `{ force: true }` to write anyway. */
export class FieldLockedError extends ConcordError {
  readonly target: FieldTarget;
  readonly holder: FieldWriter;

  constructor(target: FieldTarget, holder: FieldWriter) {
    const where = target.record === null ? target.field : `${target.field} of ${target.root} ${JSON.stringify(target.record)}`;
    super(ErrorKind.FieldLocked, `${where} is locked by ${holder.name ?? holder.id}, who is editing it; write with { force: true } to override`);
    this.name = 'FieldLockedError';
    this.target = target;
    this.holder = holder;
  }
}
