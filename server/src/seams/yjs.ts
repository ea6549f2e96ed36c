/**
 * The one place where the server reads Yjs' internals (yjs 13.6.33, pinned exactly in server/package.json;
 * test/server/seams.test.ts fails when an upgrade changes what is read here).
 *
 * `encodeChangesSince` writes everything a document gained since a state vector as one update, from the document's
 * own struct store, the way Yjs writes a transaction's update (`writeStructsFromTransaction`: the structs of every
 * client from its clock in the state vector on, then the deletions). Merging the updates of many transactions
 * (`Y.mergeUpdates`) gives the same content, but keeps every transaction's items apart (2 000 keystrokes typed one
 * by one: ~20 KB and 2 000 items for every receiver to integrate), costs ~25 µs per update, and forwards structs the
 * server itself could not integrate yet; the store has already merged adjacent items (2 000 keystrokes: one item,
 * ~2 KB) and holds only what is integrated.
 *
 * `encodeRun` writes the structs of several updates one client sent in a row (as `Y.decodeUpdate` returns them) as
 * one update, so the server applies a burst of keystrokes in one transaction (sockets/UpdateBatch.ts). Characters typed
 * one after another are written as one item, as Yjs itself merges them once integrated (`Item.mergeWith`): an item
 * whose left origin is the last character of the item before it, with the same right origin and mergeable content
 * (`content.mergeWith`), continues it. 1 000 keystrokes then cost the server one item to integrate and ~1 KB to store,
 * not 1 000 items and ~7 KB.
 *
 * `decodeWholeUpdate` is `Y.decodeUpdate` that also says whether the whole payload was read (Yjs ignores bytes after
 * an update): it passes `Y.decodeUpdateV2` a subclass of the exported `UpdateDecoderV1` that remembers its lib0
 * decoder. `deleteRanges` reads a decoded delete set's `clients`.
 *
 * `encodeBeyondKnown` writes a client's update again without the part of it the document already holds (see
 * sockets/updateCheck.ts `trimUpdate`): a struct that overlaps is written from the first unknown clock on, as Yjs writes
 * any update from a state vector.
 *
 * `withoutUpdateEvents` runs a change with the document's `update` listeners set aside, so Yjs does not encode an update
 * nobody needs (loading from storage: see PersistenceExtension).
 *
 * `sequenceChanges` counts what a transaction inserted into and deleted from each sequence (text, rich text, list) of
 * a document, by root and by the record holding it (history/ActivityRecorder.ts): the transaction's new items (clocks
 * from its `beforeState` to its `afterState`) and the items of its delete set, read while the transaction is still
 * being cleaned up (`beforeObserverCalls`), before deleted content is garbage-collected.
 *
 * `typeRoots` gives each root of a document that nobody has typed yet (`doc.get(name)` of Yjs' base `AbstractType`,
 * which is what a root built from updates alone is) the type its content shows: entries by key (`_map`) make a
 * `Y.Map`; a sequence (`_start`) of XML elements or XML text a `Y.XmlFragment`, of strings, formats or embeds a
 * `Y.Text`, of anything else a `Y.Array`. Updates do not say what type a root is, and only typed roots report their
 * changes to observers and to `Y.UndoManager` (history/revert.ts).
 *
 * What is read: `doc.store.clients` (every client's structs, sorted by clock), and the structs' own `write(encoder,
 * offset)`, with the exported `findIndexSS` and `UpdateEncoderV1`; a root's `_map` and `_start` and its items' `right`
 * and `content`; an item's `parent`, `parentSub`, `deleted`, `countable` and `length`, a type's `_item`. The wire format is Yjs' update format v1, which
 * every Yjs version reads.
 */
import type * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

/** A struct of the store (or of a decoded update), as Yjs writes it into an update. */
export interface StoredStruct {
  readonly id: { readonly client: number; readonly clock: number };
  readonly length: number;
  write(encoder: Y.UpdateEncoderV1, offset: number): void;
}

/** Yjs' `DeleteSet` (not exported by name). */
export type DeleteSet = Y.Transaction['deleteSet'];

interface DeleteSetInternals {
  readonly clients: Map<number, ReadonlyArray<{ readonly clock: number; readonly len: number }>>;
}

/** The structs of every client, sorted by clock (Yjs `StructStore.clients`). */
function storedStructs(doc: Y.Doc): Map<number, StoredStruct[]> {
  return (doc.store as unknown as { clients: Map<number, StoredStruct[]> }).clients;
}

function stateOf(structs: readonly StoredStruct[]): number {
  const last = structs[structs.length - 1];
  return last === undefined ? 0 : last.id.clock + last.length;
}

/** An update as `Y.decodeUpdate` returns it. */
export type DecodedUpdate = ReturnType<typeof Y.decodeUpdate>;

