/**
 * Issue 14, expiry on open connections, from the Concord client's side: the server ends a document's session when its
 * token's `exp` passes unless a fresh token arrived over the same socket (server auth/Sessions.ts). The client fetches
 * one through its token function ahead of expiry and sends it on every open document (client/src/token.ts), so short
 * tokens never cost a reconnect, an edit, or an `unauthorized` status; a token function that stops working ends in
 * `unauthorized` as any refused token does.
 */
import { describe, expect, it } from 'vitest';
import type { DocumentHandle } from '@concord/client';
import { serverDocument } from '../support/clients.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

/** How long the client edits with 2-second tokens. */
const EDITING_MS = 30_000;
/** One edit per document this often (the pace of the test, not a wait for anything). */
const EDIT_EVERY_MS = 100;

async function connectionsOpened(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(text.match(/concord_connections_opened_total\{protocol="hocuspocus"\} (\d+)/)?.[1] ?? 0);
}

function watchStates(handle: DocumentHandle): Set<string> {
  const states = new Set<string>();
  handle.on('status', (status) => states.add(status.state));
  return states;
}

describe('token refresh on an open connection', () => {
  it('edits through 30 s of 2-second tokens: no reconnect, nothing lost, never unauthorized', { timeout: 90_000 }, async () => {
    freshIndexedDB();
    const server = await startTestServer();
    let minted = 0;
    const client = makeClient(server, {
      token: () => {
        minted += 1;
        return token('alice', { expiresInSeconds: 2 });
      },
    });
    const handles = [client.open('notes-1'), client.open('notes-2')];
    const states = handles.map(watchStates);
    await Promise.all(handles.map((handle) => handle.whenSynced()));

    const started = Date.now();
    let edits = 0;
    while (Date.now() - started < EDITING_MS) {
      for (const handle of handles) handle.doc.getArray<number>('edits').push([edits]);
      edits += 1;
      await new Promise((resolve) => setTimeout(resolve, EDIT_EVERY_MS));
    }
    const expected = Array.from({ length: edits }, (_, i) => i);
    for (const [i, handle] of handles.entries()) {
      await waitFor(() => handle.status.pendingChanges === 0, { timeoutMs: 15_000 });
      expect(serverDocument(server, 't1', `notes-${i + 1}`)?.getArray('edits').toArray()).toEqual(expected);
    }
    console.info(`${edits} edits per document over ${EDITING_MS} ms, ${minted} tokens minted`);
    for (const seen of states) expect([...seen]).not.toContain('unauthorized');
    expect(handles.map((handle) => handle.status.state)).toEqual(['connected', 'connected']);
    expect(await connectionsOpened(server.url)).toBe(1);
    expect(minted).toBeGreaterThan(EDITING_MS / 2_000);
  });

  it('a token function that stops working: the session ends at exp and the document is unauthorized', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    let calls = 0;
    const client = makeClient(server, {
      token: () => {
        calls += 1;
        if (calls === 1) return token('alice', { expiresInSeconds: 2 });
        return Promise.reject(new Error('the app backend is down'));
      },
    });
    const handle = client.open('notes-1');
    await handle.whenSynced();
    await waitFor(() => handle.status.state === 'unauthorized', { timeoutMs: 10_000 });
    expect(handle.status.error).toMatch(/Unauthorized|token/);
    expect(client.state).toBe('connected');
  });
});
