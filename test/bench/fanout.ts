/**
 * Fan-out: one writer, many viewers. N subscribers (stock `HocuspocusProvider`s over Node `ws`, which offers
 * permessage-deflate as browsers do) watch one document; one writer inserts `edits` single characters as fast as it
 * can, each its own update message. Measured: the time from the first edit until every subscriber has every
 * character (converge), the server's CPU time over that, and the bytes the subscribers received (on the wire, after
 * compression). Converge is also given in its two parts: the writer's loop, which runs in this process (it holds the
 * subscribers too) and is the same work whatever the server, and the time after its last keystroke.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { type Metric, processMemoryMiB, settle, type Scenario } from './scenario.ts';
import type { ServerProcess } from './processes.ts';
import { drain, Writer } from './writers.ts';

const CONNECT_TIMEOUT_MS = 120_000;
const CONVERGE_TIMEOUT_MS = 180_000;

/** A `ws` client that remembers itself, so the bytes it read off the wire can be summed. */
function countingSocketClass(sockets: WebSocket[]): typeof WebSocket {
  return class CountingWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols);
      sockets.push(this);
    }
  } as unknown as typeof WebSocket;
}

/** A stock provider on its own socket, over `WebSocketPolyfill`. */
export function providerOver(WebSocketPolyfill: typeof WebSocket, url: string, name: string, token: string, document = new Y.Doc()): HocuspocusProvider {
  const websocketProvider = new HocuspocusProviderWebsocket({ url, WebSocketPolyfill });
  const provider = new HocuspocusProvider({ websocketProvider, name, token, document });
  provider.attach();
  let destroyed = false;
  provider.on('destroy', () => {
    if (destroyed) return; // the socket's destroy comes back as the provider's
    destroyed = true;
    websocketProvider.destroy();
  });
  return provider;
}

