/**
 * What goes out on one socket (ServerSocket's `out` field): frames for this socket alone, frames broadcast to
 * many, and the close that follows them.
 *
 * What goes out is compressed by Concord, not by ws (see compression.ts): a broadcast frame is translated and deflated
 * once for all its recipients; a large frame for this socket alone is deflated on zlib's thread pool while later
 * frames wait behind it, so the client receives everything in the order Hocuspocus sent it. A close asked for while
 * frames wait goes out after them.
 *
 * The send-buffer rule: a client that stops reading is closed (`CloseCode.SendBufferFull`) before the server holds more
 * than `maxSendBufferBytes` for it: what ws has not yet handed to the kernel (`bufferedAmount`) plus the frames waiting
 * here behind a compression, beyond the largest single frame sent to it (so the first sync of a document larger than
 * the budget still goes to a client on a slow link, and the edits that follow it too). The check is made where a frame
 * is written, before it is written: the most a socket holds is the budget plus two of its largest frames. From then on
 * nothing more is sent to it or read from it (its requests would only be answered into the void), and since a close
 * frame waits behind the unread bytes, the next heartbeat but one terminates it and frees them.
 */
import { CloseCode, CloseReason } from '@concord/engine';
import { WebSocket } from 'ws';
import type { Wire } from './wire.js';
import type { Logger } from '../logger.js';
import type { Metrics, Traffic } from '../metrics.js';
import { corked, frameOf, repeatFrame, sendFrame, serverDeflateWindowBits, type WireFrame } from '../seams/ws.js';
import { deflateLater, worthDeflating, type BroadcastFrame, type Translator } from './compression.js';

/** A frame waiting behind a compression in flight: the message, and the whole frame once ready (null: send plain). */
interface QueuedFrame {
  readonly bytes: Uint8Array;
  frame: WireFrame | null;
  /** Messages the frame holds (acknowledgement copies); 1 when absent. */
  messages?: number;
  ready: boolean;
}

/**
 * The socket an Outbound sends for: it translates Hocuspocus frames for its protocol (ServerSocket.outbound) and has
 * the logger. A reference to the socket rather than two closures: an idle socket holds ~150 bytes less.
 */
export interface OutboundSocket extends Translator {
  readonly log: Logger;
}

/** Heartbeats a socket closed for not reading gets to read its close frame before it is terminated: one whole interval. */
const BEATS_TO_READ_CLOSE_AFTER_OVERFLOW = 2;

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
const MAX_CLOSE_REASON_BYTES = 123;

function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason);
  return bytes.length <= MAX_CLOSE_REASON_BYTES ? reason : `${bytes.subarray(0, MAX_CLOSE_REASON_BYTES - 3).toString()}...`;
}

export class Outbound {
  private readonly ws: Wire;
  private readonly metrics: Metrics;
  /** This protocol's message and byte totals. */
  private readonly traffic: Traffic;
  private readonly maxSendBufferBytes: number;
  private readonly socket: OutboundSocket;
  /** The deflate window the client allows the server; null when frames go plain. */
  private readonly windowBits: number | null;
  /** Frames waiting behind a compression in flight, in order; null while nothing waits. */
  private queue: QueuedFrame[] | null = null;
  /** Bytes of the frames in `queue`. */
  private queuedBytes = 0;
  /** The largest frame written to this socket: held on top of the budget (see the send-buffer rule). */
  private largestFrameBytes = 0;
  /** Heartbeats since the socket went over its send budget and was closed; -1 while it is within it. */
  private beatsSinceOverflow = -1;
  /** A close asked for while frames were waiting: done once they are sent. */
  private closeAfterQueue: { code?: number; reason?: string } | undefined;

  constructor(ws: Wire, socket: OutboundSocket, metrics: Metrics, traffic: Traffic, maxSendBufferBytes: number) {
    this.ws = ws;
    this.socket = socket;
    this.metrics = metrics;
    this.traffic = traffic;
    this.maxSendBufferBytes = maxSendBufferBytes;
    this.windowBits = serverDeflateWindowBits(ws);
  }

  /** Closed for not reading: nothing more is sent to it or read from it. */
  get overflowed(): boolean {
    return this.beatsSinceOverflow >= 0;
  }

  /**
   * A heartbeat of a socket closed for not reading: its close frame waits behind what it did not read, and it is
   * terminated once it had a whole interval to read it. False (nothing done) while the socket is within its budget.
   */
  beatAfterOverflow(): boolean {
    if (this.beatsSinceOverflow < 0) return false;
    if (++this.beatsSinceOverflow >= BEATS_TO_READ_CLOSE_AFTER_OVERFLOW) this.ws.terminate();
    return true;
  }

  /** Forgets the frames waiting to go out (the socket is being closed for a limit: closing matters more). */
  dropQueue(): void {
    this.queue = null;
    this.queuedBytes = 0;
  }

