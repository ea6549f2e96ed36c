/**
 * The announcing half of live views across a cluster (the rule is in ViewRecorder.ts, which owns views and reads the
 * announcements): a source document changed on this instance is named to the other instances on ClusterEvents
 * (`VIEW_SOURCE`) once its changes are stored — after the commit, so an instance that reads it from PostgreSQL finds
 * them — at once, or `updateMs` after the document's last announcement (changes meanwhile go in the next one), with the
 * views active here that cover it (this instance writes those), and after those views wrote its rows: their writes go
 * out on the same Redis connection first, so a peer that reads the announcement has them.
 */
import { z } from 'zod';
import type { ClusterEvents } from '../cluster/ClusterEvents.js';
import type { GroupCommitter } from '../storage/GroupCommitter.js';

/** The cluster event that says a source document's changes are stored: `SourceEvent` as JSON. */
export const VIEW_SOURCE = 'view-source';

export interface SourceEvent {
  /** The source document's qualified name (`<tenant>/<name>`). */
  readonly document: string;
  /** The tenant-local names of the views active on the announcing instance that cover it. */
  readonly views: readonly string[];
}

const sourceEventSchema = z.object({ document: z.string(), views: z.array(z.string()) });

/** The event another instance sent, or null when it is not one. */
export function parseSourceEvent(json: unknown): SourceEvent | null {
  const parsed = sourceEventSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

export class SourceAnnouncer {
  private readonly events: ClusterEvents;
  private readonly committer: GroupCommitter;
  /** The views active here that cover a document, once their pending writes of its rows are out. */
  private readonly written: (qualified: string) => Promise<string[]>;
  private readonly updateMs: number;
  /** Documents changed here whose announcement is due when the timer fires. */
  private readonly due = new Map<string, NodeJS.Timeout>();
  /** When each document was last announced (ms since the epoch); forgotten as it unloads. */
  private readonly announcedAt = new Map<string, number>();

  constructor(events: ClusterEvents, committer: GroupCommitter, written: (qualified: string) => Promise<string[]>, updateMs: number) {
    this.events = events;
    this.committer = committer;
    this.written = written;
    this.updateMs = updateMs;
  }

  /** A transaction made here changed `qualified`. */
  changed(qualified: string): void {
    if (this.due.has(qualified)) return;
    const wait = Math.max(0, (this.announcedAt.get(qualified) ?? 0) + this.updateMs - Date.now());
    // Not before the timer: the changes of this turn are queued for storage by then (and included in the ticket).
    this.due.set(qualified, setTimeout(() => void this.whenStored(qualified), wait));
  }

  unloaded(qualified: string): void {
    if (!this.due.has(qualified)) this.announcedAt.delete(qualified);
  }

  /** Announces what is due and stored (not what storage never took: it is nowhere to read); nothing after. */
  close(): void {
    for (const [qualified, timer] of this.due) {
      clearTimeout(timer);
      if (this.committer.lastPendingTicket(qualified) === 0) void this.send(qualified);
    }
    this.due.clear();
  }

  private async whenStored(qualified: string): Promise<void> {
    this.due.delete(qualified);
    this.announcedAt.set(qualified, Date.now());
    try {
      await this.committer.whenDurable(this.committer.lastPendingTicket(qualified));
    } catch {
      return; // storage closed: the changes were never stored
    }
    await this.send(qualified);
  }

  private async send(qualified: string): Promise<void> {
    const event: SourceEvent = { document: qualified, views: await this.written(qualified) };
    this.events.broadcast(VIEW_SOURCE, event);
  }
}
