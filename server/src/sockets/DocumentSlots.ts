/**
 * The documents one `/sync` socket has open, and the two limits on them (issue 14: "500 documents opened at once on
 * one socket: socket reset after 10–23").
 *
 * - At most `maxDocuments` open or waiting at once: the Auth frame of one more is answered PermissionDenied with
 *   reason `too-many-documents` by the socket itself, the frames the client sent with it are dropped, and the socket
 *   and its other documents stay.
 * - At most `MAX_PENDING_AUTHENTICATIONS` authenticating in Hocuspocus at once: Hocuspocus resets the whole socket
 *   when a client has 100 documents waiting for authentication (its `maxPendingDocuments`), so documents beyond this
 *   wait here, frames and all, and go on in the order they came as earlier ones are answered.
 *
 * Addresses are the server's (`<tenant>/<name>`, with a session suffix when the provider sends one). Nothing here
 * runs per message except `route` for frames other than Auth, which checks two fields while nothing waits or was
 * refused.
 */
import { MalformedFrameError, type ClientFrame } from './frames.js';

/** Documents authenticating in Hocuspocus at once; half its reset threshold (100), which counts other frames too. */
export const MAX_PENDING_AUTHENTICATIONS = 50;

/** Addresses refused for the limit whose late frames are still dropped; older ones are forgotten. */
const MAX_REMEMBERED_REFUSALS = 1_000;

export interface HeldFrame {
  readonly frame: Uint8Array;
  readonly parsed: ClientFrame;
}

/**
 * What to do with a client frame: pass it to Hocuspocus (`opened`: the Auth of a document new on the socket), keep it
 * for later (`queued`: the Auth of a new document that waits), drop it, or refuse its document.
 */
export type Route = 'forward' | 'opened' | 'queued' | 'held' | 'drop' | 'refuse';

export class DocumentSlots {
  /**
   * Forwarded to Hocuspocus and neither refused nor closed: the first such document alone in `openOne`, the others in
   * `openMore` (made with the second; most sockets open one document, and an empty set costs some 170 bytes).
   */
  private openOne: string | null = null;
  private openMore: Set<string> | null = null;
  /** Of those, the ones whose authentication Hocuspocus has not answered; null while none (an idle socket has none). */
  private pending: Set<string> | null = null;
  /** Documents waiting for a pending slot, in the order they came, with their frames (made with the first). */
  private waiting: Map<string, HeldFrame[]> | null = null;
  /** Made with the first refusal. */
  private refused: Set<string> | null = null;
  private waitingBytes = 0;
  private readonly maxDocuments: number;
  private readonly maxWaitingBytes: number;

  constructor(maxDocuments: number, maxWaitingBytes: number) {
    this.maxDocuments = maxDocuments;
    this.maxWaitingBytes = maxWaitingBytes;
  }

  /** Decides for a client frame to `address`; frames it returns `held` for are kept here. Throws past the byte bound. */
  route(address: string, isAuth: boolean, held: HeldFrame): Route {
    const waiting = this.waiting;
    if (!isAuth) {
      if (waiting === null && this.refused === null) return 'forward';
      if (waiting?.has(address) === true) return this.hold(address, held);
      return this.refused?.has(address) === true ? 'drop' : 'forward';
    }
    if (waiting?.has(address) === true) return this.hold(address, held);
    if (this.isOpen(address)) return 'forward';
    this.refused?.delete(address);
    if (this.openCount() + (waiting?.size ?? 0) >= this.maxDocuments) {
      const refused = (this.refused ??= new Set());
      if (refused.size >= MAX_REMEMBERED_REFUSALS) refused.delete(refused.values().next().value!);
      refused.add(address);
      return 'refuse';
    }
    if ((this.pending?.size ?? 0) >= MAX_PENDING_AUTHENTICATIONS) {
      (this.waiting ??= new Map()).set(address, []);
      this.hold(address, held);
      return 'queued';
    }
    this.addOpen(address);
    (this.pending ??= new Set()).add(address);
    return 'opened';
  }

  /** Hocuspocus answered the authentication of `address`; `granted` false: refused. */
  answered(address: string, granted: boolean): void {
    const pending = this.pending;
    if (pending !== null && pending.delete(address) && pending.size === 0) this.pending = null;
    if (!granted) this.deleteOpen(address);
  }

  /** The document at `address` was closed (by the server or the client). */
  closed(address: string): void {
    this.deleteOpen(address);
  }

  /**
   * The frames of the next waiting document, once a pending slot is free (its Auth frame first); null when none can
   * go now. Its frames are routed again by the caller, which now forwards them.
   */
  nextReady(): HeldFrame[] | null {
    const waiting = this.waiting;
    if (waiting === null || (this.pending?.size ?? 0) >= MAX_PENDING_AUTHENTICATIONS) return null;
    const [address, frames] = waiting.entries().next().value!;
    waiting.delete(address);
    if (waiting.size === 0) this.waiting = null;
    for (const { frame } of frames) this.waitingBytes -= frame.byteLength;
    return frames;
  }

  private isOpen(address: string): boolean {
    return this.openOne === address || this.openMore?.has(address) === true;
  }

  private openCount(): number {
    return (this.openOne === null ? 0 : 1) + (this.openMore?.size ?? 0);
  }

  private addOpen(address: string): void {
    if (this.isOpen(address)) return;
    if (this.openOne === null) this.openOne = address;
    else (this.openMore ??= new Set()).add(address);
  }

  private deleteOpen(address: string): void {
    if (this.openOne === address) this.openOne = null;
    else if (this.openMore?.delete(address) === true && this.openMore.size === 0) this.openMore = null;
  }

  private hold(address: string, held: HeldFrame): Route {
    this.waitingBytes += held.frame.byteLength;
    if (this.waitingBytes > this.maxWaitingBytes) {
      throw new MalformedFrameError(`more than ${this.maxWaitingBytes} bytes for documents waiting to authenticate`);
    }
    this.waiting!.get(address)!.push(held);
    return 'held';
  }
}
