/**
 * The HTTP fallback's cost (issue 18 point 1, docs/http-fallback-design.md): the typing-teams shape with half of the
 * clients on WebSockets and half on the HTTP fallback (`HttpWebSocket` as the stock provider's WebSocketPolyfill), on
 * one Concord server, in the same round. Each document has one typist (on WebSocket for even documents, on HTTP for odd
 * ones) and two viewers, one on each transport. Measured:
 * - delivery: a keystroke's time from the typist's edit to a viewer having applied it, by the viewer's transport;
 * - acknowledgement: a keystroke's time from the edit to its durable acknowledgement (the provider's
 *   `unsyncedChanges` going down: Concord sends it once the write is stored), by the typist's transport;
 * - requests: HTTP requests a second per HTTP client while typing (polls and POSTs, counted at the server's metric).
 * Stock Hocuspocus has no fallback: the row compares the two transports of one server, not the two servers.
 */
import { HocuspocusProvider } from '@hocuspocus/provider';
import { HttpWebSocket } from '@concord/client/http-socket';
import { setTimeout as sleep } from 'node:timers/promises';
import * as Y from 'yjs';
import { settle, typeAtPace, waitUntil, type Scenario } from './scenario.ts';
import { percentile } from './workload.ts';

const CONNECT_TIMEOUT_MS = 60_000;
const WARMUP_MS = 2_000;
const DRAIN_TIMEOUT_MS = 30_000;
/** No stock peer: the comparison is between the transports of one Concord server. */
export const NO_STOCK_PEER = 'no-stock-peer';

type Transport = 'websocket' | 'http';

interface Client {
  readonly transport: Transport;
  readonly doc: Y.Doc;
  readonly provider: HocuspocusProvider;
}

function client(url: string, name: string, token: string, transport: Transport): Client {
  const doc = new Y.Doc();
  const provider = new HocuspocusProvider({
    url,
    name,
    token,
    document: doc,
    ...(transport === 'http' ? { WebSocketPolyfill: HttpWebSocket } : {}),
  });
  return { transport, doc, provider };
}

