/**
 * Version history: whole states of a document kept beside its update log (storage/VersionStore.ts), listed, read and
 * restored through the HTTP API, the Node API and the client.
 *
 * - **Automatic versions.** The first change a document takes from a person (a client or the backend; not storage,
 *   not another instance's relay) after its last version arms a timer of `intervalMs`; when it fires, the document's
 *   state is saved as an automatic version attributed to the last person who changed it. A document that unloads
 *   with an armed timer is saved as it unloads, so a short stretch of editing is kept too. In a cluster every
 *   instance that serves a writer arms its own timer; a save that finds a version newer than half an interval is
 *   skipped (the store checks and saves in one step), so a stretch gets one version.
 * - **Named versions** are saved on request, with the name given, attributed to the caller.
 * - **Restore** saves the current state as an automatic version (reason `restore`) first, then applies the change
 *   that makes the document's content the version's (history/revert.ts) as a server write on behalf of the caller:
 *   every connected client receives it as an edit, it is stored like any edit, and the restore can be undone by
 *   restoring the version saved before it.
 * - **Retention.** Automatic versions older than `retentionMs` are pruned after each save of that document; named
 *   ones are kept. Compaction works on the update log only, so it never touches a version.
 */
import type { afterLoadDocumentPayload, Document, Extension } from '@hocuspocus/server';
import {
  ConcordError,
  ErrorKind,
  isMadeElsewhere,
  qualifyDocumentName,
  assertDocumentName,
  assertTenant,
} from '@concord/engine';
import type { RestoreResult } from '@concord/engine';
import * as Y from 'yjs';
import { authorOf, type Author } from '../auth/author.js';
import type { BackendActor, DocumentWriter } from '../backend/DocumentWriter.js';
import type { Logger } from '../logger.js';
import { newVersionId, type VersionInfo, type VersionReason, type VersionStore } from '../storage/VersionStore.js';
import { revertUpdate } from './revert.js';
import { hasHistory } from './subjects.js';

/** How many times a restore saves the content it replaces while changes keep arriving during the save. */
const MAX_BEFORE_SAVES = 3;

/** The longest name a named version may have. */
export const MAX_VERSION_NAME_LENGTH = 200;

export interface VersionsOptions {
  readonly store: VersionStore;
  readonly writer: DocumentWriter;
  /** Time from the first change after a version to the next automatic version; 0 turns automatic versions off. */
  readonly intervalMs: number;
  /** How long automatic versions are kept. */
  readonly retentionMs: number;
  readonly log: Logger;
  /** The clock (tests move it). */
  readonly now?: () => number;
  /** Told of each restore that changed something (the activity feed). */
  readonly onRestore?: (tenant: string, name: string, by: Author, version: VersionInfo) => void;
}

export type { RestoreResult };

/** A stretch of editing not yet in a version. */
interface Stretch {
  timer: ReturnType<typeof setTimeout>;
  last: Author;
  readonly document: Document;
}

export class UnknownVersionError extends Error {
  constructor(name: string, id: string) {
    super(`document ${name} has no version ${id}`);
    this.name = 'UnknownVersionError';
  }
}

export class Versions implements Extension {
  readonly extensionName = 'concord-versions';
  private readonly store: VersionStore;
  private readonly writer: DocumentWriter;
  private readonly intervalMs: number;
  private readonly retentionMs: number;
  private readonly log: Logger;
  private readonly now: () => number;
  /** By qualified document name. */
  private readonly stretches = new Map<string, Stretch>();
  private readonly saving = new Set<Promise<unknown>>();
  private readonly onRestore: VersionsOptions['onRestore'];
  private closed = false;

