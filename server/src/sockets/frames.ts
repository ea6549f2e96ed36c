/**
 * Reading and checking protocol frames at the socket boundary.
 *
 * A Hocuspocus frame is `[address: varString][type: varUint][body]`; a y-websocket frame is the same without the
 * address. Every frame a client sends is decoded in full here (Yjs updates with `Y.decodeUpdate`, awareness states
 * as JSON) before Hocuspocus sees it, because y-protocols swallows errors of a bad update and Hocuspocus would then
 * acknowledge it. A frame that does not decode throws MalformedFrameError and the socket is closed with 4400.
 * An awareness message's entries are left in `awarenessEntries` for AwarenessGuard, which checks them right after.
 */
import { AuthMessageType } from '@hocuspocus/common';
import { MessageType } from '@hocuspocus/server';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { decodeWholeUpdate, isEmptyDeleteSet, type DecodedUpdate, type StoredStruct } from '../seams/yjs.js';

export class MalformedFrameError extends Error {
  /** The `reason` label of the `rejectedConnections` metric. */
  readonly reason: string;

  constructor(message: string, options?: ErrorOptions & { reason?: string }) {
    super(message, options);
    this.name = 'MalformedFrameError';
    this.reason = options?.reason ?? 'malformed-message';
  }
}

/** Sync protocol steps (y-protocols/sync). */
const SyncStep = { One: 0, Two: 1, Update: 2 } as const;

/**
 * Connection-level heartbeat of Hocuspocus providers (v4 on): one byte, no address. A provider answers a Ping frame
 * with a Pong frame; v3 providers do not know them (they read the byte as the length of a document name and throw).
 */
export const PING_FRAME_BYTE = MessageType.Ping;
export const PONG_FRAME_BYTE = MessageType.Pong;

/** The structs of an update that holds only new structs of one client, in clock order, and no deletions. */
export interface StructRun {
  readonly client: number;
  readonly clock: number;
  /** The clock after the last struct. */
  readonly endClock: number;
  readonly structs: readonly StoredStruct[];
}

export interface ClientFrame {
  readonly address: string;
  /** Offset of the message type, right after the address. */
  readonly bodyOffset: number;
  readonly type: MessageType;
  /** The token of an Auth frame. */
  readonly token?: string;
  /** The provider version an Auth frame carries (Hocuspocus providers from v4 send it; v3 sends none). */
  readonly providerVersion?: string;
  /** Sync step 2 or an update: document content, which the server acknowledges. */
  readonly carriesUpdate: boolean;
  /** The sync step of a Sync frame. */
  readonly step?: number;
  /** The update's structs, when it is a run one client typed (the common keystroke). */
  readonly run?: StructRun;
  /** The decoded update of a Sync step 2 or update frame (its structs are shared with `run`). */
  readonly update?: DecodedUpdate;
}

/** A state vector (`Y.decodeStateVector`, which ignores bytes after it), read to its last byte. */
function checkStateVector(payload: Uint8Array): void {
  const decoder = decoding.createDecoder(payload);
  const count = decoding.readVarUint(decoder);
  for (let i = 0; i < count; i++) {
    decoding.readVarUint(decoder); // client id
    decoding.readVarUint(decoder); // clock
  }
  if (decoding.hasContent(decoder)) throw new MalformedFrameError(`${payload.length - decoder.pos} bytes after the state vector`);
}

/** Throws when bytes follow the message's body (a client that appends junk is not speaking the protocol). */
function checkEnd(decoder: decoding.Decoder): void {
  if (decoding.hasContent(decoder)) throw new MalformedFrameError(`${decoder.arr.length - decoder.pos} bytes after the message`);
}

/**
 * The entries of the awareness message parsed last (client id, clock, parsed state), for AwarenessGuard to check
 * before the frame goes on: arrays reused from message to message, so reading them allocates nothing.
 */
export const awarenessEntries = { count: 0, clients: [] as number[], clocks: [] as number[], states: [] as unknown[] };

