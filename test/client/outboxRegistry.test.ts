/**
 * The device's outbox registry (client/src/registry.ts), the list the app reads for documents not on screen (the
 * demo's pending count beside the light counts it for the inbox, which is never on screen). An outbox that fills and
 * empties again before the first record is written — a change the server acknowledges within a few milliseconds, as
 * a read mark in the inbox often is — must leave no record behind: the recorded list is what the outbox said last,
 * whatever order IndexedDB finishes the writes in. Before the fix, the removal was skipped as "nothing recorded"
 * while the first write was still on its way, and the stale record counted one change pending until the next change.
 *
 * Tabs share the registry: a record one tab writes or removes is announced to the others (a BroadcastChannel, which
 * in Node reaches every channel of the same name in the process), so a tab listing what is pending elsewhere reads it
 * again, and a tab that wrote the record before writes its next one whatever it says. Before that fix, a tab of the
 * demo kept counting another tab's acknowledged changes (test/browser/demo.test.ts, "a change waiting in Bob's other
 * tab").
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import type { OutboxEntry } from '@concord/client';
import { OutboxRegistry } from '../../client/src/registry.js';
import { freshIndexedDB } from './harness.js';

const entry = (summary: string): OutboxEntry =>
  ({ kind: 'field', root: 'notifications', record: 'n1', field: 'readAt', label: null, value: 1, removed: false, inserted: 0, deleted: 0, summary }) as OutboxEntry;

/** What the registry lists, by document name. */
const recorded = async (registry: OutboxRegistry) =>
  (await registry.pending())
    .map(({ name, entries }) => ({ name, summaries: entries.map((e) => e.summary) }))
    .sort((a, b) => a.name.localeCompare(b.name));

describe('outbox registry', () => {
  it('an outbox emptied while its first record is being written is recorded as empty', async () => {
    freshIndexedDB();
    const registry = new OutboxRegistry('race-empty');
    const writes = [registry.record('inbox:bob', [entry('readAt of n1 → 1')]), registry.record('inbox:bob', [])];
    await Promise.all(writes);
    expect(await recorded(registry)).toEqual([]);
    await registry.close();
  });

  it('the last of several quick records wins, and a later reader sees it', async () => {
    freshIndexedDB();
    const registry = new OutboxRegistry('race-last');
    await Promise.all([
      registry.record('project', [entry('a')]),
      registry.record('project', []),
      registry.record('project', [entry('b')]),
      registry.record('other', [entry('c')]),
    ]);
    expect(await recorded(registry)).toEqual([
      { name: 'other', summaries: ['c'] },
      { name: 'project', summaries: ['b'] },
    ]);
    // A list read while a removal is on its way (it may see the record still there) does not make the registry
    // believe the record is there: the same change pending again is recorded again.
    const reading = registry.pending();
    const removing = registry.record('project', []);
    await Promise.all([reading, removing]);
    expect((await recorded(registry)).map(({ name }) => name)).toEqual(['other']);
    await registry.record('project', [entry('b')]);
    expect(await recorded(registry)).toEqual([
      { name: 'other', summaries: ['c'] },
      { name: 'project', summaries: ['b'] },
    ]);
    await registry.record('project', []);
    await registry.record('other', []);
    expect(await recorded(registry)).toEqual([]);
    await registry.close();
  });

  /** Two tabs' registries of one namespace on one browser's IndexedDB, each with the documents it heard of. */
  const twoTabs = (namespace: string) => {
    freshIndexedDB();
    const heard = { here: [] as string[], there: [] as string[] };
    const here = new OutboxRegistry(namespace, (document) => heard.here.push(document));
    const there = new OutboxRegistry(namespace, (document) => heard.there.push(document));
    const announced = (document: string, what: string) =>
      waitFor(() => heard.here.includes(document), { timeoutMs: 5_000, message: `${what} to be announced` });
    return { here, there, heard, announced, close: () => Promise.all([here.close(), there.close()]) };
  };

  it("another tab's record and its removal are announced to this tab", async () => {
    const { here, there, heard, announced, close } = twoTabs('tabs-announce');
    try {
      await there.record('inbox:bob', [entry('readAt of n1 → 1')]);
      await announced('inbox:bob', 'the record');
      expect((await recorded(here)).map(({ name }) => name)).toEqual(['inbox:bob']);

      heard.here.length = 0;
      await there.record('inbox:bob', []);
      await announced('inbox:bob', 'the removal');
      expect(await recorded(here)).toEqual([]);
      // A tab is not told of its own writes.
      expect(heard.there).toEqual([]);
    } finally {
      await close();
    }
  });

  it('a record another tab removed is written again by a tab whose outbox still lists the same changes', async () => {
    const { here, there, announced, close } = twoTabs('tabs-rewrite');
    try {
      await here.record('project', [entry('a')]);
      await there.pending(); // the other tab knows the record, so it may remove it
      await there.record('project', []);
      await announced('project', 'the removal');
      // This tab's outbox still says "a" (its acknowledgement has not come): the record is written again.
      await here.record('project', [entry('a')]);
      expect(await recorded(there)).toEqual([{ name: 'project', summaries: ['a'] }]);
    } finally {
      await close();
    }
  });
});
