/**
 * What a set of local changes means to a person: the outbox's entries, read from the document itself.
 *
 * The rule: the changes are given as what the server is known to have (a state vector) and the deletions made here
 * since (a delete set). Every item inserted beyond the state vector and still visible is a change; so is every
 * deletion of an item the server had. They are grouped the way people think of them: one entry per field of a
 * record ("status of 'Pay invoice' → done"), per record added or removed, per text ("12 characters typed in
 * description") and per list. Items typed and deleted again before the server saw them cancel out. Nothing here
 * writes to the document.
 */
import { fieldOfKey, hasField, isKeyOf, parseEntry, readField, winningEntry, type FieldEntry } from '@concord/engine';
import * as Y from 'yjs';
import type { OutboxEntry } from './types.js';

export type DeleteSet = ReturnType<typeof Y.createDeleteSet>;
type Struct = Y.Item | Y.GC | { id: Y.ID; length: number; deleted: boolean };

/** Where an item sits: its root type's name, and for map entries the record and field it belongs to. */
interface Place {
  readonly root: string;
  readonly kind: 'field' | 'record' | 'text' | 'list';
  readonly record: string | null;
  readonly field: string | null;
  /** The map holding the field, or the record's own map (to read a label and whether a key is still set). */
  readonly map: Y.AbstractType<unknown> | null;
}

/** Field names read as a record's label, in this order, when the record has them as strings. */
const LABEL_FIELDS = ['title', 'name', 'label'] as const;

function rootOf(type: Y.AbstractType<unknown>): Y.AbstractType<unknown> {
  let current = type;
  while (current._item !== null) current = current._item.parent as Y.AbstractType<unknown>;
  return current;
}

/**
 * The value of `field` of a map-like type, by the engine's reading rule (the write with the latest stamp). Root types
 * that were only ever filled from an update (not opened with `getMap` yet) are plain `AbstractType`s; the rule reads
 * the entries Yjs keeps for every type.
 */
function mapValue(type: Y.AbstractType<unknown>, field: string): unknown {
  return readField(type, field);
}

function mapHas(type: Y.AbstractType<unknown>, key: string): boolean {
  const item = type._map.get(key);
  return item !== undefined && !item.deleted;
}

/** Sequence content that makes a root a list rather than a text, when the root's own type is not known yet. */
function isListContent(content: Y.Item['content']): boolean {
  return content instanceof Y.ContentAny || content instanceof Y.ContentJSON || content instanceof Y.ContentBinary;
}

function placeOf(item: Y.Item): Place | null {
  const parent = item.parent;
  if (!(parent instanceof Y.AbstractType)) return null;
  const top = rootOf(parent);
  let root: string;
  try {
    root = Y.findRootTypeKey(top);
  } catch {
    return null;
  }
  if (item.parentSub !== null) {
    if (parent._item === null) {
      return item.content instanceof Y.ContentType && item.content.type instanceof Y.Map
        ? { root, kind: 'record', record: item.parentSub, field: null, map: item.content.type as Y.AbstractType<unknown> }
        : { root, kind: 'field', record: null, field: fieldOfKey(item.parentSub), map: parent };
    }
    const owner = parent._item;
    if (owner.parentSub !== null && (owner.parent as Y.AbstractType<unknown>)._item === null) {
      return { root, kind: 'field', record: owner.parentSub, field: fieldOfKey(item.parentSub), map: parent };
    }
    return { root, kind: 'field', record: null, field: fieldOfKey(item.parentSub), map: parent };
  }
  const list = top instanceof Y.Array || (top.constructor === Y.AbstractType && isListContent(item.content));
  return { root, kind: list ? 'list' : 'text', record: null, field: null, map: null };
}

/**
 * Characters (for texts) or elements (for lists) of `item` between `from` and `to` (clocks). Formatting marks count
 * nothing; a deleted item's content is gone once collected (ContentDeleted), so all of it counts as characters.
 */
function countedLength(item: Y.Item, from: number, to: number): number {
  const start = Math.max(from, item.id.clock);
  const end = Math.min(to, item.id.clock + item.length);
  return end <= start || item.content instanceof Y.ContentFormat ? 0 : end - start;
}

function labelOf(map: Y.AbstractType<unknown> | null, fallback: string | null): string | null {
  if (map) {
    for (const field of LABEL_FIELDS) {
      const value = mapValue(map, field);
      if (typeof value === 'string' && value.trim()) return value.trim();
    }
  }
  return fallback;
}

/** A record removed here, remembered from before its content was collected: the outbox still names it. */
export interface RemovedRecord {
  readonly root: string;
  readonly record: string;
  readonly label: string | null;
}

