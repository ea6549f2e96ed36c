/**
 * How long this machine's disk takes to make a small write durable (`fdatasync`), the floor under every durable
 * acknowledgement: Concord's latency tail under light load follows it, stock Hocuspocus (which acknowledges from
 * memory) does not see it.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DiskProbe {
  readonly syncs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** `syncs` appends of 200 bytes, each followed by fdatasync, 10 ms apart, in the directory the stores use. */
export async function probeDisk(syncs = 300): Promise<DiskProbe> {
  const directory = await mkdtemp(join(tmpdir(), 'concord-bench-disk-'));
  const file = await open(join(directory, 'probe'), 'w');
  const times: number[] = [];
  try {
    const bytes = Buffer.alloc(200, 1);
    for (let i = 0; i < syncs; i++) {
      const started = performance.now();
      await file.write(bytes);
      await file.datasync();
      times.push(performance.now() - started);
      await sleep(10);
    }
  } finally {
    await file.close();
    await rm(directory, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { syncs, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: times[times.length - 1]! };
}
