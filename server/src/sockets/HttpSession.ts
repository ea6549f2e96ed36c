/**
 * One session of the HTTP fallback (docs/http-fallback-design.md): a Wire made of requests, for clients whose network
 * refuses WebSockets. It sits under an unchanged SyncSocket exactly where a `ws` socket would, so everything the socket
 * layer enforces applies as it is; this file owns only the carrying of frames.
 *
 * The rules it keeps:
 * - Server frames are numbered (`seq`, from 1) and stay in the outbox until a later poll says it has them
 *   (`?after=n`): a lost poll response loses nothing, and `bufferedAmount` (the outbox's bytes) makes a client that
 *   stops polling hit the send-buffer rule (4507) like a WebSocket that stops reading.
 * - At most one poll is held, for at most one heartbeat; a newer poll supersedes it (the old one answers 204). Frames
 *   sent in one event-loop turn go out in one answer.
 * - Client frames carry the seq of the first frame of their POST: frames already received are dropped (a retried POST
 *   is applied once), a gap is refused (409), bad framing answers 400 and closes the session 4400.
 * - A POST's body is read as it arrives, and each frame is handled once whole: what the server holds of a POST is the
 *   frame being read, as for a WebSocket. A frame whose length is over the limit (before authentication,
 *   CONCORD_MAX_BYTES_BEFORE_AUTH) is refused from its length, before its bytes arrive, as ws refuses one from its
 *   header: the session closes 1009 and the rest is not read. A retry that overlaps the POST it repeats (both being
 *   read) still handles each seq once, in order: a frame is handled only when its seq is the next one. At most
 *   MAX_POSTS_READ_AT_ONCE POSTs of a session are read at once (the client sends one, and its retry); another is refused
 *   429 unread, so a client cannot hold a frame buffer per request it opens.
 * - Any request of the session shows the client is alive (`pong`, the heartbeat's answer).
 * - `close()` queues a close record, which the client reads in its next poll; the session is closed (and Hocuspocus
 *   told) once the client acknowledged it, said goodbye, or a heartbeat later.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { CloseCode } from '@concord/engine';
import * as encoding from 'lib0/encoding';
import { WebSocket } from 'ws';
import type { Wire } from './wire.js';

/** RFC 6455 1000: a close that ends the session normally (the client's goodbye without a code). */
const NORMAL_CLOSURE = 1000;
/** RFC 6455 1006: the session ended without a close (terminated: the client is gone). */
const ABNORMAL_CLOSURE = 1006;

/** Record kinds of a poll answer. */
export const RecordKind = { Frame: 0, Close: 1 } as const;

/** Most bytes of frames one poll answer carries (always at least one frame). */
export const MAX_POLL_BYTES = 1024 * 1024;

/** The answer to a poll: 200 with records, 204 nothing (the heartbeat, or superseded), 404 the session is gone. */
export type PollAnswer = { readonly status: 200; readonly body: Uint8Array } | { readonly status: 204 | 404 };

/** The answer to a POST of frames. */
export type SendAnswer =
  | { readonly status: 200 | 409; readonly received: number }
  | { readonly status: 400 | 413 | 429; readonly error: string };

/**
 * POSTs of one session read at once: a Concord client has one in flight, and a retry of it may overlap it (and one
 * more a retry later). Each may hold a frame of up to the message limit while its bytes arrive.
 */
export const MAX_POSTS_READ_AT_ONCE = 4;

/** The largest varUint a frame length may take (lib0 reads up to 53 bits): 8 bytes of 7 bits. */
const MAX_LENGTH_BYTES = 8;

interface OutRecord {
  readonly seq: number;
  /** The frame, or null for the close record. */
  readonly bytes: Uint8Array | null;
  readonly code?: number;
  readonly reason?: string;
}

