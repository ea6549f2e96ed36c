/**
 * Issue 13, part 5 — dead connections seen within 10 s, on the server side. The server pings every socket each
 * heartbeat (`CONCORD_HEARTBEAT_INTERVAL_MS`): Hocuspocus Ping frames to providers that answer them (v4), WebSocket
 * pings to everyone else (v3 providers, y-websocket). A client whose network vanished silently — the TCP proxy
 * blackholes it: no byte either way, no FIN, no RST — is terminated within 10 s, Hocuspocus removes its presence,
 * and its peers see it leave. Healthy idle clients of every kind stay connected across several heartbeats.
 *
 * Before the heartbeat, the only check was Hocuspocus' idle timeout (60 s by default), so every wait below for a
 * silent client to go timed out.
 */
import { HocuspocusProvider as HocuspocusProviderV3 } from 'hocuspocus-provider-v3';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { hocuspocusClient, type HocuspocusClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTcpProxy, throughProxy, type TcpProxy } from '../support/tcpProxy.js';
import { mintToken } from '../support/tokens.js';
import { timeIf, waitFor } from '../support/wait.js';

/** Issue 13: peers see a silent client leave within this bound. */
const LEAVE_SEEN_WITHIN_MS = 10_000;
/** Heartbeats an idle client must receive while staying connected: more than three intervals of idleness. */
const IDLE_HEARTBEATS = 4;

/** The Hocuspocus Ping frame (connection level: one byte, no document name). */
const PING_FRAME_BYTE = 9;

function tokenFor(sub: string): Promise<string> {
  return mintToken({ sub, tenant: 'acme', docs: { '*': 'write' } });
}

async function metric(server: TestServer, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

const deadConnections = (server: TestServer, protocol: string) =>
  metric(server, new RegExp(`concord_dead_connections_total\\{protocol="${protocol}"\\} (\\d+)`));
const openConnections = (server: TestServer, protocol: string) =>
  metric(server, new RegExp(`concord_connections\\{protocol="${protocol}"\\} (\\d+)`));

/** A WebSocket (the `ws` package, which answers pings by itself) that counts the WebSocket pings it receives. */
function pingCountingWebSocket(counter: { pings: number }) {
  return class extends WebSocket {
    constructor(...args: ConstructorParameters<typeof WebSocket>) {
      super(...args);
      this.on('ping', () => (counter.pings += 1));
    }
  };
}

/** Counts the Hocuspocus Ping frames a v4 provider's socket receives. */
function countPingFrames(client: HocuspocusClient): { pings: number } {
  const counter = { pings: 0 };
  client.provider.configuration.websocketProvider.on('message', (event: MessageEvent) => {
    const data = new Uint8Array(event.data as ArrayBuffer);
    if (data.length === 1 && data[0] === PING_FRAME_BYTE) counter.pings += 1;
  });
  return counter;
}

function yWebsocketClient(url: string, name: string, token: string, counter = { pings: 0 }) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(url, name, doc, {
    params: { token },
    disableBc: true,
    WebSocketPolyfill: pingCountingWebSocket(counter) as unknown as typeof globalThis.WebSocket,
  });
  onCleanup(() => provider.destroy());
  const closes: number[] = [];
  provider.on('connection-close', (event) => closes.push(event?.code ?? 0));
  return { doc, provider, counter, closes };
}

/** Sets a presence field and waits until `observer` sees it. */
async function present(awareness: { setLocalStateField(key: string, value: unknown): void; clientID: number }, observer: HocuspocusClient, name: string) {
  awareness.setLocalStateField('user', { name });
  await waitFor(() => observer.provider.awareness?.getStates().get(awareness.clientID) !== undefined, {
    message: `${name}'s presence to reach the observer`,
  });
}

/**
 * Blackholes Bob's proxy and resolves once the server dropped his connection of `protocol` and Alice's awareness lost
 * him, both within the bound; logs both times.
 */
async function silenceAndMeasure(
  server: TestServer,
  proxy: TcpProxy,
  protocol: 'hocuspocus' | 'y-websocket',
  alice: HocuspocusClient,
  bobClientId: number,
): Promise<void> {
  const label = protocol === 'hocuspocus' ? '/sync' : 'y-websocket';
  proxy.blackhole();
  const silentAt = Date.now();
  const dropped = waitFor(async () => timeIf((await deadConnections(server, protocol)) === 1), {
    timeoutMs: LEAVE_SEEN_WITHIN_MS,
    message: `the server to drop the silent ${label} client`,
  });
  const left = waitFor(() => timeIf(!alice.provider.awareness?.getStates().has(bobClientId)), {
    timeoutMs: LEAVE_SEEN_WITHIN_MS,
    message: "Bob's presence to leave Alice's awareness",
  });
  const [droppedAt, leftAt] = await Promise.all([dropped, left]);
  console.log(`[heartbeat] the server dropped Bob (${label}) ${droppedAt - silentAt} ms after his network went silent`);
  console.log(`[heartbeat] peers saw Bob (${label}) leave after ${leftAt - silentAt} ms`);
}

