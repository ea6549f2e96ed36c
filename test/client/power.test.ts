/**
 * Battery and hidden tabs (issue 18, point 2), against a real server, on the client's clock (a ManualClock: no
 * waiting out intervals). What Alice's client puts on the wire is counted by a WebSocket that counts its own
 * awareness frames, so each test says how many presence messages left, not how many a peer happened to notice.
 *
 * - Saving energy (`saveEnergy: 'always'`, what 'auto' does on a low battery or with the data saver): a burst of 30
 *   presence changes leaves as 2 messages (the first at once, the last state one interval later), and the peer ends on
 *   the last state. Without saving, all 30 leave.
 * - A hidden page (document.visibilityState, faked here; the Chromium test uses the real API): presence leaves at most
 *   once per HIDDEN_PRESENCE_MS; shown again, what is held leaves at once.
 * - Hidden for `hiddenDisconnectAfterMs`: the socket closes (the peer sees Alice leave, `sleeping`, `offline`); an
 *   edit made meanwhile wakes it and reaches the peer, and it sleeps again WAKE_LINGER_MS after; shown, it reconnects.
 */
import { ECONOMY_PRESENCE_MS, HIDDEN_PRESENCE_MS, TELEMETRY_INTERVAL_MS, WAKE_LINGER_MS, type SyncClient } from '@concord/client';
import * as decoding from 'lib0/decoding';
import { describe, expect, it } from 'vitest';
import { onCleanup } from '../support/cleanup.js';
import { ManualClock } from '../support/clock.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

/** Hocuspocus's message type of a presence (awareness) frame. */
const AWARENESS = 1;
const BURST = 30;

/** A WebSocket that counts the awareness frames it sends, per document. */
function countingWebSocket(): { WebSocket: typeof WebSocket; sent: (document: string) => number } {
  const counts = new Map<string, number>();
  class Counting extends WebSocket {
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      if (data instanceof Uint8Array && data.byteLength > 1) {
        try {
          const decoder = decoding.createDecoder(data);
          const document = decoding.readVarString(decoder);
          if (decoding.readVarUint(decoder) === AWARENESS) counts.set(document, (counts.get(document) ?? 0) + 1);
        } catch {
          // Not a document's frame (a heartbeat answer).
        }
      }
      super.send(data);
    }
  }
  return { WebSocket: Counting, sent: (document) => counts.get(document) ?? 0 };
}

/** A page the client can read `visibilityState` from and hear `visibilitychange` on, until the test ends. */
function fakePage(): { show: () => void; hide: () => void } {
  const page = Object.assign(new EventTarget(), { visibilityState: 'visible' as 'visible' | 'hidden' });
  const had = Object.getOwnPropertyDescriptor(globalThis, 'document');
  Object.defineProperty(globalThis, 'document', { value: page, configurable: true, writable: true });
  onCleanup(() => {
    if (had) Object.defineProperty(globalThis, 'document', had);
    else delete (globalThis as { document?: unknown }).document;
  });
  const set = (state: 'visible' | 'hidden') => {
    page.visibilityState = state;
    page.dispatchEvent(new Event('visibilitychange'));
  };
  return { show: () => set('visible'), hide: () => set('hidden') };
}

async function pair(options: { alice: Parameters<typeof makeClient>[1]; document: string }) {
  const server = await startTestServer();
  const alice = makeClient(server, options.alice);
  const bob = makeClient(server, { token: await token('bob') });
  const a = alice.open(options.document);
  const b = bob.open(options.document);
  await Promise.all([a.whenSynced(), b.whenSynced()]);
  const seenPage = () => b.presence.peers().find((peer) => peer.user.id === 'alice')?.page;
  return { server, alice, bob, a, b, seenPage };
}

const burst = (client: SyncClient, document: string) => {
  const handle = client.open(document);
  for (let i = 0; i < BURST; i += 1) handle.presence.set({ page: `p${i}` });
  void handle.close();
};

