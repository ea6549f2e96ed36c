/**
 * What is durable, per document: the one place that answers "may this be acknowledged yet?" for client
 * acknowledgements (sockets/Acknowledgements.ts) and for the backend's writes (backend/DocumentWriter.ts).
 *
 * The rule: an acknowledgement on a document waits for a barrier taken when it is sent, and the barrier covers
 * everything the document held at that moment that is not yet stored. Today that is the document's last ticket
 * still pending in the group committer (storage/GroupCommitter.ts): tickets are written in order, so once that one
 * is durable, every update the document queued before it is too. A barrier is never below an earlier one of its
 * document that has not passed, so acknowledgements that wait on them keep their order.
 *
 * The barrier has room for a second part, content applied here but stored by another instance (a ledger of relayed
 * updates, settled when that instance reports it durable); it is not built yet, so a barrier is one ticket.
 */
import type { GroupCommitter } from '../storage/GroupCommitter.js';

/** What must be durable before an acknowledgement taken on `document` may go out. */
export interface Barrier {
  readonly document: string;
  /** The document's last update queued for storage when the barrier was taken (0: none). */
  readonly ticket: number;
}

/** What acknowledgements and backend writes need to know of durability (the sockets' view of the service). */
export interface DurabilityGate {
  /** The barrier for an acknowledgement on `document` sent now. */
  barrier(document: string): Barrier;
  /** Everything the barrier covers is durable. */
  passed(barrier: Barrier): boolean;
  /** Calls back once, after the next progress (a successful write), or soon when nothing is pending. */
  onceProgress(callback: () => void): void;
}

export class Durability implements DurabilityGate {
  private readonly committer: GroupCommitter;

  constructor(committer: GroupCommitter) {
    this.committer = committer;
  }

  barrier(document: string): Barrier {
    return { document, ticket: this.committer.lastPendingTicket(document) };
  }

  passed(barrier: Barrier): boolean {
    return barrier.ticket <= this.committer.durableThrough;
  }

  onceProgress(callback: () => void): void {
    this.committer.onceDurable(callback);
  }

  /** Resolves once the barrier has passed; rejects if storage closes first. */
  whenPassed(barrier: Barrier): Promise<void> {
    return this.committer.whenDurable(barrier.ticket);
  }
}
