/**
 * Stamped LWW fields (engine/src/fields.ts, rule F1): the write with the later hybrid-logical-clock stamp wins on every
 * replica, whatever the order updates arrive in; ties break by writer key; values stored before stamps still read and
 * the next write replaces them; an unset is a stamped write too. A seeded random test runs three replicas that go
 * offline and back with clocks that disagree and checks they converge on the write with the greatest stamp, computed
 * from a log of the writes and what each writer had seen.
 */
import {
  bindFieldContext,
  compareEntries,
  defineDocument,
  defineRecord,
  fieldEntries,
  fieldOfKey,
  nextStamp,
  readField,
  type Stamp,
} from '@concord/engine';
import * as prng from 'lib0/prng';
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { z } from 'zod';
import { seededRandom } from '../support/random.js';

const Board = defineDocument('Board', {
  fields: defineRecord('Board fields', { a: z.string().optional(), b: z.string().optional(), c: z.string().optional() }),
  collections: { tasks: defineRecord('Task', { title: z.string(), status: z.enum(['todo', 'doing', 'done']).optional() }) },
});

function exchange(...docs: Y.Doc[]): void {
  for (const from of docs) {
    for (const to of docs) if (from !== to) Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)));
  }
}

/** A replica whose stamps come from a clock the test sets. */
function replica(clientID: number, now: { value: number }): Y.Doc {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  bindFieldContext(doc, { now: () => now.value });
  return doc;
}

describe('F1: the later stamp wins', () => {
  test('design constraint: concurrent Y.Map writes to one key keep one value, chosen by client id, not time', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    a.clientID = 2;
    b.clientID = 1;
    b.getMap('m').set('status', { v: 'done', t: 1_000 }); // earlier
    a.getMap('m').set('status', { v: 'doing', t: 2_000 }); // later
    exchange(a, b);
    expect(a.getMap('m').get('status')).toEqual(b.getMap('m').get('status'));
    expect(a.getMap('m').size).toBe(1); // the other value is gone: a stamp inside it could not have saved it
  });

  test('an earlier offline write loses to a later one, on both replicas, whichever client id is larger', () => {
    for (const [bobId, aliceId] of [
      [1, 2],
      [2, 1],
    ]) {
      const bobClock = { value: 1_000 };
      const aliceClock = { value: 2_000 };
      const bob = replica(bobId!, bobClock);
      const alice = replica(aliceId!, aliceClock);
      Board.open(bob).fields.set('a', 'done');
      Board.open(alice).fields.set('a', 'doing');
      exchange(bob, alice);
      expect(Board.open(bob).fields.get('a')).toBe('doing');
      expect(Board.open(alice).fields.get('a')).toBe('doing');
      // Both concurrent entries are kept until someone writes again; the later one is read.
      expect(fieldEntries(bob.getMap('fields'), 'a')).toHaveLength(2);
    }
  });

  test('a write that saw another replaces it even when the writer clock is behind (HLC)', () => {
    const fast = replica(1, { value: 10_000 });
    const slowClock = { value: 5_000 };
    const slow = replica(2, slowClock);
    Board.open(fast).fields.set('a', 'first');
    exchange(fast, slow);
    Board.open(slow).fields.set('a', 'second');
    const [entry] = fieldEntries(slow.getMap('fields'), 'a');
    expect(entry?.stamp).toEqual([10_000, 1]); // the wall of the write it saw, counter + 1
    exchange(fast, slow);
    expect(Board.open(fast).fields.get('a')).toBe('second');
    expect(fieldEntries(fast.getMap('fields'), 'a')).toHaveLength(1); // the older entry was deleted by the writer
  });

  test('equal stamps break by writer key, the same way on every replica', () => {
    const clock = { value: 7_000 };
    const x = replica(11, clock);
    const y = replica(2, clock);
    Board.open(x).fields.set('b', 'from 11');
    Board.open(y).fields.set('b', 'from 2');
    exchange(x, y);
    // '2' > '11' as strings: the writer key compares as text.
    expect(Board.open(x).fields.get('b')).toBe('from 2');
    expect(Board.open(y).fields.get('b')).toBe('from 2');
    expect(compareEntries({ stamp: [1, 0], writer: '2' }, { stamp: [1, 0], writer: '11' })).toBeGreaterThan(0);
  });

  test('nextStamp: the clock when it is ahead of every stamp, else the greatest wall with its counter + 1', () => {
    expect(nextStamp([], 5)).toEqual([5, 0]);
    expect(nextStamp([{ stamp: [3, 4] as Stamp }], 5)).toEqual([5, 0]);
    expect(nextStamp([{ stamp: [9, 4] as Stamp }, { stamp: [9, 2] as Stamp }], 5)).toEqual([9, 5]);
    expect(nextStamp([{ stamp: [5, 0] as Stamp }], 5)).toEqual([5, 1]);
  });

  test('a document written before stamps still reads, and the next write replaces the plain key', () => {
    const doc = new Y.Doc();
    doc.getMap('fields').set('a', 'legacy');
    const tasks = new Y.Map<unknown>();
    doc.getMap('tasks').set('t1', tasks);
    tasks.set('title', 'Old task');
    tasks.set('status', 'todo');
    const board = Board.open(doc);
    expect(board.fields.get('a')).toBe('legacy');
    expect(board.collection('tasks').get('t1')?.toJSON()).toEqual({ title: 'Old task', status: 'todo' });
    board.collection('tasks').get('t1')?.set('status', 'done');
    expect([...tasks.keys()].sort()).toEqual(['status@' + doc.clientID, 'title']);
    expect(board.collection('tasks').get('t1')?.toJSON()).toEqual({ title: 'Old task', status: 'done' });

    // A concurrent stamped write beats a concurrent plain write of an old client whatever the client ids.
    const old = new Y.Doc();
    Y.applyUpdate(old, Y.encodeStateAsUpdate(doc));
    old.getMap('fields').set('a', 'old client');
    board.fields.set('a', 'new client');
    exchange(doc, old);
    expect(Board.open(old).fields.get('a')).toBe('new client');
  });

  test('unset is a stamped write: it beats an older concurrent value and reads as undefined', () => {
    const early = replica(1, { value: 1_000 });
    const late = replica(2, { value: 2_000 });
    Board.open(early).fields.set('c', 'x');
    exchange(early, late);
    Board.open(early).fields.set('c', 'offline value'); // stamp [1000, 1]
    Board.open(late).fields.unset('c'); // stamp [2000, 0]
    exchange(early, late);
    expect(Board.open(early).fields.get('c')).toBeUndefined();
    expect(Board.open(early).fields.toJSON()).toEqual({});
    expect(readField(late.getMap('fields'), 'c')).toBeUndefined();
  });

  test('observe reports field names, not stored keys; field names may not contain the separator', () => {
    const doc = new Y.Doc();
    const board = Board.open(doc);
    const seen: string[][] = [];
    board.fields.observe((fields) => seen.push([...fields]));
    board.fields.set('a', 'one');
    board.fields.set('a', 'two');
    expect(seen).toEqual([['a'], ['a']]);
    expect(fieldOfKey(`a@${doc.clientID}`)).toBe('a');
    expect(() => defineRecord('Bad', { 'x@y': z.string() })).toThrow(/must not contain "@"/);
  });
});

