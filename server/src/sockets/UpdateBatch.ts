/**
 * Keystrokes a client sent in a row, applied as one update.
 *
 * A provider sends every keystroke as a message of its own. When many arrive together (a busy server reads a socket's
 * burst in one go; a script writes fast; a client catches up after its network stalled), Hocuspocus would apply each
 * in a Yjs transaction of its own: a transaction, two state vectors, an update event, a storage append and an
 * acknowledgement each, ~40 µs a keystroke here. Instead, consecutive update frames of one socket for one document,
 * read in the same turn of the event loop, each holding only new structs of one client that continue where the
 * previous frame's end (what typing sends), go to Hocuspocus as one update: the validated structs written one after
 * another (seams/yjs.ts `encodeRun`). The client still gets one acknowledgement per message it sent (SyncSocket).
 *
 * Anything else (a deletion, another document, awareness, an update of several clients) ends the batch first, so
 * Hocuspocus sees the socket's messages in the order they came.
 */
import { MessageType } from '@hocuspocus/server';
import * as encoding from 'lib0/encoding';
import { encodeRun, type StoredStruct } from '../seams/yjs.js';
import type { ClientFrame, StructRun } from './frames.js';

export class UpdateBatch {
  /** The tenant-qualified address the frames go to. */
  readonly address: string;
  private readonly type: MessageType;
  private readonly step: number;
  private readonly client: number;
  private nextClock: number;
  /** The first frame as it came (forwarded as it is when it stays alone). */
  readonly first: { readonly frame: Uint8Array; readonly bodyOffset: number };
  private readonly structs: StoredStruct[];
  /** Messages in the batch. */
  count = 1;

  constructor(address: string, frame: Uint8Array, parsed: ClientFrame & { run: StructRun }) {
    this.address = address;
    this.type = parsed.type;
    this.step = parsed.step!;
    this.client = parsed.run.client;
    this.nextClock = parsed.run.endClock;
    this.first = { frame, bodyOffset: parsed.bodyOffset };
    this.structs = [...parsed.run.structs];
  }

  /** Whether `parsed`, sent to `address`, continues this batch. */
  continuedBy(address: string, parsed: ClientFrame): boolean {
    const { run } = parsed;
    return (
      run !== undefined &&
      address === this.address &&
      parsed.type === this.type &&
      parsed.step === this.step &&
      run.client === this.client &&
      run.clock === this.nextClock
    );
  }

  add(run: StructRun): void {
    for (const struct of run.structs) this.structs.push(struct);
    this.nextClock = run.endClock;
    this.count += 1;
  }

  /** The batch as one frame, its address encoded as `prefix`. */
  merged(prefix: Uint8Array): Uint8Array {
    const encoder = encoding.createEncoder();
    encoding.writeUint8Array(encoder, prefix);
    encoding.writeVarUint(encoder, this.type);
    encoding.writeVarUint(encoder, this.step);
    encoding.writeVarUint8Array(encoder, encodeRun(this.client, this.structs));
    return encoding.toUint8Array(encoder);
  }
}
