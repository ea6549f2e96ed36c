/**
 * Deadline notifications: a task with a due date and an assignee gets one `deadline` notification to its assignee,
 * `leadMs` before it is due, from a schedule the server keeps in a document of its own, so it survives restarts and is
 * shared by a cluster.
 *
 * - **What is a task**: by convention, a record (or a document's own fields) with a field `due` and a field `assignee`
 *   (a user id). `due` is a date `YYYY-MM-DD` (due by the end of that day, UTC), a date and time (ISO 8601, e.g.
 *   `2026-12-04T17:00:00Z`), or milliseconds since the epoch. The task's `title` names it in the notification.
 * - **The schedule** is the document `server:deadlines` of the tenant `system` (no token is ever granted a `server:`
 *   document), a map from task (`<tenant>/<document>` and record) to `{dueAt, firesAt, assignee, title, fired}`. It is
 *   updated from the changes people and the backend make (ActivityRecorder's listener, on the instance the change
 *   reached), and stored and relayed like any document.
 * - **Once per task and due date**: `fired` holds the `dueAt` it fired for; a changed due date is a new `dueAt`, which
 *   arms it again; a changed assignee or title does not. The notification's id is derived from the task and `dueAt`,
 *   so firing again after a crash between sending and marking writes the same notification over itself.
 * - **Who fires**: every second, the instance that leads the cluster (cluster/Peers.ts `leads`; a single instance
 *   always) sends what is due and marks it. The schedule is loaded only while a deadline in it waits (so an idle
 *   server holds no document); at start and, in a cluster, every RELOAD_TICKS seconds, the store is read directly to
 *   see whether it should be (other instances may have armed something). A task whose due time passed more than `STALE_AFTER_MS` ago when it would
 *   fire (the server was down all that time) is marked without a notification: a deadline notice after the fact helps
 *   nobody.
 */
import { createHash } from 'node:crypto';
import { Access, FIELDS_ROOT, NotificationKind, readField, SERVER_API_ORIGIN, TENANT_SEPARATOR } from '@concord/engine';
import type { Document, Hocuspocus } from '@hocuspocus/server';
import * as Y from 'yjs';
import type { BackendActor, DocumentWriter } from '../backend/DocumentWriter.js';
import type { ConnectionContext } from '../extensions/AuthExtension.js';
import type { Logger } from '../logger.js';
import type { DocumentStore } from '../storage/DocumentStore.js';
import type { NoticedChanges } from './ActivityRecorder.js';

/** Where the schedule lives. */
export const SCHEDULE_TENANT = 'system';
export const SCHEDULE_DOCUMENT = 'server:deadlines';
/** The fields that make a task, by convention. */
export const DUE_FIELD = 'due';
const ASSIGNEE_FIELD = 'assignee';
/** How often a loaded schedule is looked at. */
export const TICK_MS = 1_000;
/** In a cluster, an unloaded schedule is read from the store every this many ticks, for what other instances armed. */
export const RELOAD_TICKS = 30;
const SCHEDULE_ROOT = 'tasks';
/** A deadline whose due time is further in the past than this when it would fire is dropped. */
export const STALE_AFTER_MS = 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

const SCHEDULER: BackendActor = { id: 'server', name: 'Server' };

/** One task's deadline in the schedule. */
interface Scheduled {
  readonly tenant: string;
  readonly document: string;
  readonly record: string | null;
  readonly dueAt: number;
  readonly firesAt: number;
  readonly assignee: string;
  readonly title: string | null;
  /** The `dueAt` it fired for, if it did. */
  readonly fired: number | null;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event
type AnyType = Y.AbstractType<any>;

/** When `due` is due, in ms since the epoch; null when it is no due date. */
export function dueTime(due: unknown): number | null {
  if (typeof due === 'number') return Number.isFinite(due) ? due : null;
  if (typeof due !== 'string' || due.length === 0) return null;
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(due);
  if (date) return Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3])) + DAY_MS; // the end of that day
  const at = Date.parse(due);
  return Number.isNaN(at) ? null : at;
}

