/**
 * Prometheus metrics (prom-client), one registry per server so several servers in one process (tests) never mix
 * their counts. Metric names follow Prometheus conventions: `_total` counters, base units (seconds, bytes).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Protocol = 'hocuspocus' | 'y-websocket';
const PROTOCOLS: readonly Protocol[] = ['hocuspocus', 'y-websocket'];

/** Messages and bytes of one protocol, counted as plain numbers on the hot path and reported when scraped. */
export class Traffic {
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
}

/** A `collect` for a counter of per-protocol totals: adds what was counted since the last scrape. */
function reportTraffic(traffic: Readonly<Record<Protocol, Traffic>>, read: (t: Traffic) => number) {
  const reported: Record<Protocol, number> = { hocuspocus: 0, 'y-websocket': 0 };
  return function collect(this: Counter<'protocol'>) {
    for (const protocol of PROTOCOLS) {
      const total = read(traffic[protocol]);
      if (total > reported[protocol]) this.inc({ protocol }, total - reported[protocol]);
      reported[protocol] = total;
    }
  };
}

/** Messages the server compressed (a broadcast once for all its recipients), and their bytes, counted like Traffic. */
export class CompressionCounts {
  broadcasts = 0;
  single = 0;
  bytesIn = 0;
  bytesOut = 0;
}

/** Updates applied to loaded documents, counted like Traffic. */
export class UpdateCounts {
  fromClients = 0;
  fromServer = 0;
}

/** A `collect` that adds to a counter what a plain total grew by since the last scrape. */
function reportTotal<L extends string>(labels: Partial<Record<L, string>>, read: () => number) {
  let reported = 0;
  return function collect(this: Counter<L>) {
    const total = read();
    if (total > reported) this.inc(labels, total - reported);
    reported = total;
  };
}

export interface MetricSources {
  documents(): number;
  storeHealthy(): boolean;
  storeBacklog(): number;
  /** Whether the Redis bus is up; absent without `CONCORD_REDIS_URL` (no Redis metrics then). */
  redisHealthy?(): boolean;
  /** Other instances of the cluster heard from lately (cluster/Peers.ts); with `redisHealthy`. */
  clusterPeers?(): number;
}

