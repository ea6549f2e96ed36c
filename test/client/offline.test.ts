/**
 * Offline-first, for real: the server goes away, the user edits, reloads the app (a new client over the same
 * IndexedDB) while the server is still down, and the edit is there; the server comes back on the same data dir and
 * port, the reloaded client delivers the edit, and a fresh third client sees it.
 */
import { defineDocument, defineRecord } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

const Account = defineDocument('account', {
  fields: defineRecord('account', { owner: z.string(), balance: z.number() }),
  texts: ['notes'],
});

describe('client offline', () => {
  it('C1 C2 keeps an offline edit across a reload and delivers it when the server is back', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    const aliceToken = await token('alice');

    const first = makeClient(server, { token: aliceToken });
    const before = first.open('account-7');
    await before.whenSynced();
    before.typed(Account).fields.update({ owner: 'Alice', balance: 10 });
    before.typed(Account).text('notes').insert(0, 'online.');
    await waitFor(() => before.status.synced && before.status.pendingChanges === 0);

    await server.stop();
    await waitFor(() => first.state === 'offline' && before.status.state === 'offline');
    before.typed(Account).fields.set('balance', 42);
    before.typed(Account).text('notes').insert(7, ' offline.');
    expect(before.status).toMatchObject({ state: 'offline', synced: false, pendingChanges: 2 });
    await first.destroy();

    globalThis.indexedDB = idb;
    const reloaded = makeClient(server, { token: aliceToken });
    const after = reloaded.open('account-7');
    await after.whenLoaded();
    const account = after.typed(Account);
    expect(account.fields.toJSON()).toEqual({ owner: 'Alice', balance: 42 });
    expect(account.text('notes').toString()).toBe('online. offline.');
    expect(after.status.loadedLocally).toBe(true);
    expect(after.status.pendingChanges).toBe(2);
    expect(after.status.synced).toBe(false);
    expect(['connecting', 'offline']).toContain(after.status.state);

    await server.start();
    await waitFor(() => after.status.state === 'connected' && after.status.synced, { timeoutMs: 15_000 });
    expect(after.status.pendingChanges).toBe(0);

    const third = makeClient(server, { token: await token('bob'), persistence: false }).open('account-7');
    await third.whenSynced();
    await waitFor(() => third.typed(Account).fields.get('balance') === 42);
    expect(third.typed(Account).text('notes').toString()).toBe('online. offline.');
    expect(third.status.loadedLocally).toBe(true);
  });

  it('C2 counts edits made before the first connection and clears them once acknowledged', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    await server.stop();
    const client = makeClient(server, { token: await token('carol') });
    const handle = client.open('notes-1');
    await handle.whenLoaded();
    handle.doc.getText('t').insert(0, 'a');
    handle.doc.getText('t').insert(1, 'b');
    handle.doc.getText('t').insert(2, 'c');
    expect(handle.status.pendingChanges).toBe(1);
    expect(handle.outbox().map((entry) => entry.summary)).toEqual(['3 characters typed in t']);
    await server.start();
    await waitFor(() => handle.status.synced, { timeoutMs: 15_000 });
    expect(handle.status.pendingChanges).toBe(0);
  });

  it('C1 goes on with the network when IndexedDB fails, and says so', async () => {
    const server = await startTestServer();
    const broken = {
      open() {
        const request: { onerror?: (event: unknown) => void } = {};
        setTimeout(() => request.onerror?.({ target: { error: new Error('QuotaExceededError: disk full') } }));
        return request;
      },
    };
    globalThis.indexedDB = broken as unknown as IDBFactory;
    const handle = makeClient(server, { token: await token('dave') }).open('doc-broken');
    await handle.whenLoaded();
    await handle.whenSynced();
    expect(handle.status.loadedLocally).toBe(true);
    expect(handle.status.error).toMatch(/local copy could not be opened: .*disk full/);
    handle.doc.getText('t').insert(0, 'x');
    await waitFor(() => handle.status.synced && handle.status.pendingChanges === 0);
  });

  it('C7 clearLocalData deletes the databases of its namespace and nothing else', async () => {
    const idb = freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice') });
    const bob = makeClient(server, { token: await token('bob') });
    for (const handle of [alice.open('doc-a'), alice.open('doc-b'), bob.open('doc-a')]) {
      await handle.whenLoaded();
      handle.doc.getText('t').insert(0, 'cached');
    }
    const names = async () => (await idb.databases()).map((info) => info.name).sort();
    const copies = async () => (await names()).filter((name) => name?.startsWith('concord/'));
    expect(await copies()).toEqual(['concord/t1.alice/doc-a', 'concord/t1.alice/doc-b', 'concord/t1.bob/doc-a']);
    await waitFor(async () => (await names()).includes('concord-outbox/t1.alice')); // the list of its pending documents

    await alice.clearLocalData();
    expect(await copies()).toEqual(['concord/t1.bob/doc-a']);
    expect((await names()).filter((name) => name?.includes('t1.alice'))).toEqual([]);
    const stillOpen = alice.documents()[0];
    stillOpen?.doc.getText('t').insert(0, 'more ');
    await waitFor(() => stillOpen?.status.synced);
  });
});
