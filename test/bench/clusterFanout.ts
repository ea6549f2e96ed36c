/**
 * Fan-out with Redis on (issue 15): the fan-out row (./fanout.ts) over a cluster of two instances, Concord's against
 * stock Hocuspocus on `@hocuspocus/extension-redis`. One writer on instance 1 bursts keystrokes into a document that
 * `viewers` people watch, half on instance 1 and half on instance 2; measured: the time until every viewer on both
 * instances has every character, the CPU of both server processes and of Redis over the burst, and the bytes the
 * viewers read. Issue 12's fan-out goals (converge and server CPU at most half of stock's) must still hold with the
 * instances joined by Redis.
 */
import { REDIS_PAIR, type Scenario } from './scenario.ts';
import { burst, BURST_PARTS, cpuAboveIdle, FAN_OUT_EDITS, Subscribers, WARM_UP_EDITS, warmUp } from './fanout.ts';
import { drain, Writer } from './writers.ts';
import { PERF_DIR, recordPerf } from './processes.ts';

export function clusterFanOut(viewers: number, rounds: number): Scenario {
  return {
    key: `hop-fanout-${viewers}`,
    label: `Fan-out across 2 instances: 1 writer, ${viewers.toLocaleString('en-US')} viewers`,
    meaning:
      `one person on instance 1 types ${FAN_OUT_EDITS.toLocaleString('en-US')} characters as fast as the client sends them (after a first burst of ${WARM_UP_EDITS}) into a document ` +
      `${Math.ceil(viewers / 2)} people on instance 1 and ${Math.floor(viewers / 2)} on instance 2 watch (the same two clusters as the hop row): ` +
      'how long until every viewer on both instances has every character (and that time split: the writer\'s own typing loop, then what follows its last keystroke), the CPU of both servers and of Redis, and the bytes the viewers download',
    rounds,
    systems: REDIS_PAIR,
    instances: 2,
    metrics: [
      { key: 'convergeMs', label: 'converge', unit: 'ms', better: 'lower', goal: 0.5 },
      ...BURST_PARTS,
      { key: 'cpuMs', label: 'server CPU (both instances)', unit: 'ms', better: 'lower', goal: 0.5 },
      { key: 'redisCpuMs', label: 'Redis CPU', unit: 'ms', better: 'lower' },
      { key: 'receivedMiB', label: 'bytes to viewers', unit: 'MiB', better: 'lower', digits: 2 },
    ],
    async run({ system, servers, redis, token, prefix, log }) {
      const [home, other] = servers;
      if (!home || !other) throw new Error('fan-out across instances: needs two instances');
      const name = `${prefix}-doc`;
      const near = new Subscribers(home.syncUrl, name, token, Math.ceil(viewers / 2));
      const far = new Subscribers(other.syncUrl, name, token, Math.floor(viewers / 2));
      const writer = new Writer(home.syncUrl, name, token);
      const cpu = () => servers.reduce((sum, server) => sum + server.cpuSeconds(), 0);
      try {
        await near.synced();
        await far.synced();
        await writer.ready();
        await warmUp(writer, [near, far], servers);
        const meters = {
          servers: cpu,
          home: () => home.cpuSeconds(),
          other: () => other.cpuSeconds(),
          homeV8: () => home.v8WorkerCpuSeconds(),
          otherV8: () => other.v8WorkerCpuSeconds(),
          redis: () => redis?.cpuSeconds() ?? Number.NaN,
        };
        const updatesBefore = near.updates + far.updates;
        const perfFiles = PERF_DIR === undefined ? [] : ['home', 'other'].map((role) => `${PERF_DIR}/${prefix}-${system}-${role}.data`);
        const stopPerf = perfFiles.map((file, i) => recordPerf(servers[i]!.pid, file));
        const { result, cpuMs, idleMs } = await cpuAboveIdle(meters, async () => {
          const burstResult = await burst(writer, [near, far], FAN_OUT_EDITS);
          await drain([writer], 60_000);
          return burstResult;
        });
        await Promise.all(stopPerf.map((stop) => stop()));
        if (perfFiles.length > 0) log(`perf samples of the idle windows and the burst: ${perfFiles.join(', ')}`);
        return {
          convergeMs: result.convergeMs,
          typingMs: result.typingMs,
          afterLastMs: result.afterLastMs,
          cpuMs: cpuMs.servers,
          idleCpuMs: idleMs.servers,
          redisCpuMs: cpuMs.redis,
          receivedMiB: result.wireBytes / 1024 / 1024,
          // Round figures only: where converge's time went, and how many frames each viewer applied; of each instance's
          // CPU, its V8 worker threads' (a major collection lands in the burst's window or not, ./README.md).
          homeCpuMs: cpuMs.home,
          otherCpuMs: cpuMs.other,
          homeV8Ms: cpuMs.homeV8,
          otherV8Ms: cpuMs.otherV8,
          nearConvergeMs: result.groupConvergeMs[0]!,
          farConvergeMs: result.groupConvergeMs[1]!,
          updatesPerViewer: (near.updates + far.updates - updatesBefore) / viewers,
          benchCpuMs: result.benchCpuMs,
        };
      } finally {
        writer.destroy();
        near.destroy();
        far.destroy();
      }
    },
  };
}
