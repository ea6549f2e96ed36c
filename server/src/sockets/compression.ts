/**
 * What the server compresses (permessage-deflate), and how often.
 *
 * Frames from 1 KiB on (first syncs, large updates, bursts) are compressed; keystrokes, acknowledgements and
 * presence are not worth it. The rule that keeps many viewers cheap: **a frame is deflated once, whatever the number
 * of sockets it goes to.** Hocuspocus builds a broadcast frame once and hands that same frame to every connection of
 * the document (seams/hocuspocus.ts `observeBroadcasts` says which frame is being broadcast); each socket translates
 * it for its protocol and compresses it, so the first socket of a protocol does it and the others reuse the result.
 * Without context takeover (which Concord always negotiates) a compressed message does not depend on what the socket
 * sent before, so the same bytes are valid on every socket that negotiated the same window.
 *
 * `ws` compresses each `send` separately on every socket (a zlib job each, and a zlib stream of ~250 KiB kept by
 * every socket that ever sent a large frame): at 500 viewers that made the server 17× slower than stock Hocuspocus
 * without compression (issue 12). Here nothing is compressed by `ws`: broadcasts are deflated once, synchronously
 * (a frame of a few KiB takes tens of µs at level 1); a frame for one socket alone (its first sync) is deflated on
 * zlib's thread pool, and what the server sends that socket meanwhile waits behind it, in order (Outbound.ts).
 */
import { constants, deflateRaw, deflateRawSync, type ZlibOptions } from 'node:zlib';
import type { CompressionCounts } from '../metrics.js';
import type { BroadcastObserver } from '../seams/hocuspocus.js';
import { frameOf, type WireFrame } from '../seams/ws.js';

/** Frames smaller than this are not worth compressing (keystrokes, acknowledgements, presence). */
export const DEFLATE_THRESHOLD_BYTES = 1024;
/**
 * zlib's fastest level: a 1.8 MB first sync compresses in ~20 ms instead of ~150 ms at the default level (measured
 * here), for a little less compression.
 */
export const DEFLATE_LEVEL = 1;
/** A deflate stream flushed with Z_SYNC_FLUSH ends with these four bytes, which permessage-deflate leaves out. */
const SYNC_FLUSH_TAIL_BYTES = 4;

function options(windowBits: number): ZlibOptions {
  return { level: DEFLATE_LEVEL, windowBits, finishFlush: constants.Z_SYNC_FLUSH };
}

function withoutTail(deflated: Buffer): Buffer {
  return deflated.subarray(0, deflated.length - SYNC_FLUSH_TAIL_BYTES);
}

/**
 * Starts zlib on libuv's thread pool (whose threads Node creates on first use), so the first client's first sync is
 * not also the one that waits for them.
 */
export function warmCompression(): void {
  deflateRaw(new Uint8Array(1), () => {});
}

/** Whether a frame of `bytes` goes compressed to a socket that negotiated `windowBits` (null: no compression). */
export function worthDeflating(bytes: Uint8Array, windowBits: number | null): windowBits is number {
  return windowBits !== null && bytes.byteLength >= DEFLATE_THRESHOLD_BYTES;
}

/**
 * `bytes` deflated on zlib's thread pool for a socket whose client allows `windowBits`, as a whole frame; null when
 * deflating failed or ws cannot frame it (send it plain).
 */
export function deflateLater(bytes: Uint8Array, windowBits: number, counts: CompressionCounts): Promise<WireFrame | null> {
  return new Promise((resolve) => {
    deflateRaw(bytes, options(windowBits), (error, deflated) => {
      if (error) return resolve(null);
      const payload = withoutTail(deflated);
      counts.single += 1;
      counts.bytesIn += bytes.byteLength;
      counts.bytesOut += payload.byteLength;
      resolve(frameOf(payload, true));
    });
  });
}

/** What one protocol sends of a broadcast frame: translated once, framed (and deflated) once per window size. */
export class Translation {
  /** The translated message; null when this protocol does not send it. */
  readonly bytes: Uint8Array | null;
  /** Whole frames by deflate window (0: plain). */
  private readonly frames = new Map<number, WireFrame | null>();

  constructor(bytes: Uint8Array | null) {
    this.bytes = bytes;
  }

  /** The frame for a socket that negotiated `windowBits` (null: no compression); null if ws cannot frame it. */
  frameFor(windowBits: number | null, counts: CompressionCounts): WireFrame | null {
    const bytes = this.bytes!;
    const deflate = worthDeflating(bytes, windowBits);
    const key = deflate ? windowBits : 0;
    let frame = this.frames.get(key);
    if (frame === undefined) {
      if (deflate) {
        const payload = withoutTail(deflateRawSync(bytes, options(windowBits)));
        counts.broadcasts += 1;
        counts.bytesIn += bytes.byteLength;
        counts.bytesOut += payload.byteLength;
        frame = frameOf(payload, true);
      } else {
        frame = frameOf(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), false);
      }
      this.frames.set(key, frame);
    }
    return frame;
  }
}

/** A frame being broadcast: what each protocol makes of it, computed by the first socket that needs it. */
/** What translates a Hocuspocus frame for a client of one protocol, or drops it (null): a socket (ServerSocket). */
export interface Translator {
  translateOutbound(frame: Uint8Array): Uint8Array | null;
}

export class BroadcastFrame {
  readonly frame: Uint8Array;
  private readonly translations = new Map<string, Translation>();

  constructor(frame: Uint8Array) {
    this.frame = frame;
  }

  /** The frame as sockets of `protocol` send it (`translate` runs once per protocol; null: not sent). */
  translation(protocol: string, translator: Translator): Translation {
    let translation = this.translations.get(protocol);
    if (translation === undefined) {
      translation = new Translation(translator.translateOutbound(this.frame));
      this.translations.set(protocol, translation);
    }
    return translation;
  }
}

let current: BroadcastFrame | undefined;

/** Told by every document which frame it is broadcasting (see seams/hocuspocus.ts `observeBroadcasts`). */
export const broadcastFrames: BroadcastObserver = {
  begin(frame) {
    current = new BroadcastFrame(frame);
  },
  end() {
    current = undefined;
  },
};

/** The broadcast `frame` belongs to, when it is the one being broadcast right now. */
export function broadcastOf(frame: Uint8Array): BroadcastFrame | undefined {
  return current !== undefined && current.frame === frame ? current : undefined;
}
