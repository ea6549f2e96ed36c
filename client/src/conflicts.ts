/**
 * Conflict notices and field locks for one document handle: what the typed model needs from the client
 * (engine/src/fieldContext.ts) and what the app hears when a write of its user lost.
 *
 * The rule for a notice: after a transaction that came from elsewhere (the server, another tab, the local copy), for
 * each field it touched, if the write that won before was this user's and the write that wins now is someone
 * else's, while this user's write is still stored beside it, this user's write lost to a concurrent one (the other
 * writer never saw it, or it was made without seeing theirs: a writer that saw it would have deleted it). That is
 * announced once per lost write. "This user's" means the entry carries this user's id (so a write from an earlier
 * session on this device counts), or was written by this very replica before the identity was known. A write of
 * yours that loses to another of your own (another tab) is not a conflict.
 *
 * Locks: a peer whose presence says it is editing a field with `locked: true` (Presence.editing(field, record,
 * { lock: true })) holds a lock on it; the model refuses this replica's writes to it unless forced. Your own user's
 * locks (another tab) never refuse you.
 */
import {
  bindFieldContext,
  fieldEntries,
  fieldEntriesBefore,
  FIELD_KEY_SEPARATOR,
  fieldOfKey,
  parsePresence,
  placeOfMap,
  winningEntry,
  type FieldEntry,
  type FieldTarget,
  type FieldWriter,
} from '@concord/engine';
import type { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';
import type { Clock } from './clock.js';
import type { FieldConflict } from './types.js';

type AnyType = Y.AbstractType<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
type KeyChanges = Map<string, { action: 'add' | 'update' | 'delete'; oldValue: unknown }>;

export interface ConflictWatchOptions {
  readonly name: string;
  readonly doc: Y.Doc;
  readonly awareness: Awareness;
  /** Stamps' wall time. */
  readonly time: Clock;
  /** Resolves to this client's user once known. */
  readonly user: Promise<FieldWriter>;
  readonly emit: (conflict: FieldConflict) => void;
}

/** Binds the document's field context (writer, clock, locks) and announces lost writes; returns the stop function. */
export function watchConflicts(options: ConflictWatchOptions): () => void {
  const { name, doc, awareness, time, emit } = options;
  let user: FieldWriter | null = null;
  let stopped = false;
  options.user.then(
    (known) => {
      if (!stopped) user = known;
    },
    () => {},
  );
  const announced = new Set<string>();

  const mine = (entry: FieldEntry): boolean => {
    if (user !== null && entry.by === user.id) return true;
    const self = String(doc.clientID);
    // Written here (a clamp by the server keeps the writer key after a dot) before the user was known.
    return entry.writer === self || entry.writer.endsWith(`.${self}`);
  };

  const lockedBy = (target: FieldTarget): FieldWriter | null => {
    for (const [clientId, state] of awareness.getStates()) {
      if (clientId === awareness.clientID) continue;
      const presence = parsePresence(state);
      if (!presence?.locked || presence.field !== target.field || (presence.record ?? null) !== target.record) continue;
      if (user !== null && presence.user.id === user.id) continue;
      return { id: presence.user.id, name: presence.user.name };
    }
    return null;
  };

  const unbind = bindFieldContext(doc, { writer: () => user, now: () => time.now(), locks: { lockedBy } });

  const check = (type: AnyType, keys: Set<string | null>, transaction: Y.Transaction) => {
    const fields = new Set<string>();
    for (const key of keys) if (key !== null && key.includes(FIELD_KEY_SEPARATOR)) fields.add(fieldOfKey(key));
    if (fields.size === 0) return;
    const changes = new Y.YEvent(type, transaction).keys as KeyChanges;
    for (const field of fields) {
      const before = winningEntry(fieldEntriesBefore(type, field, changes));
      if (!before || !mine(before)) continue;
      const entries = fieldEntries(type, field);
      const winner = winningEntry(entries);
      if (!winner || mine(winner)) continue;
      const yours = winningEntry(entries.filter(mine));
      if (!yours) continue; // they saw your write and replaced it: not a conflict
      const id = `${yours.key}\u0000${yours.stamp[0]}\u0000${yours.stamp[1]}`;
      if (announced.has(id)) continue;
      announced.add(id);
      const place = placeOfMap(type);
      emit(
        Object.freeze({
          document: name,
          root: place.root,
          record: place.record,
          field,
          yours: yours.value,
          winner: winner.value,
          by: Object.freeze({ id: winner.by, name: winner.name }),
          at: winner.stamp[0],
        }),
      );
    }
  };

  const onTransaction = (transaction: Y.Transaction) => {
    if (transaction.local) return;
    for (const [type, keys] of transaction.changed) {
      if (type._map.size > 0) check(type, keys, transaction);
    }
  };
  doc.on('afterTransaction', onTransaction);
  return () => {
    stopped = true;
    doc.off('afterTransaction', onTransaction);
    unbind();
  };
}
