/**
 * The acknowledgements one socket sends (ServerSocket's `acks` field, made with the first): `SyncStatus` frames,
 * each telling the client that its update is safe.
 *
 * The acknowledgement rule: a `SyncStatus` goes out only once everything its document held when Hocuspocus sent it
 * is durable (the barrier of durability/Durability.ts, taken here for the document named in the frame's address).
 * Hocuspocus applies a client's update, which storage appends to the group committer from the document's update
 * event, and sends the `SyncStatus` in the same synchronous run (`@hocuspocus/server` 4.7.0
 * `src/MessageReceiver.ts:241–254` for a sync step 2, `268–281` for an update), so the barrier taken then covers that
 * update and everything queued for the document before it. An update the document already held (resent after a
 * reconnect) makes no write of its own, and its acknowledgement still waits for everything the document has queued.
 * A barrier is never below an earlier one of its document that has not passed, so a document's acknowledgements keep
 * their order.
 */
import { WebSocket } from 'ws';
import type { Wire } from './wire.js';
import type { Barrier, DurabilityGate } from '../durability/Durability.js';
import { corked } from '../seams/ws.js';
import { AddressReader } from './frames.js';
import type { Outbound } from './Outbound.js';

/** How many client messages the acknowledgement Hocuspocus sends for `address` now stands for (ServerSocket.acknowledgementCopies). */
export type AcknowledgementCopies = (address: string) => number;

interface HeldAcknowledgement {
  readonly barrier: Barrier;
  readonly frame: Uint8Array;
  /** How many client messages it stands for (see `AcknowledgementCopies`). */
  readonly copies: number;
}

/** Shared by every socket while it holds no acknowledgement. */
const NONE_HELD: HeldAcknowledgement[] = [];

export class Acknowledgements {
  private readonly ws: Wire;
  private readonly durability: DurabilityGate;
  private readonly outbound: Outbound;
  private readonly copiesFor: AcknowledgementCopies;
  /** Acknowledgements waiting for their barrier, in the order Hocuspocus sent them. */
  private heldAcks: HeldAcknowledgement[] = NONE_HELD;
  private releaseScheduled = false;
  private readonly addressReader = new AddressReader();

  constructor(ws: Wire, durability: DurabilityGate, outbound: Outbound, copiesFor: AcknowledgementCopies) {
    this.ws = ws;
    this.durability = durability;
    this.outbound = outbound;
    this.copiesFor = copiesFor;
  }

  /** Sends an acknowledgement (as many times as client messages it stands for) once what it acknowledges is durable. */
  acknowledge(frame: Uint8Array): void {
    const address = this.addressReader.read(frame);
    const copies = this.copiesFor(address);
    // The address is the document's name, with the client's session after a NUL when it has one.
    const session = address.indexOf('\0');
    const barrier = this.durability.barrier(session < 0 ? address : address.slice(0, session));
    if (this.durability.passed(barrier)) {
      // Acknowledgements still held are for other documents: one of this document would have a barrier not above
      // this one's, so it passed too, and was released by the write that passed it.
      this.transmitCopies(frame, copies);
      return;
    }
    if (this.heldAcks === NONE_HELD) this.heldAcks = [];
    this.heldAcks.push({ barrier, frame, copies });
    this.releaseAfterProgress();
  }

  /**
   * Sends the held acknowledgements whose barrier has passed, in order (none overtakes an earlier one of its
   * document, whose barrier is not above its own); waits for the next progress for the rest.
   */
  private releaseAcks(): void {
    this.releaseScheduled = false;
    const waiting: HeldAcknowledgement[] = [];
    // One write for the whole burst instead of one per acknowledgement.
    corked(this.ws, () => {
      for (const held of this.heldAcks) {
        if (this.durability.passed(held.barrier)) this.transmitCopies(held.frame, held.copies);
        else waiting.push(held);
      }
    });
    this.heldAcks = waiting.length > 0 ? waiting : NONE_HELD;
    if (waiting.length > 0) this.releaseAfterProgress();
  }

  private releaseAfterProgress(): void {
    if (this.releaseScheduled || this.ws.readyState !== WebSocket.OPEN) return;
    this.releaseScheduled = true;
    this.durability.onceProgress(() => this.releaseAcks());
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