function decodeAwarenessUpdate(update: Uint8Array, maxStateBytes: number): void {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const entries = awarenessEntries;
  entries.count = 0;
  for (let i = 0; i < count; i++) {
    entries.clients[i] = decoding.readVarUint(decoder);
    entries.clocks[i] = decoding.readVarUint(decoder);
    const bytes = decoding.peekVarUint(decoder);
    if (bytes > maxStateBytes) {
      throw new MalformedFrameError(`an awareness state of ${bytes} bytes (the limit is ${maxStateBytes})`, { reason: 'awareness-state-too-big' });
    }
    entries.states[i] = JSON.parse(decoding.readVarString(decoder));
    entries.count = i + 1;
  }
  if (decoding.hasContent(decoder)) throw new MalformedFrameError(`${update.length - decoder.pos} bytes after the awareness update`);
}

interface Body {
  readonly token?: string;
  readonly providerVersion?: string;
  readonly carriesUpdate: boolean;
  readonly step?: number;
  readonly run?: StructRun;
  readonly update?: DecodedUpdate;
}

/** The update's structs as a run of one client (see StructRun), or undefined. */
function structRun(update: DecodedUpdate): StructRun | undefined {
  const { structs, ds } = update;
  const first = structs[0];
  if (first === undefined || !isEmptyDeleteSet(ds)) return undefined;
  const client = first.id.client;
  let clock = first.id.clock;
  for (const struct of structs) {
    if (struct instanceof Y.Skip || struct.id.client !== client || struct.id.clock !== clock) return undefined;
    clock += struct.length;
  }
  return { client, clock: first.id.clock, endClock: clock, structs: structs as unknown as StoredStruct[] };
}

const NOTHING: Body = { carriesUpdate: false };
/** A Sync step 1: the client's state vector, asking for what it is missing. */
const STEP_ONE: Body = { carriesUpdate: false, step: SyncStep.One };

/** Decodes the body of a client message of `type` in full. */
function checkBody(decoder: decoding.Decoder, type: number, maxAwarenessStateBytes: number): Body {
  switch (type) {
    case MessageType.Sync:
    case MessageType.SyncReply: {
      const step = decoding.readVarUint(decoder);
      const payload = decoding.readVarUint8Array(decoder);
      if (step === SyncStep.One) {
        checkStateVector(payload);
        return STEP_ONE;
      }
      if (step !== SyncStep.Two && step !== SyncStep.Update) throw new MalformedFrameError(`unknown sync step ${step}`);
      // Whole: Yjs ignores bytes after an update, so v2 bytes read as v1 or junk after a valid update would pass.
      const update = decodeWholeUpdate(payload);
      return { carriesUpdate: true, step, update, run: structRun(update) };
    }
    case MessageType.Awareness:
      decodeAwarenessUpdate(decoding.readVarUint8Array(decoder), maxAwarenessStateBytes);
      return NOTHING;
    case MessageType.Auth: {
      const kind = decoding.readVarUint(decoder);
      if (kind !== AuthMessageType.Token) throw new MalformedFrameError(`clients may only send tokens, not auth message ${kind}`);
      const token = decoding.readVarString(decoder);
      if (!decoding.hasContent(decoder)) return { token, carriesUpdate: false };
      return { token, providerVersion: decoding.readVarString(decoder), carriesUpdate: false };
    }
    case MessageType.QueryAwareness:
    case MessageType.CLOSE:
      return NOTHING;
    case MessageType.Stateless:
      decoding.readVarString(decoder);
      return NOTHING;
    default:
      throw new MalformedFrameError(`message type ${type} cannot be sent by a client`);
  }
}

function malformed(error: unknown): MalformedFrameError {
  if (error instanceof MalformedFrameError) return error;
  return new MalformedFrameError(`undecodable message (${(error as Error)?.message ?? String(error)})`, { cause: error });
}

