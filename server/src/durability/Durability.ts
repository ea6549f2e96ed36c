/**
 * What is durable, per document: the one place that answers "may this be acknowledged yet?" for client
 * acknowledgements (sockets/Acknowledgements.ts), for the backend's writes (backend/DocumentWriter.ts) and for what the
 * cluster sends another instance as durable (cluster/DocumentRelay.ts).
 *
 * The rule: an acknowledgement on a document waits for a barrier taken when it is sent, and the barrier covers
 * everything the document held at that moment that is not yet stored. It has two parts:
 * - the document's last ticket still pending in the group committer (storage/GroupCommitter.ts): tickets are written
 *   in order, so once that one is durable, every update the document queued before it is too;
 * - with a cluster, the document's mark in the relay ledger (durability/RelayLedger.ts): content another instance
 *   published before its commit, settled when that instance reports it durable (or written here when it is gone).
 * A barrier is never below an earlier one of its document that has not passed, so acknowledgements that wait on them
 * keep their order.
 */
import type { GroupCommitter } from '../storage/GroupCommitter.js';
import type { RelayLedger } from './RelayLedger.js';

/** What must be durable before an acknowledgement taken on `document` may go out. */
export interface Barrier {
  readonly document: string;
  /** The document's last update queued for storage when the barrier was taken (0: none). */
  readonly ticket: number;
  /** The document's relay ledger entries registered when the barrier was taken (0: none). */
  readonly relayed: number;
}

/** What acknowledgements and backend writes need to know of durability (the sockets' view of the service). */
export interface DurabilityGate {
  /** The barrier for an acknowledgement on `document` sent now. */
  barrier(document: string): Barrier;
  /** Everything the barrier covers is durable. */
  passed(barrier: Barrier): boolean;
  /** Calls back once, after the next progress (a successful write, a relayed entry settled), or soon when nothing is pending. */
  onceProgress(callback: () => void): void;
}

export class Durability implements DurabilityGate {
  private readonly committer: GroupCommitter;
  private ledger: RelayLedger | null = null;

  constructor(committer: GroupCommitter) {
    this.committer = committer;
  }

  /** Barriers also wait for what other instances published before their commit (a cluster's DocumentRelay). */
  useLedger(ledger: RelayLedger): void {
    this.ledger = ledger;
  }

  barrier(document: string): Barrier {
    return { document, ticket: this.committer.lastPendingTicket(document), relayed: this.ledger?.mark(document) ?? 0 };
  }

  passed(barrier: Barrier): boolean {
    return barrier.ticket <= this.committer.durableThrough && (this.ledger === null || this.ledger.passed(barrier.document, barrier.relayed));
  }

  onceProgress(callback: () => void): void {
    const ledger = this.ledger;
    if (ledger === null || ledger.unsettled === 0) {
      this.committer.onceDurable(callback);
      return;
    }
    let called = false;
    const once = () => {
      if (called) return;
      called = true;
      callback();
    };
    ledger.onceSettled(once);
    if (this.committer.backlog > 0) this.committer.onceDurable(once);
  }

  /** Resolves once the barrier has passed; rejects if storage closes first. */
  async whenPassed(barrier: Barrier): Promise<void> {
    await this.committer.whenDurable(barrier.ticket);
    while (!this.passed(barrier)) await new Promise<void>((resolve) => this.ledger!.onceSettled(resolve));
  }
}
