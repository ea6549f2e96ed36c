/**
 * Live views across documents (design: docs/live-views-design.md; layout, names and reading in engine/src/views.ts):
 * the server keeps each `view:<spec>` document a client opens, which only the server writes (clients are granted read,
 * auth/access.ts).
 *
 * The rules:
 * - A view is active on this instance from the first client connection to it until its document unloads. Activating
 *   builds it from storage: `store.names(<tenant>/<pattern prefix>)` lists the stored documents, each matching one is
 *   read (its stored log applied to a scratch Y.Doc, merged with the loaded document if Hocuspocus has it; never loaded
 *   into Hocuspocus), in batches with the event loop let go of between them; the view's `building` flag is set
 *   meanwhile. Entries of documents no longer stored or loaded are dropped then.
 * - Every transaction a loaded source document applies here, made here or relayed from another instance (not loaded
 *   from storage), marks the document dirty in each active view whose pattern matches it; a view writes its dirty
 *   documents' rows in one transaction, at once when it wrote none in the last `VIEW_UPDATE_MS`, else when that time
 *   is up (so at most once per view and document in that time), re-read from the loaded document. An entry is written
 *   only when its rows changed. Relayed ones count too: two instances applying concurrent changes to one document each
 *   write its entry, and only the writes made once both copies hold both changes are equal whichever wins.
 * - Across a cluster (`cluster`): once a transaction made here is stored (so others find it in PostgreSQL), the
 *   document's qualified name is announced on ClusterEvents (`VIEW_SOURCE`), at most once per document every
 *   `VIEW_UPDATE_MS`, with the views active here that cover it (this instance writes those; SourceAnnouncer.ts). An
 *   instance that has the document loaded marks it in each of its active views that covers it (re-read from its
 *   copy: the announcer's rows may come from a copy that lacked changes made here); one that does not, in those of
 *   them not named, re-read from storage. View documents are no sources: a view's own writes neither mark nor announce
 *   anything, so nothing ping-pongs (an announcement causes at most one write per view on each instance).
 * - The event's refresh (Redis back, a lost event, every poll while the bus is down) rebuilds every active view the
 *   same way, quietly (no `building` flag), at most once every `VIEW_REFRESH_MS`; one asked for sooner runs when that
 *   time is up, so an outage converges by itself, without any further edit.
 * - Writes go through the backend's write path (DocumentWriter.withDocument), so they are stored, broadcast and relayed
 *   like any change; a view's writes run one after another.
 */
