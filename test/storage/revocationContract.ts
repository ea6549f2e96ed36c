/**
 * The RevocationStore contract (server/src/storage/RevocationStore.ts), as a suite every implementation runs:
 * `runRevocationStoreContract(name, setup)`; persistent stores also show that revocations survive a reopen.
 */
import type { Revocation, RevocationStore } from '@concord/server';
import { describe, expect, test } from 'vitest';
import { onCleanup } from '../support/cleanup.js';

type Store = RevocationStore & { close(): Promise<void> };

export interface RevocationStoreHarness<S extends Store> {
  open(): Promise<S>;
  /** For persistent stores: close and open again over the same data. */
  reopen?: (store: S) => Promise<S>;
}

const revocation = (at: number, fields: Partial<Revocation> = {}): Revocation => ({
  tenant: 'acme',
  user: 'mallory',
  documents: 'project-*',
  access: 'none',
  at,
  ...fields,
});

export function runRevocationStoreContract<S extends Store>(name: string, harness: RevocationStoreHarness<S>): void {
  describe(`RevocationStore contract: ${name}`, () => {
    async function open(): Promise<S> {
      const store = await harness.open();
      onCleanup(() => store.close().catch(() => undefined));
      return store;
    }

    test('a new store holds no revocations', async () => {
      const store = await open();
      expect(await store.loadRevocations()).toEqual([]);
    });

    test('saved revocations load back field for field, oldest first, repeats kept', async () => {
      const store = await open();
      const at = 1_760_000_000_123;
      const saved = [
        revocation(at + 5, { access: 'read', documents: '*' }),
        revocation(at, { user: 'ünïcode user/with:odd chars', tenant: 'globex' }),
        revocation(at + 5, { access: 'read', documents: '*' }),
        revocation(at + 2, { documents: 'inbox:mallory' }),
      ];
      for (const r of saved) await store.saveRevocation(r);
      expect(await store.loadRevocations()).toEqual([saved[1], saved[3], saved[0], saved[2]]);
    });

    test('loadRevocationsSince: every revocation saved since the cursor, whatever its time; repeats allowed', async () => {
      const store = await open();
      const at = 1_760_000_000_000;
      const first = await store.loadRevocationsSince(null);
      expect(first.revocations).toEqual([]);
      const early = [revocation(at + 10), revocation(at + 20, { user: 'eve' })];
      for (const r of early) await store.saveRevocation(r);
      const second = await store.loadRevocationsSince(first.cursor);
      expect(new Set(second.revocations)).toEqual(new Set(early));
      expect(second.revocations).toHaveLength(2);

      // Saved after the cursor, one of them dated before everything seen (another instance's clock, a slow insert).
      const late = [revocation(at + 5, { user: 'trudy' }), revocation(at + 30, { user: 'oscar', access: 'read' })];
      for (const r of late) await store.saveRevocation(r);
      const third = await store.loadRevocationsSince(second.cursor);
      for (const r of late) expect(third.revocations).toContainEqual(r);
      // Repeats of what was seen before are allowed (callers apply idempotently), but not new inventions.
      for (const r of third.revocations) expect([...early, ...late]).toContainEqual(r);

      // Nothing new: nothing beyond possible repeats; and from the start, everything.
      const fourth = await store.loadRevocationsSince(third.cursor);
      for (const r of fourth.revocations) expect([...early, ...late]).toContainEqual(r);
      expect(fourth.revocations.filter((r) => r.user === 'nobody')).toEqual([]);
      const all = await store.loadRevocationsSince(null);
      expect(all.revocations).toHaveLength(4);
      expect(await store.loadRevocations()).toEqual([late[0], early[0], early[1], late[1]]);
    });

    // Only persistent stores can reopen; a memory store has no such test (rather than one that passes doing nothing).
    const reopen = harness.reopen;
    if (reopen) {
      test('a save resolves once durable: revocations are there after a reopen', async () => {
        let store = await open();
        await store.saveRevocation(revocation(1_000));
        await store.saveRevocation(revocation(2_000, { access: 'read' }));
        store = await reopen(store);
        onCleanup(() => store.close().catch(() => undefined));
        expect(await store.loadRevocations()).toEqual([revocation(1_000), revocation(2_000, { access: 'read' })]);
      });
    }
  });
}
