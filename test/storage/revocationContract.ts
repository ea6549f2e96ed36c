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
