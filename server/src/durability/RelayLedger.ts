/**
 * Content another instance published before its commit, held here until that instance reports it durable
 * (docs/scale-out-design.md §3.4): the second part of an acknowledgement's barrier (durability/Durability.ts).
 *
 * Why: an instance publishes a turn's updates as soon as it applies them (cluster/DocumentRelay.ts), so the other
 * instances show them at once instead of after its PostgreSQL commit. Until that commit, what they hold of it is in
 * no store. Were they to acknowledge their own clients' updates on the document meanwhile, an update made on top of
 * it (or a resend of it by a writer who moved here when its instance died) would be acknowledged while what it rests
 * on could still be lost. So every relayed frame that is not yet durable on its origin is registered here as an
 * entry of its document, and an acknowledgement on the document also waits for every entry registered before it.
 *
 * An entry is **settled** when its origin reports a durable mark at or above the entry's ticket (a `Durable` frame
 * after each commit that covered published updates, and every heartbeat, so a lost frame heals within a second).
 * It is **adopted** (its updates and claims appended to this instance's own group committer, the entry then waiting
 * for that write) when its origin is gone (said goodbye, or fell silent while Redis is reachable), when the bus
 * itself is lost (no mark can arrive: every entry is adopted at once), or when its document holds more than
 * MAX_PROVISIONAL_BYTES unsettled. A double write is harmless: stores keep every entry, and a second copy of an update
 * changes nothing. An origin that is alive but whose PostgreSQL is stalled is waited for, not adopted: its commits are
 * stalled on the same database as this instance's would be. An entry is **dropped** when its document unloads here:
 * acknowledgements on it went to clients of this instance, who are gone with the document.
 */
import type { Claim } from '../cluster/DocumentResync.js';
import type { GroupCommitter } from '../storage/GroupCommitter.js';
import { encodeClaim, ownersLogName } from '../storage/clientOwners.js';

/** Unsettled relayed bytes one document may hold before its entries are adopted (written here). */
export const MAX_PROVISIONAL_BYTES = 4 * 1024 * 1024;

/** The origin of adopted entries: this instance's own committer. */
const SELF = '';

interface Entry {
  readonly document: string;
  /** Registration order within the document, from 1. */
  readonly index: number;
  /** The instance whose commit it waits for (SELF once adopted). */
  origin: string;
  /** The origin's ticket that covers it. */
  ticket: number;
  updates: readonly Uint8Array[] | null;
  claims: readonly Claim[] | null;
  readonly bytes: number;
  settled: boolean;
}

interface DocumentEntries {
  /** Entries registered so far (the last index). */
  registered: number;
  /** Unsettled entries and the settled ones behind the first unsettled, in registration order. */
  readonly entries: Entry[];
  unsettledBytes: number;
}

export class RelayLedger {
  private readonly committer: GroupCommitter;
  private readonly documents = new Map<string, DocumentEntries>();
  /** Unsettled entries per origin. */
  private readonly byOrigin = new Map<string, Entry[]>();
  /** The highest durable mark each origin reported. */
  private readonly marks = new Map<string, number>();
  private waiters: Array<() => void> = [];

  constructor(committer: GroupCommitter) {
    this.committer = committer;
    committer.listen({ stored: () => this.settle(SELF, committer.durableThrough) });
  }

  /** Entries waiting, on every document. */
  get unsettled(): number {
    let count = 0;
    for (const entries of this.byOrigin.values()) count += entries.length;
    return count;
  }

  /**
   * `origin` published `updates` (and `claims`) of `document`, covered by its `ticket`, and they were applied here.
   * Nothing is registered when the origin already reported that ticket durable (or sent 0: it was durable).
   */
  register(document: string, origin: string, ticket: number, updates: readonly Uint8Array[], claims: readonly Claim[]): void {
    if (ticket <= (this.marks.get(origin) ?? 0)) return;
    let entries = this.documents.get(document);
    if (entries === undefined) this.documents.set(document, (entries = { registered: 0, entries: [], unsettledBytes: 0 }));
    let bytes = 0;
    for (const update of updates) bytes += update.byteLength;
    const entry: Entry = { document, index: ++entries.registered, origin, ticket, updates, claims, bytes, settled: false };
    entries.entries.push(entry);
    entries.unsettledBytes += bytes;
    this.waitFor(entry);
    if (entries.unsettledBytes > MAX_PROVISIONAL_BYTES) this.adoptWhere((candidate) => candidate.document === document);
  }

