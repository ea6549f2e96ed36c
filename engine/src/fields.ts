/**
 * Stamped fields: how one LWW field is stored in a `Y.Map` so that the later write wins on every replica.
 *
 * Yjs keeps one value per map key when two replicas write the same key concurrently, chosen by client id, so a stamp
 * stored in the value alone could be thrown away with the value. Instead each writer writes its own key per field,
 * `<field>@<writer>` (the writer is the Y.Doc's clientID), holding an entry `{ v, t: [wall, counter], by?, name? }`,
 * and in the same transaction deletes every other key of that field it can see.
 *
 * The rule (F1): the stamp is a hybrid logical clock — wall time in ms, then a counter, then the writer key — and a new
 * write's stamp exceeds every stamp of the field the writer can see (`nextStamp`). So a write that saw another
 * replaces it, and only truly concurrent writes coexist; every replica converges on the same set of keys, and reads
 * take the entry with the greatest stamp (`compareEntries`: wall, then counter, then writer key as a string).
 * An entry without `v` is a stamped unset (a tombstone), so clearing a field beats an older concurrent write.
 * A plain `<field>` key, written before stamps existed, reads as the oldest possible stamp; the next write removes it.
 * Field names cannot contain `FIELD_KEY_SEPARATOR`.
 */
import * as Y from 'yjs';

/** Between a field's name and its writer in a map key: `status@1234567`. Field names may not contain it. */
export const FIELD_KEY_SEPARATOR = '@';

/** `[wall time in ms since the epoch, counter]`: the counter orders writes within one millisecond (or a clock behind). */
export type Stamp = readonly [wall: number, counter: number];

/** One stored write of a field. */
export interface FieldEntry {
  /** The map key that holds it. */
  readonly key: string;
  readonly field: string;
  /** The writer's key (a Y.Doc clientID as a string); `''` for a value stored before stamps. */
  readonly writer: string;
  readonly stamp: Stamp;
  /** The value written; undefined for an unset. */
  readonly value: unknown;
  /** Whether this write unset the field. */
  readonly unset: boolean;
  /** The writing user's id, when the writer carried one. */
  readonly by: string | null;
  /** The writing user's display name, when the writer carried one. */
  readonly name: string | null;
  /** A plain `<field>` key from before stamps. */
  readonly legacy: boolean;
}

/** Who writes, carried in each entry so a conflict notice can say who won. */
export interface FieldWriter {
  readonly id: string;
  readonly name?: string;
}

/** What a stamped write needs beyond the value. */
export interface WriteStamp {
  /** The writer key; defaults to the document's clientID. */
  readonly writerKey?: string;
  readonly by?: FieldWriter | null;
  /** Wall time in ms. @default Date.now() */
  readonly now?: number;
}

/** The writer key of writes into a map that is not part of a document yet (a record being built). */
export const PRELIMINARY_WRITER = '0';

/** The stamp a value written before stamps reads as: older than any stamped write. */
export const LEGACY_STAMP: Stamp = Object.freeze([0, 0]) as Stamp;

/** Why `name` cannot be a field name, or null when it can. */
export function fieldNameProblem(name: string): string | null {
  if (name.length === 0) return 'field names must not be empty';
  if (name.includes(FIELD_KEY_SEPARATOR)) return `field names must not contain "${FIELD_KEY_SEPARATOR}" (${JSON.stringify(name)})`;
  return null;
}

/** The field a map key belongs to (a plain key is its own field). */
export function fieldOfKey(key: string): string {
  const at = key.indexOf(FIELD_KEY_SEPARATOR);
  return at < 0 ? key : key.slice(0, at);
}

/** The map key of `field` written by `writer`. */
export function fieldKey(field: string, writer: string): string {
  return `${field}${FIELD_KEY_SEPARATOR}${writer}`;
}

/** Orders two entries by stamp: wall, counter, then writer key. Never 0 for two different keys of one field. */
export function compareEntries(a: Pick<FieldEntry, 'stamp' | 'writer'>, b: Pick<FieldEntry, 'stamp' | 'writer'>): number {
  return compareStamps(a.stamp, b.stamp) || (a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0);
}

export function compareStamps(a: Stamp, b: Stamp): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** A stamp greater than every one of `entries`, at wall time `now` when the clock is ahead of them all. */
export function nextStamp(entries: Iterable<Pick<FieldEntry, 'stamp'>>, now: number): Stamp {
  let max: Stamp = LEGACY_STAMP;
  for (const entry of entries) if (compareStamps(entry.stamp, max) > 0) max = entry.stamp;
  return now > max[0] ? [now, 0] : [max[0], max[1] + 1];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
type MapLike = Y.AbstractType<any>;

function isStamp(value: unknown): value is Stamp {
  return (
    Array.isArray(value) && value.length === 2 && Number.isFinite(value[0]) && Number.isInteger(value[1]) && (value[1] as number) >= 0
  );
}

/** The entry a map item holds, or null when it is not one (another writer's junk under a stamped key). */
export function parseEntry(key: string, stored: unknown): FieldEntry | null {
  const at = key.indexOf(FIELD_KEY_SEPARATOR);
  if (at < 0) {
    return { key, field: key, writer: '', stamp: LEGACY_STAMP, value: stored, unset: stored === undefined, by: null, name: null, legacy: true };
  }
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) return null;
  const { v, t, by, name } = stored as { v?: unknown; t?: unknown; by?: unknown; name?: unknown };
  if (!isStamp(t)) return null;
  return {
    key,
    field: key.slice(0, at),
    writer: key.slice(at + 1),
    stamp: [t[0], t[1]],
    value: v,
    unset: !Object.hasOwn(stored, 'v'),
    by: typeof by === 'string' ? by : null,
    name: typeof name === 'string' ? name : null,
    legacy: false,
  };
}