/** Decodes a whole Hocuspocus frame from a client; throws MalformedFrameError. */
export function parseClientFrame(
  frame: Uint8Array,
  addresses: AddressReader = new AddressReader(),
  maxAwarenessStateBytes = Number.POSITIVE_INFINITY,
): ClientFrame {
  try {
    const address = addresses.read(frame);
    const bodyOffset = addresses.end;
    const decoder = decoding.createDecoder(frame);
    decoder.pos = bodyOffset;
    const type = decoding.readVarUint(decoder) as MessageType;
    const body = checkBody(decoder, type, maxAwarenessStateBytes);
    checkEnd(decoder);
    return { address, bodyOffset, type, ...body };
  } catch (error) {
    throw malformed(error);
  }
}

/** Decodes a whole y-websocket frame from a client (sync, awareness or query-awareness only): its type, and its update. */
export function parseYWebsocketFrame(
  frame: Uint8Array,
  maxAwarenessStateBytes = Number.POSITIVE_INFINITY,
): { readonly type: MessageType; readonly update?: DecodedUpdate; readonly step?: number } {
  try {
    const decoder = decoding.createDecoder(frame);
    const type = decoding.readVarUint(decoder) as MessageType;
    if (type !== MessageType.Sync && type !== MessageType.Awareness && type !== MessageType.QueryAwareness) {
      throw new MalformedFrameError(`message type ${type} is not part of the y-websocket protocol`);
    }
    const { update, step } = checkBody(decoder, type, maxAwarenessStateBytes);
    checkEnd(decoder);
    return { type, update, step };
  } catch (error) {
    throw malformed(error);
  }
}

/** Address and type of a frame Hocuspocus is sending (trusted, so only the head is read). */
export function readServerFrameHead(frame: Uint8Array): { address: string; bodyOffset: number; type: MessageType; decoder: decoding.Decoder } {
  const decoder = decoding.createDecoder(frame);
  const address = decoding.readVarString(decoder);
  const bodyOffset = decoder.pos;
  const type = decoding.readVarUint(decoder) as MessageType;
  return { address, bodyOffset, type, decoder };
}

/**
 * Encodings of the strings frames start with, shared by every socket of the server: an address as a frame starts
 * (`varString`), and a tenant's `<tenant>/` as raw UTF-8. Sockets use the same few (one tenant, the documents people
 * have open), so thousands of sockets share them instead of each keeping its own buffers. Bounded: past `MAX_CACHED`
 * entries the cache starts over.
 */
export class SharedEncodings {
  static readonly MAX_CACHED = 4096;
  private readonly encoded = new Map<string, Uint8Array>();
  private readonly encode: (text: string) => Uint8Array;

  constructor(encode: (text: string) => Uint8Array) {
    this.encode = encode;
  }

  of(text: string): Uint8Array {
    let bytes = this.encoded.get(text);
    if (bytes === undefined) {
      bytes = this.encode(text);
      if (this.encoded.size >= SharedEncodings.MAX_CACHED) this.encoded.clear();
      this.encoded.set(text, bytes);
    }
    return bytes;
  }
}

/** Addresses as frames start with them (`varString`). */
export const addressPrefixes = new SharedEncodings((address) => {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, address);
  return encoding.toUint8Array(encoder);
});

/** Strings as raw UTF-8 (a tenant's `<tenant>/`). */
export const utf8Strings = new SharedEncodings((text) => new TextEncoder().encode(text));

/** `frame` with its address replaced by the encoded `prefix`: `[prefix][frame from bodyOffset on]`, one copy. */
export function withPrefix(prefix: Uint8Array, frame: Uint8Array, bodyOffset: number): Uint8Array {
  const out = new Uint8Array(prefix.length + frame.length - bodyOffset);
  out.set(prefix, 0);
  out.set(frame.subarray(bodyOffset), prefix.length);
  return out;
}

/** An awareness frame: `head` (the address, or nothing for y-websocket), then `update`. */
export function awarenessFrame(head: Uint8Array, update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeUint8Array(encoder, head);
  encoding.writeVarUint(encoder, MessageType.Awareness);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}

/** A sync frame of `type` (Sync or SyncReply) and `step` carrying `update`, after `head` (an address, or nothing). */
export function syncFrame(head: Uint8Array, type: number, step: number, update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeUint8Array(encoder, head);
  encoding.writeVarUint(encoder, type);
  encoding.writeVarUint(encoder, step);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}