/**
 * The lib0 decoder the last `WholeUpdateDecoder` read from. `Y.decodeUpdateV2(update, YDecoder)` makes its update
 * decoder from the class it is given (public API), so a subclass learns where the reading stopped, with no copy and
 * no second pass.
 */
let lastRestDecoder: decoding.Decoder | undefined;

class WholeUpdateDecoder extends Y.UpdateDecoderV1 {
  constructor(decoder: decoding.Decoder) {
    super(decoder);
    lastRestDecoder = decoder;
  }
}

/**
 * `Y.decodeUpdate(update)`, throwing when bytes follow the update. Yjs stops reading after the delete set and
 * ignores the rest, so a valid update with junk after it decodes, and so do v2 bytes read as v1 (a v2 update reads as
 * v1 as a few empty sections followed by everything else).
 */
export function decodeWholeUpdate(update: Uint8Array): DecodedUpdate {
  const decoded = Y.decodeUpdateV2(update, WholeUpdateDecoder);
  const rest = lastRestDecoder!;
  lastRestDecoder = undefined;
  if (rest.arr !== update || rest.pos !== update.length) {
    throw new Error(`${update.length - rest.pos} bytes after the update (not a v1 update?)`);
  }
  return decoded;
}

/** The ranges of `deleteSet`, per client (Yjs `DeleteSet.clients`). */
export function deleteRanges(deleteSet: DeleteSet): ReadonlyMap<number, ReadonlyArray<{ readonly clock: number; readonly len: number }>> {
  return (deleteSet as unknown as DeleteSetInternals).clients;
}

/** `true` when `deleteSet` holds no deletion. */
export function isEmptyDeleteSet(deleteSet: DeleteSet): boolean {
  return (deleteSet as unknown as DeleteSetInternals).clients.size === 0;
}

/**
 * One update (format v1) with every struct `doc` holds past `since` (client → clock; absent clients from 0) and the
 * deletions of `deleteSet`; `null` when there is nothing.
 */
export function encodeChangesSince(doc: Y.Doc, since: ReadonlyMap<number, number>, deleteSet: DeleteSet): Uint8Array | null {
  const clients = storedStructs(doc);
  const changed: Array<[client: number, clock: number]> = [];
  for (const [client, structs] of clients) {
    const from = since.get(client) ?? 0;
    if (stateOf(structs) > from) changed.push([client, from]);
  }
  const deletions = (deleteSet as unknown as DeleteSetInternals).clients;
  if (changed.length === 0 && deletions.size === 0) return null;

  const encoder = new Y.UpdateEncoderV1();
  const rest = encoder.restEncoder;
  encoding.writeVarUint(rest, changed.length);
  // Higher client ids first, as Yjs writes them (it helps its conflict resolution).
  changed.sort((a, b) => b[0] - a[0]);
  for (const [client, since] of changed) {
    const structs = clients.get(client)!;
    const clock = Math.max(since, structs[0]!.id.clock);
    const first = Y.findIndexSS(structs as unknown as Array<Y.Item | Y.GC>, clock);
    encoding.writeVarUint(rest, structs.length - first);
    encoder.writeClient(client);
    encoding.writeVarUint(rest, clock);
    structs[first]!.write(encoder, clock - structs[first]!.id.clock);
    for (let i = first + 1; i < structs.length; i++) structs[i]!.write(encoder, 0);
  }

  writeDeletions(encoder, deletions);
  return encoder.toUint8Array();
}

/** Writes a delete set's ranges, as Yjs' `writeDeleteSet` (not exported) does. */
function writeDeletions(encoder: Y.UpdateEncoderV1, deletions: DeleteSetInternals['clients']): void {
  const rest = encoder.restEncoder;
  encoding.writeVarUint(rest, deletions.size);
  for (const [client, ranges] of [...deletions].sort((a, b) => b[0] - a[0])) {
    encoder.resetDsCurVal();
    encoding.writeVarUint(rest, client);
    encoding.writeVarUint(rest, ranges.length);
    for (const range of ranges) {
      encoder.writeDsClock(range.clock);
      encoder.writeDsLen(range.len);
    }
  }
}

/**
 * `update` (decoded, without gaps) written again without what is already known: per client, structs that end at or
 * before `known(client)` (or before the end of an earlier struct of the update) are left out, and one that starts
 * before is written from there on, with its left origin the struct before it (Yjs' own `write(encoder, offset)`, as
 * for any update written from a state vector). Yjs applies such an overlapping struct the same way but keeps the
 * parent it was sent with while taking the struct before as its left neighbour; when those disagree (a hostile or
 * corrupted update) the document in memory is linked in a way no update can write, and it reads differently once
 * stored and loaded again. Written from the struct before, it takes that struct's parent, in memory and in storage.
 * `null` when the update adds nothing.
 */
