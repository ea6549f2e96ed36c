/**
 * The DocumentStore contract (server/src/storage/DocumentStore.ts), as a suite every implementation runs:
 * `runDocumentStoreContract(name, setup)` where setup opens a store and, for persistent ones, can reopen it.
 */
import { describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import type { DocumentStore, StoredEntry } from '@concord/server';
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

const updatesOf = (entries: readonly StoredEntry[]) => entries.map((entry) => entry.update);
const seqsOf = (entries: readonly StoredEntry[]) => entries.map((entry) => entry.seq);

export function runDocumentStoreContract(name: string, harness: StoreHarness): void {
  describe(`DocumentStore contract: ${name}`, () => {
    async function open(): Promise<DocumentStore> {
      const store = await harness.open();
      onCleanup(() => store.close().catch(() => undefined));
      return store;
    }

    test('names(prefix) lists the stored documents whose name starts with it, sorted, each once', async () => {
      const store = await open();
      expect(await store.names('acme/')).toEqual([]);
      await store.append([
        { name: 'acme/project-2', updates: typing(3) },
        { name: 'acme/project-10', updates: typing(2) },
        { name: 'acme/project-1', updates: typing(4) },
        { name: 'acme/projects', updates: typing(1) },
        { name: 'acme/other', updates: typing(1) },
        { name: 'beta/project-3', updates: typing(1) },
        { name: 'acme/pro ject:ü/x', updates: typing(1) },
      ]);
      await store.append([{ name: 'acme/project-2', updates: typing(5).slice(3) }]);
      expect(await store.names('acme/project-')).toEqual(['acme/project-1', 'acme/project-10', 'acme/project-2']);
      expect(await store.names('acme/pro')).toEqual(['acme/pro ject:ü/x', 'acme/project-1', 'acme/project-10', 'acme/project-2', 'acme/projects']);
      expect(await store.names('beta/')).toEqual(['beta/project-3']);
      expect(await store.names('gamma/')).toEqual([]);
      const entries = await store.load('acme/project-2');
      await store.compact('acme/project-2', Y.encodeStateAsUpdate(docFrom(updatesOf(entries))), seqsOf(entries));
      expect(await store.names('acme/project-2')).toEqual(['acme/project-2']);
      if (harness.reopen) {
        const again = await harness.reopen(store);
        expect(await again.names('acme/project-')).toEqual(['acme/project-1', 'acme/project-10', 'acme/project-2']);
      }
    });

    test('an unknown document loads as no entries', async () => {
      const store = await open();
      expect(await store.load('acme/none')).toEqual([]);
    });

    test('round trip: appended updates load back in order, with increasing numbers, and rebuild the document', async () => {
      const store = await open();
      const updates = typing(50);
      for (let i = 0; i < updates.length; i += 7) await store.append([{ name: 'acme/doc', updates: updates.slice(i, i + 7) }]);
      const loaded = await store.load('acme/doc');
      expect(updatesOf(loaded).map((u) => Buffer.from(u).toString('hex'))).toEqual(updates.map((u) => Buffer.from(u).toString('hex')));
      const seqs = seqsOf(loaded);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(textOf(updatesOf(loaded))).toBe(textOf(updates));
    });

    test('one append writes several documents; an empty batch is fine', async () => {
      const store = await open();
      await store.append([
        { name: 'acme/a', updates: typing(3) },
        { name: 'acme/b', updates: typing(4) },
        { name: 'acme/a', updates: typing(5).slice(3) },
      ]);
      await store.append([]);
      expect(textOf(updatesOf(await store.load('acme/a')))).toBe(textOf(typing(5)));
      expect(await store.load('acme/b')).toHaveLength(4);
    });

    test('append order does not matter to the rebuilt document', async () => {
      const store = await open();
      const updates = typing(30);
      await store.append([{ name: 'acme/doc', updates: [...updates].reverse() }]);
      expect(textOf(updatesOf(await store.load('acme/doc')))).toBe(textOf(updates));
    });

    test('compaction replaces exactly the listed entries by the snapshot; later entries stay', async () => {
      const store = await open();
      const updates = typing(120);
      await store.append([{ name: 'acme/doc', updates: updates.slice(0, 100) }]);
      const before = await store.load('acme/doc');
      const snapshot = Y.encodeStateAsUpdate(docFrom(updatesOf(before)));
      await store.append([{ name: 'acme/doc', updates: updates.slice(100) }]); // lands while the snapshot is made
      await store.compact('acme/doc', snapshot, seqsOf(before));
      const after = await store.load('acme/doc');
      expect(after).toHaveLength(1 + 20);
      expect(after[0]?.seq).toBe(Math.max(...seqsOf(before)));
      expect(textOf(updatesOf(after))).toBe(textOf(updates));
      await store.append([{ name: 'acme/doc', updates: typing(121).slice(120) }]);
      const last = await store.load('acme/doc');
      expect(last.at(-1)!.seq).toBeGreaterThan(after.at(-1)!.seq);
      expect(textOf(updatesOf(last))).toBe(textOf(typing(121)));
    });

    test('compaction keeps an unlisted entry even when its number is lower (a late commit by another writer)', async () => {
      const store = await open();
      const updates = typing(10);
      await store.append([{ name: 'acme/doc', updates }]);
      const loaded = await store.load('acme/doc');
      // Pretend entry #5 was not visible when the compaction loaded: it must survive the compaction.
      const visible = loaded.filter((_, i) => i !== 4);
      const snapshot = Y.encodeStateAsUpdate(docFrom(updatesOf(visible)));
      await store.compact('acme/doc', snapshot, seqsOf(visible));
      const after = await store.load('acme/doc');
      expect(after).toHaveLength(2);
      expect(seqsOf(after)).toContain(loaded[4]!.seq);
      expect(textOf(updatesOf(after))).toBe(textOf(updates));
      await expect(store.compact('acme/doc', snapshot, [])).rejects.toThrow(/no entries to replace/);
    });

    test('concurrent appends from many writers are all kept, with distinct sequence numbers', async () => {
      const store = await open();
      const a = typing(40, 1);
      const b = typing(40, 2);
      await Promise.all([
        ...a.map((u) => store.append([{ name: 'acme/doc', updates: [u] }])),
        ...b.map((u) => store.append([{ name: 'acme/doc', updates: [u] }])),
      ]);
      const loaded = await store.load('acme/doc');
      expect(loaded).toHaveLength(80);
      expect(new Set(seqsOf(loaded)).size).toBe(80);
      const doc = docFrom(updatesOf(loaded));
      expect(doc.getText('t').length).toBe(80);
      expect(doc.store.pendingStructs).toBeNull();
    });

    test('documents and tenants never see each other’s entries, even when names share a prefix', async () => {
      const store = await open();
      await store.append([
        { name: 'acme/doc', updates: typing(3) },
        { name: 'acme/doc2', updates: typing(5) },
        { name: 'globex/doc', updates: typing(7) },
        { name: 'acme/do', updates: typing(9) },
      ]);
      expect(await store.load('acme/doc')).toHaveLength(3);
      expect(await store.load('acme/doc2')).toHaveLength(5);
      expect(await store.load('globex/doc')).toHaveLength(7);
      expect(await store.load('acme/do')).toHaveLength(9);
      expect(await store.load('acme/d')).toHaveLength(0);
      expect(await store.load('acme/doc%')).toHaveLength(0);
    });

    test('large documents: a multi-megabyte update round-trips byte for byte', async () => {
      const store = await open();
      const doc = new Y.Doc();
      doc.getText('t').insert(0, 'x'.repeat(3 * 1024 * 1024));
      const update = Y.encodeStateAsUpdate(doc);
      await store.append([{ name: 'acme/big', updates: [update] }]);
      const [entry] = await store.load('acme/big');
      expect(Buffer.from(entry!.update).equals(Buffer.from(update))).toBe(true);
    });

    test('a closed store refuses to write', async () => {
      const store = await harness.open();
      await store.close();
      await expect(store.append([{ name: 'acme/doc', updates: typing(1) }])).rejects.toThrow();
    });

    if (harness.reopen) {
      const reopen = harness.reopen;
      test('everything appended and compacted is there after closing and reopening, and numbering goes on', async () => {
        let store = await harness.open();
        const updates = typing(60);
        await store.append([{ name: 'acme/doc', updates: updates.slice(0, 40) }]);
        const loaded = await store.load('acme/doc');
        await store.compact('acme/doc', Y.encodeStateAsUpdate(docFrom(updatesOf(loaded))), seqsOf(loaded));
        await store.append([{ name: 'acme/doc', updates: updates.slice(40) }]);
        store = await reopen(store);
        onCleanup(() => store.close().catch(() => undefined));
        const after = await store.load('acme/doc');
        expect(after).toHaveLength(21);
        expect(textOf(updatesOf(after))).toBe(textOf(updates));
        await store.append([{ name: 'acme/doc', updates: typing(61).slice(60) }]);
        const last = await store.load('acme/doc');
        expect(last.at(-1)!.seq).toBeGreaterThan(after.at(-1)!.seq);
      });
    }
  });
}