/** Requests the server's HTTP fallback has answered so far (its metric). */
async function httpRequests(syncUrl: string): Promise<number> {
  const base = syncUrl.replace(/^ws/, 'http').replace(/\/sync$/, '');
  const text = await (await fetch(`${base}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(/^concord_http_sync_requests_total\{[^}]*\} (\d+)/gm)) total += Number(match[1]);
  return total;
}

export function httpFallback(options: { documents: number; perSecond: number; measureMs: number; rounds: number }): Scenario {
  const { documents, perSecond, measureMs, rounds } = options;
  return {
    key: 'http-fallback',
    label: `HTTP fallback vs WebSocket: ${documents} typists, ${documents} documents`,
    meaning:
      `${documents} people type ${perSecond} keystrokes a second, one per document, half on WebSockets and half on the HTTP fallback; ` +
      'each document has one viewer on each transport. Delivery by the viewer\'s transport, durable acknowledgement by the typist\'s ' +
      '(p50 and p99 over every keystroke), and HTTP requests a second per HTTP client while typing; no stock figure (stock has no fallback)',
    rounds,
    systems: ['concord-leveldb', NO_STOCK_PEER],
    metrics: [
      { key: 'wsP50Ms', label: 'delivery p50 over WebSocket', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'httpP50Ms', label: 'delivery p50 over HTTP', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'wsP99Ms', label: 'delivery p99 over WebSocket', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'httpP99Ms', label: 'delivery p99 over HTTP', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'wsAckP50Ms', label: 'durable acknowledgement p50 over WebSocket', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'httpAckP50Ms', label: 'durable acknowledgement p50 over HTTP', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'wsAckP99Ms', label: 'durable acknowledgement p99 over WebSocket', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'httpAckP99Ms', label: 'durable acknowledgement p99 over HTTP', unit: 'ms', better: 'lower', digits: 1 },
      { key: 'httpRequestsPerSecond', label: 'HTTP requests a second per HTTP client, typing', unit: '/s', better: 'lower', digits: 1 },
    ],
    async run({ server, token, prefix }) {
      const window = { start: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY };
      const delivery: Record<Transport, number[]> = { websocket: [], http: [] };
      const acks: Record<Transport, number[]> = { websocket: [], http: [] };
      const teams: Array<{ typist: Client; viewers: Client[]; sent: number[] }> = [];
      try {
        for (let d = 0; d < documents; d++) {
          const name = `${prefix}-${d}`;
          const typist = client(server.syncUrl, name, token, d % 2 === 0 ? 'websocket' : 'http');
          const viewers = (['websocket', 'http'] as const).map((transport) => client(server.syncUrl, name, token, transport));
          const sent: number[] = [];
          for (const viewer of viewers) {
            let received = 0;
            viewer.doc.on('update', () => {
              const now = performance.now();
              const to = Y.getState(viewer.doc.store, typist.doc.clientID);
              for (; received < to; received++) {
                const at = sent[received];
                if (at !== undefined && at >= window.start && at < window.end) delivery[viewer.transport].push(now - at);
              }
            });
          }
          // Acknowledgements come in order: each decrement acknowledges the oldest keystroke not yet acknowledged.
          let acknowledged = 0;
          let last = 0;
          typist.provider.on('unsyncedChanges', ({ number }: { number: number }) => {
            const now = performance.now();
            if (number < last) {
              // A decrement with no keystroke sent yet acknowledges the first sync, not typing: it takes none.
              for (let i = 0; i < last - number && acknowledged < sent.length; i++) {
                const at = sent[acknowledged++]!;
                if (at >= window.start && at < window.end) acks[typist.transport].push(now - at);
              }
            }
            last = number;
          });
          teams.push({ typist, viewers, sent });
        }
        const all = teams.flatMap((team) => [team.typist, ...team.viewers]);
        await waitUntil(() => all.every((c) => c.provider.isSynced), CONNECT_TIMEOUT_MS, () => 'http fallback: clients not synced');
        await settle(server);

        const timer = typeAtPace(teams.length, perSecond, (i) => {
          const { typist, sent } = teams[i]!;
          sent.push(performance.now());
          const text = typist.doc.getText('text');
          text.insert(text.length, 'x');
        });
        await sleep(WARMUP_MS);
        const requestsBefore = await httpRequests(server.syncUrl);
        window.start = performance.now();
        await sleep(measureMs);
        window.end = performance.now();
        const requests = (await httpRequests(server.syncUrl)) - requestsBefore;
        clearInterval(timer);
        await waitUntil(
          () => teams.every(({ typist, viewers, sent }) => viewers.every((v) => Y.getState(v.doc.store, typist.doc.clientID) >= sent.length) && typist.provider.unsyncedChanges === 0),
          DRAIN_TIMEOUT_MS,
          () => 'http fallback: keystrokes or acknowledgements still missing after the typing stopped',
        );
        const httpClients = all.filter((c) => c.transport === 'http').length;
        const p = (values: number[], q: number) => percentile(Float64Array.from(values).sort(), q);
        return {
          wsP50Ms: p(delivery.websocket, 0.5),
          httpP50Ms: p(delivery.http, 0.5),
          wsP99Ms: p(delivery.websocket, 0.99),
          httpP99Ms: p(delivery.http, 0.99),
          wsAckP50Ms: p(acks.websocket, 0.5),
          httpAckP50Ms: p(acks.http, 0.5),
          wsAckP99Ms: p(acks.websocket, 0.99),
          httpAckP99Ms: p(acks.http, 0.99),
          httpRequestsPerSecond: requests / httpClients / ((window.end - window.start) / 1000),
        };
      } finally {
        for (const team of teams) for (const c of [team.typist, ...team.viewers]) c.provider.destroy();
      }
    },
  };
}
