/**
 * Issue 14, "500 documents opened at once on one socket: socket reset after 10–23 (Hocuspocus' 100 pending
 * documents)". Documents beyond 50 authenticating at once wait in the socket and go on as earlier ones are answered,
 * so all 500 sync over the one socket; beyond `CONCORD_MAX_DOCUMENTS_PER_CONNECTION` (1 000 by default) a document is
 * refused with PermissionDenied `too-many-documents` and the socket and its other documents stay.
 */
import { describe, expect, it } from 'vitest';
import { CloseReason } from '@concord/engine';
import { hocuspocusClient, sharedSocket } from '../support/clients.js';
import { metricValue } from '../support/probes.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

describe('documents on one socket', () => {
  it('500 opened at once all sync over one socket that is never reset', { timeout: 120_000 }, async () => {
    const server = await startTestServer();
    const token = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
    const websocket = sharedSocket(server);
    let disconnects = 0;
    websocket.on('disconnect', () => (disconnects += 1));
    const clients = Array.from({ length: 500 }, (_, i) => hocuspocusClient(server, `doc-${i}`, token, { websocket }));
    await waitFor(() => clients.every((client) => client.provider.isSynced), {
      timeoutMs: 90_000,
      message: `every document synced (${clients.filter((client) => client.provider.isSynced).length} of 500)`,
    });
    expect(disconnects, 'the socket was never closed').toBe(0);
    expect(await metricValue(server.url, 'concord_connections_opened_total')).toBe(1);
    expect(clients.flatMap((client) => client.failures)).toEqual([]);
    // Each of them is live: an edit on the last one arrives in a second client.
    clients[499]!.doc.getText('t').insert(0, 'hello');
    const other = hocuspocusClient(server, 'doc-499', token);
    await waitFor(() => other.doc.getText('t').toString() === 'hello');
  });

  it('beyond the cap a document is refused with too-many-documents; the socket and its documents stay', async () => {
    const server = await startTestServer({ maxDocumentsPerConnection: 3 });
    const token = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
    const websocket = sharedSocket(server);
    const open = [0, 1, 2].map((i) => hocuspocusClient(server, `doc-${i}`, token, { websocket }));
    await Promise.all(open.map((client) => client.whenSynced()));
    const fourth = hocuspocusClient(server, 'doc-3', token, { websocket });
    await waitFor(() => fourth.failures.length > 0, { message: 'the fourth document refused' });
    expect(fourth.failures).toEqual([CloseReason.TooManyDocuments]);
    expect(await metricValue(server.url, 'concord_auth_failures_total', `kind="${CloseReason.TooManyDocuments}"`)).toBe(1);

    // The three still sync; once one is closed, another document gets its place.
    const peer = hocuspocusClient(server, 'doc-2', token);
    await peer.whenSynced();
    open[2]!.doc.getText('t').insert(0, 'still live');
    await waitFor(() => peer.doc.getText('t').toString() === 'still live');
    open[0]!.provider.destroy();
    const fifth = hocuspocusClient(server, 'doc-4', token, { websocket });
    await fifth.whenSynced();
    expect(fifth.failures).toEqual([]);
    expect(await metricValue(server.url, 'concord_connections_opened_total')).toBe(2); // the shared socket and the peer's
  });
});
