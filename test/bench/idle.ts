/**
 * Idle connections: `sockets` authenticated sockets that each open one document (`sockets / documents` per document)
 * and then do nothing, as people who leave a tab open. Measured: the server's resident memory per connection (its RSS
 * once they are all synced and the server is quiet, less its RSS before, divided by the count), and the time to
 * connect them all. The clients are minimal Hocuspocus clients (rawClient.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectMany, type RawClient } from './rawClient.ts';
import { processMemoryMiB, settle, type Scenario } from './scenario.ts';

/** After the last socket synced, the server gets this long to collect what the connects left behind. */
const AFTER_CONNECT_MS = 3_000;

export function idleConnections(options: { sockets: number; documents: number; rounds: number }): Scenario {
  const { sockets: count, documents, rounds } = options;
  return {
    key: 'idle',
    label: `Idle: ${count.toLocaleString('en-US')} open sockets`,
    meaning: `${count.toLocaleString('en-US')} people with the app open and nothing happening (${count / documents} per document): the server memory each of them costs, and how long they all took to connect`,
    rounds,
    metrics: [
      { key: 'kibPerConnection', label: 'RSS per connection', unit: 'KiB', better: 'lower', goal: 0.5, digits: 1 },
      { key: 'connectSeconds', label: 'time to connect all', unit: 's', better: 'lower', digits: 1 },
    ],
    async run({ server, token, prefix }) {
      let clients: RawClient[] = [];
      try {
        await settle(server);
        const before = processMemoryMiB(server.pid, 'VmRSS');
        const startedAt = performance.now();
        clients = await connectMany(server.syncUrl, token, count, (i) => `${prefix}-${i % documents}`);
        const connectSeconds = (performance.now() - startedAt) / 1000;
        await settle(server);
        await sleep(AFTER_CONNECT_MS);
        const open = clients.filter((client) => client.socket.readyState === client.socket.OPEN).length;
        if (open < count) throw new Error(`idle: ${count - open} sockets closed while idle`);
        const after = processMemoryMiB(server.pid, 'VmRSS');
        return { kibPerConnection: ((after - before) * 1024) / count, connectSeconds, rssBeforeMiB: before, rssAfterMiB: after };
      } finally {
        for (const client of clients) client.close();
      }
    },
  };
}
