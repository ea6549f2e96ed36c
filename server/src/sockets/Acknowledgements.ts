/**
 * The acknowledgements one socket sends (ServerSocket's `acks` field, made with the first): `SyncStatus` frames,
 * each telling the client that its update is safe.
 *
 * The acknowledgement rule: Hocuspocus sends `SyncStatus` right after it applied a client's update in memory.
 * Storage registers the ticket of that update's durable write first (`hold`, called from the document's update event,
 * which fires before the acknowledgement is sent), so a `SyncStatus` goes out only once every ticket registered for
 * its document before it is durable. A document's acknowledgements keep their order.
 */
import { WebSocket } from 'ws';
import { corked } from '../seams/ws.js';
import { AddressReader } from './frames.js';
import type { Outbound } from './Outbound.js';

/** Where acknowledgements learn what is durable (the group committer). */
export interface DurableTickets {
  /** Every ticket up to this one is durable. */
  readonly durableThrough: number;
  /** The last ticket of document `name` not yet durable, or 0. */
  lastPendingTicket(name: string): number;
  /** Calls back once after the next successful write. */
  onceDurable(callback: () => void): void;
}

/** How many client messages the acknowledgement Hocuspocus sends for `address` now stands for (ServerSocket.acknowledgementCopies). */
export type AcknowledgementCopies = (address: string) => number;

interface HeldAcknowledgement {
  readonly ticket: number;
  readonly frame: Uint8Array;
  /** How many client messages it stands for (see `AcknowledgementCopies`). */
  readonly copies: number;
}

/** Shared by every socket while it holds no acknowledgement. */
const NONE_HELD: HeldAcknowledgement[] = [];

export class Acknowledgements {
  private readonly ws: WebSocket;
  private readonly durability: DurableTickets;
  private readonly outbound: Outbound;
  private readonly copiesFor: AcknowledgementCopies;
  /** Per message address: the ticket its next acknowledgement must wait for (made with the first; most sockets never write). */
  private requiredTickets: Map<string, number> | null = null;
  /** Acknowledgements waiting for their ticket, in the order Hocuspocus sent them. */
  private heldAcks: HeldAcknowledgement[] = NONE_HELD;
  private releaseScheduled = false;
  private readonly addressReader = new AddressReader();

  constructor(ws: WebSocket, durability: DurableTickets, outbound: Outbound, copiesFor: AcknowledgementCopies) {
    this.ws = ws;
    this.durability = durability;
    this.outbound = outbound;
    this.copiesFor = copiesFor;
  }

  /** Sends an acknowledgement (as many times as client messages it stands for) once what it acknowledges is durable. */
  acknowledge(frame: Uint8Array): void {
    const address = this.addressReader.read(frame);
    const copies = this.copiesFor(address);
    if (this.requiredTickets !== null && this.requiredTickets.size > 0) {
      const ticket = this.requiredTickets.get(address) ?? 0;
      if (ticket > this.durability.durableThrough) {
        // Acknowledgements still held are for other documents (an address's tickets never decrease, and every
        // durable one is released as its write completes), so one that is durable already need not wait for them.
        if (this.heldAcks === NONE_HELD) this.heldAcks = [];
        this.heldAcks.push({ ticket, frame, copies });
        this.releaseAfterNextWrite();
        return;
      }
      this.requiredTickets.delete(address);
    }
    this.transmitCopies(frame, copies);
  }

  /** Acknowledgements for `address` sent from now on wait until `ticket` is durable. */
  hold(address: string, ticket: number): void {
    const required = (this.requiredTickets ??= new Map());
    if (ticket > (required.get(address) ?? 0)) required.set(address, ticket);
  }

  /**
   * Sends the held acknowledgements whose ticket is durable, in order (an address's tickets never decrease, so
   * none overtakes an earlier one of its document); waits for the next write for the rest.
   */
  private releaseAcks(): void {
    this.releaseScheduled = false;
    const durable = this.durability.durableThrough;
    const waiting: HeldAcknowledgement[] = [];
    // One write for the whole burst instead of one per acknowledgement.
    corked(this.ws, () => {
      for (const held of this.heldAcks) {
        if (held.ticket <= durable) this.transmitCopies(held.frame, held.copies);
        else waiting.push(held);
      }
    });
    this.heldAcks = waiting.length > 0 ? waiting : NONE_HELD;
    if (waiting.length > 0) this.releaseAfterNextWrite();
  }

  private releaseAfterNextWrite(): void {
    if (this.releaseScheduled || this.ws.readyState !== WebSocket.OPEN) return;
    this.releaseScheduled = true;
    this.durability.onceDurable(() => this.releaseAcks());
  }

  /** An acknowledgement, `copies` times (translated once). */
  private transmitCopies(frame: Uint8Array, copies: number): void {
    if (copies === 1) {
      this.outbound.transmit(frame);
      return;
    }
    this.outbound.writeCopies(frame, copies);
  }
}