describe('F1: three replicas with clocks that disagree converge on the latest stamp (seeded)', () => {
  const FIELDS = ['a', 'b', 'c'] as const;
  const REPLICAS = 3;
  const STEPS = 400;

  interface LoggedWrite {
    readonly id: number;
    readonly replica: number;
    readonly field: string;
    readonly value: string | undefined;
    readonly stamp: Stamp;
    readonly writer: string;
  }

  test('random writes, offline spells and reconnections', () => {
    threeReplicas(seededRandom('stamps.three-replicas').gen);
  });

  // Seed 5 showed a flaw of an earlier network here (replicas that did not relay what they received got a deletion
  // ahead of the write that made it, so the log's idea of what a writer had seen was wrong): kept as a regression.
  test('regression: seed 5', () => threeReplicas(prng.create(5)));

  /** The log's own rule, written apart from the engine's: wall, then counter, then writer key as text. */
  const laterThan = (a: { stamp: Stamp; writer: string }, b: { stamp: Stamp; writer: string }): boolean =>
    a.stamp[0] !== b.stamp[0] ? a.stamp[0] > b.stamp[0] : a.stamp[1] !== b.stamp[1] ? a.stamp[1] > b.stamp[1] : a.writer > b.writer;
  /** The stamp a writer must give: its clock if ahead of all it saw of the field, else the top wall, counter + 1. */
  const stampAfter = (seen: ReadonlyArray<{ stamp: Stamp }>, now: number): Stamp => {
    const top = seen.reduce<Stamp>((max, { stamp }) => (stamp[0] > max[0] || (stamp[0] === max[0] && stamp[1] > max[1]) ? stamp : max), [0, 0]);
    return now > top[0] ? [now, 0] : [top[0], top[1] + 1];
  };

  function threeReplicas(gen: prng.PRNG): void {
    const base = { value: 1_000_000 };
    const offsets = Array.from({ length: REPLICAS }, () => prng.int32(gen, -5_000, 5_000));
    const clocks = offsets.map(() => ({ value: 0 }));
    const docs = offsets.map((_, i) => replica(100 + prng.int32(gen, 0, 1_000) * 10 + i, clocks[i]!));
    const online = docs.map(() => true);
    /**
     * queues[from][to]: updates `from` applied (its own and those it received: every replica relays, as a server
     * does) not yet delivered to `to`, with the writes they carry. An update carries the deletions its transaction
     * made, so a deletion always travels with the write that made it.
     */
    const queues = docs.map(() => docs.map(() => [] as Array<{ update: Uint8Array; writes: number[] }>));
    /** What each replica has seen: the ids of writes it made or received. */
    const known = docs.map(() => new Set<number>());
    const log: LoggedWrite[] = [];
    /** The writes of the transaction being applied or made. */
    let carrying: number[] = [];
    docs.forEach((doc, from) =>
      doc.on('update', (update: Uint8Array) => {
        for (let to = 0; to < REPLICAS; to++) if (to !== from) queues[from]![to]!.push({ update, writes: carrying });
      }),
    );

    const deliver = (from: number, to: number) => {
      for (const { update, writes } of queues[from]![to]!.splice(0)) {
        carrying = writes;
        Y.applyUpdate(docs[to]!, update, 'network');
        for (const id of writes) known[to]!.add(id);
      }
    };
    /** Delivers between online replicas until nothing is left to relay. */
    const flush = () => {
      for (let moved = true; moved; ) {
        moved = false;
        for (let from = 0; from < REPLICAS; from++) {
          for (let to = 0; to < REPLICAS; to++) {
            if (from === to || !online[from] || !online[to] || queues[from]![to]!.length === 0) continue;
            deliver(from, to);
            moved = true;
          }
        }
      }
    };

    for (let step = 0; step < STEPS; step++) {
      // Time moves in small steps, so equal walls (counter and writer ties) happen too; clocks jitter back a little.
      base.value += prng.int32(gen, 0, 3) === 0 ? 0 : prng.int32(gen, 0, 40);
      clocks.forEach((clock, i) => (clock.value = base.value + offsets[i]! - prng.int32(gen, 0, 2)));
      const r = prng.int32(gen, 0, REPLICAS - 1);
      const action = prng.int32(gen, 0, 9);
      if (action === 0) {
        online[r] = !online[r];
        if (online[r]) flush();
        continue;
      }
      const field = FIELDS[prng.int32(gen, 0, FIELDS.length - 1)]!;
      const value = prng.int32(gen, 0, 6) === 0 ? undefined : `${r}:${step}`;
      const doc = docs[r]!;
      // The expected stamp, computed from the log: above every write of this field the writer has seen.
      const seen = log.filter((w) => w.field === field && known[r]!.has(w.id));
      const expectedStamp = stampAfter(seen, clocks[r]!.value);
      const id = log.length;
      carrying = [id];
      if (value === undefined) Board.open(doc).fields.unset(field);
      else Board.open(doc).fields.set(field, value);
      const own = fieldEntries(doc.getMap('fields'), field).find((e) => e.writer === String(doc.clientID));
      expect(own?.stamp).toEqual(expectedStamp);
      for (const earlier of seen) expect(laterThan(own!, earlier)).toBe(true);
      log.push({ id, replica: r, field, value, stamp: expectedStamp, writer: String(doc.clientID) });
      known[r]!.add(id);
      if (online[r]) flush();
    }

    online.fill(true);
    flush();
    for (const field of FIELDS) {
      const writes = log.filter((w) => w.field === field);
      const expected = writes.reduce<LoggedWrite | undefined>((best, w) => (!best || laterThan(w, best) ? w : best), undefined);
      for (const doc of docs) expect(Board.open(doc).fields.get(field), `field ${field}`).toBe(expected?.value);
    }
    // Every replica holds the same entries, not just the same values.
    const keys = docs.map((doc) => JSON.stringify([...doc.getMap('fields').entries()].sort(([a], [b]) => (a < b ? -1 : 1))));
    expect(new Set(keys).size).toBe(1);
  }
});