/** The key of a struct in a `RemovedRecords` map. */
export const structKey = (id: Y.ID): string => `${id.client}:${id.clock}`;
export type RemovedRecords = ReadonlyMap<string, RemovedRecord>;

/**
 * The record `item` removed, if it is a record of a collection (a map in a root map): read while the transaction that
 * deleted it ends (`afterTransaction`), before Yjs collects the content of deleted items, which makes a removed
 * record look like any other removed map entry.
 */
export function removedRecordOf(item: Y.Item): RemovedRecord | null {
  if (item.parentSub === null || !(item.content instanceof Y.ContentType) || !(item.content.type instanceof Y.Map)) return null;
  const place = placeOf(item);
  if (place?.kind !== 'record') return null;
  const map = item.content.type as Y.AbstractType<unknown>;
  // The record's items are deleted with it: read every stored write of the field, and take the engine's winner.
  const previous = (field: string) => {
    const entries: FieldEntry[] = [];
    for (const [key, item] of map._map) {
      if (!isKeyOf(key, field) || !(item.content instanceof Y.ContentAny || item.content instanceof Y.ContentJSON)) continue;
      const content = item.content.getContent();
      const entry = parseEntry(key, content[content.length - 1]);
      if (entry) entries.push(entry);
    }
    return winningEntry(entries)?.value;
  };
  let label: string | null = null;
  for (const field of LABEL_FIELDS) {
    const value = previous(field);
    if (typeof value === 'string' && value.trim()) {
      label = value.trim();
      break;
    }
  }
  return { root: place.root, record: place.record!, label };
}

