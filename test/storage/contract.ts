/**
 * The DocumentStore contract (server/src/storage/DocumentStore.ts), as a suite every implementation runs:
 * `runDocumentStoreContract(name, setup)` where setup opens a store and, for persistent ones, can reopen it.
 */
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import type { DocumentStore } from '@concord/server';
import { onCleanup } from '../support/cleanup.js';

export interface StoreHarness {
  open(): Promise<DocumentStore>;
  /** For persistent stores: close and open again over the same data. */
  reopen?: (store: DocumentStore) => Promise<DocumentStore>;
}

function docFrom(updates: readonly Uint8Array[]): Y.Doc {
  const doc = new Y.Doc();
  for (const update of updates) Y.applyUpdate(doc, update);
  return doc;
}

/** N single-edit updates of one writer: typing "0123456789..." one character at a time. */
function typing(count: number, clientID = 1): Uint8Array[] {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  const updates: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => updates.push(update));
  for (let i = 0; i < count; i++) doc.getText('t').insert(i, String(i % 10));
  return updates;
}

const textOf = (updates: readonly Uint8Array[]) => docFrom(updates).getText('t').toString();

export function runDocumentStoreContract(name: string, harness: StoreHarness): void {
  describe(`DocumentStore contract: ${name}`, () => {
    async function open(): Promise<DocumentStore> {
      const store = await harness.open();
      onCleanup(() => store.close().catch(() => undefined));
      return store;
    }

    test('an unknown document loads as nothing, head 0', async () => {
      const store = await open();
      expect(await store.load('acme/none')).toEqual({ updates: [], head: 0 });
    });

    test('round trip: appended updates load back in order and rebuild the document', async () => {
      const store = await open();
      const updates = typing(50);
      let head = 0;
      for (let i = 0; i < updates.length; i += 7) {
        const next = await store.append('acme/doc', updates.slice(i, i + 7));
        expect(next).toBeGreaterThan(head);
        head = next;
      }
      const loaded = await store.load('acme/doc');
      expect(loaded.head).toBe(head);
      expect(loaded.updates.map((u) => Buffer.from(u).toString('hex'))).toEqual(updates.map((u) => Buffer.from(u).toString('hex')));
      expect(textOf(loaded.updates)).toBe(textOf(updates));
    });

    test('append order does not matter to the rebuilt document', async () => {
      const store = await open();
      const updates = typing(30);
      const shuffled = [...updates].reverse();
      await store.append('acme/doc', shuffled);
      expect(textOf((await store.load('acme/doc')).updates)).toBe(textOf(updates));
    });

    test('compaction replaces the entries up to `through` by the snapshot and keeps later ones', async () => {
      const store = await open();
      const updates = typing(120);
      await store.append('acme/doc', updates.slice(0, 100));
      const before = await store.load('acme/doc');
      const snapshot = Y.encodeStateAsUpdate(docFrom(before.updates));
      await store.append('acme/doc', updates.slice(100)); // lands while the snapshot is being made
      await store.compact('acme/doc', snapshot, before.head);
      const after = await store.load('acme/doc');
      expect(after.updates).toHaveLength(1 + 20);
      expect(textOf(after.updates)).toBe(textOf(updates));
      const head = await store.append('acme/doc', typing(121).slice(120));
      expect(head).toBeGreaterThan(after.head);
      expect(textOf((await store.load('acme/doc')).updates)).toBe(textOf(typing(121)));
    });

    test('concurrent appends from two writers are all kept, with distinct sequence numbers', async () => {
      const store = await open();
      const a = typing(40, 1);
      const b = typing(40, 2);
      const heads = await Promise.all([
        ...a.map((u) => store.append('acme/doc', [u])),
        ...b.map((u) => store.append('acme/doc', [u])),
      ]);
      expect(new Set(heads).size).toBe(80);
      const loaded = await store.load('acme/doc');
      expect(loaded.updates).toHaveLength(80);
      const doc = docFrom(loaded.updates);
      expect(doc.getText('t').length).toBe(80);
      expect(doc.store.pendingStructs).toBeNull();
    });

    test('documents and tenants never see each other’s entries, even when names share a prefix', async () => {
      const store = await open();
      await store.append('acme/doc', typing(3));
      await store.append('acme/doc2', typing(5));
      await store.append('globex/doc', typing(7));
      await store.append('acme/do', typing(9));
      expect((await store.load('acme/doc')).updates).toHaveLength(3);
      expect((await store.load('acme/doc2')).updates).toHaveLength(5);
      expect((await store.load('globex/doc')).updates).toHaveLength(7);
      expect((await store.load('acme/do')).updates).toHaveLength(9);
      expect((await store.load('acme/d')).updates).toHaveLength(0);
    });

    test('large documents: a multi-megabyte update round-trips byte for byte', async () => {
      const store = await open();
      const doc = new Y.Doc();
      doc.getText('t').insert(0, 'x'.repeat(3 * 1024 * 1024));
      const update = Y.encodeStateAsUpdate(doc);
      await store.append('acme/big', [update]);
      const loaded = await store.load('acme/big');
      expect(Buffer.from(loaded.updates[0]!).equals(Buffer.from(update))).toBe(true);
    });

    if (harness.reopen) {
      const reopen = harness.reopen;
      test('everything appended and compacted is there after closing and reopening', async () => {
        let store = await harness.open();
        const updates = typing(60);
        await store.append('acme/doc', updates.slice(0, 40));
        const loaded = await store.load('acme/doc');
        await store.compact('acme/doc', Y.encodeStateAsUpdate(docFrom(loaded.updates)), loaded.head);
        await store.append('acme/doc', updates.slice(40));
        store = await reopen(store);
        onCleanup(() => store.close().catch(() => undefined));
        const after = await store.load('acme/doc');
        expect(after.updates).toHaveLength(21);
        expect(textOf(after.updates)).toBe(textOf(updates));
        expect(await store.append('acme/doc', typing(61).slice(60))).toBeGreaterThan(after.head);
      });
    }
  });
}
