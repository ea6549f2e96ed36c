/**
 * Many documents: `sockets` sockets (`HocuspocusProviderWebsocket`), each carrying `perSocket` providers on documents
 * of their own, all opened at once, as a board or a dashboard opens every entity it shows. Measured: the time until
 * every document is synced, the server's resident memory per document once they are all open (RSS after less RSS
 * before), and its peak RSS.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import * as Y from 'yjs';
import { processMemoryMiB, settle, waitUntil, type Scenario } from './scenario.ts';

const OPEN_TIMEOUT_MS = 180_000;

export function manyDocuments(options: { sockets: number; perSocket: number; rounds: number }): Scenario {
  const { sockets: socketCount, perSocket, rounds } = options;
  const documents = socketCount * perSocket;
  return {
    key: 'many-documents',
    label: `Many documents: ${documents.toLocaleString('en-US')} over ${socketCount.toLocaleString('en-US')} sockets`,
    meaning: `${socketCount.toLocaleString('en-US')} clients each open ${perSocket} documents over their one socket (${documents.toLocaleString('en-US')} documents, none loaded before): how long until all are synced, and the server memory each open document costs`,
    rounds,
    metrics: [
      { key: 'openSeconds', label: 'time to open all', unit: 's', better: 'lower', goal: 1, digits: 1 },
      { key: 'kibPerDocument', label: 'RSS per open document', unit: 'KiB', better: 'lower', goal: 1, digits: 1 },
      { key: 'peakRssMiB', label: 'peak RSS', unit: 'MiB', better: 'lower', goal: 1 },
    ],
    async run({ server, token, prefix }) {
      const websockets: HocuspocusProviderWebsocket[] = [];
      const providers: HocuspocusProvider[] = [];
      try {
        await settle(server);
        const before = processMemoryMiB(server.pid, 'VmRSS');
        const startedAt = performance.now();
        for (let s = 0; s < socketCount; s++) {
          const websocketProvider = new HocuspocusProviderWebsocket({ url: server.syncUrl });
          websockets.push(websocketProvider);
          for (let d = 0; d < perSocket; d++) {
            const provider = new HocuspocusProvider({ websocketProvider, name: `${prefix}-${s * perSocket + d}`, token, document: new Y.Doc() });
            provider.attach();
            providers.push(provider);
          }
        }
        await waitUntil(() => providers.every((provider) => provider.isSynced), OPEN_TIMEOUT_MS, () => `many documents: ${providers.filter((p) => !p.isSynced).length} not synced`, 50);
        const openSeconds = (performance.now() - startedAt) / 1000;
        await settle(server);
        const after = processMemoryMiB(server.pid, 'VmRSS');
        return { openSeconds, kibPerDocument: ((after - before) * 1024) / documents, peakRssMiB: processMemoryMiB(server.pid, 'VmHWM') };
      } finally {
        for (const provider of providers) {
          provider.destroy();
          provider.document.destroy();
        }
        for (const websocketProvider of websockets) websocketProvider.destroy();
      }
    },
  };
}
