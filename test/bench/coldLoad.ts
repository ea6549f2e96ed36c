/**
 * The large document: built through the server under test from single-character edits (each its own update
 * message, so each system stores it its own way: Concord appends every edit to its log and compacts; stock stores
 * whole states, debounced), then loaded cold: a fresh server process on the same storage, a fresh client, and the
 * time from creating the client to its `synced` event. The loaded text must equal what was typed.
 *
 * The typist moves the cursor now and then (a seeded random position every 5–50 keystrokes), so the document is
 * not one run of appended characters.
 */
import { HocuspocusProvider } from '@hocuspocus/provider';
import * as Y from 'yjs';
import { drain, Writer } from './writers.ts';

const SYNC_TIMEOUT_MS = 120_000;
const LETTERS = 'etaoin shrdlu cmfwyp vbgkqjxz';

/** Deterministic PRNG (mulberry32), so every system gets the same document. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BuiltDocument {
  readonly text: string;
  /** Bytes of `Y.encodeStateAsUpdate` of the writer's copy: the document itself, encoded once. */
  readonly encodedBytes: number;
  readonly seconds: number;
}

/** Types `edits` single characters into `name`, keeping `window` of them unacknowledged, and waits for every ack. */
export async function buildDocument(
  url: string,
  token: string,
  name: string,
  options: { edits: number; window: number },
): Promise<BuiltDocument> {
  const { edits, window } = options;
  const writer = new Writer(url, name, token);
  try {
    await writer.ready();
    const next = random(0xc0ffee);
    let cursor = 0;
    let untilJump = 1;
    const typeOne = () => {
      if (--untilJump === 0) {
        cursor = Math.floor(next() * (writer.text.length + 1));
        untilJump = 5 + Math.floor(next() * 46);
      }
      writer.type(LETTERS[writer.sent % LETTERS.length], cursor);
      cursor += 1;
    };
    const startedAt = performance.now();
    await new Promise<void>((resolve) => {
      writer.onAck = () => {
        if (writer.sent < edits && writer.outstanding < window) typeOne();
        if (writer.acked === edits) resolve();
      };
      while (writer.sent < edits && writer.outstanding < window) typeOne();
    });
    await drain([writer], 60_000);
    return {
      text: writer.text.toString(),
      encodedBytes: Y.encodeStateAsUpdate(writer.doc).byteLength,
      seconds: (performance.now() - startedAt) / 1000,
    };
  } finally {
    writer.destroy();
  }
}

/** Milliseconds from a fresh client's creation to its first sync with `name`; throws when the text differs. */
export async function coldLoad(url: string, token: string, name: string, expected: string): Promise<number> {
  const doc = new Y.Doc();
  const startedAt = performance.now();
  const provider = new HocuspocusProvider({ url, name, document: doc, token });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: not synced after ${SYNC_TIMEOUT_MS} ms`)), SYNC_TIMEOUT_MS);
      provider.on('synced', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const elapsedMs = performance.now() - startedAt;
    const text = doc.getText('text').toString();
    if (text !== expected) {
      throw new Error(`${name}: loaded ${text.length} characters, expected ${expected.length} (content differs)`);
    }
    return elapsedMs;
  } finally {
    provider.destroy();
    doc.destroy();
  }
}