function wireBytesRead(sockets: readonly WebSocket[]): number {
  let total = 0;
  for (const socket of sockets) total += (socket as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0;
  return total;
}

export class Subscribers {
  readonly providers: HocuspocusProvider[] = [];
  readonly sockets: WebSocket[] = [];
  private readonly texts: Y.Text[] = [];
  /** Updates the subscribers applied, all together. */
  updates = 0;

  constructor(url: string, name: string, token: string, count: number) {
    const WebSocketPolyfill = countingSocketClass(this.sockets);
    for (let i = 0; i < count; i++) {
      const doc = new Y.Doc();
      this.texts.push(doc.getText('text'));
      this.providers.push(providerOver(WebSocketPolyfill, url, name, token, doc));
      doc.on('update', () => {
        this.updates += 1;
      });
    }
  }

  async synced(): Promise<void> {
    const deadline = performance.now() + CONNECT_TIMEOUT_MS;
    while (this.providers.some((provider) => !provider.isSynced)) {
      if (performance.now() > deadline) throw new Error(`subscribers not synced after ${CONNECT_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Resolves with the time at which the last subscriber's text reached `length`. */
  reach(length: number): Promise<number> {
    return new Promise((resolve, reject) => {
      let waiting = 0;
      let last = 0;
      const timer = setTimeout(() => reject(new Error(`${waiting} subscribers short of ${length} characters after ${CONVERGE_TIMEOUT_MS} ms`)), CONVERGE_TIMEOUT_MS);
      for (const text of this.texts) {
        if (text.length >= length) continue;
        waiting += 1;
        const observer = () => {
          if (text.length < length) return;
          text.unobserve(observer);
          last = performance.now();
          if (--waiting === 0) {
            clearTimeout(timer);
            resolve(last);
          }
        };
        text.observe(observer);
      }
      if (waiting === 0) {
        clearTimeout(timer);
        resolve(performance.now());
      }
    });
  }

  get wireBytes(): number {
    return wireBytesRead(this.sockets);
  }

  destroy(): void {
    for (const provider of this.providers) {
      provider.destroy();
      provider.document.destroy();
    }
  }
}

export interface FanOutResult {
  readonly convergeMs: number;
  /**
   * How long the writer's own loop took to make and send the keystrokes: in this process, the same work whatever the
   * server, though its time moves with what else the machine's two cores run meanwhile (69–281 ms seen).
   */
  readonly typingMs: number;
  /** From the writer's last keystroke sent to every subscriber having it: what the server adds after the burst. */
  readonly afterLastMs: number;
  /** Bytes the subscribers read from their sockets during the burst. */
  readonly wireBytes: number;
  /** Converge of each group alone, in the order given. */
  readonly groupConvergeMs: readonly number[];
  /**
   * CPU this process (the writer and every subscriber) spent from the first keystroke to converge: near `convergeMs`,
   * converge waited on the subscribers' own applying, not on the server.
   */
  readonly benchCpuMs: number;
}

/**
 * One burst: `edits` keystrokes as fast as the writer can send them; resolves once every subscriber of every group
 * (one group per server instance) has them all.
 */
export async function burst(writer: Writer, groups: readonly Subscribers[], edits: number): Promise<FanOutResult> {
  const wireBytes = () => groups.reduce((sum, group) => sum + group.wireBytes, 0);
  const bytesBefore = wireBytes();
  const target = writer.text.length + edits;
  const converged = Promise.all(groups.map((group) => group.reach(target)));
  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  for (let i = 0; i < edits; i++) writer.type();
  const typedAt = performance.now();
  const groupDoneAt = await converged;
  const doneAt = Math.max(...groupDoneAt);
  const cpu = process.cpuUsage(cpuBefore);
  return {
    benchCpuMs: (cpu.user + cpu.system) / 1000,
    convergeMs: doneAt - startedAt,
    typingMs: typedAt - startedAt,
    afterLastMs: doneAt - typedAt,
    wireBytes: wireBytes() - bytesBefore,
    groupConvergeMs: groupDoneAt.map((at) => at - startedAt),
  };
}

/**
 * Converge split in two: the writer's loop (it types in this process, which also holds the viewers, so its time is
 * in every system's figure) and what follows its last keystroke. No goal: they say where converge's time goes.
 */
export const BURST_PARTS: readonly Metric[] = [
  { key: 'typingMs', label: "converge: the writer's typing loop", unit: 'ms', better: 'lower' },
  { key: 'afterLastMs', label: 'converge: after the last keystroke', unit: 'ms', better: 'lower' },
];

/**
 * How long after the warm-up burst its deferred work has surely run on every system: Concord writes the activity entries
 * of a burst 1 s after its first change (history/ActivityRecorder.ts; the first write of a document opens its feed, a
 * load of its own), and stock Hocuspocus stores a document 2 s after its last change (its debounce). Without the
 * pause, that first-run work of the warm-up fell inside the measured burst's window or not, by a few milliseconds.
 * The measured burst's own deferred work, each system's, is inside its CPU window (`cpuAboveIdle`).
 */
export const AFTER_WARM_UP_MS = 2_500;

/**
 * The warm-up: a first burst, its acknowledgements, the deferred work it causes (AFTER_WARM_UP_MS), then until every
 * server is quiet, so the measured burst starts from a server that has run everything once.
 */
export async function warmUp(writer: Writer, groups: readonly Subscribers[], servers: readonly ServerProcess[]): Promise<void> {
  await burst(writer, groups, WARM_UP_EDITS);
  await drain([writer], 60_000);
  await sleep(AFTER_WARM_UP_MS);
  for (const server of servers) await settle(server);
}

/**
 * Concord's heartbeat (a ping to every socket, server/src/config.ts): the windows below are multiples of it, so each
 * holds the same number of ping sweeps.
 */
const HEARTBEAT_MS = 2_500;
/**
 * The window over which a burst's server CPU is counted, from its first keystroke: long enough for what each system
 * defers to have run (Concord's activity write 1 s after the first change, stock's debounced store 2 s after the last).
 */
export const BURST_CPU_WINDOW_MS = 2 * HEARTBEAT_MS;

/**
 * CPU the burst run by `measured` cost each meter (CPU seconds of a process, or of several), in ms (`cpuMs`): over
 * BURST_CPU_WINDOW_MS from the burst's start (a heartbeat longer for each heartbeat the burst itself outlasts it), less
 * the idle rate of the same meters over that time (`idleMs`, printed with each round: Concord's heartbeat pings, a
 * cluster instance's heartbeats; the idle row reports those). The idle rate is the lower of two heartbeat-long windows
 * just before the burst: a collection V8 runs once a process goes quiet (its memory reducer) lands in one of them at
 * most, and is not idle work. Counting until the servers merely went quiet instead had the burst's deferred work inside
 * the window or not by a few milliseconds, and a ping sweep too (at 1 000 viewers, 58–146 ms of server CPU by round).
 */
export async function cpuAboveIdle<Meter extends string, T>(
  meters: Record<Meter, () => number>,
  measured: () => Promise<T>,
): Promise<{ result: T; cpuMs: Record<Meter, number>; idleMs: Record<Meter, number> }> {
  const names = Object.keys(meters) as Meter[];
  const read = () => ({ at: performance.now(), cpu: new Map(names.map((name) => [name, meters[name]()])) });
  const idleReadings = [read()];
  for (let i = 0; i < 2; i++) {
    await sleep(HEARTBEAT_MS);
    idleReadings.push(read());
  }
  const before = idleReadings[idleReadings.length - 1]!;
  const result = await measured();
  const windowMs = Math.max(BURST_CPU_WINDOW_MS, Math.ceil((performance.now() - before.at) / HEARTBEAT_MS) * HEARTBEAT_MS);
  await sleep(Math.max(0, before.at + windowMs - performance.now()));
  const after = read();
  const cpuMs = {} as Record<Meter, number>;
  const idleMs = {} as Record<Meter, number>;
  for (const name of names) {
    const rates = idleReadings.slice(1).map((reading, i) => {
      const from = idleReadings[i]!;
      return (reading.cpu.get(name)! - from.cpu.get(name)!) / (reading.at - from.at);
    });
    idleMs[name] = Math.min(...rates) * (after.at - before.at) * 1000;
    cpuMs[name] = (after.cpu.get(name)! - before.cpu.get(name)!) * 1000 - idleMs[name];
  }
  return { result, cpuMs, idleMs };
}

/** Keystrokes in one burst. */
export const FAN_OUT_EDITS = 2000;
/** Keystrokes of a burst before the measured one, so neither this process nor a server measures its first run. */
export const WARM_UP_EDITS = 200;

/** One writer bursting keystrokes into a document `viewers` people watch. */
export function fanOut(viewers: number, rounds: number): Scenario {
  return {
    key: `fanout-${viewers}`,
    label: `Fan-out: 1 writer, ${viewers.toLocaleString('en-US')} viewers`,
    meaning:
      `one person types ${FAN_OUT_EDITS.toLocaleString('en-US')} characters as fast as the client sends them (one update each; after a first burst of ${WARM_UP_EDITS}) into a document ${viewers} others watch: ` +
      'how long until every viewer has every character (and that time split: the writer\'s own typing loop, then what follows its last keystroke), the server CPU that costs, the server\'s peak memory, and the bytes the viewers download (after permessage-deflate)',
    rounds,
    metrics: [
      { key: 'convergeMs', label: 'converge', unit: 'ms', better: 'lower', goal: 0.5 },
      ...BURST_PARTS,
      { key: 'cpuMs', label: 'server CPU', unit: 'ms', better: 'lower', goal: 0.5 },
      { key: 'peakRssMiB', label: 'peak RSS', unit: 'MiB', better: 'lower', goal: 1 },
      { key: 'receivedMiB', label: 'bytes to viewers', unit: 'MiB', better: 'lower', goal: 1, digits: 2 },
      { key: 'updatesPerViewer', label: 'messages per viewer', unit: '', better: 'lower' },
    ],
    async run({ server, token, prefix }) {
      const name = `${prefix}-doc`;
      const subscribers = new Subscribers(server.syncUrl, name, token, viewers);
      const writer = new Writer(server.syncUrl, name, token);
      try {
        await subscribers.synced();
        await writer.ready();
        await warmUp(writer, [subscribers], [server]);
        const updatesBefore = subscribers.updates;
        const { result, cpuMs, idleMs } = await cpuAboveIdle({ server: () => server.cpuSeconds() }, async () => {
          const burstResult = await burst(writer, [subscribers], FAN_OUT_EDITS);
          await drain([writer], 60_000);
          return burstResult;
        });
        return {
          convergeMs: result.convergeMs,
          typingMs: result.typingMs,
          afterLastMs: result.afterLastMs,
          cpuMs: cpuMs.server,
          idleCpuMs: idleMs.server,
          peakRssMiB: processMemoryMiB(server.pid, 'VmHWM'),
          receivedMiB: result.wireBytes / 1024 / 1024,
          updatesPerViewer: (subscribers.updates - updatesBefore) / viewers,
          benchCpuMs: result.benchCpuMs,
        };
      } finally {
        writer.destroy();
        subscribers.destroy();
      }
    },
  };
}
