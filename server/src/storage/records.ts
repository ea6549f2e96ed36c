/**
 * Records: several log entries of one document stored as one value (a LevelDB record, a PostgreSQL row), so a group
 * commit of hundreds of keystrokes writes a handful of values, not hundreds.
 *
 * A record is keyed by the highest sequence number it holds and stores, per entry in ascending order, how far below
 * that key its number is, then its update: `[count]` then `[key seq − entry seq][update]` per entry. A compaction
 * that replaces part of a record rewrites the rest under its own highest number.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { StoredEntry } from './DocumentStore.js';

export function packRecord(entries: readonly StoredEntry[], keySeq: number): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, entries.length);
  for (const { seq, update } of entries) {
    encoding.writeVarUint(encoder, keySeq - seq);
    encoding.writeVarUint8Array(encoder, update);
  }
  return encoding.toUint8Array(encoder);
}

/** A record of `updates` numbered consecutively up to its key, whatever that key turns out to be. */
export function packConsecutive(updates: readonly Uint8Array[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, updates.length);
  updates.forEach((update, i) => {
    encoding.writeVarUint(encoder, updates.length - 1 - i);
    encoding.writeVarUint8Array(encoder, update);
  });
  return encoding.toUint8Array(encoder);
}

export function unpackRecord(keySeq: number, record: Uint8Array): StoredEntry[] {
  const decoder = decoding.createDecoder(record);
  const count = decoding.readVarUint(decoder);
  const entries: StoredEntry[] = [];
  for (let i = 0; i < count; i++) {
    const below = decoding.readVarUint(decoder);
    entries.push({ seq: keySeq - below, update: decoding.readVarUint8Array(decoder) });
  }
  return entries;
}