  /** The mark an acknowledgement on `document` taken now waits for: every entry registered so far. */
  mark(document: string): number {
    return this.documents.get(document)?.registered ?? 0;
  }

  /** Every entry of `document` up to `mark` is settled. */
  passed(document: string, mark: number): boolean {
    if (mark === 0) return true;
    const entries = this.documents.get(document);
    if (entries === undefined) return true; // dropped with its document
    const first = entries.entries[0];
    return first === undefined || first.index > mark;
  }

  /** `origin` reports everything it queued up to `durableThrough` durable. */
  settle(origin: string, durableThrough: number): void {
    if (origin !== SELF && durableThrough > (this.marks.get(origin) ?? 0)) this.marks.set(origin, durableThrough);
    const waiting = this.byOrigin.get(origin);
    if (waiting === undefined) return;
    const left = waiting.filter((entry) => entry.ticket > durableThrough);
    if (left.length === waiting.length) return;
    if (left.length > 0) this.byOrigin.set(origin, left);
    else this.byOrigin.delete(origin);
    for (const entry of waiting) if (entry.ticket <= durableThrough) this.settled(entry);
    this.progress();
  }

  /** `origin` is gone: what it may not have stored is written here. Its marks are forgotten. */
  adoptFrom(origin: string): void {
    this.marks.delete(origin);
    this.adoptWhere((entry) => entry.origin === origin);
  }

  /** No mark can arrive (the bus is lost): everything waiting is written here. */
  adoptAll(): void {
    this.adoptWhere((entry) => entry.origin !== SELF);
  }

  /** `document` unloaded here: its entries are forgotten (nobody here waits on them any more). */
  drop(document: string): void {
    const entries = this.documents.get(document);
    if (entries === undefined) return;
    this.documents.delete(document);
    for (const [origin, waiting] of this.byOrigin) {
      const left = waiting.filter((entry) => entry.document !== document);
      if (left.length === 0) this.byOrigin.delete(origin);
      else if (left.length !== waiting.length) this.byOrigin.set(origin, left);
    }
    this.progress();
  }

  /** Calls back once, after the next entry settles or is dropped. */
  onceSettled(callback: () => void): void {
    this.waiters.push(callback);
  }

  private waitFor(entry: Entry): void {
    const waiting = this.byOrigin.get(entry.origin);
    if (waiting === undefined) this.byOrigin.set(entry.origin, [entry]);
    else waiting.push(entry);
  }

  private adoptWhere(adopted: (entry: Entry) => boolean): void {
    for (const [origin, waiting] of [...this.byOrigin]) {
      if (origin === SELF) continue;
      const left: Entry[] = [];
      for (const entry of waiting) {
        if (!adopted(entry)) {
          left.push(entry);
          continue;
        }
        entry.origin = SELF;
        entry.ticket = this.append(entry);
        this.waitFor(entry);
      }
      if (left.length === 0) this.byOrigin.delete(origin);
      else this.byOrigin.set(origin, left);
    }
    this.settle(SELF, this.committer.durableThrough); // an entry with nothing to write is settled at once
  }

  /** Queues the entry's content for this instance's store; returns the ticket that covers it. */
  private append(entry: Entry): number {
    let ticket = 0;
    try {
      for (const { client, user } of entry.claims ?? []) ticket = this.committer.append(ownersLogName(entry.document), encodeClaim(client, user));
      for (const update of entry.updates ?? []) ticket = this.committer.append(entry.document, update);
    } catch {
      return Number.POSITIVE_INFINITY; // storage closed (the server is stopping): it never settles, nothing more is acknowledged
    }
    return ticket;
  }

  private settled(entry: Entry): void {
    entry.settled = true;
    entry.updates = null;
    entry.claims = null;
    const entries = this.documents.get(entry.document);
    if (entries === undefined) return;
    entries.unsettledBytes -= entry.bytes;
    while (entries.entries[0]?.settled === true) entries.entries.shift();
  }

  private progress(): void {
    const waiters = this.waiters;
    if (waiters.length === 0) return;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}
