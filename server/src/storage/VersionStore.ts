/**
 * The storage seam of version history (history/Versions.ts): per document, whole states saved now and then
 * (automatically after a stretch of editing and before every restore, or named on request), each a Yjs update that
 * rebuilds the document as it was. Versions live beside the update log, never in it: compacting the log never
 * touches a version.
 *
 * Rules every implementation keeps (the contract suite in test/storage/versionContract.ts checks them on each one):
 * - `saveVersion(document, version, state)` resolves only once both are durable, and returns true. With
 *   `unlessNewerThan` it saves nothing and returns false when the document already has a version whose `at` is above
 *   it; the check and the save are one step, so two instances saving at once keep one (how a cluster keeps one
 *   automatic version per stretch).
 * - `listVersions(document)` returns every version of the document, field for field as given, newest `at` first
 *   (equal `at`: the greater `id` first).
 * - `loadVersion(document, id)` returns the state saved, byte for byte; `undefined` for an id the document does not have.
 * - `pruneVersions(document, autoBefore)` deletes the document's automatic versions whose `at` is below `autoBefore`
 *   and returns how many; named versions are never pruned.
 * - Document names are opaque (the server passes `<tenant>/<name>`); documents never see each other's versions.
 */

/** What a version is, without its state (engine/src/versions.ts, shared with the client). */
export type { VersionInfo, VersionReason } from '@concord/engine';

import type { VersionInfo } from '@concord/engine';

export interface VersionStore {
  saveVersion(document: string, version: VersionInfo, state: Uint8Array, options?: { unlessNewerThan?: number }): Promise<boolean>;
  listVersions(document: string): Promise<readonly VersionInfo[]>;
  loadVersion(document: string, id: string): Promise<Uint8Array | undefined>;
  pruneVersions(document: string, autoBefore: number): Promise<number>;
}

/** Whether a store (a DocumentStore given by the embedding app, say) keeps versions too. */
export function keepsVersions(store: object): store is VersionStore {
  const candidate = store as Partial<VersionStore>;
  return typeof candidate.saveVersion === 'function' && typeof candidate.listVersions === 'function';
}

/** Newest first; equal times, the greater id first. */
export function newestFirst(a: VersionInfo, b: VersionInfo): number {
  return b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** A stored version's description read back; a damaged one throws, naming where it was. */
export function versionFrom(value: unknown, where: string): VersionInfo {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<keyof VersionInfo, unknown>>;
  const { id, name, at, by, byName, auto, reason, bytes } = v;
  if (
    typeof id !== 'string' ||
    (name !== null && typeof name !== 'string') ||
    typeof at !== 'number' ||
    typeof by !== 'string' ||
    typeof byName !== 'string' ||
    typeof auto !== 'boolean' ||
    (reason !== 'edits' && reason !== 'restore' && reason !== 'named') ||
    typeof bytes !== 'number'
  ) {
    throw new Error(`a stored version (${where}) is damaged: ${JSON.stringify(value)?.slice(0, 200)}`);
  }
  return { id, name, at, by, byName, auto, reason, bytes };
}

/**
 * A version id for `at`: 13 hex digits of the time, a dash, 8 random hex digits. Ids of later versions sort after
 * earlier ones as strings; the random part keeps two versions of one millisecond apart.
 */
export function newVersionId(at: number, random: () => number = Math.random): string {
  const time = Math.max(0, Math.floor(at)).toString(16).padStart(13, '0');
  const tail = Math.floor(random() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return `${time}-${tail}`;
}

/** In memory: the reference implementation (MemoryStore's). */
export class MemoryVersionStore implements VersionStore {
  private readonly documents = new Map<string, Map<string, { info: VersionInfo; state: Uint8Array }>>();

  async saveVersion(document: string, version: VersionInfo, state: Uint8Array, options: { unlessNewerThan?: number } = {}): Promise<boolean> {
    let versions = this.documents.get(document);
    const { unlessNewerThan } = options;
    if (unlessNewerThan !== undefined && [...(versions?.values() ?? [])].some(({ info }) => info.at > unlessNewerThan)) return false;
    if (!versions) this.documents.set(document, (versions = new Map()));
    versions.set(version.id, { info: { ...version }, state: state.slice() });
    return true;
  }

  async listVersions(document: string): Promise<readonly VersionInfo[]> {
    return [...(this.documents.get(document)?.values() ?? [])].map(({ info }) => ({ ...info })).sort(newestFirst);
  }

  async loadVersion(document: string, id: string): Promise<Uint8Array | undefined> {
    return this.documents.get(document)?.get(id)?.state.slice();
  }

  async pruneVersions(document: string, autoBefore: number): Promise<number> {
    const versions = this.documents.get(document);
    let pruned = 0;
    for (const [id, { info }] of versions ?? []) {
      if (info.auto && info.at < autoBefore) {
        versions!.delete(id);
        pruned += 1;
      }
    }
    return pruned;
  }
}
