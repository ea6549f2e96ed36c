/**
 * The per-channel sequencer of scale-out channel events (server/src/channels/ChannelSequencer.ts, design §3.7), on
 * a channel log the test controls: delivery starts after the stored head; events offered out of order go out in
 * sequence order, each once; one that never comes (a lost Redis message) is read from the store after the hold, and
 * everything held goes out after it; events offered before the head is known wait for it; a read that finds another
 * epoch moves to it; `catchUp` (Redis back) reads what was missed with nothing held.
 */
import type { ChannelEvent, ChannelPosition } from '@concord/engine';
import { ChannelSequencer } from '@concord/server';
import { expect, test } from 'vitest';
import { waitFor } from '../support/wait.js';

/** A hold short enough for tests; the server's is HOLD_MS. */
const TEST_HOLD_MS = 30;

const event = (seq: number): ChannelEvent => ({ seq, event: 'tick', payload: { seq }, at: seq });

/** A stored log (epoch, events 1..head), the reads made of it, and a sequencer over it with what it delivered. */
function setUp(head: number, { epoch = 'e1' } = {}) {
  const log = { epoch, events: Array.from({ length: head }, (_, i) => event(i + 1)) };
  const reads: Array<ChannelPosition | null> = [];
  let release: (() => void) | undefined;
  let gate: Promise<void> = Promise.resolve();
  const delivered: Array<{ epoch: string; seq: number }> = [];
  const sequencer = new ChannelSequencer({
    read: async (position) => {
      reads.push(position);
      // The answer is what the log held when the read began; `hold()` delays it.
      const last = log.events.at(-1)?.seq ?? 0;
      const after = position === null ? last : position.epoch === log.epoch ? position.seq : 0;
      const answer = { epoch: log.epoch, head: last, events: log.events.filter(({ seq }) => seq > after) };
      await gate;
      return answer;
    },
    deliver: (at, events) => delivered.push(...events.map(({ seq }) => ({ epoch: at, seq }))),
    log: { warn: () => undefined },
    holdMs: TEST_HOLD_MS,
  });
  /** Appends the next events to the log (as ChannelHub does before offering them) and returns them. */
  const store = (count: number) => {
    const added: ChannelEvent[] = [];
    for (let i = 0; i < count; i++) {
      added.push(event((log.events.at(-1)?.seq ?? 0) + 1));
      log.events.push(added.at(-1)!);
    }
    return added;
  };
  const hold = () => {
    gate = new Promise((resolve) => (release = resolve));
  };
  return { log, reads, delivered, sequencer, store, hold, release: () => release?.() };
}

const numbers = (delivered: ReadonlyArray<{ seq: number }>) => delivered.map(({ seq }) => seq);

test('starts after the stored head and delivers the next number at once; old and repeated ones are dropped', async () => {
  const { sequencer, store, delivered, reads } = setUp(5);
  await sequencer.start();
  const [six, seven] = store(2);
  sequencer.offer('e1', [event(4), six!]);
  sequencer.offer('e1', [six!, seven!]);
  expect(numbers(delivered)).toEqual([6, 7]);
  expect(reads).toEqual([null]);
});

test('events offered out of order go out in sequence order, without reading the store', async () => {
  const { sequencer, store, delivered, reads } = setUp(0);
  await sequencer.start();
  const [one, two, three] = store(3);
  sequencer.offer('e1', [three!]);
  sequencer.offer('e1', [two!]);
  expect(delivered).toEqual([]);
  sequencer.offer('e1', [one!]);
  expect(numbers(delivered)).toEqual([1, 2, 3]);
  expect(reads).toEqual([null]);
});

test('a missing event that never comes is read from the store after the hold; the held ones follow it in order', async () => {
  const { sequencer, store, delivered, reads } = setUp(2);
  await sequencer.start();
  const [, four, five] = store(3); // 3 is stored, but its Redis message is lost
  sequencer.offer('e1', [five!]);
  sequencer.offer('e1', [four!]);
  expect(delivered).toEqual([]);
  await waitFor(() => delivered.length === 3, { message: 'the hold to end with a read' });
  expect(numbers(delivered)).toEqual([3, 4, 5]);
  expect(reads).toEqual([null, { epoch: 'e1', seq: 2 }]);
  // A late copy of 3 changes nothing.
  sequencer.offer('e1', [event(3)]);
  expect(numbers(delivered)).toEqual([3, 4, 5]);
});

test('events offered while the head is being read wait for it, then go out in order', async () => {
  const { sequencer, store, delivered, hold, release } = setUp(1);
  hold();
  const starting = sequencer.start();
  const [two, three] = store(2);
  sequencer.offer('e1', [three!, two!]);
  expect(delivered).toEqual([]);
  release();
  await starting;
  expect(numbers(delivered)).toEqual([2, 3]);
});

test('a read that finds the channel in a new epoch moves to it', async () => {
  const { sequencer, log, delivered } = setUp(3);
  await sequencer.start();
  // The store forgot the channel and started it again: the relayed event 2 of the new epoch comes first.
  log.epoch = 'e2';
  log.events = [event(1), event(2)];
  sequencer.offer('e2', [event(2)]);
  await waitFor(() => delivered.length === 2, { message: 'the read of the new epoch' });
  expect(delivered).toEqual([
    { epoch: 'e2', seq: 1 },
    { epoch: 'e2', seq: 2 },
  ]);
});

test('catchUp reads what was missed while nothing is held (Redis came back)', async () => {
  const { sequencer, store, delivered } = setUp(1);
  await sequencer.start();
  store(2); // both Redis messages lost
  expect(delivered).toEqual([]);
  sequencer.catchUp();
  await waitFor(() => delivered.length === 2);
  expect(numbers(delivered)).toEqual([2, 3]);
});