/** Alice straight to a new server, Bob (a v4 provider) through a proxy the test controls; Alice sees his presence. */
async function aliceAndBobThroughProxy() {
  const server = await startTestServer();
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
  const alice = hocuspocusClient(server, 'standup', await tokenFor('alice'));
  const bob = hocuspocusClient({ syncUrl: throughProxy(server.syncUrl, proxy) }, 'standup', await tokenFor('bob'));
  await Promise.all([alice.whenSynced(), bob.whenSynced()]);
  await present(bob.provider.awareness!, alice, 'Bob');
  return { server, proxy, alice, bob };
}

describe('server heartbeat', () => {
  it('drops a /sync client whose network went silent, and its peers see it leave within 10 s', async () => {
    const { server, proxy, alice, bob } = await aliceAndBobThroughProxy();
    expect(await openConnections(server, 'hocuspocus')).toBe(2);

    await silenceAndMeasure(server, proxy, 'hocuspocus', alice, bob.doc.clientID);
    expect(await openConnections(server, 'hocuspocus')).toBe(1);
    // Alice, healthy, is still connected and still edits with the server.
    alice.doc.getText('notes').insert(0, 'still here');
    await waitFor(() => alice.provider.unsyncedChanges === 0 && alice.provider.isSynced);
  });

  it('drops the presence of a client that came back after a lost connection when it goes silent again', async () => {
    const { server, proxy, alice, bob } = await aliceAndBobThroughProxy();
    const bobIsListed = () => alice.provider.awareness?.getStates().has(bob.doc.clientID) === true;

    // A first loss (a reset): Bob leaves, comes back with the same client id and is listed again.
    proxy.cut();
    await waitFor(() => !bobIsListed(), { message: 'Alice to see Bob leave the first time' });
    proxy.restore();
    await waitFor(() => bob.provider.isSynced, { timeoutMs: 20_000, message: 'Bob to come back' });
    // The server ignores a returning state with the clock it saw last; a newer one (as the Concord client sends on
    // each authentication) lists him again at once.
    await present(bob.provider.awareness!, alice, 'Bob, back');

    // His returning state was an update of a known client id, not an addition: its owner still removes it.
    proxy.blackhole();
    const silentAt = Date.now();
    const leftAt = await waitFor(() => timeIf(!bobIsListed()), {
      timeoutMs: LEAVE_SEEN_WITHIN_MS,
      message: "Bob's presence to leave Alice's awareness the second time",
    });
    console.log(`[heartbeat] peers saw Bob (/sync, back after a first loss) leave after ${leftAt - silentAt} ms`);
  });

  it('drops a y-websocket client whose network went silent, and its peers see it leave within 10 s', async () => {
    const server = await startTestServer();
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const alice = hocuspocusClient(server, 'standup', await tokenFor('alice'));
    const bob = yWebsocketClient(throughProxy(server.yUrl, proxy), 'standup', await tokenFor('bob'));
    await alice.whenSynced();
    await waitFor(() => bob.provider.synced);
    await present(bob.provider.awareness, alice, 'Bob');

    await silenceAndMeasure(server, proxy, 'y-websocket', alice, bob.doc.clientID);
    expect(await openConnections(server, 'y-websocket')).toBe(0);
  });

  it('keeps healthy idle clients of every kind connected across several heartbeats', { timeout: 60_000 }, async () => {
    const server = await startTestServer();
    const token = await tokenFor('carol');
    const v4 = hocuspocusClient(server, 'quiet', token);
    const v4Pings = countPingFrames(v4);
    const v3Pings = { pings: 0 };
    const v3Doc = new Y.Doc();
    // The v3 provider passes its options on to the socket it makes (its types do not list the socket's).
    const v3 = new HocuspocusProviderV3({
      url: server.syncUrl,
      name: 'quiet',
      document: v3Doc,
      token,
      WebSocketPolyfill: pingCountingWebSocket(v3Pings),
    } as ConstructorParameters<typeof HocuspocusProviderV3>[0]);
    onCleanup(() => v3.destroy());
    const y = yWebsocketClient(server.yUrl, 'quiet', token);
    await Promise.all([v4.whenSynced(), waitFor(() => v3.isSynced), waitFor(() => y.provider.synced)]);
    const opened = await metric(server, /concord_connections_opened_total\{protocol="hocuspocus"\} (\d+)/);

    // Nothing but heartbeats for more than three intervals: Ping frames for v4, WebSocket pings for v3 and y-websocket.
    await waitFor(() => [v4Pings, v3Pings, y.counter].every(({ pings }) => pings >= IDLE_HEARTBEATS), {
      timeoutMs: 30_000,
      message: 'every client to receive several heartbeats',
    });
    console.log(`[heartbeat] idle clients stayed through heartbeats: v4 ${v4Pings.pings}, v3 ${v3Pings.pings}, y-websocket ${y.counter.pings}`);
    expect(await deadConnections(server, 'hocuspocus')).toBe(0);
    expect(await deadConnections(server, 'y-websocket')).toBe(0);
    expect(await openConnections(server, 'hocuspocus')).toBe(2);
    expect(await openConnections(server, 'y-websocket')).toBe(1);
    expect(await metric(server, /concord_connections_opened_total\{protocol="hocuspocus"\} (\d+)/)).toBe(opened);
    expect(y.closes).toEqual([]);
    // A v3 provider never gets a Ping frame (it would throw on one): it still syncs.
    v3Doc.getText('t').insert(0, 'v3 ');
    await waitFor(() => v4.doc.getText('t').toString() === 'v3 ' && y.doc.getText('t').toString() === 'v3 ');
  });
});