export function encodeBeyondKnown(update: DecodedUpdate, known: (client: number) => number): Uint8Array | null {
  const groups: Array<{ client: number; clock: number; parts: Array<[StoredStruct, number]> }> = [];
  let group: (typeof groups)[number] | undefined;
  let next = 0;
  for (const struct of update.structs as unknown as StoredStruct[]) {
    const { client, clock } = struct.id;
    if (group?.client !== client) {
      group = undefined;
      next = known(client);
    }
    const end = clock + struct.length;
    if (end <= next) continue;
    const offset = Math.max(0, next - clock);
    if (group === undefined) groups.push((group = { client, clock: clock + offset, parts: [] }));
    group.parts.push([struct, offset]);
    next = end;
  }
  const deletions = (update.ds as unknown as DeleteSetInternals).clients;
  if (groups.length === 0 && deletions.size === 0) return null;
  const encoder = new Y.UpdateEncoderV1();
  const rest = encoder.restEncoder;
  encoding.writeVarUint(rest, groups.length);
  for (const { client, clock, parts } of groups) {
    encoding.writeVarUint(rest, parts.length);
    encoder.writeClient(client);
    encoding.writeVarUint(rest, clock);
    for (const [struct, offset] of parts) struct.write(encoder, offset);
  }
  writeDeletions(encoder, deletions);
  return encoder.toUint8Array();
}

/** An item as `Y.decodeUpdate` returns it (not integrated: no neighbours, only origins). */
interface DecodedItem extends StoredStruct {
  length: number;
  readonly origin: Y.ID | null;
  readonly rightOrigin: Y.ID | null;
  readonly content: { getLength(): number; mergeWith(right: unknown): boolean; constructor: unknown };
}

function sameId(a: Y.ID | null, b: Y.ID | null): boolean {
  return a === b || (a !== null && b !== null && a.client === b.client && a.clock === b.clock);
}

/** Appends `right` to `left` when Yjs would have merged them (see the top of this file); `left` grows. */
function mergeTyped(left: StoredStruct, right: StoredStruct): boolean {
  if (!(left instanceof Y.Item) || !(right instanceof Y.Item)) return false;
  const a = left as unknown as DecodedItem;
  const b = right as unknown as DecodedItem;
  const lastOfA = a.id.clock + a.length - 1;
  if (b.origin === null || b.origin.client !== a.id.client || b.origin.clock !== lastOfA) return false;
  if (!sameId(a.rightOrigin, b.rightOrigin) || a.content.constructor !== b.content.constructor) return false;
  if (!a.content.mergeWith(b.content)) return false;
  a.length = a.content.getLength();
  return true;
}

/**
 * One update (format v1) of `structs`: structs of one client with consecutive clocks and no deletions, as
 * `Y.decodeUpdate` returns them from updates that client sent one after another (they are merged where Yjs would
 * merge them, so they must not be used afterwards).
 */
export function encodeRun(client: number, structs: readonly StoredStruct[]): Uint8Array {
  const merged: StoredStruct[] = [];
  for (const struct of structs) {
    const last = merged[merged.length - 1];
    if (last === undefined || !mergeTyped(last, struct)) merged.push(struct);
  }
  const encoder = new Y.UpdateEncoderV1();
  const rest = encoder.restEncoder;
  encoding.writeVarUint(rest, 1);
  encoding.writeVarUint(rest, merged.length);
  encoder.writeClient(client);
  encoding.writeVarUint(rest, merged[0]!.id.clock);
  for (const struct of merged) struct.write(encoder, 0);
  encoding.writeVarUint(rest, 0); // no deletions
  return encoder.toUint8Array();
}

/**
 * Runs `change` on `doc` with its `update` listeners set aside (Yjs encodes an update only when someone listens:
 * `doc._observers`), then puts them back. For filling a document from storage: Hocuspocus listens from the moment a
 * document exists, and the update of a whole stored state (10 ms and as much garbage for a 220 KB document) would go
 * to a document with no connections yet. Observers of the document's types still run.
 */
