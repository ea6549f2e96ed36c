/**
 * Document lifecycle metrics from Hocuspocus hooks: documents loaded and unloaded. Per-update counts are taken
 * where updates are handled anyway (storage, sockets), not through a per-update hook.
 */
import type { Extension } from '@hocuspocus/server';
import type { Metrics } from '../metrics.js';

export class MetricsExtension implements Extension {
  readonly extensionName = 'concord-metrics';
  private readonly metrics: Metrics;

  constructor(metrics: Metrics) {
    this.metrics = metrics;
  }

  async afterLoadDocument(): Promise<void> {
    this.metrics.documentLoads.inc();
  }

  async afterUnloadDocument(): Promise<void> {
    this.metrics.documentUnloads.inc();
  }
}
