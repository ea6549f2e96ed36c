/**
 * The LastSeenStore contract (server/src/storage/LastSeenStore.ts), as a suite every implementation runs:
 * `runLastSeenStoreContract(name, setup)`; persistent stores also show that the times survive a reopen (what keeps a
 * workspace's "last seen" through a restart).
 */
import type { LastSeenStore } from '@concord/server';
import { describe, expect, test } from 'vitest';
import { onCleanup } from '../support/cleanup.js';

type Store = LastSeenStore & { close(): Promise<void> };

export interface LastSeenStoreHarness<S extends Store> {
  open(): Promise<S>;
  /** For persistent stores: close and open again over the same data. */
  reopen?: (store: S) => Promise<S>;
}

const T0 = 1_760_000_000_000;

export function runLastSeenStoreContract<S extends Store>(name: string, harness: LastSeenStoreHarness<S>): void {
  describe(`LastSeenStore contract: ${name}`, () => {
    async function open(): Promise<S> {
      const store = await harness.open();
      onCleanup(() => store.close().catch(() => undefined));
      return store;
    }

    test('a new store knows nobody', async () => {
      const store = await open();
      expect(await store.loadLastSeen('acme', 1000)).toEqual({});
    });

    test('one entry per user and tenant, field for field; the later time wins whatever the order of saves', async () => {
      const store = await open();
      await store.saveLastSeen('acme', 'bob', { name: 'Bob', color: '#112233', at: T0 });
      await store.saveLastSeen('acme', 'ünïcode user/with:odd chars', { name: 'Ünï', color: '#abcdef', at: T0 + 1 });
      await store.saveLastSeen('acme', '__proto__', { name: 'Proto', color: '#000000', at: T0 + 2 });
      await store.saveLastSeen('globex', 'bob', { name: 'Other Bob', color: '#445566', at: T0 + 3 });
      // Later, then an older save arriving after it (another instance, a slow write): the later stays.
      await store.saveLastSeen('acme', 'bob', { name: 'Bob B.', color: '#223344', at: T0 + 10 });
      await store.saveLastSeen('acme', 'bob', { name: 'Bob', color: '#112233', at: T0 + 5 });

      const acme = await store.loadLastSeen('acme', 1000);
      expect(Object.keys(acme).sort()).toEqual(['__proto__', 'bob', 'ünïcode user/with:odd chars']);
      expect(acme.bob).toEqual({ name: 'Bob B.', color: '#223344', at: T0 + 10 });
      expect(acme['ünïcode user/with:odd chars']).toEqual({ name: 'Ünï', color: '#abcdef', at: T0 + 1 });
      expect(Object.getOwnPropertyDescriptor(acme, '__proto__')?.value).toEqual({ name: 'Proto', color: '#000000', at: T0 + 2 });
      expect(await store.loadLastSeen('globex', 1000)).toEqual({ bob: { name: 'Other Bob', color: '#445566', at: T0 + 3 } });
    });

    test('a load returns the most recent entries up to its limit', async () => {
      const store = await open();
      for (let i = 0; i < 8; i++) await store.saveLastSeen('acme', `user-${i}`, { name: `U${i}`, color: '#000000', at: T0 + ((i * 5) % 8) });
      const newest = await store.loadLastSeen('acme', 3);
      // at = T0 + [0, 5, 2, 7, 4, 1, 6, 3][i]: the three newest are users 3, 6 and 1.
      expect(Object.keys(newest).sort()).toEqual(['user-1', 'user-3', 'user-6']);
    });

    const reopen = harness.reopen;
    if (reopen) {
      test('a save resolves once durable: the times are there after a reopen', async () => {
        let store = await open();
        await store.saveLastSeen('acme', 'bob', { name: 'Bob', color: '#112233', at: T0 });
        store = await reopen(store);
        onCleanup(() => store.close().catch(() => undefined));
        expect(await store.loadLastSeen('acme', 10)).toEqual({ bob: { name: 'Bob', color: '#112233', at: T0 } });
      });
    }
  });
}