export interface DeadlinesOptions {
  readonly hocuspocus: Hocuspocus;
  readonly writer: Pick<DocumentWriter, 'notify'>;
  /** How long before the due time the notification goes out. */
  readonly leadMs: number;
  /** Whether this instance fires (the cluster's leader; always true alone). */
  readonly leads?: () => boolean;
  /** Other instances share the store (a cluster): an unloaded schedule is looked at again every RELOAD_TICKS. */
  readonly shared: boolean;
  /** Where the schedule is stored: read directly to see whether it needs loading. */
  readonly store: Pick<DocumentStore, 'load'>;
  readonly log: Logger;
  readonly now?: () => number;
}

export class Deadlines {
  private readonly options: DeadlinesOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  /** The schedule, loaded while it holds a deadline that has not fired. */
  private held: Promise<{ document: Document; disconnect: () => Promise<void> }> | null = null;
  private tick: ReturnType<typeof setInterval> | undefined;
  private ticks = 0;
  /** Work on the schedule, one at a time. */
  private work: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(options: DeadlinesOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.log = options.log.child({ component: 'deadlines' });
  }

  /** Loads the schedule if something in it waits, and starts looking at it every TICK_MS. */
  async start(): Promise<void> {
    if (await this.waitingInStore()) await this.queue(() => undefined);
    this.tick = setInterval(() => {
      this.ticks += 1;
      if (this.held !== null) void this.queue((document) => this.fireDue(document));
      // Not loaded: another instance may have armed something since (a cluster); look at the store now and then.
      else if (this.options.shared && this.ticks % RELOAD_TICKS === 0) {
        void this.waitingInStore()
          .then((waiting) => (waiting ? this.queue((document) => this.fireDue(document)) : undefined))
          .catch((error: unknown) => this.log.warn({ err: error }, 'the deadline schedule could not be read'));
      }
    }, TICK_MS);
    this.tick.unref();
  }

  /**
   * Whether the stored schedule holds a deadline that has not fired, read from the store alone (no document is loaded
   * for an idle schedule, and the read is no document load in the metrics).
   */
  private async waitingInStore(): Promise<boolean> {
    const scratch = new Y.Doc();
    try {
      for (const { update } of await this.options.store.load(`${SCHEDULE_TENANT}${TENANT_SEPARATOR}${SCHEDULE_DOCUMENT}`)) Y.applyUpdate(scratch, update);
      return hasWaiting(scratch);
    } finally {
      scratch.destroy();
    }
  }

