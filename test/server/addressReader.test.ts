/**
 * AddressReader (server/src/sockets/frames.ts) remembers the last address a socket's frames named and compares the
 * next one with it instead of decoding it: ASCII addresses against the remembered text, others against a copy of their
 * bytes. Seeded: whatever the sequence, every read returns what decoding the bytes returns.
 */
import * as encoding from 'lib0/encoding';
import * as prng from 'lib0/prng';
import { expect, test } from 'vitest';
import { AddressReader } from '../../server/src/sockets/frames.js';
import { seededRandom } from '../support/random.js';

const NAMES = ['', 'doc', 'dod', 'doc2', 'acme/doc', 'acme/dóc', 'acme/döc', '📝 notes', 'inbox:bob', '@workspace'];

test('AddressReader reads every address as decoding it would, whatever came before (seeded)', () => {
  const { gen } = seededRandom('addressReader');
  const reader = new AddressReader();
  for (let i = 0; i < 2_000; i++) {
    const name = prng.oneOf(gen, NAMES);
    const encoder = encoding.createEncoder();
    encoding.writeVarString(encoder, name);
    encoding.writeVarUint(encoder, 0); // a body after the address
    const frame = encoding.toUint8Array(encoder);
    expect(reader.read(frame), `read ${i}`).toBe(name);
    expect(frame[reader.end], `read ${i}: ends after the address`).toBe(0);
  }
});