/** The live value of a map item (root types the replica never typed are read from their items too). */
function itemValue(item: Y.Item | undefined): { present: boolean; value: unknown } {
  if (!item || item.deleted) return { present: false, value: undefined };
  const content = item.content.getContent();
  return { present: true, value: content[content.length - 1] };
}

/** Whether `key` stores a write of `field`. */
export function isKeyOf(key: string, field: string): boolean {
  return key === field || (key.length > field.length && key.startsWith(field) && key[field.length] === FIELD_KEY_SEPARATOR);
}

/** Every live entry of `field` in `map`, in no particular order. */
export function fieldEntries(map: MapLike, field: string): FieldEntry[] {
  const entries: FieldEntry[] = [];
  for (const [key, item] of map._map) {
    if (!isKeyOf(key, field)) continue;
    const { present, value } = itemValue(item);
    if (!present) continue;
    const entry = parseEntry(key, value);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** The entry with the greatest stamp, or undefined for none. */
export function winningEntry(entries: Iterable<FieldEntry>): FieldEntry | undefined {
  let best: FieldEntry | undefined;
  for (const entry of entries) if (!best || compareEntries(entry, best) > 0) best = entry;
  return best;
}

/** The reading rule: the value of the write with the greatest stamp; undefined when unset or never written. */
export function readField(map: MapLike, field: string): unknown {
  return winningEntry(fieldEntries(map, field))?.value;
}

/** Whether `field` holds a value (not unset). */
export function hasField(map: MapLike, field: string): boolean {
  const winner = winningEntry(fieldEntries(map, field));
  return winner !== undefined && !winner.unset;
}

/** The names of every field of `map` that holds a value. */
export function fieldNames(map: MapLike): string[] {
  const names = new Set<string>();
  for (const key of map._map.keys()) names.add(fieldOfKey(key));
  return [...names].filter((field) => hasField(map, field));
}

/** Every field of `map` that holds a value, as a plain object (the stamped counterpart of `Y.Map.toJSON`). */
export function readFields(map: MapLike): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fieldNames(map)) {
    const value = readField(map, field);
    out[field] = value instanceof Y.AbstractType ? value.toJSON() : value;
  }
  return out;
}

/**
 * The entries of `field` as they were before the transaction whose map event reported `keys` (Y.YMapEvent
 * `changes.keys`): keys added by it are left out, keys it updated or deleted read their old value.
 */
export function fieldEntriesBefore(
  map: MapLike,
  field: string,
  keys: ReadonlyMap<string, { action: 'add' | 'update' | 'delete'; oldValue: unknown }>,
): FieldEntry[] {
  const entries: FieldEntry[] = [];
  for (const [key, item] of map._map) {
    if (!isKeyOf(key, field)) continue;
    const change = keys.get(key);
    let stored: unknown;
    if (change === undefined) {
      const { present, value } = itemValue(item);
      if (!present) continue;
      stored = value;
    } else if (change.action === 'add') {
      continue;
    } else {
      stored = change.oldValue;
    }
    const entry = parseEntry(key, stored);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** The entry object stored for a write. */
export function entryValue(value: unknown, stamp: Stamp, by: FieldWriter | null | undefined): Record<string, unknown> {
  const entry: Record<string, unknown> = value === undefined ? { t: [stamp[0], stamp[1]] } : { v: value, t: [stamp[0], stamp[1]] };
  if (by) {
    entry.by = by.id;
    if (by.name !== undefined) entry.name = by.name;
  }
  return entry;
}

/**
 * Writes `field` (undefined: a stamped unset) with a stamp above every entry of it this replica sees, and deletes
 * those entries. Runs in the map's document transaction when there is one (joining an open one), with `origin`.
 * Returns the stamp written. The writer key is the document's clientID (`PRELIMINARY_WRITER` for a map not in a
 * document yet) unless `stamp.writerKey` is given.
 */
export function writeField(map: Y.Map<unknown>, field: string, value: unknown, stamp: WriteStamp = {}, origin?: unknown): Stamp {
  const doc = map.doc;
  const writer = stamp.writerKey ?? (doc ? String(doc.clientID) : PRELIMINARY_WRITER);
  const own = fieldKey(field, writer);
  const others: string[] = [];
  const seen: FieldEntry[] = [];
  for (const [key, item] of map._map) {
    if (!isKeyOf(key, field)) continue;
    const { present, value: stored } = itemValue(item);
    if (!present) continue;
    const entry = parseEntry(key, stored);
    if (entry) seen.push(entry);
    if (key !== own) others.push(key);
  }
  const next = nextStamp(seen, stamp.now ?? Date.now());
  const write = () => {
    for (const key of others) map.delete(key);
    map.set(own, entryValue(value, next, stamp.by));
  };
  if (doc) doc.transact(write, origin ?? null);
  else write();
  return next;
}
