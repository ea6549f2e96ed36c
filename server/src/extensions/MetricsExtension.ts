/**
 * Document-level metrics from Hocuspocus hooks: updates applied (by who sent them), documents loaded and unloaded.
 * Socket-level traffic (connections, messages, bytes) is counted where the frames pass, in the socket layer.
 */
import type { afterLoadDocumentPayload, Extension, onChangePayload } from '@hocuspocus/server';
import type { Metrics } from '../metrics.js';

export class MetricsExtension implements Extension {
  readonly extensionName = 'concord-metrics';
  private readonly metrics: Metrics;
  private readonly clientUpdates;
  private readonly serverUpdates;

  constructor(metrics: Metrics) {
    this.metrics = metrics;
    this.clientUpdates = metrics.documentUpdates.labels('client');
    this.serverUpdates = metrics.documentUpdates.labels('server');
  }

  async onChange({ connection }: onChangePayload): Promise<void> {
    (connection ? this.clientUpdates : this.serverUpdates).inc();
  }

  async afterLoadDocument(_: afterLoadDocumentPayload): Promise<void> {
    this.metrics.documentLoads.inc();
  }

  async afterUnloadDocument(): Promise<void> {
    this.metrics.documentUnloads.inc();
  }
}
