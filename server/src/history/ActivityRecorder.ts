/**
 * Activity feeds, derived on the server from the changes people make (design: docs/activity-design.md; the layout and
 * the reader are engine/src/activity.ts). For each loaded document with history (not channels, workspace rooms,
 * inboxes or feeds), every transaction a person made on this instance (a client's user, or the backend's actor; not
 * storage, not another instance's relay, which that instance records) becomes entries of `activity:<name>`:
 *
 * - `field`: a field of the document's fields map, or of a record in a collection (a root map of records), with its
 *   value before and after. Values before come from a cache of the document's current field values, filled at load
 *   and kept current by every transaction (relayed ones too): no Yjs events, which untyped roots do not have.
 * - `record-added` / `record-removed`: a record (a map) set or deleted in a root map.
 * - `text` / `list`: characters or items inserted and deleted in a sequence (seams/yjs.ts `sequenceChanges`): text
 *   (Y.Text, rich text) counts characters, a list (Y.Array) items, with the first new item's text as a preview.
 * - `restore`: told by Versions when it restores.
 * Listeners are told the record and field changes, a removed record with its last field values (files/FileReferences.ts
 * reads the `hash` of a removed attachment so).
 *
 * A change by the same person to the same target within ACTIVITY_MERGE_MS of that entry's last update updates the
 * entry (`to` and the counts) instead of adding one. Entries are written `ACTIVITY_WRITE_MS` after the first change
 * not yet written, all in one transaction on the feed (so typing costs the feed one durable write a second, not one a
 * keystroke), which this instance keeps loaded (a direct connection) while the document is; the feed is then stored,
 * broadcast and relayed like any document. Entries past the retention (count or age) are deleted as new ones come.
 */
import { randomUUID } from 'node:crypto';
import { isTransactionOrigin, type afterLoadDocumentPayload, type Document, type Extension, type Hocuspocus } from '@hocuspocus/server';
import {
  Access,
  ACTIVITY_MERGE_MS,
  assertDocumentName,
  assertTenant,
  ConcordError,
  ErrorKind,
  readActivity,
  type ActivityEntry,
  ACTIVITY_ROOT,
  activityDocumentName,
  FIELDS_ROOT,
  fieldOfKey,
  isMadeElsewhere,
  readField,
  SERVER_API_ORIGIN,
  TENANT_SEPARATOR,
} from '@concord/engine';
import * as Y from 'yjs';
import { authorOf, type Author } from '../auth/author.js';
import type { ConnectionContext } from '../extensions/AuthExtension.js';
import type { Logger } from '../logger.js';
import { sequenceChanges } from '../seams/yjs.js';
import type { NoticedChange } from './PeopleNotifier.js';
import { hasHistory } from './subjects.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
type AnyType = Y.AbstractType<any>;

type DirectConnection = Awaited<ReturnType<Hocuspocus['openDirectConnection']>>;

/** How long after a change its entry is written: the changes of that time go in one write. */
export const ACTIVITY_WRITE_MS = 1_000;

/** Who writes feeds: the server (a server write, stored, broadcast and relayed like any). */
const FEED_WRITER = { id: 'server', name: 'Server' };

export interface ActivityOptions {
  readonly hocuspocus: Hocuspocus;
  /** Entries kept per feed, newest. */
  readonly maxEntries: number;
  /** Entries older than this are deleted. */
  readonly maxAgeMs: number;
  readonly log: Logger;
  readonly now?: () => number;
  /** Told, after each transaction a person made, of its records added and removed and fields changed. */
  readonly listeners?: readonly ChangeListener[];
}

/** What a listener is told: a person's record and field changes to a document, and whether over a client connection. */
export interface NoticedChanges {
  readonly tenant: string;
  readonly name: string;
  readonly document: Document;
  readonly author: Author;
  readonly changes: readonly NoticedChange[];
  readonly fromConnection: boolean;
}

export type ChangeListener = (noticed: NoticedChanges) => void;

/** An entry to write: what it is, without its id and times. */
type Change =
  | { kind: 'field'; collection: string | null; record: string | null; field: string; from: unknown; to: unknown }
  | { kind: 'record-added' | 'record-removed'; collection: string; record: string; title: string | null }
  | { kind: 'text'; root: string; record: string | null; inserted: number; deleted: number }
  | { kind: 'list'; root: string; added: number; removed: number; preview: string | null }
  | { kind: 'restore'; version: string; versionName: string | null };

