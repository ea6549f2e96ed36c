/**
 * A document's broadcasts during a burst (server/src/sockets/bursts.ts, used by seams/hocuspocus.ts
 * `broadcastChangesPerTurn`): a change goes out at the end of its turn, unless its source made another change less
 * than BURST_INTERVAL_MS earlier; then it waits until the document's last broadcast is that long ago, and goes out
 * together with everything gained meanwhile. Several people typing at once are several sources: none is held. Clocks
 * and timers are Vitest's fake ones, moved by hand, so the counts are exact: no timing.
 */
import { Document, type Connection } from '@hocuspocus/server';
import * as decoding from 'lib0/decoding';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import * as Y from 'yjs';
import { broadcastChangesPerTurn, broadcastSoon } from '../../server/src/seams/hocuspocus.js';
import { BURST_INTERVAL_MS, burstIntervalFor, MAX_BURST_INTERVAL_MS } from '../../server/src/sockets/bursts.js';
import { onCleanup } from '../support/cleanup.js';

const SYNC = 0;
const SYNC_UPDATE = 2;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

const writer = { name: 'one writer' };

/**
 * A document that broadcasts per turn to `connections` fake connections; what the first of them would show (the
 * others only count the document's audience).
 */
function watched(connections = 1) {
  const document = new Document('doc');
  onCleanup(() => document.destroy());
  broadcastChangesPerTurn(document);
  const viewer = new Y.Doc();
  let broadcasts = 0;
  const connection = {
    messageAddress: 'doc',
    send(frame: Uint8Array) {
      const decoder = decoding.createDecoder(frame);
      decoding.readVarString(decoder); // the address
      if (decoding.readVarUint(decoder) !== SYNC) return; // awareness (the document's own, as it is destroyed)
      expect(decoding.readVarUint(decoder)).toBe(SYNC_UPDATE);
      Y.applyUpdate(viewer, decoding.readVarUint8Array(decoder));
      broadcasts += 1;
    },
  };
  document.addConnection(connection as unknown as Connection);
  for (let i = 1; i < connections; i++) document.addConnection({ messageAddress: 'doc', send() {} } as unknown as Connection);
  /** `text` typed at the end by `source` (a transaction origin: a client's connection, say), in one transaction. */
  const type = (text: string, source: object = writer) => document.transact(() => document.getText('t').insert(document.getText('t').length, text), source);
  return { document, type, shown: () => viewer.getText('t').toString(), broadcasts: () => broadcasts };
}

test('the interval is short enough not to hold typing: under the 20 ms between keys of ten people typing five keys a second', () => {
  expect(BURST_INTERVAL_MS).toBeGreaterThan(0);
  expect(BURST_INTERVAL_MS).toBeLessThan(20);
});

test('a source\'s change after a quiet spell goes out at the end of its turn; its next within the interval waits, with the rest', () => {
  const { type, shown, broadcasts } = watched();
  type('a');
  expect(broadcasts(), 'nothing before the turn ends').toBe(0);
  vi.advanceTimersByTime(0); // the turn ends (setImmediate)
  expect([broadcasts(), shown()]).toEqual([1, 'a']);

  vi.advanceTimersByTime(1);
  type('b');
  type('c', { name: 'someone else, while the burst is held' });
  vi.advanceTimersByTime(0);
  expect([broadcasts(), shown()], 'held within the interval').toEqual([1, 'a']);
  vi.advanceTimersByTime(BURST_INTERVAL_MS - 2);
  expect(broadcasts(), 'still within the interval').toBe(1);
  vi.advanceTimersByTime(1);
  expect([broadcasts(), shown()], 'both at the end of the interval, in one broadcast').toEqual([2, 'abc']);

  vi.advanceTimersByTime(BURST_INTERVAL_MS); // the writer pauses
  type('d');
  vi.advanceTimersByTime(0);
  expect([broadcasts(), shown()], 'after a pause, not held').toEqual([3, 'abcd']);
});

test('ten people typing within the same milliseconds: each keystroke goes out at the end of its turn', () => {
  const { type, shown, broadcasts } = watched();
  const people = Array.from({ length: 10 }, (_, i) => ({ name: `person ${i}` }));
  for (const [i, person] of people.entries()) {
    type(String(i), person);
    vi.advanceTimersByTime(1);
    expect(broadcasts(), `person ${i}'s key is not held`).toBe(i + 1);
  }
  expect(shown()).toBe('0123456789');
});

