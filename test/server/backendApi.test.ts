/**
 * The app backend's HTTP API over a real server: `POST /api/channels/<channel>/events` reaches subscribers (here a
 * stock HocuspocusProvider on `#<channel>`, which gets events as stateless messages), `POST
 * /api/documents/<name>/changes` changes what every viewer sees and what is stored; credentials, grants and bad
 * input get clear JSON errors with the right status, and nothing of a refused request is published or written; a
 * publish answers once its event is stored (one the store cannot take is a 500 and reaches nobody).
 */
import { hasField, parseChannelMessage, readField, readFields } from '@concord/engine';
import { MemoryStore, type ChannelKey, type NewChannelEvent, type Retention } from '@concord/server';
import { describe, expect, it } from 'vitest';
import type * as Y from 'yjs';
import { hocuspocusClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';

async function post(server: TestServer, path: string, body: unknown, credential?: string, contentType = 'application/json') {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': contentType, ...(credential ? { Authorization: `Bearer ${credential}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** A stock provider subscribed to a channel, collecting the events it receives. */
async function listener(server: TestServer, channel: string, tenant = 'acme') {
  const token = await mintToken({ sub: 'viewer', tenant, docs: { '*': 'read' } });
  const client = hocuspocusClient(server, `#${channel}`, token);
  const events: Array<{ event: string; payload: unknown }> = [];
  client.provider.on('stateless', ({ payload }: { payload: string }) => {
    const message = parseChannelMessage(payload);
    if (message?.concord === 'event') events.push({ event: message.event, payload: message.payload });
  });
  await client.whenSynced();
  return { client, events };
}

describe('POST /api/channels/<channel>/events', () => {
  it('publishes with the API key to the tenant given, and with a token whose publish claim grants the channel', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const acme = await listener(server, 'account-123');
    const other = await listener(server, 'account-123', 'globex');

    const byKey = await post(server, '/api/channels/account-123/events?tenant=acme', { event: 'payment-recorded', payload: { amount: 250 } }, API_KEY);
    expect(byKey).toMatchObject({ status: 200, body: { channel: 'account-123', event: 'payment-recorded', seq: 1, delivered: 1 } });
    const backendToken = await mintToken({ sub: 'billing', tenant: 'acme', publish: ['account-*'] });
    const byToken = await post(server, '/api/channels/account-123/events', { event: 'balance-changed', payload: { balance: 750 } }, backendToken);
    expect(byToken).toMatchObject({ status: 200, body: { seq: 2 } });

    await waitFor(() => acme.events.length === 2);
    expect(acme.events).toEqual([
      { event: 'payment-recorded', payload: { amount: 250 } },
      { event: 'balance-changed', payload: { balance: 750 } },
    ]);
    expect(other.events).toEqual([]);
    expect(acme.client.scope()).toBe('readonly');
  });

  it('answers once the event is stored: one the store cannot take gets a 500, reaches nobody and numbers nothing', async () => {
    class RefusingStore extends MemoryStore {
      refuse = true;
      override async appendEvents(key: ChannelKey, events: readonly NewChannelEvent[], retention: Retention, now: number) {
        if (this.refuse) throw new Error('disk full');
        return super.appendEvents(key, events, retention, now);
      }
    }
    const store = new RefusingStore();
    const server = await startTestServer({ apiKey: API_KEY, store });
    const acme = await listener(server, 'account-123');

    const refused = await post(server, '/api/channels/account-123/events?tenant=acme', { event: 'payment-recorded', payload: { n: 1 } }, API_KEY);
    expect(refused.status).toBe(500);
    await expect(server.current.publish('account-123', 'payment-recorded', { n: 1 }, { tenant: 'acme' })).rejects.toThrow('disk full');
    store.refuse = false;
    const stored = await post(server, '/api/channels/account-123/events?tenant=acme', { event: 'payment-recorded', payload: { n: 2 } }, API_KEY);
    expect(stored).toMatchObject({ status: 200, body: { seq: 1, delivered: 1 } });
    await waitFor(() => acme.events.length === 1);
    expect(acme.events).toEqual([{ event: 'payment-recorded', payload: { n: 2 } }]);
  });

  it('refuses bad credentials, ungranted channels and bad input with clear errors, publishing nothing', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const acme = await listener(server, 'account-123');
    const event = { event: 'payment-recorded', payload: { amount: 1 } };
    const viewerToken = await mintToken({ sub: 'viewer', tenant: 'acme', docs: { '*': 'write' } });
    const publisher = await mintToken({ sub: 'billing', tenant: 'acme', publish: ['task-*'] });

    const cases: Array<[Promise<{ status: number; body: Record<string, unknown> }>, number, RegExp]> = [
      [post(server, '/api/channels/account-123/events?tenant=acme', event), 401, /Authorization: Bearer/],
      [post(server, '/api/channels/account-123/events?tenant=acme', event, 'wrong-key'), 401, /neither the API key nor a valid token/],
      [post(server, '/api/channels/account-123/events', event, viewerToken), 403, /publish/],
      [post(server, '/api/channels/account-123/events', event, publisher), 403, /does not grant publishing to account-123/],
      [post(server, '/api/channels/account-123/events?tenant=globex', event, publisher), 403, /tenant acme, not globex/],
      [post(server, '/api/channels/account-123/events?tenant=acme', '{"event":', API_KEY), 400, /not valid JSON/],
      [post(server, '/api/channels/account-123/events?tenant=acme', 'event=x', API_KEY, 'text/plain'), 415, /Content-Type: application\/json/],
      [post(server, '/api/channels/account-123/events?tenant=acme', { payload: 1 }, API_KEY), 400, /event .* is required/],
      [post(server, '/api/channels/account-123/events?tenant=acme', { event: 'bad name!' }, API_KEY), 400, /event name/],
      [post(server, '/api/channels/.hidden/events?tenant=acme', event, API_KEY), 400, /channel name/],
      [post(server, '/api/channels/account-123/events?tenant=no/such', event, API_KEY), 400, /tenant/],
      [post(server, '/api/channels/account-123/events?tenant=acme', { event: 'big', payload: 'x'.repeat(70_000) }, API_KEY), 413, /larger than|at most/],
    ];
    for (const [request, status, error] of cases) {
      const response = await request;
      expect(response.status, `${status} ${error}: ${JSON.stringify(response.body)}`).toBe(status);
      expect(response.body.error).toMatch(error);
    }
    // Nothing of those reached the subscriber; a good request still works and is number 1.
    const good = await post(server, '/api/channels/account-123/events?tenant=acme', event, API_KEY);
    expect(good.body.seq).toBe(1);
    await waitFor(() => acme.events.length === 1);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('is not served without an API key except to tokens with a publish claim', async () => {
    const server = await startTestServer(); // no API key configured
    const response = await post(server, '/api/channels/account-123/events', { event: 'x' }, 'any-key-at-all');
    expect(response.status).toBe(401);
    // The other half: a token whose publish claim grants the channel is served, and its event is delivered.
    const acme = await listener(server, 'account-123');
    const backendToken = await mintToken({ sub: 'billing', tenant: 'acme', publish: ['account-*'] });
    const published = await post(server, '/api/channels/account-123/events', { event: 'x', payload: { n: 1 } }, backendToken);
    expect(published.status, JSON.stringify(published.body)).toBe(200);
    await waitFor(() => acme.events.length === 1, { message: 'the event published with a token to reach the subscriber' });
    expect(acme.events[0]).toMatchObject({ event: 'x', payload: { n: 1 } });
  });
});

describe('POST /api/documents/<name>/changes', () => {
  it('changes fields and records that every viewer sees at once, and that are stored', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const viewer = hocuspocusClient(server, 'account-123', await mintToken({ sub: 'sarah', tenant: 'acme', docs: { 'account-*': 'read' } }));
    await viewer.whenSynced();

    const response = await post(
      server,
      '/api/documents/account-123/changes?tenant=acme',
      { fields: { balance: 750, status: 'current' }, records: { payments: { 'p-1': { amount: 250, method: 'card' } } } },
      API_KEY,
    );
    expect(response).toEqual({ status: 200, body: { document: 'account-123', applied: 3, durable: true } });
    const fields = viewer.doc.getMap('fields');
    await waitFor(() => readField(fields, 'balance') === 750);
    expect(readField(fields, 'status')).toBe('current');
    expect(readFields(viewer.doc.getMap('payments').get('p-1') as Y.Map<unknown>)).toEqual({ amount: 250, method: 'card' });

    const writer = await mintToken({ sub: 'billing', tenant: 'acme', docs: { 'account-*': 'write' } });
    const update = await post(
      server,
      '/api/documents/account-123/changes',
      { fields: { status: null }, records: { payments: { 'p-1': { method: null, amount: 300 }, 'p-2': { amount: 5 } } } },
      writer,
    );
    expect(update.status).toBe(200);
    await waitFor(() => !hasField(fields, 'status'));
    const payments = viewer.doc.getMap('payments');
    await waitFor(() => payments.has('p-2'));
    expect(readFields(payments.get('p-1') as Y.Map<unknown>)).toEqual({ amount: 300 });
    const removal = await post(server, '/api/documents/account-123/changes', { records: { payments: { 'p-2': null } } }, writer);
    expect(removal.status).toBe(200);
    await waitFor(() => !payments.has('p-2'));

    // Durable: a fresh client after a restart reads what the backend wrote.
    viewer.provider.destroy();
    await server.restart();
    const later = hocuspocusClient(server, 'account-123', await mintToken({ sub: 'sarah', tenant: 'acme', docs: { '*': 'read' } }));
    await later.whenSynced();
    expect(readFields(later.doc.getMap('fields'))).toEqual({ balance: 750 });
    expect(readFields(later.doc.getMap('payments').get('p-1') as Y.Map<unknown>)).toEqual({ amount: 300 });
  });

  it('refuses read grants, other tenants and bad changes, writing nothing', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const viewer = hocuspocusClient(server, 'notes', await mintToken({ sub: 'sarah', tenant: 'acme', docs: { '*': 'write' } }));
    await viewer.whenSynced();
    viewer.doc.getText('body').insert(0, 'hello');
    const reader = await mintToken({ sub: 'intern', tenant: 'acme', docs: { '*': 'read' } });
    const good = { fields: { title: 'Notes' } };

    const cases: Array<[Promise<{ status: number; body: Record<string, unknown> }>, number, RegExp]> = [
      [post(server, '/api/documents/notes/changes', good, reader), 403, /does not grant write on notes/],
      [post(server, '/api/documents/notes/changes?tenant=globex', good, reader), 403, /tenant acme/],
      [post(server, '/api/documents/notes/changes?tenant=acme', {}, API_KEY), 400, /at least one change/],
      [post(server, '/api/documents/notes/changes?tenant=acme', { fields: { title: 'x' }, extra: 1 }, API_KEY), 400, /extra/],
      [post(server, '/api/documents/notes/changes?tenant=acme', { records: { fields: { a: { b: 1 } } } }, API_KEY), 400, /own fields/],
      [post(server, '/api/documents/notes/changes?tenant=acme', { records: { body: { r1: { a: 1 } } } }, API_KEY), 400, /not a map/],
      [post(server, '/api/documents/bad%20name/changes?tenant=acme', good, API_KEY), 400, /document name/],
    ];
    for (const [request, status, error] of cases) {
      const response = await request;
      expect(response.status, `${status} ${error}: ${JSON.stringify(response.body)}`).toBe(status);
      expect(response.body.error).toMatch(error);
    }
    expect(viewer.doc.getMap('fields').size).toBe(0);
    expect(viewer.doc.getText('body').toString()).toBe('hello');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('is the same through the Node API', async () => {
    const server = await startTestServer();
    const viewer = hocuspocusClient(server, 'task-7', await mintToken({ sub: 'sarah', tenant: 'acme', docs: { '*': 'read' } }));
    await viewer.whenSynced();
    const result = await server.current.changeDocument('task-7', { fields: { status: 'done' } }, { tenant: 'acme' });
    expect(result).toEqual({ document: 'task-7', applied: 1, durable: true });
    await waitFor(() => readField(viewer.doc.getMap('fields'), 'status') === 'done');
    await expect(server.current.changeDocument('task-7', { fields: {} }, { tenant: 'acme' })).rejects.toThrow(/at least one change/);
  });
});
