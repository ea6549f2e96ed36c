/**
 * Cursors: `people` people in one document, each moving their cursor `perSecond` times a second (an awareness update
 * of their state, as a provider sends it when an editor moves the caret; open loop, evenly phased). Measured over a
 * window: what the server sends everyone, in messages and bytes a second as the clients read them off the wire, and
 * its CPU, also per move. The clients are minimal Hocuspocus clients (rawClient.ts) that count what they receive
 * without decoding it, so this process keeps up with whatever the server sends. Each person has a token of their own
 * and shows the user it names, as the Concord client does (a state naming another user would be rewritten).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectMany, type RawClient } from './rawClient.ts';
import { settle, type Scenario } from './scenario.ts';
import { mintToken } from './systems.ts';

const WARMUP_MS = 2_000;

export function cursors(options: { people: number; perSecond: number; measureMs: number; rounds: number }): Scenario {
  const { people, perSecond, measureMs, rounds } = options;
  return {
    key: 'cursors',
    label: `Cursors: ${people} people in one document`,
    meaning: `${people} people in one document each move their cursor ${perSecond} times a second: what the server sends them all (messages and bytes a second) and the CPU it takes`,
    rounds,
    metrics: [
      { key: 'messagesPerSecond', label: 'messages out', unit: '/s', better: 'lower', goal: 1 },
      { key: 'kibPerSecond', label: 'bytes out', unit: 'KiB/s', better: 'lower', goal: 1 },
      { key: 'serverCores', label: 'server CPU', unit: 'cores', better: 'lower', goal: 1, digits: 2 },
    ],
    async run({ server, prefix }) {
      let clients: RawClient[] = [];
      try {
        const users = Array.from({ length: people }, (_, i) => ({ id: `user-${i}`, name: `Person ${i}`, color: `#${(0x100000 + i * 2654435).toString(16).slice(-6)}` }));
        const tokens = await Promise.all(users.map((user) => mintToken(user.id, user.name)));
        clients = await connectMany(server.syncUrl, (i) => tokens[i]!, people, () => `${prefix}-doc`);
        clients.forEach((client, i) => client.sendPresence({ user: users[i] }));
        await settle(server);
        const intervalMs = 1000 / perSecond;
        const startedAt = performance.now();
        const next = clients.map((_, i) => startedAt + (intervalMs * i) / clients.length);
        let moves = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          clients.forEach((client, i) => {
            while (next[i]! <= now) {
              moves += 1;
              client.sendPresence({ user: users[i], cursor: { anchor: moves % 5000, head: (moves + 7) % 5000 } });
              next[i]! += intervalMs;
            }
          });
        }, 2);
        const received = () => clients.reduce((sum, client) => ({ messages: sum.messages + client.messages, bytes: sum.bytes + client.bytesRead }), { messages: 0, bytes: 0 });
        await sleep(WARMUP_MS);
        const before = { ...received(), moves, cpu: server.cpuSeconds(), at: performance.now() };
        await sleep(measureMs);
        const seconds = (performance.now() - before.at) / 1000;
        const after = received();
        const result = {
          messagesPerSecond: (after.messages - before.messages) / seconds,
          kibPerSecond: (after.bytes - before.bytes) / 1024 / seconds,
          serverCores: (server.cpuSeconds() - before.cpu) / seconds,
          movesPerSecond: (moves - before.moves) / seconds,
        };
        clearInterval(timer);
        return result;
      } finally {
        for (const client of clients) client.close();
      }
    },
  };
}
