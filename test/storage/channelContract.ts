/**
 * The ChannelStore contract (server/src/storage/ChannelStore.ts), as a suite every implementation runs:
 * `runChannelStoreContract(name, setup)`; persistent stores also show that a channel's epoch, numbers and events
 * survive a reopen (what spares subscribers a `$gap` after a restart).
 */
import type { ChannelKey, ChannelStore, NewChannelEvent, Retention } from '@concord/server';
import { describe, expect, test } from 'vitest';
import { onCleanup } from '../support/cleanup.js';

type Store = ChannelStore & { close(): Promise<void> };

export interface ChannelStoreHarness<S extends Store> {
  open(): Promise<S>;
  /** For persistent stores: close and open again over the same data. */
  reopen?: (store: S) => Promise<S>;
}

const AN_HOUR = 3_600_000;
const KEEP_ALL: Retention = { maxEvents: 1000, maxAgeMs: AN_HOUR, maxBytes: 4 * 1024 * 1024 };
const T0 = 1_760_000_000_000;
const account: ChannelKey = { tenant: 'acme', channel: 'account-123' };

function event(name: string, payload: unknown, at = T0): NewChannelEvent {
  const json = JSON.stringify(payload);
  return { event: name, json, bytes: Buffer.byteLength(json), at };
}

const payloadsOf = (read: { events: ReadonlyArray<{ payload: unknown }> }) => read.events.map((e) => e.payload);
const seqsOf = (read: { events: ReadonlyArray<{ seq: number }> }) => read.events.map((e) => e.seq);

