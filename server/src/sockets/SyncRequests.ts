/**
 * Full-state requests a client has out with Hocuspocus, per document: the rule is **at most one Sync step 1 per
 * document is being answered at a time.** Hocuspocus answers each step 1 by encoding everything the client's state
 * vector lacks (the whole document for an empty one) and sending it at once; a client that sends the same request a
 * hundred times in a row (asking, not reading) would have it encoded a hundred times. A step 1 that arrives while the
 * previous one for its document is unanswered is dropped: the answer on its way covers it (it was computed for an
 * older or equal state vector, so it holds at least what the later request lacks).
 *
 * A request stops being owed when its answer (a Sync step 2 for the document) goes out, when the session on the
 * document ends (refused, closed) and when the client authenticates on it again (a new session asks afresh).
 * Nothing is tracked while nothing is owed (`waiting` is false), so sockets that are not syncing pay one check per frame.
 */
import { AuthMessageType } from '@hocuspocus/common';
import { MessageType } from '@hocuspocus/server';
import { messageYjsSyncStep2 } from 'y-protocols/sync';
import { frameType, readServerFrameHead } from './frames.js';

export class SyncRequests {
  private owed: Set<string> | null = null;

  /** Whether anything is owed (only then must frames for the client be looked at). */
  get waiting(): boolean {
    return this.owed !== null;
  }

  /** Whether the client's step 1 for `address` goes to Hocuspocus (false: one for it is being answered). */
  admit(address: string): boolean {
    if (this.owed?.has(address) === true) return false;
    (this.owed ??= new Set()).add(address);
    return true;
  }

  /** Nothing is owed on `address` any more. */
  forget(address: string): void {
    if (this.owed === null) return;
    this.owed.delete(address);
    if (this.owed.size === 0) this.owed = null;
  }

  /** Looks at a frame going to the client: an answer, or the end of a session, settles what was owed there. */
  sent(frame: Uint8Array): void {
    const type = frameType(frame);
    if (type !== MessageType.Sync && type !== MessageType.Auth && type !== MessageType.CLOSE) return;
    const { address, decoder } = readServerFrameHead(frame);
    if (this.owed?.has(address) !== true) return;
    const next = decoder.arr[decoder.pos];
    const settles =
      type === MessageType.CLOSE ||
      (type === MessageType.Sync && next === messageYjsSyncStep2) ||
      (type === MessageType.Auth && next === AuthMessageType.PermissionDenied);
    if (settles) this.forget(address);
  }
}