function formatValue(value: unknown): string {
  if (value === undefined) return 'changed';
  if (value === null || value === '') return 'cleared';
  if (typeof value === 'string') return value.length > 40 ? `${value.slice(0, 39)}…` : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return 'changed';
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** The default one-line summary of an entry; apps with better names for documents and roots write their own. */
function summarize(entry: Omit<OutboxEntry, 'summary'>): string {
  const record = entry.label ?? entry.record;
  switch (entry.kind) {
    case 'field': {
      const value = entry.removed ? 'cleared' : formatValue(entry.value);
      return record === null ? `${entry.field} → ${value}` : `${entry.field} of '${record}' → ${value}`;
    }
    case 'record':
      return entry.removed ? `removed '${record}' from ${entry.root}` : `added '${record}' to ${entry.root}`;
    case 'text': {
      const parts = [
        entry.inserted > 0 ? `${plural(entry.inserted, 'character', 'characters')} typed` : '',
        entry.deleted > 0 ? `${plural(entry.deleted, 'character', 'characters')} deleted` : '',
      ].filter(Boolean);
      return `${parts.join(', ') || 'formatting changed'} in ${entry.root}`;
    }
    case 'list': {
      const parts = [
        entry.inserted > 0 ? `${plural(entry.inserted, 'item', 'items')} added` : '',
        entry.deleted > 0 ? `${plural(entry.deleted, 'item', 'items')} removed` : '',
      ].filter(Boolean);
      return `${parts.join(', ') || 'changed'} in ${entry.root}`;
    }
    case 'file': // not read from the document: attachments.ts writes these entries with their own summary
      return `${record ?? 'a file'} waiting to upload`;
  }
}

interface Draft {
  kind: OutboxEntry['kind'];
  root: string;
  record: string | null;
  field: string | null;
  map: Y.AbstractType<unknown> | null;
  value: unknown;
  valueClock: number;
  /** The label of a record removed here, whose own fields are gone. */
  label?: string | null;
  removed: boolean;
  inserted: number;
  deleted: number;
}

function keyOf(place: Place): string {
  return place.kind === 'text' || place.kind === 'list'
    ? `${place.kind}\u0000${place.root}`
    : `${place.kind}\u0000${place.root}\u0000${place.record ?? ''}\u0000${place.field ?? ''}`;
}

class Drafts {
  readonly byKey = new Map<string, Draft>();

  at(place: Place): Draft {
    const key = keyOf(place);
    let draft = this.byKey.get(key);
    if (!draft) {
      draft = { ...place, value: undefined, valueClock: -1, removed: false, inserted: 0, deleted: 0 };
      this.byKey.set(key, draft);
    }
    return draft;
  }
}

function* structsBetween(doc: Y.Doc, client: number, from: number, to: number): Generator<Struct> {
  const structs = doc.store.clients.get(client) as Struct[] | undefined;
  if (!structs || structs.length === 0) return;
  const last = structs[structs.length - 1]!;
  if (from >= last.id.clock + last.length) return;
  for (let index = Y.findIndexSS(structs as never, from); index < structs.length; index++) {
    const struct = structs[index]!;
    if (struct.id.clock >= to) return;
    yield struct;
  }
}

/** Adds what was inserted here beyond `server` and is still visible. */
function addInsertions(doc: Y.Doc, server: Map<number, number>, drafts: Drafts): void {
  for (const [client, structs] of doc.store.clients) {
    const from = server.get(client) ?? 0;
    const last = structs[structs.length - 1];
    if (!last || last.id.clock + last.length <= from) continue;
    for (const struct of structsBetween(doc, client, from, Infinity)) {
      if (!(struct instanceof Y.Item) || struct.deleted) continue;
      const place = placeOf(struct);
      if (!place) continue;
      const draft = drafts.at(place);
      if (place.kind === 'field' && struct.id.clock > draft.valueClock) {
        const content = struct.content.getContent();
        // A stamped entry holds the value in `v`; one without it is an unset.
        const entry = parseEntry(struct.parentSub!, content[content.length - 1]);
        draft.value = entry?.value;
        draft.removed = entry?.unset ?? false;
        draft.valueClock = struct.id.clock;
      }
      if (place.kind === 'text' || place.kind === 'list') draft.inserted += countedLength(struct, from, Infinity);
    }
  }
}

/** Adds the deletions made here of items the server had (items inserted here and deleted again cancel out). */
function addDeletions(doc: Y.Doc, server: Map<number, number>, deletes: DeleteSet, removed: RemovedRecords, drafts: Drafts): void {
  for (const [client, ranges] of deletes.clients) {
    const known = server.get(client) ?? 0;
    for (const { clock, len } of ranges) {
      const end = Math.min(clock + len, known);
      if (end <= clock) continue;
      for (const struct of structsBetween(doc, client, clock, end)) {
        if (!(struct instanceof Y.Item)) continue;
        const record = removed.get(structKey(struct.id));
        if (record) {
          if (mapHas(struct.parent as Y.AbstractType<unknown>, record.record)) continue;
          const draft = drafts.at({ root: record.root, kind: 'record', record: record.record, field: null, map: null });
          draft.removed = true;
          draft.label = record.label;
          continue;
        }
        const place = placeOf(struct);
        if (!place) continue;
        if (place.kind === 'text' || place.kind === 'list') {
          drafts.at(place).deleted += countedLength(struct, clock, end);
        } else if (place.kind === 'record') {
          if (!mapHas(struct.parent as Y.AbstractType<unknown>, place.record!)) drafts.at(place).removed = true;
        } else if (place.map && !hasField(place.map, place.field!)) {
          drafts.at(place).removed = true;
        }
      }
    }
  }
}

/** The outbox entries of `doc` against what the server is known to have, sorted by kind, root, record and field. */
export function describeChanges(
  doc: Y.Doc,
  server: Map<number, number>,
  deletes: DeleteSet,
  removed: RemovedRecords = new Map(),
): OutboxEntry[] {
  const drafts = new Drafts();
  addInsertions(doc, server, drafts);
  addDeletions(doc, server, deletes, removed, drafts);
  const whole = new Set<string>();
  for (const draft of drafts.byKey.values()) {
    if (draft.kind === 'record') whole.add(`${draft.root}\u0000${draft.record}`);
  }
  const entries: OutboxEntry[] = [];
  for (const draft of drafts.byKey.values()) {
    // The fields of a record added or removed here are part of "added 'x'" or "removed 'x'".
    if (draft.kind === 'field' && draft.record !== null && whole.has(`${draft.root}\u0000${draft.record}`)) continue;
    // A text with no character counted still changed (formatting, a new paragraph); a list did not.
    if (draft.kind === 'list' && draft.inserted === 0 && draft.deleted === 0) continue;
    const base = {
      kind: draft.kind,
      root: draft.root,
      record: draft.record,
      field: draft.field,
      value: draft.kind === 'field' ? draft.value : undefined,
      removed: draft.removed,
      inserted: draft.inserted,
      deleted: draft.deleted,
      label: draft.record === null ? null : (draft.label ?? labelOf(draft.map, draft.record)),
    };
    entries.push(Object.freeze({ ...base, summary: summarize(base) }));
  }
  return entries.sort((a, b) => keyOrder(a).localeCompare(keyOrder(b)));
}

function keyOrder(entry: OutboxEntry): string {
  return `${entry.root}\u0000${entry.label ?? entry.record ?? ''}\u0000${entry.kind}\u0000${entry.field ?? ''}`;
}

/** Whether two lists of entries read the same (to announce only real changes). */
export function sameEntries(a: readonly OutboxEntry[], b: readonly OutboxEntry[]): boolean {
  return a === b || (a.length === b.length && a.every((entry, i) => entry.summary === b[i]!.summary));
}