  constructor(options: VersionsOptions) {
    this.store = options.store;
    this.writer = options.writer;
    this.intervalMs = options.intervalMs;
    this.retentionMs = options.retentionMs;
    this.log = options.log.child({ component: 'versions' });
    this.now = options.now ?? Date.now;
    this.onRestore = options.onRestore;
  }

  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    if (this.intervalMs === 0 || !hasHistory(documentName)) return;
    document.on('afterTransaction', (transaction: Y.Transaction) => {
      if (transaction.changed.size === 0 || isMadeElsewhere(transaction.origin)) return;
      const author = authorOf(transaction.origin);
      if (author === null) return;
      const stretch = this.stretches.get(documentName);
      if (stretch) {
        stretch.last = author;
        return;
      }
      const timer = setTimeout(() => this.endStretch(documentName, document), this.intervalMs);
      timer.unref();
      this.stretches.set(documentName, { timer, last: author, document });
    });
    // Hocuspocus destroys a document as it unloads it: a stretch still open is saved from its last state.
    document.once('destroy', () => {
      if (this.stretches.has(documentName)) this.endStretch(documentName, document);
    });
  }

  /** Every version of the document, newest first. */
  async list(tenant: string, name: string): Promise<readonly VersionInfo[]> {
    return this.store.listVersions(qualified(tenant, name));
  }

  /** The version's state as a Yjs update; throws UnknownVersionError for an id the document does not have. */
  async state(tenant: string, name: string, id: string): Promise<Uint8Array> {
    const state = await this.store.loadVersion(qualified(tenant, name), id);
    if (state === undefined) throw new UnknownVersionError(name, id);
    return state;
  }

  /** Saves the document's current state as a version named `label`, attributed to `actor`; resolves once durable. */
  async saveNamed(tenant: string, name: string, label: string, actor: BackendActor): Promise<VersionInfo> {
    const trimmed = label.trim();
    if (trimmed.length === 0 || trimmed.length > MAX_VERSION_NAME_LENGTH) {
      throw new ConcordError(ErrorKind.InvalidField, `a version's name must be 1 to ${MAX_VERSION_NAME_LENGTH} characters`);
    }
    const { result: state } = await this.writer.withDocument(tenant, name, actor, (document) => Y.encodeStateAsUpdate(document));
    const version = this.describe(trimmed, actor, 'named', state);
    await this.store.saveVersion(qualified(tenant, name), version, state);
    return version;
  }

  /**
   * Makes the document's content that of version `id`, as a change every client receives, after saving the content
   * before it as an automatic version. Throws UnknownVersionError for an id the document does not have.
   */
  async restore(tenant: string, name: string, id: string, actor: BackendActor): Promise<RestoreResult> {
    const key = qualified(tenant, name);
    const saved = await this.store.loadVersion(key, id);
    if (saved === undefined) throw new UnknownVersionError(name, id);
    const info = (await this.store.listVersions(key)).find((version) => version.id === id);
    const { result, durable } = await this.writer.withDocument(tenant, name, actor, async (document, origin) => {
      // The version of what the restore replaces must hold every change the restore takes back: a change that
      // arrives while it is being saved means saving it again (a few times at most; then the last save stands).
      let before: VersionInfo;
      let changed = false;
      const onUpdate = () => {
        changed = true;
      };
      document.on('update', onUpdate);
      try {
        for (let attempt = 1; ; attempt++) {
          changed = false;
          const current = Y.encodeStateAsUpdate(document);
          before = this.describe(null, actor, 'restore', current);
          await this.store.saveVersion(key, before, current);
          if (!changed || attempt === MAX_BEFORE_SAVES) break;
        }
      } finally {
        document.off('update', onUpdate);
      }
      // No await from here on: the revert is computed and applied on the state just saved.
      const revert = revertUpdate(document, saved);
      if (revert !== null) {
        Y.applyUpdate(document, revert, origin);
        if (info) this.onRestore?.(tenant, name, actor, info);
      }
      return { before: before.id, changed: revert !== null };
    });
    void this.prune(key);
    return { restored: id, ...result, durable };
  }

  /** Saves what is being saved, and stops arming timers. */
  async close(): Promise<void> {
    // A stretch still open is saved as if its document unloaded (a deploy must not lose the last minutes' history).
    for (const [key, { document }] of [...this.stretches]) this.endStretch(key, document);
    this.closed = true;
    await Promise.allSettled([...this.saving]);
  }

  private endStretch(key: string, document: Document): void {
    const stretch = this.stretches.get(key);
    if (!stretch) return;
    clearTimeout(stretch.timer);
    this.stretches.delete(key);
    if (this.closed) return;
    const state = Y.encodeStateAsUpdate(document);
    const version = this.describe(null, stretch.last, 'edits', state);
    const saving = this.store
      .saveVersion(key, version, state, { unlessNewerThan: version.at - this.intervalMs / 2 })
      .then((saved) => (saved ? this.prune(key) : undefined))
      .catch((error: unknown) => this.log.error({ err: error, document: key }, 'an automatic version could not be saved'))
      .finally(() => this.saving.delete(saving));
    this.saving.add(saving);
  }

  private prune(key: string): Promise<void> {
    const pruning = this.store
      .pruneVersions(key, this.now() - this.retentionMs)
      .then(() => undefined)
      .catch((error: unknown) => this.log.warn({ err: error, document: key }, 'old automatic versions could not be pruned; the next save tries again'))
      .finally(() => this.saving.delete(pruning));
    this.saving.add(pruning);
    return pruning;
  }

  private describe(name: string | null, by: Author, reason: VersionReason, state: Uint8Array): VersionInfo {
    const at = this.now();
    return { id: newVersionId(at), name, at, by: by.id, byName: by.name, auto: reason !== 'named', reason, bytes: state.byteLength };
  }
}

function qualified(tenant: string, name: string): string {
  assertTenant(tenant);
  assertDocumentName(name);
  const key = qualifyDocumentName(tenant, name);
  if (!hasHistory(key)) throw new ConcordError(ErrorKind.InvalidDocumentName, `${name} is one of the server's own documents: it has no version history`);
  return key;
}

