/**
 * Activity feeds: who changed what in a document, and when. The feed of document `X` is the document `activity:X`,
 * written by the server only (server/src/history/ActivityRecorder.ts) and readable by whoever may read `X`: clients
 * open it like any document (so it is live, cached offline and caught up on reconnect) and read it with
 * `readActivity`. Design: docs/activity-design.md.
 *
 * Layout: the root array `entries` of maps, oldest first. A change by the same person to the same target within
 * `ACTIVITY_MERGE_MS` of that entry's last update updates the entry instead of adding one (typing a title is one
 * entry, 'Draft' → 'Final draft').
 */
import * as Y from 'yjs';
import { documentNameProblem } from './names.js';

export const ACTIVITY_PREFIX = 'activity:';
/** Documents the server keeps for itself (the deadline schedule): never granted to a token. */
export const SERVER_DOCUMENT_PREFIX = 'server:';
/** The root of an activity document. */
export const ACTIVITY_ROOT = 'entries';
/** Changes of one person to one target this close together are one entry. */
export const ACTIVITY_MERGE_MS = 60_000;

interface EntryBase {
  readonly id: string;
  /** When the entry was last updated (ms since the epoch). */
  readonly at: number;
  /** When its first change was made. */
  readonly since: number;
  /** The user id (`sub`) or backend actor id, and display name. */
  readonly by: string;
  readonly byName: string;
}

/** A field of the document (`collection` null) or of one of its records changed. */
export interface FieldActivity extends EntryBase {
  readonly kind: 'field';
  readonly collection: string | null;
  readonly record: string | null;
  readonly field: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface RecordActivity extends EntryBase {
  readonly kind: 'record-added' | 'record-removed';
  readonly collection: string;
  readonly record: string;
  /** The record's `title` or `name` field, when it has one. */
  readonly title: string | null;
}

/** Text typed or deleted in a text or rich text (`record` when it is a record's). */
export interface TextActivity extends EntryBase {
  readonly kind: 'text';
  readonly root: string;
  readonly record: string | null;
  readonly inserted: number;
  readonly deleted: number;
}

/** Items added to or removed from a list (comments, say). */
export interface ListActivity extends EntryBase {
  readonly kind: 'list';
  readonly root: string;
  readonly added: number;
  readonly removed: number;
  /** A short text of the first item added (a comment's text), when it has one. */
  readonly preview: string | null;
}

/** The document was restored to a saved version. */
export interface RestoreActivity extends EntryBase {
  readonly kind: 'restore';
  readonly version: string;
  readonly versionName: string | null;
}

export type ActivityEntry = FieldActivity | RecordActivity | TextActivity | ListActivity | RestoreActivity;

/** The activity document of document `name` (a tenant-local name). */
export function activityDocumentName(name: string): string {
  return `${ACTIVITY_PREFIX}${name}`;
}

/** The document whose activity `name` is, or null when `name` is not an activity document (not validated). */
export function activitySubject(name: string): string | null {
  if (!name.startsWith(ACTIVITY_PREFIX)) return null;
  const subject = name.slice(ACTIVITY_PREFIX.length);
  return documentNameProblem(subject) === undefined && !subject.startsWith(ACTIVITY_PREFIX) ? subject : null;
}

/** The entries of an activity document, newest first (at most `limit`). */
export function readActivity(doc: Y.Doc, limit = Infinity): ActivityEntry[] {
  const entries = doc.getArray<Y.Map<unknown>>(ACTIVITY_ROOT);
  const out: ActivityEntry[] = [];
  for (let i = entries.length - 1; i >= 0 && out.length < limit; i--) {
    const entry = entries.get(i);
    if (entry instanceof Y.Map) out.push(entry.toJSON() as ActivityEntry);
  }
  return out;
}
