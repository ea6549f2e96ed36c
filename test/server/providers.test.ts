/**
 * SPEC §3: any stock HocuspocusProvider, v3 or v4, works on /sync with a token, next to stock y-websocket clients
 * on the same documents; refusals reach a v3 provider the way it understands them.
 */
import { HocuspocusProvider as HocuspocusProviderV3 } from 'hocuspocus-provider-v3';
import { expect, test } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient, yClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

function v3Client(server: TestServer, name: string, token: string) {
  const doc = new Y.Doc();
  const failures: string[] = [];
  let synced = false;
  const provider = new HocuspocusProviderV3({
    url: server.syncUrl,
    name,
    document: doc,
    token,
    onAuthenticationFailed: ({ reason }) => failures.push(reason),
    onSynced: () => {
      synced = true;
    },
  });
  onCleanup(() => provider.destroy());
  return { doc, failures, provider, isSynced: () => synced };
}

test('a v3 provider, a v4 provider and a y-websocket client edit one document together', async () => {
  const server = await startTestServer();
  const token = await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });
  const v3 = v3Client(server, 'notes', token);
  const v4 = hocuspocusClient(server, 'notes', token);
  const y = yClient(server, 'notes', token);
  await Promise.all([waitFor(() => v3.isSynced()), v4.whenSynced(), y.whenSynced()]);
  v3.doc.getText('t').insert(0, 'three ');
  v4.doc.getText('t').insert(0, 'four ');
  y.doc.getMap('fields').set('status', 'done');
  const converged = (doc: Y.Doc) => doc.getText('t').length === 11 && doc.getMap('fields').get('status') === 'done';
  await waitFor(() => [v3.doc, v4.doc, y.doc].every(converged));
  expect(v3.doc.getText('t').toString()).toBe(v4.doc.getText('t').toString());
  expect(y.doc.getText('t').toString()).toBe(v4.doc.getText('t').toString());
  // Others see an edit as soon as it is broadcast; its acknowledgement waits for the write to be durable.
  await waitFor(() => v3.provider.unsyncedChanges === 0);
});

test('a v3 provider is refused with Unauthorized and Forbidden like v4', async () => {
  const server = await startTestServer();
  const bad = v3Client(server, 'notes', 'not-a-token');
  const ungranted = v3Client(server, 'payroll', await mintToken({ sub: 'u', docs: { 'notes*': 'write' } }));
  await waitFor(() => bad.failures.length > 0 && ungranted.failures.length > 0);
  expect(bad.failures).toEqual(['Unauthorized']);
  expect(ungranted.failures).toEqual(['Forbidden']);
});

test('an idle y-websocket client dropped by the connection timeout comes back (never a final 44xx close)', async () => {
  const server = await startTestServer({ connectionTimeoutMs: 1000 });
  const token = await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });
  const y = yClient(server, 'notes', token);
  y.provider.awareness.setLocalState(null); // nothing to renew: the client goes silent
  await y.whenSynced();
  await waitFor(() => y.closes.length > 0, { timeoutMs: 10_000 });
  const code = y.closes[0]?.code ?? 0;
  expect(code >= 4400 && code < 4500, `close code ${code} would stop y-websocket for good`).toBe(false);
  await waitFor(() => y.provider.wsconnected && y.provider.synced, { timeoutMs: 10_000, message: 'the client did not reconnect' });
});