  /** ActivityRecorder's listener: tasks whose due date, assignee or title changed, were added or removed. */
  readonly listener = ({ tenant, name, document, changes }: NoticedChanges): void => {
    const touched = new Map<string, { collection: string | null; record: string | null }>();
    for (const change of changes) {
      if (change.kind === 'field' && change.field !== DUE_FIELD && change.field !== ASSIGNEE_FIELD && change.field !== 'title') continue;
      touched.set(`${change.collection ?? ''}\u0000${change.record ?? ''}`, { collection: change.collection, record: change.record });
    }
    if (touched.size > 0) void this.queue((schedule) => this.update(schedule, tenant, name, document, [...touched.values()]));
  };

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.tick);
    await this.work;
    await this.release();
  }

  /**
   * Runs `use` on the schedule (loading it if needed), after the work before it; then keeps the schedule loaded if a
   * deadline in it waits, and lets go of it otherwise.
   */
  private queue(use: (schedule: Document) => void | Promise<void>): Promise<void> {
    this.work = this.work
      .then(async () => {
        if (this.closed) return;
        const { document } = await this.load();
        await use(document);
        if (!hasWaiting(document)) await this.release();
      })
      .catch((error: unknown) => this.log.error({ err: error }, 'the deadline schedule could not be read or written'));
    return this.work;
  }

  private load() {
    const context: ConnectionContext = { user: SCHEDULER, tenant: SCHEDULE_TENANT, documentName: SCHEDULE_DOCUMENT, access: Access.Write };
    this.held ??= this.options.hocuspocus
      .openDirectConnection(`${SCHEDULE_TENANT}${TENANT_SEPARATOR}${SCHEDULE_DOCUMENT}`, context)
      .then((connection) => {
        const document = connection.document;
        if (!document) throw new Error('the deadline schedule closed as it opened');
        return { document, disconnect: () => connection.disconnect() };
      });
    const held = this.held;
    held.catch(() => {
      if (this.held === held) this.held = null;
    });
    return held;
  }

  private async release(): Promise<void> {
    const held = this.held;
    this.held = null;
    if (held) await (await held).disconnect().catch(() => undefined);
  }

  private origin() {
    const context: ConnectionContext = { user: SCHEDULER, tenant: SCHEDULE_TENANT, documentName: SCHEDULE_DOCUMENT, access: Access.Write };
    return { ...SERVER_API_ORIGIN, context };
  }

  private update(schedule: Document, tenant: string, name: string, source: Document, tasks: ReadonlyArray<{ collection: string | null; record: string | null }>): void {
    const entries = schedule.getMap<Scheduled>(SCHEDULE_ROOT);
    schedule.transact(() => {
      for (const { collection, record } of tasks) {
        const key = `${tenant}${TENANT_SEPARATOR}${name}\u0000${collection ?? ''}\u0000${record ?? ''}`;
        const fields = fieldsOf(source, collection, record);
        const dueAt = fields ? dueTime(readField(fields, DUE_FIELD)) : null;
        const assignee = fields ? readField(fields, ASSIGNEE_FIELD) : undefined;
        if (dueAt === null || typeof assignee !== 'string' || assignee.length === 0) {
          if (entries.has(key)) entries.delete(key);
          continue;
        }
        const title = readField(fields!, 'title');
        const held = entries.get(key);
        const next: Scheduled = {
          tenant,
          document: name,
          record,
          dueAt,
          firesAt: dueAt - this.options.leadMs,
          assignee,
          title: typeof title === 'string' ? title : null,
          fired: held?.dueAt === dueAt ? held.fired : null, // a new due date arms it again
        };
        if (JSON.stringify(held) !== JSON.stringify(next)) entries.set(key, next);
      }
    }, this.origin());
  }

  /** Sends the notifications that are due, if this instance leads, and marks them fired. */
  private async fireDue(schedule: Document): Promise<void> {
    if (!(this.options.leads?.() ?? true)) return;
    const entries = schedule.getMap<Scheduled>(SCHEDULE_ROOT);
    const now = this.now();
    for (const [key, entry] of entries) {
      if (entry.fired === entry.dueAt || entry.firesAt > now) continue;
      if (entry.dueAt >= now - STALE_AFTER_MS) {
        const id = createHash('sha256').update(`deadline\u0000${key}\u0000${entry.dueAt}`).digest('hex').slice(0, 32);
        const due = new Date(entry.dueAt).toISOString();
        await this.options.writer.notify(
          entry.tenant,
          entry.assignee,
          {
            kind: NotificationKind.Deadline,
            title: entry.title === null ? `A task is due ${due}` : `'${entry.title}' is due ${due}`,
            target: { document: entry.document, ...(entry.record === null ? {} : { record: entry.record }) },
            data: { dueAt: entry.dueAt },
          },
          SCHEDULER,
          { id },
        );
      } else {
        this.log.info({ document: entry.document, record: entry.record, dueAt: entry.dueAt }, 'a deadline passed long ago while no instance could fire it: dropped');
      }
      // Marked after the notification: a crash in between sends it again, over itself (the same id).
      const current = entries.get(key);
      if (current && current.dueAt === entry.dueAt) schedule.transact(() => entries.set(key, { ...current, fired: entry.dueAt }), this.origin());
    }
  }
}

/** Whether the schedule holds a deadline that has not fired. */
function hasWaiting(schedule: Y.Doc): boolean {
  for (const entry of schedule.getMap<Scheduled>(SCHEDULE_ROOT).values()) if (entry.fired !== entry.dueAt) return true;
  return false;
}

/** The map holding a task's fields: the record `record` of root `collection`, or the document's own fields. */
function fieldsOf(document: Document, collection: string | null, record: string | null): AnyType | null {
  if (record === null) return document.share.get(collection ?? FIELDS_ROOT) ?? null;
  const item = (document.share.get(collection ?? '')?._map as Map<string, Y.Item> | undefined)?.get(record);
  if (!item || item.deleted || !(item.content instanceof Y.ContentType)) return null;
  return item.content.type as AnyType;
}