export function withoutUpdateEvents<T>(doc: Y.Doc, change: () => T): T {
  const observers = (doc as unknown as { _observers: Map<string, unknown> })._observers;
  const listeners = observers.get('update');
  observers.delete('update');
  try {
    return change();
  } finally {
    if (listeners !== undefined) observers.set('update', listeners);
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
type RootKind = new () => Y.AbstractType<any>;

/** The type a root's items show; undefined when it holds nothing to tell by. */
function kindOf(root: Y.AbstractType<unknown>): RootKind | undefined {
  if (root._map.size > 0) return Y.Map;
  let kind: RootKind | undefined;
  for (let item = root._start; item !== null; item = item.right) {
    const content = item.content;
    if (content instanceof Y.ContentType) {
      if (content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText) return Y.XmlFragment;
      kind ??= Y.Array;
    } else if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) {
      return Y.Text;
    } else if (!(content instanceof Y.ContentDeleted)) {
      kind ??= Y.Array;
    }
  }
  return kind;
}

/**
 * Types every untyped root of `doc` (see the top), looking at `doc`'s own items first, then at `hint`'s (another replica
 * of the same document that may hold content `doc` lacks). A root with nothing to tell by becomes a `Y.Map`.
 */
export function typeRoots(doc: Y.Doc, hint?: Y.Doc): void {
  for (const [name, root] of doc.share) {
    if (root.constructor !== Y.AbstractType) continue;
    const other = hint?.share.get(name);
    const kind = kindOf(root) ?? (other === undefined ? undefined : other.constructor !== Y.AbstractType ? (other.constructor as RootKind) : kindOf(other));
    doc.get(name, kind ?? Y.Map);
  }
}

/** Whether an item's content is text: characters, formats, embeds, or XML (rich text). */
function isTextContent(content: Y.Item['content']): boolean {
  if (content instanceof Y.ContentString || content instanceof Y.ContentFormat || content instanceof Y.ContentEmbed) return true;
  return content instanceof Y.ContentType && (content.type instanceof Y.XmlElement || content.type instanceof Y.XmlText);
}

/** What one transaction did to one sequence: a root's own, or a record's (a sequence in a map in a root map). */
export interface SequenceChange {
  readonly root: string;
  /** The key, in the root map, of the record holding the sequence; null for a root sequence. */
  readonly record: string | null;
  /** Countable units inserted (characters of text, items of a list) and deleted. */
  inserted: number;
  deleted: number;
  /** Items (types or values) added to the sequence, in order: a list's new entries. */
  readonly added: unknown[];
  /** Whether what changed is text (strings, formats, embeds, XML), not list items. */
  text: boolean;
}

/**
 * Counts, per sequence, what `transaction` inserted and deleted (see the top). Call it from `beforeObserverCalls`.
 * Map values (fields) are not counted: only items in a sequence (`parentSub` null).
 */
export function sequenceChanges(doc: Y.Doc, transaction: Y.Transaction): SequenceChange[] {
  const rootNames = new Map<unknown, string>();
  for (const [name, type] of doc.share) rootNames.set(type, name);
  const changes = new Map<string, SequenceChange>();
  const changeOf = (item: Y.Item): SequenceChange | null => {
    if (item.parentSub !== null || !(item.parent instanceof Y.AbstractType)) return null;
    // Walk up to the root, remembering the key of the map under the root (the record).
    let type: Y.AbstractType<unknown> = item.parent;
    let record: string | null = null;
    for (;;) {
      const root = rootNames.get(type);
      if (root !== undefined) {
        const key = `${root}\u0000${record ?? ''}`;
        let change = changes.get(key);
        if (!change) changes.set(key, (change = { root, record, inserted: 0, deleted: 0, added: [], text: false }));
        return change;
      }
      const holder = type._item;
      if (holder === null || !(holder.parent instanceof Y.AbstractType)) return null;
      if (rootNames.has(holder.parent)) record = holder.parentSub;
      type = holder.parent;
    }
  };
  const structs = storedStructs(doc);
  for (const [client, after] of transaction.afterState) {
    const before = transaction.beforeState.get(client) ?? 0;
    const list = structs.get(client);
    if (!list || after <= before) continue;
    for (let i = Y.findIndexSS(list as never, before); i < list.length; i++) {
      const struct = list[i] as unknown as Y.Item;
      if (!(struct instanceof Y.Item) || struct.deleted || !struct.countable) continue;
      const change = changeOf(struct);
      if (!change) continue;
      change.inserted += struct.length;
      // One by one: a paste is one struct of hundreds of thousands of characters, too many to spread into a call.
      for (const value of struct.content.getContent()) change.added.push(value);
      change.text ||= isTextContent(struct.content);
    }
  }
  for (const [client, ranges] of deleteRanges(transaction.deleteSet)) {
    const list = structs.get(client);
    const before = transaction.beforeState.get(client) ?? 0;
    if (!list) continue;
    for (const { clock, len } of ranges) {
      for (let i = Y.findIndexSS(list as never, clock); i < list.length; i++) {
        const struct = list[i] as unknown as Y.Item;
        if (struct.id.clock >= clock + len) break;
        // Made and deleted in this transaction: neither inserted nor deleted for a reader.
        if (!(struct instanceof Y.Item) || !struct.countable || struct.id.clock >= before) continue;
        const change = changeOf(struct);
        if (!change) continue;
        change.deleted += struct.length;
        change.text ||= isTextContent(struct.content);
      }
    }
  }
  return [...changes.values()];
}
