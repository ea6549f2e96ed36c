/**
 * Delivery measured from clients (engine/src/telemetry.ts): the server answers a client's clock request with its own
 * time, passes a writer's edit stamps on to the document's other connections, and turns clients' reports into
 * metrics (`concord_client_*`).
 *
 * The rules: everything here is untrusted input, bounded per connection. A clock request is answered at most once
 * per `CLOCK_ANSWER_INTERVAL_MS`; a stamp is passed on only from a connection that may write, at most once per
 * `STAMP_INTERVAL_MS` (the client stamps one edit a second; a flood is dropped, not relayed); a report is taken at most
 * once per `REPORT_INTERVAL_MS` and only whole (one field that does not parse drops it). Nothing is stored and no
 * connection is closed for any of it: a bad report costs only itself.
 */
import type { Connection, Extension, onStatelessPayload } from '@hocuspocus/server';
import { ConnectionLoss, parseTelemetry, telemetryPayload, type TelemetryReport } from '@concord/engine';
import type { Metrics } from '../metrics.js';

export const CLOCK_ANSWER_INTERVAL_MS = 1_000;
export const STAMP_INTERVAL_MS = 500;
export const REPORT_INTERVAL_MS = 5_000;

interface Seen {
  clock: number;
  stamp: number;
  report: number;
}

export class TelemetryExtension implements Extension {
  readonly extensionName = 'concord-telemetry';
  private readonly metrics: Metrics;
  private readonly now: () => number;
  private readonly seen = new WeakMap<Connection, Seen>();

  constructor(metrics: Metrics, now: () => number = Date.now) {
    this.metrics = metrics;
    this.now = now;
  }

  async onStateless({ connection, document, payload }: onStatelessPayload): Promise<void> {
    const message = parseTelemetry(payload);
    if (!message) {
      if (payload.includes('"concord":"telemetry"')) this.metrics.clientReports.inc({ outcome: 'malformed' });
      return;
    }
    const now = this.now();
    const seen = this.seen.get(connection) ?? { clock: 0, stamp: 0, report: 0 };
    this.seen.set(connection, seen);
    switch (message.concord) {
      case 'clock?':
        if (now - seen.clock < CLOCK_ANSWER_INTERVAL_MS) return;
        seen.clock = now;
        connection.sendStateless(telemetryPayload({ concord: 'clock', at: message.at, now }));
        return;
      case 'stamp':
        if (connection.readOnly || now - seen.stamp < STAMP_INTERVAL_MS) return;
        seen.stamp = now;
        document.broadcastStateless(telemetryPayload(message), (other) => other !== connection);
        return;
      case 'telemetry':
        if (now - seen.report < REPORT_INTERVAL_MS) {
          this.metrics.clientReports.inc({ outcome: 'too-often' });
          return;
        }
        seen.report = now;
        this.record(message);
        return;
      default:
        return; // a `clock` answer is the server's to send
    }
  }

  private record(report: TelemetryReport): void {
    this.metrics.clientReports.inc({ outcome: 'accepted' });
    for (const ms of report.delivery) this.metrics.clientPropagation.observe(ms / 1000);
    for (const ms of report.ack) this.metrics.clientDelivery.observe(ms / 1000);
    for (const [cause, count] of Object.entries(report.reconnects)) {
      if (count === 0) continue;
      if (cause === ConnectionLoss.FailedToOpen) this.metrics.clientFailedConnections.inc({ reason: cause }, count);
      else this.metrics.clientReconnects.inc({ cause }, count);
    }
    for (const [kind, count] of Object.entries(report.errors)) if (count > 0) this.metrics.clientErrors.inc({ kind }, count);
  }
}