interface Pending {
  readonly author: Author;
  readonly change: Change;
}

/** A loaded document's state here. */
interface Watched {
  readonly tenant: string;
  readonly name: string;
  /** Field values by root, then by record ('' for the root map's own fields), then by field. */
  readonly values: Map<string, Map<string, Map<string, unknown>>>;
  pending: Pending[];
  scheduled: NodeJS.Timeout | null;
  feed: Promise<DirectConnection> | null;
  /** The writes under way, in order. */
  writes: Promise<void>;
}

/** A map value as JSON (a nested map or text becomes its JSON). */
function plain(value: unknown): unknown {
  return value instanceof Y.AbstractType ? value.toJSON() : value;
}

/** Whether a root map's entry under `key` is a record (a map), by its item. */
function isRecordItem(item: Y.Item | undefined): boolean {
  return item !== undefined && item.content instanceof Y.ContentType && item.content.type instanceof Y.Map;
}

/** The live fields of a map (a root's own, or a record), by the engine's reading rule. */
function fieldsOf(map: AnyType): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  for (const [key, item] of map._map as Map<string, Y.Item>) {
    if (isRecordItem(item)) continue;
    const field = fieldOfKey(key);
    if (!fields.has(field)) fields.set(field, plain(readField(map, field)));
  }
  for (const [field, value] of fields) if (value === undefined) fields.delete(field);
  return fields;
}

/** A record's title, for a reader: its `title` or `name` field. */
function titleOf(record: AnyType): string | null {
  for (const field of ['title', 'name']) {
    const value = readField(record, field);
    if (typeof value === 'string') return value;
  }
  return null;
}

/** A short text of a list's new item: the item if it is text, or its `text`, `body` or `title`. */
function previewOf(item: unknown): string | null {
  const value = plain(item);
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'object' && value !== null
        ? ['text', 'body', 'title'].map((key) => (value as Record<string, unknown>)[key]).find((field) => typeof field === 'string')
        : undefined;
  return typeof text === 'string' ? text.slice(0, 140) : null;
}

