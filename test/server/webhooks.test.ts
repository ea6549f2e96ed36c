/**
 * Signed webhooks over real sockets and a real local HTTP receiver: a document changed by a client reaches the app
 * backend as one signed `document.changed` delivery per burst of edits, retried (same id) while the receiver fails
 * with 5xx, not retried after a 4xx, never sent for loading from storage; bad webhook settings stop the server with a
 * clear message.
 */
import { createHmac } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ConfigError, startServer, verifyWebhookSignature } from '@concord/server';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'webhook-secret-that-is-long-enough-for-hmac';

interface Received {
  readonly id: string;
  readonly signature: string;
  readonly body: string;
  readonly json: { id: string; type: string; tenant: string; document: string; changes: unknown[]; roots: string[]; by: string[] };
}

/** A local HTTP receiver answering each request with the next status of `statuses` (then 200). */
async function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const answers = [...statuses];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      received.push({
        id: String(request.headers['concord-webhook-id']),
        signature: String(request.headers['concord-signature']),
        body,
        json: JSON.parse(body) as Received['json'],
      });
      response.statusCode = answers.shift() ?? 200;
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/concord`, received, answers };
}

async function editor(server: { syncUrl: string }, name: string, user = 'alice') {
  const client = hocuspocusClient(server, name, await mintToken({ sub: user, tenant: 'acme', docs: { '*': 'write' } }));
  await client.whenSynced();
  return client;
}

describe('webhooks', () => {
  it('signs each delivery and retries it with the same id while the receiver fails with 5xx, then stops', async () => {
    const backend = await receiver([500, 503]);
    const server = await startTestServer({ webhookUrl: backend.url, webhookSecret: SECRET, webhookRetry: { baseDelayMs: 50 } });
    const alice = await editor(server, 'account-1');
    alice.doc.transact(() => {
      alice.doc.getMap('fields').set('status', 'paid');
      alice.doc.getText('notes').insert(0, 'Paid by card');
    });
    await waitFor(() => backend.received.length === 3, { timeoutMs: 15_000 });
    const [first, , third] = backend.received;
    expect(new Set(backend.received.map(({ id }) => id)).size).toBe(1);
    expect(third?.json).toMatchObject({
      id: first?.id,
      type: 'document.changed',
      tenant: 'acme',
      document: 'account-1',
      changes: [{ root: 'fields', record: null, field: 'status', value: 'paid' }],
      roots: ['notes'],
      by: ['alice'],
    });
    for (const delivery of backend.received) {
      expect(verifyWebhookSignature({ secret: SECRET, header: delivery.signature, body: delivery.body })).toBe(true);
      // The same check by hand, as a backend in another language would do it.
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(delivery.signature) ?? [];
      expect(createHmac('sha256', SECRET).update(`${t}.${delivery.body}`).digest('hex')).toBe(v1);
    }
    expect(verifyWebhookSignature({ secret: 'another-secret-of-enough-length-0000', header: first?.signature, body: first?.body ?? '' })).toBe(false);
    expect(verifyWebhookSignature({ secret: SECRET, header: first?.signature, body: `${first?.body} ` })).toBe(false);

    // Delivered: the next change is a new delivery, and the first is never sent again.
    alice.doc.getMap('fields').set('status', 'archived');
    await waitFor(() => backend.received.length === 4, { timeoutMs: 10_000 });
    expect(backend.received[3]?.id).not.toBe(first?.id);
    expect(backend.received.filter(({ id }) => id === first?.id)).toHaveLength(3);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/concord_webhook_deliveries_total\{outcome="retried"\} 2/);
    expect(metrics).toMatch(/concord_webhook_deliveries_total\{outcome="delivered"\} 2/);
  });

  it('does not retry a delivery the receiver refuses with 4xx', async () => {
    const backend = await receiver([400]);
    const server = await startTestServer({ webhookUrl: backend.url, webhookSecret: SECRET, webhookRetry: { baseDelayMs: 20 } });
    const alice = await editor(server, 'account-2');
    alice.doc.getMap('fields').set('balance', 10);
    await waitFor(() => backend.received.length === 1);
    alice.doc.getMap('fields').set('balance', 20);
    await waitFor(() => backend.received.length === 2, { timeoutMs: 10_000 });
    expect(backend.received[1]?.id).not.toBe(backend.received[0]?.id);
    expect(backend.received[1]?.json.changes).toEqual([{ root: 'fields', record: null, field: 'balance', value: 20 }]);
  });

  it('sends one delivery for a burst of edits, with the last values, and none for loading from storage', async () => {
    const backend = await receiver();
    const server = await startTestServer({ webhookUrl: backend.url, webhookSecret: SECRET });
    const alice = await editor(server, 'project-1');
    const tasks = alice.doc.getMap<unknown>('tasks');
    for (let i = 1; i <= 50; i++) alice.doc.getMap('fields').set('counter', i);
    alice.doc.transact(() => {
      const task = new Y.Map<unknown>();
      tasks.set('t1', task);
      task.set('status', 'todo');
    });
    await waitFor(() => backend.received.length === 1, { timeoutMs: 10_000 });
    expect(backend.received[0]?.json.changes).toEqual(
      expect.arrayContaining([{ root: 'fields', record: null, field: 'counter', value: 50 }, { root: 'tasks', record: null, field: 't1', value: { status: 'todo' } }]),
    );
    alice.provider.destroy();
    await server.restart();
    const reader = await editor(server, 'project-1', 'bob');
    expect(reader.doc.getMap('fields').get('counter')).toBe(50);
    // Something is delivered only when bob changes something: loading sent nothing.
    reader.doc.getMap('fields').set('counter', 51);
    await waitFor(() => backend.received.length === 2, { timeoutMs: 10_000 });
    expect(backend.received[1]?.json).toMatchObject({ by: ['bob'], changes: [{ field: 'counter', value: 51 }] });
  });

  it('refuses to start with a webhook URL but no secret, or a bad hooks file, naming what is wrong', async () => {
    const dir = await makeTempDir();
    await expect(startServer({ port: 0, dataDir: dir, webhookUrl: 'http://127.0.0.1:9/x', logLevel: 'silent' })).rejects.toThrow(
      /CONCORD_WEBHOOK_URL \(--webhook-url\) is set but CONCORD_WEBHOOK_SECRET/,
    );
    await expect(startServer({ port: 0, dataDir: dir, webhookUrl: 'http://127.0.0.1:9/x', webhookSecret: 'short', logLevel: 'silent' })).rejects.toThrow(
      /CONCORD_WEBHOOK_SECRET \(--webhook-secret\) must be at least 32 characters; got "<hidden>"/,
    );
    const file = join(dir, 'hooks.json');
    await writeFile(file, JSON.stringify({ events: [{ documents: 'task-*', field: 'status' }], webhooks: [{ url: 'ftp://x' }] }));
    const bad = startServer({ port: 0, dataDir: dir, hooksFile: file, webhookSecret: SECRET, logLevel: 'silent' });
    await expect(bad).rejects.toBeInstanceOf(ConfigError);
    await expect(bad).rejects.toThrow(/hooks\.json:\n {2}- events\.0: give "event", "notify" or both\n {2}- webhooks\.0\.url: must be an http\(s\) URL/);
    await writeFile(file, '{ not json');
    await expect(startServer({ port: 0, dataDir: dir, hooksFile: file, logLevel: 'silent' })).rejects.toThrow(/hooks\.json is not valid JSON/);
    await expect(startServer({ port: 0, dataDir: dir, hooksFile: join(dir, 'missing.json'), logLevel: 'silent' })).rejects.toThrow(
      /cannot read the hooks file .*missing\.json/,
    );
  });
});