describe('presence pace and the hidden tab (issue 18, point 2)', () => {
  it('saving energy, a burst of presence leaves as two messages and ends on the last state; without, every change leaves', async () => {
    freshIndexedDB();
    const clock = new ManualClock();
    const wire = countingWebSocket();
    const { alice, seenPage } = await pair({
      alice: { token: await token('alice'), clock, saveEnergy: 'always', WebSocketPolyfill: wire.WebSocket },
      document: 'paced',
    });
    clock.advance(ECONOMY_PRESENCE_MS); // the state sent when Alice joined is an interval old
    const before = wire.sent('paced');
    burst(alice, 'paced');
    await waitFor(() => seenPage() === 'p0', { message: 'Bob sees the first state at once' });
    expect(wire.sent('paced') - before, 'one message for the first change').toBe(1);
    clock.advance(ECONOMY_PRESENCE_MS);
    await waitFor(() => seenPage() === `p${BURST - 1}`, { message: 'Bob sees the last state one interval later' });
    expect(wire.sent('paced') - before, 'and one for the rest').toBe(2);

    const free = countingWebSocket();
    const unpaced = await pair({ alice: { token: await token('alice'), clock, saveEnergy: 'never', WebSocketPolyfill: free.WebSocket }, document: 'free' });
    const freeBefore = free.sent('free');
    burst(unpaced.alice, 'free');
    await waitFor(() => unpaced.seenPage() === `p${BURST - 1}`, { message: 'Bob sees the last state' });
    expect(free.sent('free') - freeBefore, 'every change left').toBe(BURST);
  });

  it('a hidden page sends presence at most once per HIDDEN_PRESENCE_MS, and what it holds leaves when shown', async () => {
    freshIndexedDB();
    const page = fakePage();
    const clock = new ManualClock();
    const wire = countingWebSocket();
    const { alice, seenPage } = await pair({ alice: { token: await token('alice'), clock, saveEnergy: 'never', WebSocketPolyfill: wire.WebSocket }, document: 'hidden' });
    page.hide();
    clock.advance(HIDDEN_PRESENCE_MS); // the state sent when Alice joined is an interval old
    const before = wire.sent('hidden');
    burst(alice, 'hidden');
    await waitFor(() => seenPage() === 'p0');
    clock.advance(HIDDEN_PRESENCE_MS - 1);
    alice.open('hidden').presence.set({ page: 'later' });
    expect(wire.sent('hidden') - before, 'nothing more within the interval').toBe(1);
    page.show();
    await waitFor(() => seenPage() === 'later', { message: 'shown: the held state leaves at once' });
    expect(wire.sent('hidden') - before).toBe(2);
  });

  it('hidden for hiddenDisconnectAfterMs, the socket sleeps; an edit wakes it and reaches Bob; shown, it reconnects', async () => {
    freshIndexedDB();
    const page = fakePage();
    const clock = new ManualClock();
    const afterMs = 60_000;
    const { server, alice, b, a } = await pair({ alice: { token: await token('alice'), clock, hiddenDisconnectAfterMs: afterMs }, document: 'sleepy' });
    const alicePresent = () => b.presence.peers().some((peer) => peer.user.id === 'alice');
    await waitFor(alicePresent);

    page.hide();
    clock.advance(afterMs - 1);
    expect(alice.sleeping, 'not before the time is up').toBe(false);
    clock.advance(1);
    expect(alice.sleeping).toBe(true);
    await waitFor(() => alice.state === 'offline' && !alicePresent(), { message: 'the socket closed and Bob saw Alice leave' });

    // An edit while asleep still goes out: it wakes the socket.
    a.doc.getMap('fields').set('title', 'written while hidden');
    await waitFor(() => b.doc.getMap('fields').get('title') === 'written while hidden', { message: 'the edit reached Bob' });
    await waitFor(() => a.status.pendingChanges === 0 && a.status.synced, { message: 'the edit was acknowledged' });
    expect(alice.sleeping).toBe(false);
    clock.advance(WAKE_LINGER_MS);
    expect(alice.sleeping, 'asleep again once sent, the page still hidden').toBe(true);
    await waitFor(() => alice.state === 'offline');

    page.show();
    expect(alice.sleeping).toBe(false);
    await waitFor(() => alice.state === 'connected' && alicePresent(), { message: 'shown: connected, and Bob sees Alice again' });

    // Her report (due on her clock) counts no lost connection: the socket was let go of on purpose.
    await waitFor(() => a.status.synced);
    clock.advance(TELEMETRY_INTERVAL_MS);
    const metrics = await waitFor(async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return /concord_client_reports_total\{outcome="accepted"\} [1-9]/.test(text) ? text : undefined;
    }, { message: 'a report from Alice' });
    expect(metrics).not.toMatch(/concord_client_reconnection_attempts_total\{/);
  });

  it('never sleeps with hiddenDisconnectAfterMs null', async () => {
    freshIndexedDB();
    const page = fakePage();
    const clock = new ManualClock();
    const { alice } = await pair({ alice: { token: await token('alice'), clock, hiddenDisconnectAfterMs: null }, document: 'awake' });
    page.hide();
    clock.advance(24 * 3_600_000);
    expect(alice.sleeping).toBe(false);
    expect(alice.state).toBe('connected');
  });
});