test('a burst of a key every millisecond is broadcast once per interval, and every key arrives', () => {
  const { type, shown, broadcasts } = watched();
  const keys = 200;
  for (let i = 0; i < keys; i++) {
    type(String(i % 10));
    vi.advanceTimersByTime(1);
  }
  vi.advanceTimersByTime(BURST_INTERVAL_MS);
  expect(shown()).toBe(Array.from({ length: keys }, (_, i) => String(i % 10)).join(''));
  expect(broadcasts()).toBeLessThanOrEqual(Math.ceil(keys / BURST_INTERVAL_MS) + 1);
  expect(broadcasts()).toBeGreaterThanOrEqual(Math.floor(keys / BURST_INTERVAL_MS) - 1);
});

test('broadcastSoon (changes relayed from another instance) sends what is held when the microtasks end; flush at once', async () => {
  const { document, type, shown, broadcasts } = watched();
  type('a');
  vi.advanceTimersByTime(0);
  vi.advanceTimersByTime(1);
  type('b');
  vi.advanceTimersByTime(0);
  expect([broadcasts(), shown()], 'b is held: a burst within the interval').toEqual([1, 'a']);
  broadcastSoon(document);
  expect(broadcasts(), 'soon is not now').toBe(1);
  await Promise.resolve();
  expect([broadcasts(), shown()], 'soon: at the end of the microtasks').toEqual([2, 'ab']);
  vi.advanceTimersByTime(1);
  type('c');
  vi.advanceTimersByTime(0);
  expect(broadcasts(), 'c is held').toBe(2);
  document.flush();
  expect([broadcasts(), shown()], 'flush: out at once').toEqual([3, 'abc']);
  vi.advanceTimersByTime(BURST_INTERVAL_MS);
  expect(broadcasts(), 'nothing left to send when the interval ends').toBe(3);
});

test('a document with many connections spaces a burst further apart, within bounds that never hold a typist', () => {
  expect(burstIntervalFor(1)).toBe(BURST_INTERVAL_MS);
  expect(burstIntervalFor(100)).toBe(BURST_INTERVAL_MS);
  expect(burstIntervalFor(250)).toBe(25);
  expect(burstIntervalFor(5000)).toBe(MAX_BURST_INTERVAL_MS);
  expect(MAX_BURST_INTERVAL_MS, 'under the 66 ms between keys of someone typing 15 a second').toBeLessThan(66);
});

test('a burst of a key every millisecond to 250 connections is broadcast once per 25 ms, and every key arrives', () => {
  const { type, shown, broadcasts } = watched(250);
  const keys = 200;
  for (let i = 0; i < keys; i++) {
    type(String(i % 10));
    vi.advanceTimersByTime(1);
  }
  vi.advanceTimersByTime(25);
  expect(shown()).toBe(Array.from({ length: keys }, (_, i) => String(i % 10)).join(''));
  expect(broadcasts()).toBeLessThanOrEqual(Math.ceil(keys / 25) + 1);
  expect(broadcasts()).toBeGreaterThanOrEqual(Math.floor(keys / 25) - 1);
});

test('in a document with 500 connections, people typing 15 keys a second each are never held', () => {
  const { type, shown, broadcasts } = watched(500);
  const people = Array.from({ length: 3 }, (_, i) => ({ name: `person ${i}` }));
  let expected = '';
  for (let key = 0; key < 10; key++) {
    for (const [i, person] of people.entries()) {
      type(String(i), person);
      expected += String(i);
      vi.advanceTimersByTime(0);
      expect(shown(), `key ${key} of person ${i} is out at the end of its turn`).toBe(expected);
    }
    vi.advanceTimersByTime(66);
  }
  expect(broadcasts()).toBe(30);
});

test('a stretched interval spaces relayed changes too: broadcastSoon leaves a burst held for the interval', async () => {
  const { document, type, shown, broadcasts } = watched(250);
  const relay = { name: 'another instance' };
  type('a', relay);
  vi.advanceTimersByTime(0);
  expect(broadcasts(), 'the first relayed change goes out').toBe(1);
  vi.advanceTimersByTime(10);
  type('b', relay); // 10 ms later: within 25 ms, a burst
  broadcastSoon(document);
  await Promise.resolve();
  vi.advanceTimersByTime(0);
  expect([broadcasts(), shown()], 'held: the burst interval is 25 ms here').toEqual([1, 'a']);
  vi.advanceTimersByTime(14);
  expect(broadcasts(), 'still within the interval').toBe(1);
  vi.advanceTimersByTime(1);
  expect([broadcasts(), shown()], 'out 25 ms after the last broadcast').toEqual([2, 'ab']);
});
