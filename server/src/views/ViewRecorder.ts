/**
 * Live views across documents (design: docs/live-views-design.md; layout, names and reading in engine/src/views.ts):
 * the server keeps each `view:<spec>` document a client opens, which only the server writes (clients are granted read,
 * auth/access.ts).
 *
 * The rules:
 * - A view is active on this instance from the first client connection to it until its document unloads. Activating
 *   builds it from storage: `store.names(<tenant>/<pattern prefix>)` lists the stored documents, each matching one is
 *   read (the loaded document if Hocuspocus has it, else its stored log applied to a scratch Y.Doc, never loaded into
 *   Hocuspocus), in batches with the event loop let go of between them; the view's `building` flag is set meanwhile.
 *   Entries of documents no longer stored or loaded are dropped then.
 * - Every transaction a loaded source document applies here (not storage's, not another instance's relay: that
 *   instance writes those rows) marks the document dirty in each active view whose pattern matches it; a view writes
 *   its dirty documents' rows in one transaction, at once when it wrote none in the last `VIEW_UPDATE_MS`, else when
 *   that time is up (so at most once per view and document in that time), re-read from the loaded document. An entry
 *   is written only when its rows changed.
 * - Writes go through the backend's write path (DocumentWriter.withDocument), so they are stored, broadcast and relayed
 *   like any change; a view's writes run one after another.
 */
import type { afterLoadDocumentPayload, afterUnloadDocumentPayload, connectedPayload, Extension, Hocuspocus } from '@hocuspocus/server';
import {
  documentNameProblem,
  extractRows,
  isMadeElsewhere,
  parseViewName,
  TENANT_SEPARATOR,
  VIEW_ROWS_ROOT,
  VIEW_STATE_ROOT,
  type ViewDocumentRows,
  type ViewExtraction,
} from '@concord/engine';
import * as Y from 'yjs';
import { literalPrefix, matcherFor } from '../auth/access.js';
import type { DocumentWriter } from '../backend/DocumentWriter.js';
import { hasHistory } from '../history/subjects.js';
import type { Logger } from '../logger.js';
import type { DocumentStore } from '../storage/DocumentStore.js';

/** A view writes changed rows at most once in this time (changes meanwhile go in the next write). */
export const VIEW_UPDATE_MS = 100;
/** Documents read from storage between two let-gos of the event loop while a view builds. */
export const VIEW_BUILD_BATCH = 50;

/** Who writes views: the server. */
const VIEW_WRITER = { id: 'server', name: 'Server' };

export interface ViewRecorderOptions {
  readonly hocuspocus: Hocuspocus;
  readonly store: DocumentStore;
  readonly writer: DocumentWriter;
  readonly log: Logger;
  /** @default VIEW_UPDATE_MS */
  readonly updateMs?: number;
}

interface ActiveView {
  readonly tenant: string;
  /** The view document's tenant-local name. */
  readonly name: string;
  readonly extraction: ViewExtraction;
  readonly matches: (name: string) => boolean;
  /** Source documents (tenant-local) whose rows are to be written, with the loaded document last seen changing. */
  readonly dirty: Map<string, Y.Doc>;
  scheduled: NodeJS.Timeout | null;
  /** When the view last started writing changed rows (ms since the epoch). */
  flushedAt: number;
  /** The writes under way, in order (the build first). */
  writes: Promise<void>;
  closed: boolean;
}

function splitQualified(qualified: string): { tenant: string; name: string } {
  const at = qualified.indexOf(TENANT_SEPARATOR);
  return { tenant: qualified.slice(0, at), name: qualified.slice(at + 1) };
}

export class ViewRecorder implements Extension {
  readonly extensionName = 'concord-views';
  private readonly options: ViewRecorderOptions;
  private readonly log: Logger;
  private readonly updateMs: number;
  /** Active views by qualified view document name. */
  private readonly views = new Map<string, ActiveView>();

