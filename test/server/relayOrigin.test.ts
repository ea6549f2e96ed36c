/**
 * Changes relayed from another instance (`RELAY_ORIGIN`, issue 15) were hooked, sent to webhooks and clamped where
 * they were made: here they are applied and reach this instance's clients, but fire no field hook, no webhook and no
 * clamp. A client's change right after still does all three (so the test sees them when they happen).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fieldEntries, parseChannelMessage, readField, RELAY_ORIGIN, writeField } from '@concord/engine';
import { FUTURE_STAMP_ALLOWANCE_MS } from '@concord/server';
import { expect, it } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const HOUR_MS = 3_600_000;

/** A local webhook receiver: the JSON bodies it got. */
async function receiver() {
  const received: Array<{ by: string[]; changes: Array<{ field: string }> }> = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      received.push(JSON.parse(body) as (typeof received)[number]);
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, received };
}

it('a relayed change fires no field hook, webhook or clamp, and reaches the clients', async () => {
  const backend = await receiver();
  const server = await startTestServer({
    lifecycle: { events: [{ documents: 'account-*', field: 'balance', event: 'balance-changed' }] },
    webhookUrl: backend.url,
    webhookSecret: 'webhook-secret-that-is-long-enough-for-hmac',
  });
  const listener = hocuspocusClient(server, '#account-1', await mintToken({ sub: 'viewer', tenant: 'acme', docs: { '*': 'read' } }));
  const events: Array<{ value: unknown; previous: unknown; by: unknown }> = [];
  listener.provider.on('stateless', ({ payload }: { payload: string }) => {
    const message = parseChannelMessage(payload);
    if (message?.concord === 'event') events.push(message.payload as (typeof events)[number]);
  });
  await listener.whenSynced();
  const sarah = hocuspocusClient(server, 'account-1', await mintToken({ sub: 'sarah', tenant: 'acme', docs: { '*': 'write' } }));
  await sarah.whenSynced();

  // Another instance's change: a watched field, and a field stamped an hour ahead (its instance clamped it, or not).
  const document = server.current.hocuspocus.documents.get('acme/account-1');
  if (!document) throw new Error('account-1 is not loaded');
  const elsewhere = new Y.Doc();
  Y.applyUpdate(elsewhere, Y.encodeStateAsUpdate(document));
  writeField(elsewhere.getMap('fields'), 'balance', 999, { by: { id: 'bob' } });
  const future = Date.now() + HOUR_MS;
  writeField(elsewhere.getMap('fields'), 'due', '2030-01-01', { by: { id: 'bob' }, now: future });
  Y.applyUpdate(document, Y.encodeStateAsUpdate(elsewhere, Y.encodeStateVector(document)), RELAY_ORIGIN);

  await waitFor(() => readField(sarah.doc.getMap('fields'), 'balance') === 999 && readField(sarah.doc.getMap('fields'), 'due') === '2030-01-01');
  // Not clamped: the entry keeps its stamp (a clamp would have re-written it in the same turn).
  expect(fieldEntries(document.getMap('fields'), 'due').map((entry) => entry.stamp[0])).toEqual([future]);
  expect(future).toBeGreaterThan(Date.now() + FUTURE_STAMP_ALLOWANCE_MS);

  // Sarah changes another field: the one webhook delivery carries her change alone (no relayed field gathered).
  sarah.doc.getMap('fields').set('owner', 'sarah');
  await waitFor(() => backend.received.length === 1, { timeoutMs: 10_000 });
  expect(backend.received[0]).toMatchObject({ by: ['sarah'], changes: [{ field: 'owner' }] });
  expect(backend.received[0]?.changes).toHaveLength(1);

  // Sarah changes the watched field: the one event is hers, the relayed value its previous one.
  writeField(sarah.doc.getMap('fields'), 'balance', 1000, { by: { id: 'sarah' } });
  await waitFor(() => events.length >= 1);
  expect(events).toEqual([expect.objectContaining({ value: 1000, previous: 999, by: 'sarah' })]);
});