interface HeldPoll {
  readonly after: number;
  readonly answer: (answer: PollAnswer) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export class HttpSession extends EventEmitter implements Wire {
  readonly id = newSessionId();
  /** The Origin of the request that opened it: later requests that carry one must carry this one. */
  readonly origin: string | undefined;
  private state: number = WebSocket.OPEN;
  private readonly heartbeatMs: number;
  private maxFrameBytes: number;
  private readonly outbox: OutRecord[] = [];
  private outboxBytes = 0;
  private lastServerSeq = 0;
  private lastClientSeq = 0;
  /** POSTs whose bodies are being read. */
  private reading = 0;
  private held: HeldPoll | null = null;
  private flushScheduled = false;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** The code and reason of `close()`, for Hocuspocus once the client has read them. */
  private closeCode = NORMAL_CLOSURE;
  private closeReason = '';

  constructor(options: { heartbeatMs: number; maxFrameBytes: number; origin: string | undefined }) {
    super();
    this.heartbeatMs = options.heartbeatMs;
    this.maxFrameBytes = options.maxFrameBytes;
    this.origin = options.origin;
  }

  get readyState(): number {
    return this.state;
  }

  get bufferedAmount(): number {
    return this.outboxBytes;
  }

  /** A short form of the id for logs (the id itself is the session's capability). */
  get shortId(): string {
    return this.id.slice(0, 6);
  }

  send(data: Uint8Array): void {
    if (this.state !== WebSocket.OPEN) return;
    this.push({ seq: ++this.lastServerSeq, bytes: data });
  }

  close(code: number = NORMAL_CLOSURE, reason = ''): void {
    if (this.state !== WebSocket.OPEN) return;
    this.state = WebSocket.CLOSING;
    this.push({ seq: ++this.lastServerSeq, bytes: null, code, reason });
    this.closeCode = code;
    this.closeReason = reason;
    this.closeTimer = setTimeout(() => this.finish(code, reason), this.heartbeatMs);
    this.closeTimer.unref?.();
  }

  terminate(): void {
    if (this.state === WebSocket.CLOSED) return;
    this.finish(ABNORMAL_CLOSURE, '');
  }

  /** The heartbeat of a client that does not read Ping frames: the held poll answers empty, and the re-poll is the pong. */
  ping(): void {
    this.answerHeld({ status: 204 });
  }

  raiseMaxPayload(bytes: number): boolean {
    this.maxFrameBytes = bytes;
    return true;
  }

  /** A poll: what the server sent after `after`, now or once there is some (held for at most a heartbeat). */
  poll(after: number, signal?: AbortSignal): Promise<PollAnswer> {
    if (this.state === WebSocket.CLOSED) return Promise.resolve({ status: 404 });
    this.emit('pong');
    this.acknowledge(after);
    if (this.state === WebSocket.CLOSED) return Promise.resolve({ status: 404 });
    this.answerHeld({ status: 204 }); // superseded
    if (this.outbox.length > 0) return Promise.resolve(this.answerFor());
    return new Promise<PollAnswer>((resolve) => {
      const timer = setTimeout(() => this.answerHeld({ status: 204 }), this.heartbeatMs);
      timer.unref?.();
      this.held = { after, answer: resolve, timer };
      signal?.addEventListener('abort', () => {
        if (this.held?.answer === resolve) this.answerHeld({ status: 204 });
      });
    });
  }

  /** A POST of frames numbered from `firstSeq` (`body`: `varUint8Array` each, at most `maxBodyBytes`), read as it arrives. */
  async receive(firstSeq: number, body: ReadableStream<Uint8Array> | null, maxBodyBytes: number): Promise<SendAnswer> {
    if (this.state === WebSocket.CLOSED) return { status: 400, error: 'the session is closed' };
    if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) return { status: 400, error: 'seq must be a whole number from 1' };
    this.emit('pong');
    if (firstSeq > this.lastClientSeq + 1) return { status: 409, received: this.lastClientSeq };
    if (body === null) return { status: 200, received: this.lastClientSeq };
    if (this.reading >= MAX_POSTS_READ_AT_ONCE) {
      return { status: 429, error: `more than ${MAX_POSTS_READ_AT_ONCE} POSTs of this session at once` };
    }
    this.reading += 1;
    try {
      return await this.read(firstSeq, body, maxBodyBytes);
    } finally {
      this.reading -= 1;
    }
  }