  constructor(options: ViewRecorderOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'views' });
    this.updateMs = options.updateMs ?? VIEW_UPDATE_MS;
  }

  /** A client opened a document: a view not active here yet is activated and built. */
  async connected({ documentName }: connectedPayload): Promise<void> {
    if (this.views.has(documentName)) return;
    const { tenant, name } = splitQualified(documentName);
    const extraction = parseViewName(name);
    if (extraction === null) return;
    const view: ActiveView = {
      tenant,
      name,
      extraction,
      matches: matcherFor(extraction.documents),
      dirty: new Map(),
      scheduled: null,
      flushedAt: 0,
      writes: Promise.resolve(),
      closed: false,
    };
    this.views.set(documentName, view);
    view.writes = this.build(view).catch((error: unknown) => this.log.error({ err: error, view: name }, 'a view could not be built'));
  }

  /** Every source document loaded here tells the active views that cover it of the changes it applies. */
  async afterLoadDocument({ document, documentName }: afterLoadDocumentPayload): Promise<void> {
    if (!hasHistory(documentName)) return; // channels, inboxes, feeds, views, the server's own
    const { tenant, name } = splitQualified(documentName);
    document.on('update', (_update: Uint8Array, origin: unknown) => {
      if (isMadeElsewhere(origin)) return;
      for (const view of this.views.values()) {
        if (view.tenant === tenant && view.matches(name)) this.mark(view, name, document);
      }
    });
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    const view = this.views.get(documentName);
    if (view === undefined) return;
    this.views.delete(documentName);
    view.closed = true;
    if (view.scheduled !== null) clearTimeout(view.scheduled);
    view.scheduled = null;
  }

  /** Writes what waits and stops. */
  async close(): Promise<void> {
    const views = [...this.views.values()];
    for (const view of views) this.flush(view);
    await Promise.allSettled(views.map((view) => view.writes));
    for (const view of views) view.closed = true;
    this.views.clear();
  }

  private mark(view: ActiveView, name: string, document: Y.Doc): void {
    view.dirty.set(name, document);
    // At once when the view wrote nothing in the last updateMs, else when that time is up: the first change is not
    // held back, and a view writes at most once every updateMs (so each of its documents too).
    view.scheduled ??= setTimeout(() => this.flush(view), Math.max(0, view.flushedAt + this.updateMs - Date.now()));
  }

  /** Writes the rows of the view's dirty documents, after what is under way. */
  private flush(view: ActiveView): void {
    if (view.scheduled !== null) clearTimeout(view.scheduled);
    view.scheduled = null;
    if (view.closed) return;
    view.flushedAt = Date.now();
    view.writes = view.writes
      .then(async () => {
        if (view.dirty.size === 0) return;
        const dirty = [...view.dirty];
        view.dirty.clear();
        const rows = new Map<string, ViewDocumentRows | null>();
        for (const [name, document] of dirty) {
          const loaded = this.options.hocuspocus.documents.get(`${view.tenant}${TENANT_SEPARATOR}${name}`);
          rows.set(name, extractRows(loaded ?? document, view.extraction));
        }
        await this.write(view, rows);
      })
      .catch((error: unknown) => this.log.error({ err: error, view: view.name }, 'view rows could not be written'));
  }

  /** Builds the view from what is stored (and loaded), marking it building meanwhile. */
  private async build(view: ActiveView): Promise<void> {
    const started = Date.now();
    await this.write(view, new Map(), true);
    const prefix = `${view.tenant}${TENANT_SEPARATOR}`;
    const stored = await this.options.store.names(`${prefix}${literalPrefix(view.extraction.documents)}`);
    const loaded = [...this.options.hocuspocus.documents.keys()].filter((name) => name.startsWith(prefix));
    const names = [...new Set([...stored, ...loaded])]
      .filter((qualified) => hasHistory(qualified))
      .map((qualified) => qualified.slice(prefix.length))
      // Not a document's name: a log stored beside one (`<name>!clients`, storage/clientOwners.ts).
      .filter((name) => documentNameProblem(name) === undefined && view.matches(name))
      .sort();
    const present = new Set(names);
    for (let i = 0; i < names.length && !view.closed; i += VIEW_BUILD_BATCH) {
      const rows = new Map<string, ViewDocumentRows | null>();
      for (const name of names.slice(i, i + VIEW_BUILD_BATCH)) rows.set(name, extractRows(await this.stateOf(view.tenant, name), view.extraction));
      await this.write(view, rows, true, i + VIEW_BUILD_BATCH >= names.length ? present : undefined);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (names.length === 0) await this.write(view, new Map(), true, present);
    await this.write(view, new Map(), false);
    this.log.info({ view: view.name, tenant: view.tenant, documents: names.length, ms: Date.now() - started }, 'view built');
  }

  /** A document's state: the loaded one, or its stored log applied to a scratch document. */
  private async stateOf(tenant: string, name: string): Promise<Y.Doc> {
    const qualified = `${tenant}${TENANT_SEPARATOR}${name}`;
    const loaded = this.options.hocuspocus.documents.get(qualified);
    if (loaded) return loaded;
    const scratch = new Y.Doc({ gc: true });
    const entries = await this.options.store.load(qualified);
    Y.transact(scratch, () => {
      for (const { seq, update } of entries) {
        try {
          Y.applyUpdate(scratch, update);
        } catch (error) {
          // As when the document loads (PersistenceExtension): an entry that does not decode is skipped.
          this.log.error({ err: error, document: qualified, seq }, 'skipped a stored update that does not decode');
        }
      }
    });
    return scratch;
  }

  /**
   * Writes `rows` (null drops the entry) in one transaction, entries only when they changed; with `building`, sets the
   * flag; with `keep`, drops every entry not in it.
   */
  private async write(view: ActiveView, rows: ReadonlyMap<string, ViewDocumentRows | null>, building?: boolean, keep?: ReadonlySet<string>): Promise<void> {
    if (view.closed) return;
    await this.options.writer.withDocument(view.tenant, view.name, VIEW_WRITER, (document, origin) => {
      document.transact(() => {
        const entries = document.getMap<unknown>(VIEW_ROWS_ROOT);
        for (const [name, value] of rows) {
          if (value === null || Object.keys(value).length === 0) {
            if (entries.has(name)) entries.delete(name);
          } else if (JSON.stringify(entries.get(name)) !== JSON.stringify(value)) {
            entries.set(name, value);
          }
        }
        if (keep) for (const name of [...entries.keys()]) if (!keep.has(name)) entries.delete(name);
        const state = document.getMap<unknown>(VIEW_STATE_ROOT);
        if (building !== undefined && state.get('building') !== building) state.set('building', building);
      }, origin);
    });
  }
}
