/**
 * Idle connections: `sockets` authenticated sockets that each open one document (`sockets / documents` per document)
 * and then do nothing, as people who leave a tab open. Measured: the server's resident memory per connection (its RSS
 * once they are all synced and the server is quiet, less its RSS before, divided by the count), the time to connect
 * them all, and the server CPU they cost while nothing happens (Concord pings every socket each heartbeat; every
 * socket must still be open after that window). The clients are minimal Hocuspocus clients (rawClient.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectMany, type RawClient } from './rawClient.ts';
import { processMemoryMiB, settle, type Scenario } from './scenario.ts';

/** After the last socket synced, the server gets this long to collect what the connects left behind. */
const AFTER_CONNECT_MS = 3_000;
/** The idle CPU is measured over this long: four of Concord's 2.5 s heartbeats. */
const IDLE_CPU_WINDOW_MS = 10_000;

export function idleConnections(options: { sockets: number; documents: number; rounds: number }): Scenario {
  const { sockets: count, documents, rounds } = options;
  return {
    key: 'idle',
    label: `Idle: ${count.toLocaleString('en-US')} open sockets`,
    meaning: `${count.toLocaleString('en-US')} people with the app open and nothing happening (${count / documents} per document): the server memory each of them costs, how long they all took to connect, and the server CPU they cost meanwhile (Concord's heartbeat pings each every 2.5 s to notice dead connections; stock sends nothing)`,
    rounds,
    metrics: [
      { key: 'kibPerConnection', label: 'RSS per connection', unit: 'KiB', better: 'lower', goal: 0.5, digits: 1 },
      { key: 'connectSeconds', label: 'time to connect all', unit: 's', better: 'lower', digits: 1 },
      { key: 'idleCpuPercent', label: 'server CPU while idle', unit: '% of a core', better: 'lower', digits: 2 },
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
        const after = processMemoryMiB(server.pid, 'VmRSS');
        const cpuBefore = server.cpuSeconds();
        await sleep(IDLE_CPU_WINDOW_MS);
        const idleCpuPercent = ((server.cpuSeconds() - cpuBefore) / (IDLE_CPU_WINDOW_MS / 1000)) * 100;
        const open = clients.filter((client) => client.socket.readyState === client.socket.OPEN).length;
        if (open < count) throw new Error(`idle: ${count - open} sockets closed while idle`);
        return { kibPerConnection: ((after - before) * 1024) / count, connectSeconds, idleCpuPercent, rssBeforeMiB: before, rssAfterMiB: after };
      } finally {
        for (const client of clients) client.close();
      }
    },
  };
}
