/**
 * ConcordHocuspocus skips per-update work that nothing configured uses: the store timer stock Hocuspocus re-arms on
 * every update (its debounced `onStoreDocument` run; Concord stores each update as it is applied), and the
 * per-message hooks (`beforeHandleMessage`, `afterHandleMessage`, `beforeSync`, `onChange`) when no extension
 * implements them. Documents still unload as soon as their last client leaves; and an extension that implements any
 * of these hooks gets it called as in stock Hocuspocus.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConcordHocuspocus } from '@concord/server';
import { HocuspocusProvider } from '@hocuspocus/provider';
import { Hocuspocus, type Extension, type HookName, type onStoreDocumentPayload } from '@hocuspocus/server';
import { afterEach, expect, test, vi } from 'vitest';
import { WebSocketServer, type RawData } from 'ws';
import * as Y from 'yjs';
import { hocuspocusClient, serverDocument } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const STORE_TIMER = 'onStoreDocument-acme/doc';
const PER_MESSAGE: readonly HookName[] = ['beforeHandleMessage', 'afterHandleMessage', 'beforeSync', 'onChange'];

afterEach(() => vi.restoreAllMocks());

/** `hocuspocus` behind a plain ws server, wired the way Hocuspocus 4 expects an integration to; returns its URL. */
async function serve(hocuspocus: Hocuspocus): Promise<string> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (ws, request) => {
    const connection = hocuspocus.handleConnection(ws, new Request(`http://localhost${request.url ?? '/'}`));
    ws.on('message', (data: RawData) => connection.handleMessage(new Uint8Array(data as Buffer)));
    ws.on('close', (code, reason) => connection.handleClose({ code, reason: reason.toString() }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  onCleanup(async () => {
    for (const client of wss.clients) client.terminate();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
  return `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

test('a client editing a Concord server arms no store timer and runs no per-message hook; the document unloads once it leaves, its edits stored', async () => {
  const server = await startTestServer();
  const ran = vi.spyOn(Hocuspocus.prototype, 'hooks');
  const client = hocuspocusClient(server, 'doc', await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } }));
  await client.whenSynced();
  for (let i = 0; i < 20; i++) client.doc.getText('t').insert(i, 'x');
  await waitFor(() => client.provider.unsyncedChanges === 0, { message: 'edits not acknowledged' });
  expect(serverDocument(server, 'acme', 'doc')?.getText('t').toString()).toBe('x'.repeat(20));
  expect(server.current.hocuspocus.debouncer.isDebounced(STORE_TIMER)).toBe(false);
  expect(ran.mock.calls.map(([name]) => name).filter((name) => PER_MESSAGE.includes(name))).toEqual([]);
  expect(ran.mock.calls.map(([name]) => name)).toContain('onAuthenticate'); // the spy does see the hooks that run

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

test('an extension with per-message hooks gets each of them for a client edit, as in stock Hocuspocus', async () => {
  const calls: string[] = [];
  const record = (name: HookName) => async () => void calls.push(name);
  const extension: Partial<Extension> = Object.fromEntries(PER_MESSAGE.map((name) => [name, record(name)]));
  const hocuspocus = new ConcordHocuspocus({ quiet: true });
  hocuspocus.configure({ extensions: [extension as Extension] });
  const doc = new Y.Doc();
  const provider = new HocuspocusProvider({ url: await serve(hocuspocus), name: 'notes', document: doc });
  onCleanup(() => provider.destroy());
  await new Promise<void>((resolve) => provider.on('synced', () => resolve()));
  doc.getText('t').insert(0, 'hello');
  await waitFor(() => PER_MESSAGE.every((name) => calls.includes(name)), { message: `hooks called: ${calls.join(', ')}` });
  expect(hocuspocus.documents.get('notes')?.getText('t').toString()).toBe('hello');
});
