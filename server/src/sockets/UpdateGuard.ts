/**
 * What every socket's UpdateGate checks updates against, one per server: the loaded documents, who owns each of their
 * client ids, and how many incomplete updates are held for each.
 *
 * Ownership: the first user who writes new structs under a client id owns it in that document, for good. The claim
 * is stored with the document (storage/clientOwners.ts: a small log of its own beside the document's, appended by the
 * group committer in the same write as or before the update that made it), loaded with the document, so a user's
 * client ids stay theirs across reconnects and restarts: a second tab or a reloaded page (a new Y.Doc, a new client
 * id) claims a fresh id; a client coming back with offline edits finds its old id still its own.
 *
 * Documents register here once loaded (PersistenceExtension): until then, and until a session's authorisation is known,
 * gates hold updates for them. A gate that holds updates for a document waits for its next change (or its load): the
 * guard listens to that document only while someone waits, and retries the waiting gates once per turn of the event
 * loop, however many updates the document applied in it.
 */
import type * as Y from 'yjs';

export interface UpdateLimits {
  /** Updates one connection may have held at once (waiting for their dependencies, their document or its authorisation). */
  readonly maxHeldUpdatesPerConnection: number;
  /** Bytes of those updates. */
  readonly maxHeldBytesPerConnection: number;
  /** Incomplete updates held for one document across all its connections. */
  readonly maxHeldUpdatesPerDocument: number;
}

/** Somebody holding updates for a document. */
export interface Waiter {
  retry(documentName: string): void;
}

export interface GuardedDocument {
  readonly doc: Y.Doc;
  /** Client id → the user who owns it. */
  readonly owners: Map<number, string>;
  /** Incomplete updates held for it, across connections. */
  held: number;
}

/** Stores a claim (the group committer, in production). */
export type ClaimWriter = (documentName: string, client: number, user: string) => void;

export class UpdateGuard {
  readonly limits: UpdateLimits;
  private readonly documents = new Map<string, GuardedDocument>();
  private readonly waiting = new Map<string, Set<Waiter>>();
  private readonly listeners = new Map<string, { doc: Y.Doc; listener: () => void }>();
  private readonly due = new Set<string>();
  private retryScheduled = false;
  private writeClaim: ClaimWriter;
  private readonly claimObservers: ClaimWriter[] = [];

  constructor(limits: UpdateLimits, writeClaim: ClaimWriter = () => {}) {
    this.limits = limits;
    this.writeClaim = writeClaim;
  }

  /** Where claims are stored (set once storage exists). */
  storeClaimsWith(writeClaim: ClaimWriter): void {
    this.writeClaim = writeClaim;
  }

  get(documentName: string): GuardedDocument | undefined {
    return this.documents.get(documentName);
  }

  /** A document finished loading, with its owners. */
  opened(documentName: string, doc: Y.Doc, owners: Map<number, string>): void {
    this.documents.set(documentName, { doc, owners, held: 0 });
    if (this.waiting.has(documentName)) {
      this.listen(documentName, doc);
      this.schedule(documentName);
    }
  }

  /** The document unloaded. */
  closed(documentName: string, doc: Y.Doc): void {
    if (this.documents.get(documentName)?.doc !== doc) return;
    this.documents.delete(documentName);
    this.unlisten(documentName);
  }

  /** `user` now owns `client` in the document (claimed by its first write under that id). */
  claim(documentName: string, client: number, user: string): void {
    const document = this.documents.get(documentName);
    if (document === undefined || document.owners.has(client)) return;
    document.owners.set(client, user);
    this.writeClaim(documentName, client, user);
    for (const observer of this.claimObservers) observer(documentName, client, user);
  }

  /**
   * Another instance stored that `user` owns `client` (cluster/DocumentRelay.ts): known here from now on, not stored
   * again. A claim made here first stands (each instance keeps the first it saw, as a reload keeps the first stored).
   */
  learnClaim(documentName: string, client: number, user: string): void {
    const document = this.documents.get(documentName);
    if (document === undefined || document.owners.has(client)) return;
    document.owners.set(client, user);
  }

  /** Called with every claim made here, after it is queued for storage (the relay publishes it once durable). */
  observeClaims(observer: ClaimWriter): void {
    this.claimObservers.push(observer);
  }

  wait(documentName: string, waiter: Waiter): void {
    let waiters = this.waiting.get(documentName);
    if (waiters === undefined) {
      waiters = new Set();
      this.waiting.set(documentName, waiters);
      const document = this.documents.get(documentName);
      if (document !== undefined) this.listen(documentName, document.doc);
    }
    waiters.add(waiter);
  }

  stopWaiting(documentName: string, waiter: Waiter): void {
    const waiters = this.waiting.get(documentName);
    if (waiters === undefined || !waiters.delete(waiter) || waiters.size > 0) return;
    this.waiting.delete(documentName);
    this.unlisten(documentName);
  }

  private listen(documentName: string, doc: Y.Doc): void {
    if (this.listeners.has(documentName)) return;
    const listener = () => this.schedule(documentName);
    doc.on('update', listener);
    this.listeners.set(documentName, { doc, listener });
  }

  private unlisten(documentName: string): void {
    const listening = this.listeners.get(documentName);
    if (listening === undefined) return;
    listening.doc.off('update', listening.listener);
    this.listeners.delete(documentName);
  }

  /** Retries the gates waiting for `documentName` (once per turn of the event loop, after what is in flight). */
  changed(documentName: string): void {
    this.schedule(documentName);
  }

  private schedule(documentName: string): void {
    this.due.add(documentName);
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    setImmediate(() => {
      this.retryScheduled = false;
      const names = [...this.due];
      this.due.clear();
      for (const name of names) {
        for (const waiter of [...(this.waiting.get(name) ?? [])]) waiter.retry(name);
      }
    });
  }
}