import type { afterLoadDocumentPayload, afterUnloadDocumentPayload, connectedPayload, Extension, Hocuspocus } from '@hocuspocus/server';
import {
  documentNameProblem,
  extractRows,
  isConcordOrigin,
  isMadeElsewhere,
  OriginTag,
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
import type { ClusterEvents } from '../cluster/ClusterEvents.js';
import { hasHistory } from '../history/subjects.js';
import type { Logger } from '../logger.js';
import type { DocumentStore } from '../storage/DocumentStore.js';
import type { GroupCommitter } from '../storage/GroupCommitter.js';
import { parseSourceEvent, SourceAnnouncer, VIEW_SOURCE } from './SourceAnnouncer.js';

/** A view writes changed rows at most once in this time (changes meanwhile go in the next write). */
export const VIEW_UPDATE_MS = 100;
/** Documents read from storage between two let-gos of the event loop while a view builds. */
export const VIEW_BUILD_BATCH = 50;
/**
 * Active views are rebuilt from storage at most once in this time on a cluster refresh: while Redis is down refreshes
 * are asked for every 500 ms (cluster/ClusterEvents.ts), and a rebuild reads every covered document.
 */
export const VIEW_REFRESH_MS = 1_000;
/** Who writes views: the server. */
const VIEW_WRITER = { id: 'server', name: 'Server' };

export interface ViewRecorderOptions {
  readonly hocuspocus: Hocuspocus;
  readonly store: DocumentStore;
  readonly writer: DocumentWriter;
  readonly log: Logger;
  /** @default VIEW_UPDATE_MS */
  readonly updateMs?: number;
  /** With other instances: the path announcements take, and the committer that says when a change is stored. */
  readonly cluster?: { readonly events: ClusterEvents; readonly committer: GroupCommitter };
}

interface ActiveView {
  readonly tenant: string;
  /** The view document's tenant-local name. */
  readonly name: string;
  readonly extraction: ViewExtraction;
  readonly matches: (name: string) => boolean;
  /**
   * Source documents (tenant-local) whose rows are to be written, with the loaded document last seen changing, or null
   * when another instance stored changes to it (read it from storage, merged with the loaded one if loaded since).
   */
  readonly dirty: Map<string, Y.Doc | null>;
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
  /** With other instances: tells them of the source documents changed here (SourceAnnouncer.ts). */
  private readonly announcer: SourceAnnouncer | undefined;
  /** When the last cluster refresh started (ms since the epoch). */
  private refreshedAt = 0;

  constructor(options: ViewRecorderOptions) {
    this.options = options;
    this.log = options.log.child({ component: 'views' });
    this.updateMs = options.updateMs ?? VIEW_UPDATE_MS;
    const { cluster } = options;
    this.announcer = cluster && new SourceAnnouncer(cluster.events, cluster.committer, (qualified) => this.written(qualified), this.updateMs);
    cluster?.events.on(VIEW_SOURCE, (json) => this.changedElsewhere(json), () => this.refresh());
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
      if (isConcordOrigin(origin, OriginTag.Storage)) return;
      for (const view of this.views.values()) {
        if (view.tenant === tenant && view.matches(name)) this.mark(view, name, document);
      }
      if (!isMadeElsewhere(origin)) this.announcer?.changed(documentName);
    });
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    this.announcer?.unloaded(documentName);
    const view = this.views.get(documentName);
    if (view === undefined) return;
    this.views.delete(documentName);
    view.closed = true;
    if (view.scheduled !== null) clearTimeout(view.scheduled);
    view.scheduled = null;
  }

  /** Writes what waits, announces what is stored and stops. */
  async close(): Promise<void> {
    this.announcer?.close();
    const views = [...this.views.values()];
    for (const view of views) this.flush(view);
    await Promise.allSettled(views.map((view) => view.writes));
    for (const view of views) view.closed = true;
    this.views.clear();
  }

  /** The views active here that cover a source document (tenant-local names), once their writes of its rows are out. */
  private async written(qualified: string): Promise<string[]> {
    const { tenant, name } = splitQualified(qualified);
    const covering = [...this.views.values()].filter((view) => view.tenant === tenant && view.matches(name));
    // Not held back by the throttle: the announcement waits for them.
    for (const view of covering) if (view.dirty.has(name)) this.flush(view);
    await Promise.allSettled(covering.map((view) => view.writes));
    return covering.map((view) => view.name);
  }

  /**
   * Another instance stored changes to a source document. Loaded here, views that cover it re-read the loaded copy: the
   * other instance may have written rows from a copy that lacked changes made here (one it loaded for a backend write
   * and let go of at once), and its rows reached here before its announcement (one Redis connection keeps the order).
   * Not loaded here, those that the other instance does not write read it from storage.
   */
  private changedElsewhere(json: unknown): void {
    const event = parseSourceEvent(json);
    if (event === null) {
      this.log.warn({ event: json }, `ignored a malformed ${VIEW_SOURCE} event`);
      return;
    }
    const loaded = this.options.hocuspocus.documents.get(event.document);
    const { tenant, name } = splitQualified(event.document);
    const written = new Set(event.views);
    for (const view of this.views.values()) {
      if (view.tenant !== tenant || !view.matches(name)) continue;
      if (loaded) this.mark(view, name, loaded);
      else if (!written.has(view.name)) this.mark(view, name, null);
    }
  }

  /** Rebuilds every active view quietly (events may have been missed), at most once every VIEW_REFRESH_MS. */
  private async refresh(): Promise<void> {
    const wait = this.refreshedAt + VIEW_REFRESH_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    this.refreshedAt = Date.now();
    const views = [...this.views.values()];
    for (const view of views) {
      view.writes = view.writes
        .then(() => this.build(view, true))
        .catch((error: unknown) => this.log.error({ err: error, view: view.name }, 'a view could not be rebuilt'));
    }
    await Promise.all(views.map((view) => view.writes));
  }

  private mark(view: ActiveView, name: string, document: Y.Doc | null): void {
    // A document to read whole stays so until written.
    if (view.dirty.get(name) !== null) view.dirty.set(name, document);
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
          const state = document === null ? await this.stateOf(view.tenant, name) : (loaded ?? document);
          rows.set(name, extractRows(state, view.extraction));
        }
        await this.write(view, rows);
      })
      .catch((error: unknown) => this.log.error({ err: error, view: view.name }, 'view rows could not be written'));
  }

  /** Builds the view from what is stored (and loaded), marking it building meanwhile unless `quiet`. */
  private async build(view: ActiveView, quiet = false): Promise<void> {
    const started = Date.now();
    const building = quiet ? undefined : true;
    if (!quiet) await this.write(view, new Map(), true);
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
      await this.write(view, rows, building, i + VIEW_BUILD_BATCH >= names.length ? present : undefined);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (names.length === 0) await this.write(view, new Map(), building, present);
    if (!quiet) await this.write(view, new Map(), false);
    const built = { view: view.name, tenant: view.tenant, documents: names.length, ms: Date.now() - started };
    // Quiet rebuilds run every second while Redis is down: not worth a line each.
    if (quiet) this.log.debug(built, 'view rebuilt from storage');
    else this.log.info(built, 'view built');
  }

  /**
   * A document's state: its stored log applied to a scratch document, merged with the loaded one when Hocuspocus has it
   * (ahead of the store by what is not stored yet, behind it by what another instance stored and has not reached it).
   */
  private async stateOf(tenant: string, name: string): Promise<Y.Doc> {
    const qualified = `${tenant}${TENANT_SEPARATOR}${name}`;
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
      const loaded = this.options.hocuspocus.documents.get(qualified);
      if (loaded) Y.applyUpdate(scratch, Y.encodeStateAsUpdate(loaded, Y.encodeStateVector(scratch)));
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
