/**
 * Issue 14, connections (global, per IP, per user): upgrades beyond the server's cap get HTTP 503 and beyond one
 * address' cap HTTP 429, before a socket exists; a user's sockets beyond their cap are closed 4430 once they
 * authenticate (the user is only known then), and other users' sockets are untouched.
 */
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CloseCode, CloseReason } from '@concord/engine';
import { frames, hocuspocusClient, rawSocket } from '../support/clients.js';
import { metricValue, tryOpen } from '../support/probes.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

describe('connection caps', () => {
  it('refuses upgrades beyond the per-address cap with 429 and beyond the global cap with 503', async () => {
    const perIp = await startTestServer({ maxConnectionsPerIp: 3 });
    const first = await Promise.all([1, 2, 3].map(() => tryOpen(perIp.syncUrl)));
    expect(first.every((attempt) => 'ws' in attempt)).toBe(true);
    expect(await tryOpen(perIp.syncUrl)).toEqual({ status: 429 });
    // One closes: its address may open one again.
    const one = first[0] as { ws: WebSocket; closed: Promise<unknown> };
    one.ws.close();
    await one.closed;
    await waitFor(async () => 'ws' in (await tryOpen(perIp.syncUrl)), { message: 'a socket accepted once one closed' });
    expect(await metricValue(perIp.url, 'concord_rejected_connections_total', 'reason="ip-limit"')).toBeGreaterThanOrEqual(1);

    const global = await startTestServer({ maxConnections: 2 });
    const token = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
    await hocuspocusClient(global, 'a', token).whenSynced();
    await hocuspocusClient(global, 'b', token).whenSynced();
    expect(await tryOpen(global.syncUrl)).toEqual({ status: 503 });
    expect(await tryOpen(`${global.yUrl}/c?token=${token}`)).toEqual({ status: 503 });
    expect(await metricValue(global.url, 'concord_rejected_connections_total', 'reason="connection-limit"')).toBe(2);
  });

  it("closes a user's sockets beyond their cap with 4430 once authenticated; another user's stay", async () => {
    const server = await startTestServer({ maxConnectionsPerUser: 2 });
    const alice = await mintToken({ sub: 'alice', tenant: 'acme', docs: { '*': 'write' } });
    const bob = await mintToken({ sub: 'bob', tenant: 'acme', docs: { '*': 'write' } });
    const sockets = [];
    for (const [token, name] of [[alice, 'a1'], [alice, 'a2'], [bob, 'b1'], [alice, 'a3']] as const) {
      const socket = await rawSocket(server.syncUrl);
      socket.send(frames.auth(name, token));
      await waitFor(() => socket.received.some((frame) => frames.isAuthenticated(frame)), { message: `${name} authenticated` });
      sockets.push(socket);
    }
    expect(await sockets[3]!.closed).toEqual({ code: CloseCode.TooManyConnections, reason: CloseReason.TooManyConnections });
    // A y-websocket socket of Alice counts too.
    const y = await rawSocket(`${server.yUrl}/a4?token=${alice}`);
    expect((await y.closed).code).toBe(CloseCode.TooManyConnections);
    for (const socket of sockets.slice(0, 3)) expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    expect(await metricValue(server.url, 'concord_rejected_connections_total', 'reason="user-limit"')).toBe(2);

    // Once one of Alice's sockets closes, she may open another.
    sockets[0]!.ws.close();
    await sockets[0]!.closed;
    const again = hocuspocusClient(server, 'a5', alice);
    await again.whenSynced();
  });
});
