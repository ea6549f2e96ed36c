/**
 * Probes for limit tests: a metric's value from /metrics, and an upgrade that reports the HTTP status when refused.
 */
import { WebSocket } from 'ws';
import { onCleanup } from './cleanup.js';

/** A metric's value (summed over its labels) from /metrics. */
export async function metricValue(url: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{${labels}`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** Opens a WebSocket; resolves with the socket once open, or with the HTTP status of a refused upgrade. */
export function tryOpen(url: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string; at: number }> } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    onCleanup(() => ws.terminate());
    const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
      ws.on('close', (code, reason) => done({ code, reason: reason.toString(), at: Date.now() })),
    );
    ws.once('open', () => resolve({ ws, closed }));
    ws.once('unexpected-response', (_request, response) => {
      resolve({ status: response.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', (error) => reject(error));
  });
}
