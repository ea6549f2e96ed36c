/**
 * The one place where the server reaches into `ws` (8.23.0, pinned exactly in server/package.json;
 * test/server/seams.test.ts fails loudly when an upgrade changes anything used here).
 *
 * Concord compresses what it sends itself (sockets/compression.ts), so that a frame broadcast to a thousand sockets is
 * deflated once, not once per socket, and no socket keeps a zlib stream of its own (~250 KiB each) after its first
 * large frame. `ws` has no public way to send bytes that are already compressed, so this file:
 * - reads the permessage-deflate parameters a socket negotiated (`_extensions['permessage-deflate'].params`): the
 *   window the client allows the server (`server_max_window_bits`), and whether the server may keep context between
 *   messages (Concord always asks for `server_no_context_takeover`, which makes every message compress on its own);
 * - writes a frame with the RSV1 bit ("this message is compressed") through the socket's `Sender`, exactly as `ws`
 *   frames a message it compressed itself (`Sender.frame` + `sendFrame`, header and payload joined in one buffer),
 *   provided nothing is queued in the sender;
 * - corks ws' TCP socket (`_socket`) while a burst of frames is written, so they leave in one `writev`;
 * - raises one socket's frame size limit once it authenticated (`_receiver._maxPayload`, and the permessage-deflate
 *   extension's `_maxPayload` for the inflated size): ws takes `maxPayload` per server only, and a socket that has not
 *   authenticated must not make ws buffer a whole large frame before Concord sees a byte of it (sockets/limits.ts).
 * Every function falls back to ws' public API when what it reads is missing, as it is on a Wire that is not a ws socket
 * (the HTTP fallback's sessions, sockets/HttpSession.ts): no deflate, plain `send`, no cork.
 */
import type { Socket } from 'node:net';
import * as ws from 'ws';
import type { Wire } from '../sockets/wire.js';

interface PerMessageDeflateInternals {
  readonly params: Record<string, unknown>;
}

interface SenderInternals {
  /** 0 (DEFAULT): nothing queued, a frame written now goes out in order. */
  readonly _state: number;
  sendFrame(list: Buffer[], callback?: (error?: Error) => void): void;
}

interface PayloadLimitInternals {
  _maxPayload?: number;
}

interface WebSocketInternals {
  readonly _extensions?: Record<string, (PerMessageDeflateInternals & PayloadLimitInternals) | undefined>;
  readonly _receiver?: PayloadLimitInternals | null;
  readonly _sender?: SenderInternals | null;
  readonly _socket?: Socket;
}

interface SenderClass {
  frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
}

const Sender = (ws as unknown as { Sender?: SenderClass }).Sender;
const SENDER_IDLE = 0;
const BINARY_OPCODE = 2;
/** zlib's default window, which a server uses unless the client asked for less. */
const DEFAULT_WINDOW_BITS = 15;

function inside(socket: Wire): WebSocketInternals {
  return socket as unknown as WebSocketInternals;
}

/**
 * The window (in bits) this socket's client lets the server compress with, when permessage-deflate was negotiated
 * without context takeover on the server's side; `null` when frames to it must not be compressed by Concord.
 */
export function serverDeflateWindowBits(socket: Wire): number | null {
  const params = inside(socket)._extensions?.['permessage-deflate']?.params;
  if (params === undefined || params.server_no_context_takeover !== true) return null;
  const bits = params.server_max_window_bits;
  return typeof bits === 'number' ? bits : DEFAULT_WINDOW_BITS;
}

/** One whole binary message as it goes on the wire: ws' header and the payload in one buffer (one write, not a writev). */
export interface WireFrame {
  readonly wire: Buffer;
  /** Bytes of the message itself (what the traffic metrics count), without the header. */
  readonly payloadBytes: number;
}

/**
 * One whole binary message as ws frames it for a client (unmasked), with RSV1 set when the payload is deflated; null
 * when ws' `Sender.frame` is gone. The buffer is never changed, so one frame can be written to many sockets.
 */
export function frameOf(payload: Buffer, deflated: boolean): WireFrame | null {
  if (!Sender) return null;
  const parts = Sender.frame(payload, { fin: true, rsv1: deflated, opcode: BINARY_OPCODE, mask: false, readOnly: false });
  return { wire: parts.length === 1 ? parts[0]! : Buffer.concat(parts), payloadBytes: payload.byteLength };
}

/** `frame` `copies` times over, as one frame of as many messages (acknowledgements of a batch of client messages). */
export function repeatFrame(frame: WireFrame, copies: number): WireFrame {
  const size = frame.wire.byteLength;
  const wire = Buffer.allocUnsafe(size * copies);
  for (let i = 0; i < copies; i++) frame.wire.copy(wire, i * size);
  return { wire, payloadBytes: frame.payloadBytes * copies };
}

/** Writes a frame built by `frameOf` (or `repeatFrame`); false (nothing written) when ws' sender cannot take it now. */
export function sendFrame(socket: Wire, frame: WireFrame): boolean {
  const sender = inside(socket)._sender;
  if (!sender || sender._state !== SENDER_IDLE || typeof sender.sendFrame !== 'function') return false;
  sender.sendFrame([frame.wire]);
  return true;
}

/** Runs `write` with the socket's TCP stream corked, so what it writes leaves in one system call. */
export function corked(socket: Wire, write: () => void): void {
  const tcp = inside(socket)._socket;
  tcp?.cork();
  try {
    write();
  } finally {
    tcp?.uncork();
  }
}

/**
 * Raises the largest frame this socket accepts (ws checks it as the frame's length arrives, and again for the inflated
 * size). False, with nothing changed, when ws' internals are not where this reads them.
 */
export function raiseMaxPayload(socket: Wire, bytes: number): boolean {
  const receiver = inside(socket)._receiver;
  const deflate = inside(socket)._extensions?.['permessage-deflate'];
  if (!receiver || typeof receiver._maxPayload !== 'number') return false;
  if (deflate !== undefined && typeof deflate._maxPayload !== 'number') return false;
  receiver._maxPayload = bytes;
  if (deflate !== undefined) deflate._maxPayload = bytes;
  return true;
}