export function runChannelStoreContract<S extends Store>(name: string, harness: ChannelStoreHarness<S>): void {
  describe(`ChannelStore contract: ${name}`, () => {
    async function open(): Promise<S> {
      const store = await harness.open();
      onCleanup(() => store.close().catch(() => undefined));
      return store;
    }

    test('a channel first read gets an epoch it keeps, at head 0; a new subscriber is sent nothing', async () => {
      const store = await open();
      const first = await store.readEvents(account, null, KEEP_ALL, T0);
      expect(first.epoch).toMatch(/.{8,}/);
      expect(first).toMatchObject({ head: 0, events: [] });
      expect(await store.readEvents(account, null, KEEP_ALL, T0 + 1)).toEqual(first);
      const { epoch, first: seq } = await store.appendEvents(account, [event('e', 1)], KEEP_ALL, T0 + 2);
      expect({ epoch, seq }).toEqual({ epoch: first.epoch, seq: 1 });
    });

    test('appends are numbered in order; a read returns what a position lacks, payloads as published', async () => {
      const store = await open();
      const payloads = [{ amount: 10, note: 'ünïcode ✓', nested: { list: [1, null, 'x'] } }, null, 'text', 42, [true, false]];
      const a = await store.appendEvents(account, [event('payment-recorded', payloads[0], T0 + 1)], KEEP_ALL, T0 + 1);
      const b = await store.appendEvents(
        account,
        payloads.slice(1).map((p, i) => event(`status:changed.${i}`, p, T0 + 2 + i)),
        KEEP_ALL,
        T0 + 2,
      );
      expect(a.first).toBe(1);
      expect(b).toEqual({ epoch: a.epoch, first: 2 });

      const all = await store.readEvents(account, { epoch: a.epoch, seq: 0 }, KEEP_ALL, T0 + 10);
      expect(all).toEqual({
        epoch: a.epoch,
        head: 5,
        events: [
          { seq: 1, event: 'payment-recorded', payload: payloads[0], at: T0 + 1 },
          ...payloads.slice(1).map((payload, i) => ({ seq: 2 + i, event: `status:changed.${i}`, payload, at: T0 + 2 + i })),
        ],
      });
      expect(seqsOf(await store.readEvents(account, { epoch: a.epoch, seq: 3 }, KEEP_ALL, T0 + 10))).toEqual([4, 5]);
      expect(seqsOf(await store.readEvents(account, { epoch: a.epoch, seq: 5 }, KEEP_ALL, T0 + 10))).toEqual([]);
      expect(await store.readEvents(account, null, KEEP_ALL, T0 + 10)).toEqual({ epoch: a.epoch, head: 5, events: [] });
      // A position in another epoch lacks everything held.
      expect(seqsOf(await store.readEvents(account, { epoch: 'an-earlier-epoch', seq: 4 }, KEEP_ALL, T0 + 10))).toEqual([1, 2, 3, 4, 5]);
    });

    test('concurrent appends to one channel get distinct consecutive numbers; channels and tenants are apart', async () => {
      const store = await open();
      const appends = await Promise.all(Array.from({ length: 20 }, (_, i) => store.appendEvents(account, [event('n', i)], KEEP_ALL, T0)));
      expect(appends.map((a) => a.first).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const read = await store.readEvents(account, { epoch: appends[0]!.epoch, seq: 0 }, KEEP_ALL, T0);
      // Each payload under the number its append got.
      expect(read.events.map((e) => [e.seq, e.payload])).toEqual(
        appends.map((a, i) => [a.first, i] as const).sort((x, y) => x[0] - y[0]),
      );

      const otherTenant = { tenant: 'globex', channel: account.channel };
      const otherChannel = { tenant: account.tenant, channel: 'account-1234' };
      expect((await store.appendEvents(otherTenant, [event('x', 'globex')], KEEP_ALL, T0)).first).toBe(1);
      expect((await store.appendEvents(otherChannel, [event('x', 'other')], KEEP_ALL, T0)).first).toBe(1);
      const globex = await store.readEvents(otherTenant, { epoch: 'none', seq: 0 }, KEEP_ALL, T0);
      expect(payloadsOf(globex)).toEqual(['globex']);
      expect(globex.epoch).not.toBe(read.epoch);
      expect((await store.readEvents(account, null, KEEP_ALL, T0)).head).toBe(20);
    });

    test('only events within the retention are read: the newest by count, by age, and by bytes', async () => {
      const store = await open();
      const { epoch } = await store.appendEvents(
        account,
        Array.from({ length: 10 }, (_, i) => event('tick', i, T0 + i * 1000)),
        KEEP_ALL,
        T0 + 9000,
      );
      const from0 = { epoch, seq: 0 };
      expect(payloadsOf(await store.readEvents(account, from0, { ...KEEP_ALL, maxEvents: 3 }, T0 + 9000))).toEqual([7, 8, 9]);
      expect(payloadsOf(await store.readEvents(account, from0, { ...KEEP_ALL, maxAgeMs: 2500 }, T0 + 10_000))).toEqual([8, 9]);
      // Each payload is one byte of JSON: 4 bytes keep the newest 4.
      expect(payloadsOf(await store.readEvents(account, from0, { ...KEEP_ALL, maxBytes: 4 }, T0 + 9000))).toEqual([6, 7, 8, 9]);

      // An append under a smaller count drops the older events for good, and the head goes on.
      await store.appendEvents(account, [event('tick', 10, T0 + 10_000)], { ...KEEP_ALL, maxEvents: 2 }, T0 + 10_000);
      const after = await store.readEvents(account, from0, KEEP_ALL, T0 + 10_000);
      expect(after).toMatchObject({ epoch, head: 11 });
      expect(payloadsOf(after)).toEqual([9, 10]);
      // So does one under a smaller byte budget: "11" and "10" are 4 bytes of JSON, 9 does not fit beside them.
      await store.appendEvents(account, [event('tick', 11, T0 + 10_000)], { ...KEEP_ALL, maxBytes: 4 }, T0 + 10_000);
      expect(payloadsOf(await store.readEvents(account, from0, KEEP_ALL, T0 + 10_000))).toEqual([10, 11]);
    });

    test('the sweep drops expired events and forgets idle channels, but not those it is told to keep', async () => {
      const store = await open();
      const busy = { tenant: 'acme', channel: 'busy' };
      const idle = { tenant: 'acme', channel: 'idle' };
      const watched = { tenant: 'acme', channel: 'watched' };
      const busyEpoch = (await store.appendEvents(busy, [event('old', 1, T0), event('new', 2, T0 + AN_HOUR)], KEEP_ALL, T0 + AN_HOUR)).epoch;
      const idleEpoch = (await store.appendEvents(idle, [event('old', 1, T0)], KEEP_ALL, T0)).epoch;
      const watchedEpoch = (await store.readEvents(watched, null, KEEP_ALL, T0)).epoch;

      await store.sweepChannels(KEEP_ALL, T0 + AN_HOUR + 10, [watched]);
      // A retention with no age limit now: what the sweep dropped is gone, not merely filtered out.
      const noAge = { ...KEEP_ALL, maxAgeMs: Number.MAX_SAFE_INTEGER / 2 };
      const busyRead = await store.readEvents(busy, { epoch: busyEpoch, seq: 0 }, noAge, T0 + AN_HOUR + 20);
      expect(busyRead).toMatchObject({ epoch: busyEpoch, head: 2 });
      expect(payloadsOf(busyRead)).toEqual([2]);
      expect(await store.readEvents(watched, null, noAge, T0 + AN_HOUR + 20)).toMatchObject({ epoch: watchedEpoch, head: 0 });
      // The idle channel was forgotten: it starts again, in a new epoch.
      const idleRead = await store.readEvents(idle, { epoch: idleEpoch, seq: 1 }, noAge, T0 + AN_HOUR + 20);
      expect(idleRead.epoch).not.toBe(idleEpoch);
      expect(idleRead).toMatchObject({ head: 0, events: [] });
    });

    // Only persistent stores can reopen; a memory store has no such test (rather than one that passes doing nothing).
    const reopen = harness.reopen;
    if (reopen) {
      test('an append resolves once durable: the epoch, the numbers and the events are there after a reopen', async () => {
        let store = await open();
        const { epoch } = await store.appendEvents(account, [event('a', { n: 1 }), event('b', { n: 2 })], KEEP_ALL, T0);
        const quiet = { tenant: 'acme', channel: 'quiet' };
        const quietEpoch = (await store.readEvents(quiet, null, KEEP_ALL, T0)).epoch;
        store = await reopen(store);
        onCleanup(() => store.close().catch(() => undefined));
        const read = await store.readEvents(account, { epoch, seq: 1 }, KEEP_ALL, T0 + 1);
        expect(read).toEqual({ epoch, head: 2, events: [{ seq: 2, event: 'b', payload: { n: 2 }, at: T0 }] });
        expect((await store.appendEvents(account, [event('c', { n: 3 })], KEEP_ALL, T0 + 2)).first).toBe(3);
        expect((await store.readEvents(quiet, null, KEEP_ALL, T0 + 2)).epoch).toBe(quietEpoch);
      });
    }
  });
}
