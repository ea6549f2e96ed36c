/**
 * The hourly cleanup of files: on the instance that leads the cluster (cluster/Peers.ts `leads`; a single instance
 * always), lapses the API's provisional references older than the retention, removes the files no document has
 * referred to for the retention, and the uploads not written to for as long. `sweep()` runs one pass now (tests call it with their own clock); passes never overlap.
 */
import type { Logger } from '../logger.js';
import type { FileStore, SweepResult } from '../storage/FileStore.js';

/** How often the leader sweeps. */
export const FILE_SWEEP_INTERVAL_MS = 3600 * 1000;

export interface FileSweeperOptions {
  readonly files: Pick<FileStore, 'sweep'>;
  /** How long a file stays unreferenced (and an upload untouched) before it goes. */
  readonly retentionMs: number;
  /** Whether this instance sweeps (the cluster's leader; always true alone). */
  readonly leads?: () => boolean;
  readonly log: Logger;
  readonly now?: () => number;
}

export class FileSweeper {
  private readonly options: FileSweeperOptions;
  private readonly now: () => number;
  private readonly log: Logger;
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<SweepResult> | null = null;

  constructor(options: FileSweeperOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.log = options.log.child({ component: 'file-sweeper' });
  }

  start(): void {
    this.timer = setInterval(() => {
      if (!(this.options.leads?.() ?? true)) return;
      this.sweep().catch((error: unknown) => this.log.error({ err: error }, 'the file sweep failed'));
    }, FILE_SWEEP_INTERVAL_MS);
    this.timer.unref();
  }

  /** One pass, as of `now` (default the sweeper's clock); joins the pass under way, if any. */
  sweep(now: number = this.now()): Promise<SweepResult> {
    this.running ??= this.options.files
      .sweep(now - this.options.retentionMs)
      .then((result) => {
        if (result.files + result.uploads > 0) this.log.info(result, 'removed unreferenced files and stale uploads');
        return result;
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }
}
