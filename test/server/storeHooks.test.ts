/**
 * ConcordHocuspocus skips the store timer stock Hocuspocus re-arms on every update (its debounced
 * `onStoreDocument` run): Concord stores each update as it is applied, so on the hot path the timer was pure cost.
 * Documents still unload as soon as their last client leaves and their writes are durable; and should an extension
 * with store hooks ever be configured, its hooks run as in stock Hocuspocus.
 */
import { ConcordHocuspocus } from '@concord/server';
import type { onStoreDocumentPayload } from '@hocuspocus/server';
import { expect, test } from 'vitest';
import { hocuspocusClient, serverDocument } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const STORE_TIMER = 'onStoreDocument-acme/doc';

test('a client editing arms no store timer, and the document unloads once it leaves; its edits survive a restart', async () => {
  const server = await startTestServer();
  const client = hocuspocusClient(server, 'doc', await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } }));
  await client.whenSynced();
  for (let i = 0; i < 20; i++) client.doc.getText('t').insert(i, 'x');
  await waitFor(() => client.provider.unsyncedChanges === 0, { message: 'edits not acknowledged' });
  expect(serverDocument(server, 'acme', 'doc')?.getText('t').toString()).toBe('x'.repeat(20));
  expect(server.current.hocuspocus.debouncer.isDebounced(STORE_TIMER)).toBe(false);

  client.provider.destroy();
  await waitFor(() => server.current.hocuspocus.getDocumentsCount() === 0, { message: 'the document was never unloaded' });
  await server.restart();
  const again = hocuspocusClient(server, 'doc', await mintToken({ sub: 'v', tenant: 'acme', docs: { '*': 'write' } }));
  await again.whenSynced();
  expect(again.doc.getText('t').toString()).toBe('x'.repeat(20));
});

test('an extension with store hooks gets its debounced onStoreDocument, as in stock Hocuspocus', async () => {
  const stored: string[] = [];
  const hocuspocus = new ConcordHocuspocus({ quiet: true, debounce: 20, maxDebounce: 100 });
  hocuspocus.configure({
    extensions: [{ onStoreDocument: async ({ documentName }: onStoreDocumentPayload) => void stored.push(documentName) }],
  });
  const connection = await hocuspocus.openDirectConnection('notes');
  onCleanup(() => connection.disconnect());
  await connection.transact((doc) => doc.getText('t').insert(0, 'hello'));
  // The connection stays open: only the debounced run (not the one a disconnect makes) can store the document.
  await waitFor(() => stored.length > 0, { message: 'onStoreDocument never ran' });
  expect(stored[0]).toBe('notes');
});