/** Whether two field values are the same JSON. */
function same(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The `field` changes among `names` of `map` (the document's fields, or a record's), against `cache`, which is brought
 * up to date.
 */
function fieldChanges(
  map: AnyType,
  names: Iterable<string>,
  cache: Map<string, unknown>,
  collection: string | null,
  record: string | null,
  changes: Change[],
): void {
  for (const field of names) {
    const to = plain(readField(map, field));
    const from = cache.get(field);
    if (same(from, to)) continue;
    if (to === undefined) cache.delete(field);
    else cache.set(field, to);
    changes.push({ kind: 'field', collection, record, field, from: from ?? null, to: to ?? null });
  }
}

/** What identifies an entry's target, for merging. */
function targetOf(change: Change): string | null {
  switch (change.kind) {
    case 'field':
      return `field\u0000${change.collection ?? ''}\u0000${change.record ?? ''}\u0000${change.field}`;
    case 'text':
      return `text\u0000${change.root}\u0000${change.record ?? ''}`;
    case 'list':
      return `list\u0000${change.root}`;
    default:
      return null; // records added and removed, restores: one entry each
  }
}

/**
 * `earlier` and `later` as one change, when the feed would merge them into one entry anyway (the same kind and
 * target; `write` merges those of one person within ACTIVITY_MERGE_MS); null when they stay apart.
 */
function combined(earlier: Change, later: Change): Change | null {
  const target = targetOf(earlier);
  if (target === null || target !== targetOf(later)) return null;
  if (earlier.kind === 'field' && later.kind === 'field') return { ...earlier, to: later.to };
  if (earlier.kind === 'text' && later.kind === 'text') return { ...earlier, inserted: earlier.inserted + later.inserted, deleted: earlier.deleted + later.deleted };
  if (earlier.kind === 'list' && later.kind === 'list') {
    return { ...earlier, added: earlier.added + later.added, removed: earlier.removed + later.removed, preview: earlier.preview ?? later.preview };
  }
  return null;
}

function targetOfEntry(entry: Y.Map<unknown>): string | null {
  return targetOf(entry.toJSON() as Change);
}

export class ActivityRecorder implements Extension {
  readonly extensionName = 'concord-activity';
  private readonly options: ActivityOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly watched = new Map<string, Watched>();
  /** Feeds being let go of, their documents unloaded. */
  private readonly releasing = new Set<Promise<void>>();

  constructor(options: ActivityOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.log = options.log.child({ component: 'activity' });
  }

  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    if (!hasHistory(documentName)) return;
    const at = documentName.indexOf(TENANT_SEPARATOR);
    const watched: Watched = {
      tenant: documentName.slice(0, at),
      name: documentName.slice(at + 1),
      values: new Map(),
      pending: [],
      scheduled: null,
      feed: null,
      writes: Promise.resolve(),
    };
    for (const [root, type] of document.share) this.cacheRoot(watched, root, type);
    this.watched.set(documentName, watched);
    document.on('beforeObserverCalls', (transaction: Y.Transaction) => this.observe(watched, document, transaction));
    document.once('destroy', () => {
      this.watched.delete(documentName);
      this.flush(watched);
      const releasing = this.release(watched).finally(() => this.releasing.delete(releasing));
      this.releasing.add(releasing);
    });
  }

  /** Adds a `restore` entry to the feed of `name` (Versions calls it after a restore). */
  restored(tenant: string, name: string, author: Author, version: string, versionName: string | null): void {
    const key = `${tenant}${TENANT_SEPARATOR}${name}`;
    const watched = this.watched.get(key);
    if (watched) this.add(watched, author, { kind: 'restore', version, versionName });
  }

  /** The feed of `name`, newest first, at most `limit` entries (loads it for the read when it is not loaded). */
  async read(tenant: string, name: string, limit: number): Promise<ActivityEntry[]> {
    assertTenant(tenant);
    assertDocumentName(name);
    if (!hasHistory(`${tenant}${TENANT_SEPARATOR}${name}`)) {
      throw new ConcordError(ErrorKind.InvalidDocumentName, `${name} is one of the server's own documents: it has no activity feed`);
    }
    const feedName = activityDocumentName(name);
    assertDocumentName(feedName);
    const context: ConnectionContext = { user: FEED_WRITER, tenant, documentName: feedName, access: Access.Read };
    const connection = await this.options.hocuspocus.openDirectConnection(`${tenant}${TENANT_SEPARATOR}${feedName}`, context);
    try {
      const feed = connection.document;
      return feed ? readActivity(feed, limit) : [];
    } finally {
      await connection.disconnect().catch(() => undefined);
    }
  }

  /** Writes what waits and lets go of every feed. */
  async close(): Promise<void> {
    for (const watched of this.watched.values()) this.flush(watched);
    // Feeds of documents unloaded meanwhile are being let go of too: all before storage closes.
    await Promise.allSettled([...[...this.watched.values()].map((watched) => this.release(watched)), ...this.releasing]);
  }

  private cacheRoot(watched: Watched, root: string, type: AnyType): void {
    if (type._map.size === 0) return;
    const records = new Map<string, Map<string, unknown>>();
    records.set('', fieldsOf(type));
    for (const [key, item] of type._map as Map<string, Y.Item>) {
      if (isRecordItem(item) && !item.deleted) records.set(key, fieldsOf((item.content as Y.ContentType).type as AnyType));
    }
    watched.values.set(root, records);
  }

  private observe(watched: Watched, document: Document, transaction: Y.Transaction): void {
    const author = isMadeElsewhere(transaction.origin) ? null : authorOf(transaction.origin);
    const changes: Change[] = [];
    const rootNames = new Map<AnyType, string>([...document.share].map(([root, type]) => [type, root]));
    /** The last field values of records removed, for listeners (by collection and record). */
    const removed = new Map<string, ReadonlyMap<string, unknown>>();
    for (const [type, keys] of transaction.changed) {
      const root = rootNames.get(type);
      if (root !== undefined) {
        if ([...keys].some((key) => key !== null)) this.rootMapChanged(watched, root, type, keys, changes, removed);
        continue;
      }
      const holder = type._item;
      const parentRoot = holder?.parent instanceof Y.AbstractType ? rootNames.get(holder.parent as AnyType) : undefined;
      if (parentRoot !== undefined && holder?.parentSub !== null && holder?.parentSub !== undefined && type._map.size + keys.size > 0) {
        this.recordChanged(watched, parentRoot, holder.parentSub, type, keys, changes);
      }
    }
    if (author === null) return; // the cache is current; nothing to record
    for (const sequence of sequenceChanges(document, transaction)) {
      if (sequence.inserted === 0 && sequence.deleted === 0) continue;
      if (sequence.record === null && this.isList(document, sequence.root, sequence.text)) {
        changes.push({ kind: 'list', root: sequence.root, added: sequence.added.length, removed: sequence.deleted, preview: previewOf(sequence.added[0]) });
      } else {
        changes.push({ kind: 'text', root: sequence.root, record: sequence.record, inserted: sequence.inserted, deleted: sequence.deleted });
      }
    }
    for (const change of changes) this.add(watched, author, change);
    const listeners = this.options.listeners ?? [];
    const noticed = changes
      .filter((change): change is Extract<Change, NoticedChange> => change.kind === 'record-added' || change.kind === 'record-removed' || change.kind === 'field')
      .map((change): NoticedChange => (change.kind === 'record-removed' ? { ...change, fields: removed.get(`${change.collection}\u0000${change.record}`) } : change));
    if (listeners.length > 0 && noticed.length > 0) {
      const fromConnection = isTransactionOrigin(transaction.origin) && transaction.origin.source === 'connection';
      // After the transaction: listeners write to other documents.
      setImmediate(() => {
        for (const listener of listeners) listener({ tenant: watched.tenant, name: watched.name, document, author, changes: noticed, fromConnection });
      });
    }
  }

  /** Whether a root sequence is a list (of values or records) rather than text; an untyped root by what changed. */
  private isList(document: Document, root: string, text: boolean): boolean {
    const type = document.share.get(root);
    if (type instanceof Y.Array) return true;
    if (type instanceof Y.Text || type instanceof Y.XmlFragment) return false;
    return !text;
  }

  private rootMapChanged(
    watched: Watched,
    root: string,
    type: AnyType,
    keys: Set<string | null>,
    changes: Change[],
    removed: Map<string, ReadonlyMap<string, unknown>>,
  ): void {
    let records = watched.values.get(root);
    if (!records) watched.values.set(root, (records = new Map([['', new Map()]])));
    const own = records.get('')!;
    const fieldKeys = new Set<string>();
    for (const key of keys) {
      if (key === null) continue;
      const item = (type._map as Map<string, Y.Item>).get(key);
      if (isRecordItem(item)) {
        const present = !item!.deleted;
        const known = records.has(key);
        if (present && !known) {
          const record = (item!.content as Y.ContentType).type as AnyType;
          records.set(key, fieldsOf(record));
          changes.push({ kind: 'record-added', collection: root, record: key, title: titleOf(record) });
        } else if (!present && known) {
          removed.set(`${root}\u0000${key}`, records.get(key)!);
          records.delete(key);
          changes.push({ kind: 'record-removed', collection: root, record: key, title: null });
        }
      } else if (records.has(key) && key !== '') {
        // A record replaced by a plain value, or deleted without its item being a map any more.
        removed.set(`${root}\u0000${key}`, records.get(key)!);
        records.delete(key);
        changes.push({ kind: 'record-removed', collection: root, record: key, title: null });
      } else {
        fieldKeys.add(fieldOfKey(key));
      }
    }
    fieldChanges(type, fieldKeys, own, root === FIELDS_ROOT ? null : root, null, changes);
  }

  private recordChanged(watched: Watched, root: string, record: string, type: AnyType, keys: Set<string | null>, changes: Change[]): void {
    const records = watched.values.get(root);
    const fields = records?.get(record);
    if (!records || !fields) return; // added in this transaction: recorded as record-added
    const names = new Set<string>();
    for (const key of keys) if (key !== null) names.add(fieldOfKey(key));
    fieldChanges(type, names, fields, root, record, changes);
  }

  private add(watched: Watched, author: Author, change: Change): void {
    // A keystroke after another of the same person on the same target: one pending change (a burst of 2 000 keys is
    // then one merge in the feed's write, not 2 000).
    const last = watched.pending.at(-1);
    const merged = last !== undefined && last.author.id === author.id ? combined(last.change, change) : null;
    if (merged !== null) watched.pending[watched.pending.length - 1] = { author: last!.author, change: merged };
    else watched.pending.push({ author, change });
    watched.scheduled ??= setTimeout(() => this.flush(watched), ACTIVITY_WRITE_MS);
  }

  /** Writes the pending entries into the feed, in one transaction. */
  private flush(watched: Watched): void {
    if (watched.scheduled !== null) clearTimeout(watched.scheduled);
    watched.scheduled = null;
    if (watched.pending.length === 0) return;
    const pending = watched.pending;
    watched.pending = [];
    const now = this.now();
    watched.writes = watched.writes
      .then(() => this.feedOf(watched))
      .then(({ connection, origin }) => {
        const feed = connection.document;
        if (!feed) throw new Error(`the activity feed of ${watched.name} was unloaded`);
        feed.transact(() => {
          const entries = feed.getArray<Y.Map<unknown>>(ACTIVITY_ROOT);
          for (const { author, change } of pending) this.write(entries, author, change, now);
          this.trim(entries, now);
        }, origin);
      })
      .catch((error: unknown) => this.log.error({ err: error, document: watched.name, entries: pending.length }, 'activity entries could not be written'));
  }

  private write(entries: Y.Array<Y.Map<unknown>>, author: Author, change: Change, now: number): void {
    const target = targetOf(change);
    if (target !== null) {
      // The newest entries are at the end: look back a little for this person's entry on the same target.
      for (let i = entries.length - 1; i >= Math.max(0, entries.length - 50); i--) {
        const entry = entries.get(i);
        if (!(entry instanceof Y.Map) || (entry.get('at') as number) < now - ACTIVITY_MERGE_MS) break;
        if (entry.get('by') !== author.id || targetOfEntry(entry) !== target) continue;
        if (change.kind === 'field') entry.set('to', change.to);
        else if (change.kind === 'text') {
          entry.set('inserted', (entry.get('inserted') as number) + change.inserted);
          entry.set('deleted', (entry.get('deleted') as number) + change.deleted);
        } else if (change.kind === 'list') {
          entry.set('added', (entry.get('added') as number) + change.added);
          entry.set('removed', (entry.get('removed') as number) + change.removed);
          if (entry.get('preview') === null && change.preview !== null) entry.set('preview', change.preview);
        }
        entry.set('at', now);
        return;
      }
    }
    const entry = new Y.Map<unknown>();
    const fields: Record<string, unknown> = { id: randomUUID(), at: now, since: now, by: author.id, byName: author.name, ...change };
    for (const [key, value] of Object.entries(fields)) entry.set(key, value);
    entries.push([entry]);
  }

  /** Deletes the oldest entries past the count or the age. */
  private trim(entries: Y.Array<Y.Map<unknown>>, now: number): void {
    let drop = Math.max(0, entries.length - this.options.maxEntries);
    while (drop < entries.length) {
      const entry = entries.get(drop);
      if (!(entry instanceof Y.Map) || (entry.get('at') as number) >= now - this.options.maxAgeMs) break;
      drop += 1;
    }
    if (drop > 0) entries.delete(0, drop);
  }

  /** The feed's direct connection, opened once while the document is loaded, and the origin of its writes. */
  private async feedOf(watched: Watched): Promise<{ connection: DirectConnection; origin: unknown }> {
    const name = activityDocumentName(watched.name);
    const context: ConnectionContext = { user: FEED_WRITER, tenant: watched.tenant, documentName: name, access: Access.Write };
    watched.feed ??= this.options.hocuspocus.openDirectConnection(`${watched.tenant}${TENANT_SEPARATOR}${name}`, context);
    return { connection: await watched.feed, origin: { ...SERVER_API_ORIGIN, context } };
  }

  private async release(watched: Watched): Promise<void> {
    await watched.writes;
    const feed = watched.feed;
    watched.feed = null;
    if (feed === null) return;
    try {
      await (await feed).disconnect();
    } catch (error) {
      this.log.warn({ err: error, document: watched.name }, 'an activity feed could not be let go of');
    }
  }
}