/** The Auth frame a Hocuspocus provider sends first for a document. */
export function authFrame(address: string, token: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, address);
  encoding.writeVarUint(encoder, MessageType.Auth);
  encoding.writeVarUint(encoder, AuthMessageType.Token);
  encoding.writeVarString(encoder, token);
  return encoding.toUint8Array(encoder);
}

/** Reads a varUint at `pos` of `bytes`; sets `cursor.pos` past it. Frame heads only: small numbers, no allocation. */
const cursor = { pos: 0 };
function varUintAt(bytes: Uint8Array, pos: number): number {
  let value = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = bytes[pos++] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80 && pos < bytes.length);
  cursor.pos = pos;
  return value;
}

/** The message type of a frame, read without decoding its address. */
export function frameType(frame: Uint8Array): number {
  const length = varUintAt(frame, 0);
  return varUintAt(frame, cursor.pos + length);
}

/**
 * `frame` with `prefix` (bytes) removed from the start of its address, or null when the address does not start with
 * it. Works on bytes: no string is decoded or encoded, one allocation.
 */
export function stripAddressPrefix(frame: Uint8Array, prefix: Uint8Array): Uint8Array | null {
  const length = varUintAt(frame, 0);
  const start = cursor.pos;
  if (length < prefix.length) return null;
  for (let i = 0; i < prefix.length; i++) if (frame[start + i] !== prefix[i]) return null;
  let shorter = length - prefix.length;
  let headLength = 1;
  for (let rest = shorter >>> 7; rest > 0; rest >>>= 7) headLength += 1;
  const tail = frame.subarray(start + prefix.length);
  const out = new Uint8Array(headLength + tail.length);
  for (let i = 0; i < headLength; i++) {
    out[i] = (shorter & 0x7f) | (i < headLength - 1 ? 0x80 : 0);
    shorter >>>= 7;
  }
  out.set(tail, headLength);
  return out;
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

/** As lib0 decodes (a leading BOM is kept), so a name reads here as Hocuspocus and clients read it. */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * Reads the address a frame starts with, remembering the last one: a socket mostly talks about the same document,
 * so comparing a few bytes replaces decoding a string on most frames. Leaves `cursor.pos` after the address.
 *
 * An ASCII address (every address a Concord client makes, tenant prefix aside) is compared with the remembered text
 * itself; only another one keeps a copy of its bytes. A copy is a Buffer object, ~100 bytes that every idle socket
 * would hold.
 */
const NO_BYTES = new Uint8Array(0);

export class AddressReader {
  /** The last address's bytes when it was not ASCII; empty when it was (compared with `lastText`). */
  private lastBytes = NO_BYTES;
  private lastText = '';
  private lastAscii = false;

  read(frame: Uint8Array): string {
    const length = varUintAt(frame, 0);
    const start = cursor.pos;
    const end = start + length;
    if (end > frame.length) throw new MalformedFrameError('the address runs past the end of the message');
    cursor.pos = end;
    if (this.lastAscii ? this.sameAsText(frame, start, length) : this.sameAsBytes(frame, start, length)) return this.lastText;
    const bytes = frame.subarray(start, end);
    this.lastText = utf8.decode(bytes);
    this.lastAscii = this.lastText.length === length && isAscii(bytes);
    this.lastBytes = this.lastAscii ? NO_BYTES : Buffer.from(bytes); // small: from Node's buffer pool
    return this.lastText;
  }

  private sameAsText(frame: Uint8Array, start: number, length: number): boolean {
    const text = this.lastText;
    if (text.length !== length) return false;
    for (let i = 0; i < length; i++) if (frame[start + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  private sameAsBytes(frame: Uint8Array, start: number, length: number): boolean {
    const last = this.lastBytes;
    if (last.length !== length) return false;
    for (let i = 0; i < length; i++) if (frame[start + i] !== last[i]) return false;
    return true;
  }

  /** Where the address just read ended. */
  get end(): number {
    return cursor.pos;
  }
}