  /** A frame for this socket alone: translated, and deflated on the thread pool when large. */
  transmit(frame: Uint8Array): void {
    if (this.ws.readyState !== WebSocket.OPEN || this.overBudget()) return;
    const bytes = this.socket.translateOutbound(frame);
    if (bytes === null) return;
    if (!worthDeflating(bytes, this.windowBits)) {
      this.write(bytes, null);
      return;
    }
    const queued: QueuedFrame = { bytes, frame: null, ready: false };
    (this.queue ??= []).push(queued);
    this.queuedBytes += bytes.byteLength;
    if (bytes.byteLength > this.largestFrameBytes) this.largestFrameBytes = bytes.byteLength;
    void deflateLater(bytes, this.windowBits, this.metrics.compression).then((deflated) => {
      queued.frame = deflated;
      queued.ready = true;
      this.sendQueued();
    });
  }

  /** A frame for this socket alone, `copies` times in one write of one buffer: translated and framed once, never deflated. */
  writeCopies(frame: Uint8Array, copies: number): void {
    const bytes = this.socket.translateOutbound(frame);
    if (bytes === null) return;
    const single = frameOf(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), false);
    this.write(bytes, single === null ? null : repeatFrame(single, copies), copies);
  }

  /** A frame broadcast to many sockets: its translation and compression are shared with the recipients of `key`. */
  sendBroadcast(broadcast: BroadcastFrame, key: string): void {
    const translation = broadcast.translation(key, this.socket);
    if (translation.bytes === null) return;
    this.write(translation.bytes, translation.frameFor(this.windowBits, this.metrics.compression));
  }

  /**
   * Sends `bytes` (as `frame` when built) now, or after the frames waiting before it. A frame of `messages` copies
   * (`writeCopies`) falls back to sending `bytes` that many times.
   */
  write(bytes: Uint8Array, frame: WireFrame | null, messages = 1): void {
    if (this.overBudget()) return;
    if (bytes.byteLength > this.largestFrameBytes) this.largestFrameBytes = bytes.byteLength;
    if (this.queue !== null) {
      this.queue.push({ bytes, frame, ready: true, messages });
      this.queuedBytes += bytes.byteLength * messages;
    } else {
      this.writeNow(bytes, frame, messages);
    }
  }

  /** Closes the socket with `code` and `reason` (truncated to what a close frame holds), after the frames waiting. */
  close(code?: number, reason?: string): void {
    if (this.ws.readyState === WebSocket.CLOSING || this.ws.readyState === WebSocket.CLOSED) return;
    if (this.queue !== null) {
      this.closeAfterQueue ??= { code, reason }; // what was sent before the close reaches the client first
      return;
    }
    this.ws.close(code, reason === undefined ? undefined : truncateReason(reason));
  }

  /** Whether the client left more than its send budget unread; then it is closed (once) and nothing more is sent. */
  private overBudget(): boolean {
    const held = this.ws.bufferedAmount + this.queuedBytes;
    if (held <= this.maxSendBufferBytes + this.largestFrameBytes) return false;
    if (this.beatsSinceOverflow < 0) {
      this.beatsSinceOverflow = 0;
      this.metrics.rejectedConnections.inc({ reason: 'send-buffer-full' });
      this.socket.log.warn({ heldBytes: held, limitBytes: this.maxSendBufferBytes }, 'closed a connection that stopped reading (send buffer full)');
      this.dropQueue(); // deflates in flight find no queue and send nothing
      this.ws.close(CloseCode.SendBufferFull, CloseReason.SendBufferFull);
    }
    return true;
  }

  private writeNow(bytes: Uint8Array, frame: WireFrame | null, messages = 1): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    if (frame !== null && sendFrame(this.ws, frame)) {
      this.traffic.bytesOut += frame.payloadBytes;
    } else if (messages === 1) {
      this.ws.send(bytes, { compress: false });
      this.traffic.bytesOut += bytes.byteLength;
    } else {
      corked(this.ws, () => {
        for (let i = 0; i < messages; i++) this.ws.send(bytes, { compress: false });
      });
      this.traffic.bytesOut += bytes.byteLength * messages;
    }
    this.traffic.messagesOut += messages;
  }

  /** Sends the waiting frames that are ready, in order, up to the first still being compressed. */
  private sendQueued(): void {
    const queue = this.queue;
    if (queue === null) return;
    corked(this.ws, () => {
      while (queue.length > 0 && queue[0]!.ready) {
        const next = queue.shift()!;
        this.queuedBytes -= next.bytes.byteLength * (next.messages ?? 1);
        this.writeNow(next.bytes, next.frame, next.messages);
      }
    });
    if (queue.length > 0 || this.queue !== queue) return;
    this.queue = null;
    if (this.closeAfterQueue !== undefined) this.close(this.closeAfterQueue.code, this.closeAfterQueue.reason);
  }
}