/** Metrics of the Redis bus (server/src/cluster/RedisBus.ts), registered only when Redis is configured. */
function createBusMetrics(registry: Registry, healthy: () => boolean, peers: () => number) {
  return {
    redisHealthy: new Gauge({
      name: 'concord_redis_healthy',
      help: '1 while both Redis connections of the bus are ready, 0 while Redis is unreachable',
      registers: [registry],
      collect() {
        this.set(healthy() ? 1 : 0);
      },
    }),
    clusterPeers: new Gauge({
      name: 'concord_cluster_peers',
      help: 'Other instances of the cluster heard from within the last 3.5 s (0 while Redis is unreachable)',
      registers: [registry],
      collect() {
        this.set(peers());
      },
    }),
    redisDisconnects: new Counter({
      name: 'concord_redis_disconnects_total',
      help: 'Times the bus lost Redis (went from healthy to unhealthy)',
      registers: [registry],
    }),
    busMessages: new Counter({
      name: 'concord_bus_messages_total',
      help: 'Bus messages by direction (in: from other instances, out: published) and kind',
      labelNames: ['direction', 'kind'] as const,
      registers: [registry],
    }),
    busBytes: new Counter({
      name: 'concord_bus_bytes_total',
      help: 'Bytes of bus messages by direction (in, out)',
      labelNames: ['direction'] as const,
      registers: [registry],
    }),
    busDropped: new Counter({
      name: 'concord_bus_dropped_total',
      help: 'Bus messages not published (Redis unreachable) or not understood, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    busResyncs: new Counter({
      name: 'concord_bus_resyncs_total',
      help: 'Loaded documents whose state was exchanged with the other instances to repair lost bus messages, by reason (recovery: Redis was back after an outage; dropped: a publish failed while Redis stayed reachable)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    clusterConvergence: new Histogram({
      name: 'concord_cluster_convergence_seconds',
      help: 'From the bus being healthy again after an outage to the last answer of the repair that changed a document here',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export type BusMetrics = ReturnType<typeof createBusMetrics>;

/** How often the event-loop delay histogram (`nodejs_eventloop_lag_*`) takes a sample. */
const EVENT_LOOP_SAMPLE_MS = 100;

export function createMetrics(sources: MetricSources) {
  const registry = new Registry();
  // prom-client samples event-loop delay on a timer of its own, every 10 ms by default: 100 wake-ups a second that
  // cost an idle server 1.7 % of a core. Every 100 ms still catches any stall of 100 ms or more
  // (test/server/idleWakeups.test.ts).
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const protocol = ['protocol'] as const;
  const traffic: Record<Protocol, Traffic> = { hocuspocus: new Traffic(), 'y-websocket': new Traffic() };
  const updates = new UpdateCounts();
  const compression = new CompressionCounts();
  const reportBroadcastsCompressed = reportTotal({ kind: 'broadcast' }, () => compression.broadcasts);
  const reportSingleCompressed = reportTotal({ kind: 'single' }, () => compression.single);
  const reportClientUpdates = reportTotal({ source: 'client' }, () => updates.fromClients);
  const reportServerUpdates = reportTotal({ source: 'server' }, () => updates.fromServer);

  return {
    registry,
    /** Present only when Redis is configured. */
    bus:
      sources.redisHealthy === undefined
        ? undefined
        : createBusMetrics(registry, sources.redisHealthy, sources.clusterPeers ?? (() => 0)),
    traffic,
    updates,
    compression,
    connections: new Gauge({
      name: 'concord_connections',
      help: 'Open WebSocket connections',
      labelNames: protocol,
      registers: [registry],
    }),
    unauthenticatedConnections: new Gauge({
      name: 'concord_unauthenticated_connections',
      help: 'Open WebSocket connections that have not authenticated a document yet (capped: CONCORD_MAX_UNAUTHENTICATED_CONNECTIONS)',
      registers: [registry],
    }),
    connectionsOpened: new Counter({
      name: 'concord_connections_opened_total',
      help: 'WebSocket connections accepted since start',
      labelNames: protocol,
      registers: [registry],
    }),
    deadConnections: new Counter({
      name: 'concord_dead_connections_total',
      help: 'Connections terminated because the client answered no heartbeat for two intervals (its network went away silently)',
      labelNames: protocol,
      registers: [registry],
    }),
    connectionDuration: new Histogram({
      name: 'concord_connection_duration_seconds',
      help: 'How long WebSocket connections stayed open',
      labelNames: protocol,
      buckets: [1, 10, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600],
      registers: [registry],
    }),
    documentsLoaded: new Gauge({
      name: 'concord_documents_loaded',
      help: 'Documents loaded in memory',
      registers: [registry],
      collect() {
        this.set(sources.documents());
      },
    }),
    documentLoads: new Counter({
      name: 'concord_document_loads_total',
      help: 'Documents loaded from storage into memory',
      registers: [registry],
    }),
    documentUnloads: new Counter({
      name: 'concord_document_unloads_total',
      help: 'Documents unloaded from memory after their last client left',
      registers: [registry],
    }),
    documentUpdates: new Counter({
      name: 'concord_document_updates_total',
      help: 'Updates applied to loaded documents, by source (client or server)',
      labelNames: ['source'] as const,
      registers: [registry],
      collect() {
        reportClientUpdates.call(this);
        reportServerUpdates.call(this);
      },
    }),
    messagesReceived: new Counter({
      name: 'concord_messages_received_total',
      help: 'WebSocket messages received from clients',
      labelNames: protocol,
      registers: [registry],
      collect: reportTraffic(traffic, (t) => t.messagesIn),
    }),
    messagesSent: new Counter({
      name: 'concord_messages_sent_total',
      help: 'WebSocket messages sent to clients',
      labelNames: protocol,
      registers: [registry],
      collect: reportTraffic(traffic, (t) => t.messagesOut),
    }),
    bytesReceived: new Counter({
      name: 'concord_received_bytes_total',
      help: 'Bytes of WebSocket messages received from clients',
      labelNames: protocol,
      registers: [registry],
      collect: reportTraffic(traffic, (t) => t.bytesIn),
    }),
    bytesSent: new Counter({
      name: 'concord_sent_bytes_total',
      help: 'Bytes of WebSocket messages sent to clients',
      labelNames: protocol,
      registers: [registry],
      collect: reportTraffic(traffic, (t) => t.bytesOut),
    }),
    messagesCompressed: new Counter({
      name: 'concord_compressed_messages_total',
      help: 'Messages deflated for permessage-deflate: a broadcast counts once whatever its recipients (kind broadcast), a message for one socket once (kind single)',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        reportBroadcastsCompressed.call(this);
        reportSingleCompressed.call(this);
      },
    }),
    compressionInputBytes: new Counter({
      name: 'concord_compression_input_bytes_total',
      help: 'Bytes of the messages deflated, before compression',
      registers: [registry],
      collect: reportTotal({}, () => compression.bytesIn),
    }),
    compressionOutputBytes: new Counter({
      name: 'concord_compression_output_bytes_total',
      help: 'Bytes of the messages deflated, after compression',
      registers: [registry],
      collect: reportTotal({}, () => compression.bytesOut),
    }),
    authFailures: new Counter({
      name: 'concord_auth_failures_total',
      help: 'Refused document authentications, by error kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    sessionsEnded: new Counter({
      name: 'concord_sessions_ended_total',
      help: 'Document sessions the server ended on an open connection, by reason (expired, refresh-refused, forbidden, revoked)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    tokenRefreshes: new Counter({
      name: 'concord_token_refreshes_total',
      help: 'Fresh tokens on open connections: requested by the server, and what came of those sent (accepted, refused, not-granted, revoked, identity-changed)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    rejectedConnections: new Counter({
      name: 'concord_rejected_connections_total',
      help: 'Connections refused or closed for bad input or a limit, by reason (e.g. unauthenticated-limit, ip-limit, user-limit, auth-timeout, pre-auth-bytes, rate-messages, rate-awareness)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    syncTransportConnections: new Gauge({
      name: 'concord_sync_transport_connections',
      help: 'Open /sync connections by transport (websocket, or http: the fallback of docs/http-fallback-design.md)',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    httpSyncRequests: new Counter({
      name: 'concord_http_sync_requests_total',
      help: 'Requests of the HTTP sync fallback by kind (open, poll, send, close) and status',
      labelNames: ['kind', 'status'] as const,
      registers: [registry],
    }),
    refusedRequests: new Counter({
      name: 'concord_refused_requests_total',
      help: 'HTTP API requests refused before their body was read, by status (401 no or bad credential, 403 not granted, 413 too large)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    presenceRewritten: new Counter({
      name: 'concord_presence_rewritten_total',
      help: "Awareness messages forwarded with a state's user id or name replaced by the token's (or a client's lastSeen table dropped)",
      registers: [registry],
    }),
    storeDuration: new Histogram({
      name: 'concord_store_duration_seconds',
      help: 'Storage operation latency',
      labelNames: ['operation'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    storeBatchUpdates: new Histogram({
      name: 'concord_store_batch_updates',
      help: 'Updates per durable write (group commit)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers: [registry],
    }),
    durableDelay: new Histogram({
      name: 'concord_durable_delay_seconds',
      help: 'From an update applied in memory to it being durable (what holds back its acknowledgement)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    storeHealthy: new Gauge({
      name: 'concord_store_healthy',
      help: '1 while storage writes succeed, 0 after a failed write until one succeeds',
      registers: [registry],
      collect() {
        this.set(sources.storeHealthy() ? 1 : 0);
      },
    }),
    storeBacklog: new Gauge({
      name: 'concord_store_backlog_updates',
      help: 'Updates applied in memory and not yet durable',
      registers: [registry],
      collect() {
        this.set(sources.storeBacklog());
      },
    }),
    storeErrors: new Counter({
      name: 'concord_store_errors_total',
      help: 'Failed storage operations',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    eventsPublished: new Counter({
      name: 'concord_events_published_total',
      help: 'Events published to channels (HTTP and Node API, lifecycle hooks)',
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'concord_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome: delivered, retried, refused (4xx), gave-up, dropped (queue full)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    eventsReplayed: new Counter({
      name: 'concord_events_replayed_total',
      help: 'Events sent again to subscribers that had missed them (reconnects)',
      registers: [registry],
    }),
    revocations: new Counter({
      name: 'concord_revocations_total',
      help: 'Revocations applied on this instance (POST /api/revocations, server.revoke), by access left: none, read',
      labelNames: ['access'] as const,
      registers: [registry],
    }),
    revokedSessions: new Counter({
      name: 'concord_revoked_sessions_total',
      help: 'Open document sessions a revocation changed, by access left: none (ended), read (made read-only)',
      labelNames: ['access'] as const,
      registers: [registry],
    }),
    // Measured by Concord clients and reported over their connections (extensions/TelemetryExtension.ts).
    clientPropagation: new Histogram({
      name: 'concord_client_update_propagation_seconds',
      help: "Time from a peer's edit to the receiving client's document, measured by clients (server-corrected clocks, sampled)",
      buckets: CLIENT_LATENCY_BUCKETS,
      registers: [registry],
    }),
    clientDelivery: new Histogram({
      name: 'concord_client_message_delivery_seconds',
      help: "Time from a client's local change to the server's durable acknowledgement, measured by the client",
      buckets: CLIENT_LATENCY_BUCKETS,
      registers: [registry],
    }),
    clientReconnects: new Counter({
      name: 'concord_client_reconnection_attempts_total',
      help: 'Connections clients lost and tried again, by cause (dead-connection, offline, closed-<code>)',
      labelNames: ['cause'] as const,
      registers: [registry],
    }),
    clientFailedConnections: new Counter({
      name: 'concord_client_failed_connections_total',
      help: 'Connection attempts that never opened, as clients report them, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    clientErrors: new Counter({
      name: 'concord_client_errors_total',
      help: 'Errors clients report, by kind (uncaught, unhandled-rejection, local-copy)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    clientReports: new Counter({
      name: 'concord_client_reports_total',
      help: 'Telemetry reports from clients, by outcome (accepted; refused: malformed, too-often)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
}

/** Seconds, from what loopback shows (a few ms) to a phone on a poor network (several seconds). */
const CLIENT_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export type Metrics = ReturnType<typeof createMetrics>;