  /** Reads a POST's frames from `firstSeq` on as they arrive, and handles each new one once whole (see the header). */
  private async read(firstSeq: number, body: ReadableStream<Uint8Array>, maxBodyBytes: number): Promise<SendAnswer> {
    const received = (): SendAnswer => ({ status: 200, received: this.lastClientSeq });
    // The frame being read: its seq, its length (a varUint, `lengthBytes` of it read so far), and its bytes (null when
    // it is one already received, whose bytes are only skipped).
    let seq = firstSeq;
    let length = 0;
    let lengthBytes = 0;
    let lengthKnown = false;
    let frame: Uint8Array | null = null;
    let filled = 0;
    let total = 0;
    const reader = body.getReader();
    try {
      for (;;) {
        let chunk: Uint8Array;
        try {
          const next = await reader.read();
          if (next.done) break;
          chunk = next.value;
        } catch {
          return { status: 400, error: 'the body ended before its announced end (the request was cut off)' };
        }
        if (this.state !== WebSocket.OPEN) return received(); // closed meanwhile: the rest is not read
        total += chunk.byteLength;
        if (total > maxBodyBytes) return { status: 413, error: `the body is larger than ${maxBodyBytes} bytes` };
        let at = 0;
        while (at < chunk.byteLength) {
          if (!lengthKnown) {
            const byte = chunk[at++]!;
            length += (byte & 0x7f) * 2 ** (7 * lengthBytes++);
            if (byte >= 0x80) {
              if (lengthBytes >= MAX_LENGTH_BYTES) return this.malformed();
              continue;
            }
            lengthKnown = true;
            filled = 0;
            if (this.state !== WebSocket.OPEN) return received(); // closed by the frame before (a limit): not read on
            if (seq <= this.lastClientSeq) {
              frame = null; // a retried POST: already handled, skipped
            } else if (length > this.maxFrameBytes) {
              // As ws does for a frame over maxPayload, from its length alone: an error (SocketLimits counts it), then
              // a 1009 close; its bytes are not read.
              this.lastClientSeq = seq;
              this.emit('error', Object.assign(new RangeError('Max payload size exceeded'), { code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' }));
              this.close(CloseCode.MessageTooBig, 'Max payload size exceeded');
              return received();
            } else if (chunk.byteLength - at >= length) {
              frame = chunk.subarray(at, at + length); // whole in this chunk: no copy
              filled = length;
              at += length;
            } else {
              frame = new Uint8Array(length);
            }
          }
          const taken = Math.min(length - filled, chunk.byteLength - at);
          if (frame !== null && taken > 0) frame.set(chunk.subarray(at, at + taken), filled);
          filled += taken;
          at += taken;
          if (filled < length) continue;
          // Handled unless another POST (an overlapping retry) handled this seq while its bytes arrived.
          if (frame !== null && seq === this.lastClientSeq + 1) {
            if (this.state !== WebSocket.OPEN) return received();
            this.lastClientSeq = seq;
            this.emit('message', Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength), true);
          }
          seq += 1;
          length = 0;
          lengthBytes = 0;
          lengthKnown = false;
          frame = null;
        }
      }
    } finally {
      reader.releaseLock();
    }
    if (lengthBytes > 0) return this.malformed(); // the body ended inside a frame
    return received();
  }

  private malformed(): SendAnswer {
    this.close(CloseCode.MalformedMessage, 'Malformed message: the body is not a list of frames');
    return { status: 400, error: 'the body is not a list of frames (lib0 varUint8Array each)' };
  }

  /** The client said goodbye (`POST …/close`): closed now, with its code. */
  closedByClient(code: number): void {
    if (this.state === WebSocket.CLOSED) return;
    this.finish(code, '');
  }

  private push(record: OutRecord): void {
    this.outbox.push(record);
    this.outboxBytes += record.bytes?.byteLength ?? 0;
    if (this.held === null || this.flushScheduled) return;
    this.flushScheduled = true;
    // What one turn sends (a broadcast's fan-out, a reply and its acknowledgement) goes in one answer.
    setImmediate(() => {
      this.flushScheduled = false;
      if (this.held !== null && this.outbox.length > 0) this.answerHeld(this.answerFor());
    });
  }

  /** Forgets what the client has (seq ≤ `after`); a close record it has ends the session. */
  private acknowledge(after: number): void {
    while (this.outbox.length > 0 && this.outbox[0]!.seq <= after) {
      const record = this.outbox.shift()!;
      this.outboxBytes -= record.bytes?.byteLength ?? 0;
      if (record.bytes === null) this.finish(this.closeCode, this.closeReason);
    }
  }

  private answerFor(): PollAnswer {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, this.outbox[0]!.seq);
    let bytes = 0;
    for (const record of this.outbox) {
      if (bytes > 0 && bytes + (record.bytes?.byteLength ?? 0) > MAX_POLL_BYTES) break;
      if (record.bytes === null) {
        encoding.writeVarUint(encoder, RecordKind.Close);
        encoding.writeVarUint(encoder, record.code ?? NORMAL_CLOSURE);
        encoding.writeVarString(encoder, record.reason ?? '');
        break;
      }
      encoding.writeVarUint(encoder, RecordKind.Frame);
      encoding.writeVarUint8Array(encoder, record.bytes);
      bytes += record.bytes.byteLength;
    }
    return { status: 200, body: encoding.toUint8Array(encoder) };
  }

  private answerHeld(answer: PollAnswer): void {
    const held = this.held;
    if (held === null) return;
    this.held = null;
    clearTimeout(held.timer);
    held.answer(answer);
  }

  private finish(code: number, reason: string): void {
    if (this.state === WebSocket.CLOSED) return;
    this.state = WebSocket.CLOSED;
    clearTimeout(this.closeTimer);
    this.answerHeld({ status: 404 });
    this.outbox.length = 0;
    this.outboxBytes = 0;
    this.emit('close', code, Buffer.from(reason));
  }
}
