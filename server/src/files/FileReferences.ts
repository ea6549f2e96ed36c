/**
 * Which documents refer to which file, from the documents themselves: ActivityRecorder's listener adds a firm reference
 * for each `attachments` record a person or the backend adds (by its `hash` field), and drops it (firm or provisional)
 * when the record is removed, or when its `hash` changes, unless another `attachments` record of the document still
 * has that hash. References of one file are changed in the order the changes came (Turns), so an add and a drop never
 * swap. Upload starts and dedup answers add provisional ones in the API (http/filesApi.ts), so an uploader reads its
 * file back before the record syncs; a record's reference makes such a one firm, else it lapses at the retention.
 */
import { ATTACHMENTS_COLLECTION, fileHash, readField } from '@concord/engine';
import type { Document } from '@hocuspocus/server';
import type * as Y from 'yjs';
import type { NoticedChanges } from '../history/ActivityRecorder.js';
import type { Logger } from '../logger.js';
import type { FileStore } from '../storage/FileStore.js';
import { Turns } from '../storage/turns.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
type AnyType = Y.AbstractType<any>;

const HASH_FIELD = 'hash';

const hashOf = (value: unknown): string | null => (fileHash.safeParse(value).success ? (value as string) : null);

/** The hashes of the document's `attachments` records now. */
function hashesIn(document: Document): Set<string> {
  const hashes = new Set<string>();
  const root = document.share.get(ATTACHMENTS_COLLECTION);
  for (const item of (root?._map as Map<string, Y.Item> | undefined)?.values() ?? []) {
    if (item.deleted || !('type' in item.content)) continue;
    const hash = hashOf(readField(item.content.type as AnyType, HASH_FIELD));
    if (hash !== null) hashes.add(hash);
  }
  return hashes;
}

export class FileReferences {
  private readonly files: FileStore;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly turns = new Turns();
  private readonly pending = new Set<Promise<void>>();

  constructor(files: FileStore, log: Logger, now: () => number = Date.now) {
    this.files = files;
    this.log = log.child({ component: 'files' });
    this.now = now;
  }

  /** ActivityRecorder's listener. */
  readonly listener = ({ tenant, name, document, changes }: NoticedChanges): void => {
    const added = new Set<string>();
    const gone = new Set<string>();
    for (const change of changes) {
      if (change.collection !== ATTACHMENTS_COLLECTION) continue;
      if (change.kind === 'record-added') {
        const root = document.share.get(ATTACHMENTS_COLLECTION);
        const item = (root?._map as Map<string, Y.Item> | undefined)?.get(change.record);
        const hash = item && !item.deleted && 'type' in item.content ? hashOf(readField(item.content.type as AnyType, HASH_FIELD)) : null;
        if (hash !== null) added.add(hash);
      } else if (change.kind === 'record-removed') {
        const hash = hashOf(change.fields?.get(HASH_FIELD));
        if (hash !== null) gone.add(hash);
      } else if (change.field === HASH_FIELD) {
        const from = hashOf(change.from);
        const to = hashOf(change.to);
        if (from !== null) gone.add(from);
        if (to !== null) added.add(to);
      }
    }
    if (added.size === 0 && gone.size === 0) return;
    const still = hashesIn(document);
    for (const hash of added) this.change(tenant, hash, () => this.files.addReference(tenant, hash, name));
    for (const hash of gone) {
      if (!still.has(hash)) this.change(tenant, hash, () => this.files.dropReference(tenant, hash, name, this.now()));
    }
  };

  /** Waits for the reference changes under way (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private change(tenant: string, hash: string, work: () => Promise<void>): void {
    const done = this.turns
      .run(`${tenant}/${hash}`, work)
      .catch((error: unknown) => this.log.error({ err: error, tenant, hash }, 'a file reference could not be stored'))
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }
}
