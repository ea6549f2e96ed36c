/**
 * Delivery measured from clients (issue 18, point 4), against a real server, read back from its `/metrics`:
 *
 * - Alice's and Bob's clocks are 10 minutes ahead and 5 minutes behind the server's: Alice's edits reach Bob and his
 *   report puts them in `concord_client_update_propagation_seconds`, every one under a second (the clocks are
 *   corrected by the server's time; uncorrected they would be 15 minutes apart and dropped as not a measurement);
 *   Alice's acknowledgements are in `concord_client_message_delivery_seconds`.
 * - A server restart is counted in `concord_client_reconnection_attempts_total` with its close code as the cause.
 * - Hostile reports and stamps (wrong types, out-of-range times, too many labels, a flood) are dropped: counted as
 *   refused, no sample recorded, the server stays up, and edits still sync.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import { MAX_TELEMETRY_LABELS } from '@concord/engine';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { onCleanup } from '../support/cleanup.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, startTestServer, token } from './harness.js';

/** Just over the server's limit of one report per connection in REPORT_INTERVAL_MS (5 s): every report is taken. */
const REPORT_EVERY_MS = 5_100;
const MINUTE = 60_000;

/** The system clock, shifted: a device whose time is off by `skewMs`. */
const skewed = (skewMs: number) => ({
  now: () => Date.now() + skewMs,
  setTimeout: (callback: () => void, ms: number) => setTimeout(callback, ms),
  clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
});

async function metrics(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

function value(text: string, series: string): number {
  const line = text.split('\n').find((row) => row.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('delivery measured from clients (issue 18, point 4)', () => {
  it('propagation with skewed clocks corrected by the server, acknowledgements, and reconnections reach /metrics', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const alice = makeClient(server, { token: await token('alice'), clock: skewed(10 * MINUTE), telemetryIntervalMs: REPORT_EVERY_MS });
    const bob = makeClient(server, { token: await token('bob'), clock: skewed(-5 * MINUTE), telemetryIntervalMs: REPORT_EVERY_MS });
    const a = alice.open('measured');
    const b = bob.open('measured');
    await Promise.all([a.whenSynced(), b.whenSynced()]);

    // One edit a second is stamped: three edits over a little more than two seconds give at least two samples.
    for (let i = 0; i < 3; i += 1) {
      a.doc.getMap('fields').set('n', i);
      await waitFor(() => b.doc.getMap('fields').get('n') === i);
      if (i < 2) await new Promise((resolve) => setTimeout(resolve, 1_050));
    }
    const seen = await waitFor(
      async () => {
        const text = await metrics(server.url);
        return value(text, 'concord_client_update_propagation_seconds_count') >= 2 && value(text, 'concord_client_message_delivery_seconds_count') >= 1
          ? text
          : undefined;
      },
      { timeoutMs: 20_000, message: 'propagation and acknowledgement samples in /metrics' },
    );
    const count = value(seen, 'concord_client_update_propagation_seconds_count');
    expect(value(seen, 'concord_client_update_propagation_seconds_bucket{le="1"}'), 'every edit reached Bob within a second').toBe(count);
    console.log(
      `propagation: ${count} samples, mean ${((value(seen, 'concord_client_update_propagation_seconds_sum') / count) * 1000).toFixed(1)} ms; ` +
        `acknowledgements: ${value(seen, 'concord_client_message_delivery_seconds_count')} samples`,
    );

    await server.stop();
    await server.start();
    await waitFor(async () => /concord_client_reconnection_attempts_total\{cause="closed-\d+"\} [1-9]/.test(await metrics(server.url)), {
      timeoutMs: 15_000,
      message: 'the restart counted as a reconnection with its close code',
    });
  });

  it('hostile reports and stamps are dropped, the server stays up and edits still sync', async () => {
    freshIndexedDB();
    const server = await startTestServer();
    const websocket = new HocuspocusProviderWebsocket({ url: server.syncUrl });
    const raw = new HocuspocusProvider({ name: 'hostile', document: new Y.Doc(), websocketProvider: websocket, token: await token('mallory') });
    raw.attach();
    onCleanup(() => {
      raw.destroy();
      websocket.destroy();
    });
    await waitFor(() => raw.isSynced, { message: 'the raw provider synced' });
    const labels = Object.fromEntries(Array.from({ length: MAX_TELEMETRY_LABELS + 1 }, (_, i) => [`cause-${i}`, 1]));
    const hostile = [
      { concord: 'telemetry', delivery: [-5], ack: [], reconnects: {}, errors: {} },
      { concord: 'telemetry', delivery: ['12'], ack: [], reconnects: {}, errors: {} },
      { concord: 'telemetry', delivery: [1e12], ack: [], reconnects: {}, errors: {} },
      { concord: 'telemetry', delivery: [], ack: [], reconnects: labels, errors: {} },
      { concord: 'telemetry', delivery: [], ack: [], reconnects: { 'Bad Label!': 1 }, errors: {} },
      { concord: 'telemetry', delivery: Array.from({ length: 10_000 }, () => 1), ack: [], reconnects: {}, errors: {} },
      { concord: 'telemetry', delivery: [1], ack: [], reconnects: {}, errors: {}, extra: true },
    ];
    for (const message of hostile) raw.sendStateless(JSON.stringify(message));
    for (let i = 0; i < 200; i += 1) raw.sendStateless(JSON.stringify({ concord: 'stamp', at: Date.now(), client: 1, clock: i }));
    raw.sendStateless('{"concord":"telemetry",'); // not even JSON

    const text = await waitFor(async () => {
      const scraped = await metrics(server.url);
      return value(scraped, 'concord_client_reports_total{outcome="malformed"}') >= hostile.length + 1 ? scraped : undefined;
    }, { message: 'every hostile report counted as malformed' });
    expect(value(text, 'concord_client_update_propagation_seconds_count'), 'no sample from a hostile report').toBe(0);
    expect(value(text, 'concord_client_reports_total{outcome="accepted"}')).toBe(0);

    // The server is up and syncing: two Concord clients still exchange an edit.
    const alice = makeClient(server, { token: await token('alice') }).open('hostile');
    const bob = makeClient(server, { token: await token('bob') }).open('hostile');
    await Promise.all([alice.whenSynced(), bob.whenSynced()]);
    alice.doc.getMap('fields').set('after', 'still fine');
    await waitFor(() => bob.doc.getMap('fields').get('after') === 'still fine');
  });
});
