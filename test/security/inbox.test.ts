/**
 * Issue 14, "the inbox rule holds only on sockets": with any `*: write` token (every dev token is one),
 * `POST /api/documents/inbox:<other>/changes` wrote a fake notification into another user's inbox and changed their
 * notification preferences. An inbox is its owner's alone on every path: the HTTP API refuses it with 403 and
 * writes nothing; the owner's own token, and the backend's API key, still write.
 */
import { describe, expect, it } from 'vitest';
import { hocuspocusClient } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';

async function post(server: TestServer, path: string, body: unknown, credential: string) {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${credential}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const fakeNotification = {
  records: { notifications: { 'fake-1': { kind: 'mention', title: 'Your password expired, click here', createdAt: 1 } } },
};

describe("another user's inbox over the HTTP API", () => {
  it('is refused with 403 for a token that grants every document, and nothing reaches the owner', async () => {
    const server = await startTestServer({ apiKey: API_KEY });
    const bob = hocuspocusClient(server, 'inbox:bob', await mintToken({ sub: 'bob', tenant: 'acme', docs: {} }));
    await bob.whenSynced();
    const mallory = await mintToken({ sub: 'mallory', tenant: 'acme', docs: { '*': 'write' } });

    for (const body of [fakeNotification, { fields: { 'preference.mention': { enabled: false, sound: false } } }]) {
      const response = await post(server, '/api/documents/inbox:bob/changes', body, mallory);
      expect(response.status, JSON.stringify(response.body)).toBe(403);
      expect(response.body.error).toMatch(/does not grant write on inbox:bob \(an inbox is its owner's alone\)/);
    }

    // Bob's own token writes his inbox; the backend's API key does too (how the server's notify path writes).
    const own = await post(server, '/api/documents/inbox:bob/changes', { fields: { theme: 'dark' } }, await mintToken({ sub: 'bob', tenant: 'acme', docs: {} }));
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    const byKey = await post(server, '/api/documents/inbox:bob/changes?tenant=acme', { fields: { digest: 'daily' } }, API_KEY);
    expect(byKey.status, JSON.stringify(byKey.body)).toBe(200);
    await waitFor(() => bob.doc.getMap('fields').size >= 2, { message: "Bob's own and the backend's writes to reach him" });
    expect(bob.doc.getMap('notifications').size, 'no notification reached Bob').toBe(0);
    expect([...bob.doc.getMap('fields').keys()].some((key) => key.startsWith('preference.')), 'his preferences are untouched').toBe(false);
  });
});
