/**
 * Version history's shapes, shared by the server (server/src/history/Versions.ts, storage/VersionStore.ts) and the
 * client (client/src/versions.ts): what `GET /api/documents/<name>/versions` lists and a restore answers.
 */

export type VersionReason = 'edits' | 'restore' | 'named';

/** A saved version of a document, without its state. */
export interface VersionInfo {
  /** Unique within its document; ids of later versions sort after earlier ones. */
  readonly id: string;
  /** The name given to a named version; null for automatic ones. */
  readonly name: string | null;
  /** When it was saved, in milliseconds since the epoch. */
  readonly at: number;
  /** Who it is attributed to: the user id (`sub`) of the last person who edited before it, or who named or restored. */
  readonly by: string;
  /** That person's display name. */
  readonly byName: string;
  /** Saved automatically (after a stretch of editing, or before a restore), not named by someone. */
  readonly auto: boolean;
  /** Why it was saved: `edits` (a stretch of editing), `restore` (the content a restore replaced) or `named`. */
  readonly reason: VersionReason;
  /** Size of the state in bytes. */
  readonly bytes: number;
}

/** What a restore answers. */
export interface RestoreResult {
  /** The version restored. */
  readonly restored: string;
  /** The automatic version of the content before the restore: restoring it undoes the restore. */
  readonly before: string;
  /** Whether the restore changed anything (false: the document already held the version's content). */
  readonly changed: boolean;
  /** Stored (false: storage is failing; it is stored when it recovers). */
  readonly durable: boolean;
}
