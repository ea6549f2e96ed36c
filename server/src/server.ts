/**
 * Assembles a Concord server: configuration, storage (the group committer, the durability that acknowledgements
 * wait on, the compactor), with CONCORD_REDIS_URL the Redis bus that joins the instances sharing PostgreSQL, the
 * Hocuspocus instance with its extensions (in the order they run: broadcast, auth, sessions, limits, the document
 * relay when clustered, persistence, stamp clamp, channels, presence, the awareness relay when clustered, lifecycle
 * hooks, metrics, logging), the channel hub and the backend's document writer, attachments (a file store beside the
 * documents, their references and the leader's hourly sweep), the WebSocket endpoints and the HTTP routes on one port, and a graceful stop that stores every document before it returns.
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import type { Hocuspocus } from '@hocuspocus/server';
import picomatch from 'picomatch';
import { DEFAULT_TENANT, type ActivityEntry, type DocumentChanges, type NotificationInput } from '@concord/engine';
import { issueDevToken, loadDevSecret } from './auth/devMode.js';
import { Revoker, type RevocationInput, type RevocationResult } from './auth/Revoker.js';
import { ConcordHocuspocus } from './seams/hocuspocus.js';
import { Sessions, SessionsExtension } from './auth/Sessions.js';
import { TokenVerifier } from './auth/TokenVerifier.js';
import { isDevMode, resolveConfig, SETTINGS, type ConcordConfig, type ConfigInput } from './config.js';
import { DocumentWriter, type BackendActor, type DocumentChangeResult, type NotificationResult } from './backend/DocumentWriter.js';
import { Durability } from './durability/Durability.js';
import { RelayLedger } from './durability/RelayLedger.js';
import { ChannelHub, type PublishedEvent } from './channels/ChannelHub.js';
import { AwarenessRelay } from './cluster/AwarenessRelay.js';
import { ChannelRelay } from './cluster/ChannelRelay.js';
import { ClusterEvents, shareRevocations } from './cluster/ClusterEvents.js';
import { DocumentRelay } from './cluster/DocumentRelay.js';
import { clusterNamespace } from './cluster/namespace.js';
import { Peers } from './cluster/Peers.js';
import { RedisBus } from './cluster/RedisBus.js';
import { AuthExtension } from './extensions/AuthExtension.js';
import { BroadcastExtension } from './extensions/BroadcastExtension.js';
import { ChannelExtension } from './extensions/ChannelExtension.js';
import { TelemetryExtension } from './extensions/TelemetryExtension.js';
import { PresenceExtension } from './extensions/PresenceExtension.js';
import { LimitsExtension } from './extensions/LimitsExtension.js';
import { LoggingExtension } from './extensions/LoggingExtension.js';
import { MetricsExtension } from './extensions/MetricsExtension.js';
import { StampClampExtension } from './extensions/StampClampExtension.js';
import { PersistenceExtension } from './extensions/PersistenceExtension.js';
import { clientErrorHandler } from './http/clientErrors.js';
import { UpdateGuard } from './sockets/UpdateGuard.js';
import { createHttpApp } from './http/app.js';
import { LifecycleExtension } from './lifecycle/LifecycleExtension.js';
import { LifecycleConfigError, loadLifecycleFile, parseLifecycle, type LifecycleConfig, type LifecycleInput } from './lifecycle/rules.js';
import { WebhookSender, type RetryPolicy } from './lifecycle/webhooks.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { AwarenessGuard } from './sockets/AwarenessGuard.js';
import { warmCompression } from './sockets/compression.js';
import { ConnectionCounts } from './sockets/limits.js';
import { SocketServer, SYNC_PATH } from './sockets/SocketServer.js';
import { Compactor } from './storage/Compactor.js';
import type { DocumentStore } from './storage/DocumentStore.js';
import { GroupCommitter } from './storage/GroupCommitter.js';
import { LevelStore } from './storage/LevelStore.js';
import { LoadedDocuments } from './storage/LoadedDocuments.js';
import { PostgresStore } from './storage/PostgresStore.js';
import { keepsRevocations } from './storage/RevocationStore.js';
import { keepsChannels, MemoryChannelStore } from './storage/ChannelStore.js';
import { keepsLastSeen, MemoryLastSeenStore } from './storage/LastSeenStore.js';
import { keepsVersions, MemoryVersionStore, type VersionInfo } from './storage/VersionStore.js';
import { Versions, type RestoreResult } from './history/Versions.js';
import { ActivityRecorder } from './history/ActivityRecorder.js';
import { ViewRecorder } from './views/ViewRecorder.js';
import { ASSIGNEE_FIELD, PeopleNotifier } from './history/PeopleNotifier.js';
import { Deadlines } from './history/Deadlines.js';
import { FileReferences } from './files/FileReferences.js';
import { FileSweeper } from './files/FileSweeper.js';
import { UrlSigner } from './files/signedUrls.js';
import { DirectoryFileStore } from './storage/DirectoryFileStore.js';
import type { FileStore, SweepResult } from './storage/FileStore.js';
import { PostgresFileStore } from './storage/PostgresFileStore.js';

/** Payload bytes a channel's log keeps for subscribers that reconnect (more if one event may be larger). */
const CHANNEL_LOG_MAX_BYTES = 4 * 1024 * 1024;
/** Author of notifications sent by lifecycle hooks. */
const LIFECYCLE_ACTOR: BackendActor = { id: 'lifecycle', name: 'Lifecycle hooks' };
/** Author of changes made through `changeDocument` without an actor. */
const SERVER_ACTOR: BackendActor = { id: 'server', name: 'Server' };

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** How often Node checks for HTTP requests past their headers or request timeout (one timer for the server). */
const HTTP_TIMEOUT_CHECK_MS = 1_000;
/** How long shutdown lets sockets close before it cuts them. */
const SHUTDOWN_GRACE_MS = 2_000;
/** How long the start waits for Redis before serving without it (degraded, joined once Redis answers). */
const REDIS_START_WAIT_MS = 2_000;
/** How long shutdown waits for storage to take what is still queued (through retries) before giving up. */
const SHUTDOWN_STORE_TIMEOUT_MS = 10_000;

export interface ServerOptions extends ConfigInput {
  /** Storage to use instead of PostgreSQL at `databaseUrl` or LevelDB in `dataDir` (the caller owns it and closes it). */
  store?: DocumentStore;
  /** Logger to use instead of a new pino logger at `logLevel`. */
  logger?: Logger;
  /** Lifecycle hooks and webhook targets, added to those of `hooksFile` (see lifecycle/rules.ts). */
  lifecycle?: LifecycleInput;
  /** How webhooks are retried (tests shorten the waits). */
  webhookRetry?: Partial<RetryPolicy>;
}

export interface ConcordServer {
  readonly config: ConcordConfig;
  /** `http://host:port` */
  readonly url: string;
  /** `ws://host:port/sync` */
  readonly syncUrl: string;
  readonly port: number;
  readonly hocuspocus: Hocuspocus;
  /** Every authenticated document session: who, what access, until when (auth/Sessions.ts). */
  readonly sessions: Sessions;
  /**
   * Publishes `event` with `payload` (JSON, at most `maxEventBytes`) to `channel` of `tenant` (default `default`):
   * once it is stored (it resolves then), every subscriber gets it, and subscribers that are offline get it when they
   * reconnect, within the retention, across restarts. Rejects with a ConcordError for a bad channel, event name or
   * payload. Events published one after the other without waiting keep their order.
   */
  publish(channel: string, event: string, payload?: unknown, options?: { tenant?: string }): Promise<PublishedEvent>;
  /**
   * Applies field changes to a document as the app backend (see engine `documentChangesSchema`): every viewer sees
   * them at once; resolves once they are durable (or with `durable: false` after a while when storage is failing).
   */
  changeDocument(name: string, changes: DocumentChanges, options?: { tenant?: string; actor?: BackendActor }): Promise<DocumentChangeResult>;
  /**
   * Adds a notification to a user's inbox (the document `inbox:<user>`), unless the user switched its kind off; every
   * device of the user gets it, now or when it reconnects.
   */
  notify(user: string, notification: NotificationInput, options?: { tenant?: string; actor?: BackendActor }): Promise<NotificationResult>;
  /**
   * Revokes (`access` `none`, the default) or downgrades (`read`) what `user` of `tenant` (default `default`) may do
   * on the documents matching `documents` (default `*`), as `POST /api/revocations` does: open sessions change at once,
   * tokens issued before stay capped, and it is stored. Resolves once durable; throws a ConcordError for bad input.
   */
  revoke(revocation: RevocationInput): Promise<RevocationResult>;
  /** The versions of a document, newest first (see history/Versions.ts). */
  versions(name: string, options?: { tenant?: string }): Promise<readonly VersionInfo[]>;
  /** A version's state, as a Yjs update; rejects with UnknownVersionError for an id the document does not have. */
  version(name: string, id: string, options?: { tenant?: string }): Promise<Uint8Array>;
  /** Saves the document's current state as a version named `label`; resolves once it is durable. */
  saveVersion(name: string, label: string, options?: { tenant?: string; actor?: BackendActor }): Promise<VersionInfo>;
  /**
   * Makes the document's content that of version `id`, as a change every client receives (the content before is
   * saved as an automatic version first, so restoring that one undoes it); resolves once durable.
   */
  restore(name: string, id: string, options?: { tenant?: string; actor?: BackendActor }): Promise<RestoreResult>;
  /** The document's activity feed, newest first (at most `limit`, default 100). */
  activity(name: string, options?: { tenant?: string; limit?: number }): Promise<ActivityEntry[]>;
  /**
   * Attachments: `sweep` removes the files unreferenced for CONCORD_FILE_RETENTION_DAYS as of `now` (default: the
   * clock), and stale uploads, as the leader does hourly; `settled` resolves once the references that document
   * changes made are stored.
   */
  readonly files: { sweep(now?: number): Promise<SweepResult>; settled(): Promise<void> };
  /** Closes every socket (clients reconnect later), stores every document, closes storage. */
  stop(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolveListen, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message;
      reject(new Error(`cannot listen on ${host}:${port}: ${why}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen({ port, host }, () => {
      server.off('error', onError);
      resolveListen(server.address() as AddressInfo);
    });
  });
}

/** The hooks file and the `lifecycle` option together; webhooks need the signing secret. */
async function resolveLifecycle(config: ConcordConfig, option: LifecycleInput | undefined): Promise<LifecycleConfig> {
  const fromFile = config.hooksFile === undefined ? parseLifecycle({}, 'defaults') : await loadLifecycleFile(resolve(config.hooksFile));
  const fromOption = parseLifecycle(option ?? {}, 'the lifecycle option');
  const webhooks = [...fromFile.webhooks, ...fromOption.webhooks];
  if (config.webhookUrl !== undefined) webhooks.push({ url: config.webhookUrl, documents: '*' });
  if (webhooks.length > 0 && config.webhookSecret === undefined) {
    throw new LifecycleConfigError(`webhooks are configured but ${SETTINGS.webhookSecret.env} is not set: webhooks are always signed`);
  }
  return { events: [...fromFile.events, ...fromOption.events], webhooks };
}

export async function startServer(options: ServerOptions = {}): Promise<ConcordServer> {
  const { store: givenStore, logger, lifecycle: lifecycleInput, webhookRetry, ...input } = options;
  const config = resolveConfig(input);
  const lifecycle = await resolveLifecycle(config, lifecycleInput);
  const log = logger ?? createLogger(config.logLevel);
  const devMode = isDevMode(config);
  const store =
    givenStore ??
    (config.databaseUrl === undefined
      ? await LevelStore.open(resolve(config.dataDir))
      : await PostgresStore.open(config.databaseUrl, { log }));
  const ownsStore = givenStore === undefined;
  let bus: RedisBus | undefined;
  let peers: Peers | undefined;
  let files: FileStore | undefined;

  try {
    // Attachments beside the documents: PostgreSQL tables every instance serves, or a directory under the data dir.
    files =
      config.databaseUrl === undefined
        ? await DirectoryFileStore.open(resolve(config.dataDir, 'files'))
        : await PostgresFileStore.open(config.databaseUrl, { log });
    const fileStore = files;
    const devSecret = devMode ? await loadDevSecret(resolve(config.dataDir)) : undefined;
    const verifier = new TokenVerifier({ secret: config.authSecret ?? devSecret, jwksUrl: config.authJwksUrl });
    const hocuspocus = new ConcordHocuspocus({ name: 'concord', quiet: true, timeout: config.connectionTimeoutMs });
    let committer: GroupCommitter | undefined;
    const metrics = createMetrics({
      documents: () => hocuspocus.getDocumentsCount(),
      storeHealthy: () => committer?.healthy ?? true,
      storeBacklog: () => committer?.backlog ?? 0,
      redisHealthy: config.redisUrl === undefined ? undefined : () => bus?.healthy ?? false,
      clusterPeers: () => peers?.live ?? 0,
    });
    committer = new GroupCommitter(store, metrics, log);
    if (config.redisUrl !== undefined && config.databaseUrl !== undefined && metrics.bus !== undefined) {
      const namespace = await clusterNamespace(config.databaseUrl);
      bus = new RedisBus({ url: config.redisUrl, namespace, log, metrics: metrics.bus });
      if (!(await bus.whenHealthy(REDIS_START_WAIT_MS))) {
        log.warn({ redis: bus.health().url, lastError: bus.health().lastError }, 'Redis is unreachable at start: serving this instance\'s clients only until it is back');
      }
    }
    const durability = new Durability(committer);
    // Updates other instances published before their commit: acknowledgements here wait until they are stored.
    const ledger = bus === undefined ? undefined : new RelayLedger(committer);
    if (ledger !== undefined) durability.useLedger(ledger);
    const sessions = new Sessions({ log, metrics });
    const revoker = new Revoker({ store: keepsRevocations(store) ? store : null, sessions, metrics, log });
    await revoker.load();
    // Revocations cross instances: broadcast once stored, applied once each, read from PostgreSQL when Redis fails.
    const clusterEvents = bus === undefined ? undefined : new ClusterEvents(bus, log);
    if (clusterEvents !== undefined) shareRevocations(clusterEvents, revoker);
    const updates = new UpdateGuard({
      maxHeldUpdatesPerConnection: config.maxHeldUpdatesPerConnection,
      maxHeldBytesPerConnection: config.maxHeldUpdateBytesPerConnection,
      maxHeldUpdatesPerDocument: config.maxHeldUpdatesPerDocument,
    });
    const loadedDocuments = new LoadedDocuments();
    const compactor = new Compactor(store, committer, loadedDocuments, log, metrics);
    const persistence = new PersistenceExtension(store, committer, loadedDocuments, log, metrics, updates);
    // Before persistence: a document's channel is subscribed to before storage loads it (see cluster/DocumentRelay.ts).
    const relay =
      bus === undefined || ledger === undefined || metrics.bus === undefined ? [] : [new DocumentRelay(bus, store, committer, durability, ledger, updates, metrics.bus, log)];
    const channelStore = keepsChannels(store) ? store : new MemoryChannelStore();
    const retention = {
      maxEvents: config.eventRetentionCount,
      maxAgeMs: config.eventRetentionSeconds * 1000,
      maxBytes: Math.max(CHANNEL_LOG_MAX_BYTES, config.maxEventBytes),
    };
    // Channel events of every instance reach this one's subscribers, in order (see cluster/ChannelRelay.ts).
    const channelRelay = bus === undefined ? undefined : new ChannelRelay({ bus, store: channelStore, retention, log });
    const channels = new ChannelHub({
      hocuspocus,
      store: channelStore,
      retention,
      fanOut: channelRelay,
      maxEventBytes: config.maxEventBytes,
      metrics,
      log: log.child({ component: 'channels' }),
    });
    const presence = new PresenceExtension({
      windowMs: config.presenceWindowMs,
      lastSeen: keepsLastSeen(store) ? store : new MemoryLastSeenStore(),
      log: log.child({ component: 'presence' }),
    });
    // After presence: it relays each presence window, and a window flushed as a document unloads (cluster/AwarenessRelay.ts).
    const awarenessRelay = bus === undefined ? [] : [new AwarenessRelay(bus, presence, log, relay[0])];
    // Heartbeats: an instance that says goodbye, or dies while Redis is reachable, takes its clients' cursors with it.
    if (bus !== undefined) {
      const durableMark = () => committer!.durableThrough;
      peers = new Peers(bus, log, durableMark);
      for (const presenceRelay of awarenessRelay) peers.onGone((instance) => presenceRelay.dropInstance(instance));
      if (ledger !== undefined) {
        // A peer's heartbeat settles what it published; a peer gone leaves what it may not have stored to be stored here.
        peers.onMark((instance, mark) => ledger.settle(instance, mark));
        peers.onGone((instance) => ledger.adoptFrom(instance));
      }
      await peers.start();
    }
    const writer = new DocumentWriter(hocuspocus, durability);
    const deadlines = new Deadlines({
      hocuspocus,
      writer,
      leadMs: config.deadlineLeadMinutes * 60 * 1000,
      leads: () => peers?.leads ?? true,
      shared: bus !== undefined,
      store,
      log,
    });
    const fileReferences = new FileReferences(fileStore, log);
    const fileSweeper = new FileSweeper({
      files: fileStore,
      retentionMs: config.fileRetentionDays * 24 * 3600 * 1000,
      leads: () => peers?.leads ?? true,
      log,
    });
    const activity = new ActivityRecorder({
      hocuspocus,
      listeners: [
        fileReferences.listener,
        new PeopleNotifier(writer, log, {
          hookNotifies: (document, root) =>
            lifecycle.events.some((rule) => rule.notify !== undefined && rule.field === ASSIGNEE_FIELD && rule.root === root && picomatch.isMatch(document, rule.documents, { dot: true })),
          ownerOf: (document, client) => updates.get(document)?.owners.get(client),
        }).listener,
        deadlines.listener,
      ],
      maxEntries: config.activityRetentionCount,
      maxAgeMs: config.activityRetentionDays * 24 * 3600 * 1000,
      log,
    });
    // Across instances, views learn of the source documents others stored changes to (and rebuild after an outage).
    const views = new ViewRecorder({ hocuspocus, store, writer, log, cluster: clusterEvents && { events: clusterEvents, committer } });
    // Every kind of instance-wide event is registered (revocations, views): join the cluster channel.
    await clusterEvents?.start();
    const versions = new Versions({
      store: keepsVersions(store) ? store : new MemoryVersionStore(),
      writer,
      intervalMs: config.versionIntervalSeconds * 1000,
      retentionMs: config.versionRetentionDays * 24 * 3600 * 1000,
      log,
      onRestore: (tenant, name, by, version) => activity.restored(tenant, name, by, version.id, version.name),
    });
    const webhooks =
      lifecycle.webhooks.length > 0 && config.webhookSecret !== undefined
        ? new WebhookSender({ secret: config.webhookSecret, retry: webhookRetry, log: log.child({ component: 'webhooks' }), metrics })
        : null;
    const lifecycleHooks = new LifecycleExtension({
      config: lifecycle,
      webhooks,
      log,
      actions: {
        publish: (tenant, channel, event, payload) => channels.publish(tenant, channel, event, payload),
        notify: (tenant, user, notification) => writer.notify(tenant, user, notification, LIFECYCLE_ACTOR),
      },
    });
    hocuspocus.configure({
      extensions: [
        new BroadcastExtension(),
        new AuthExtension(verifier, log, metrics, { requireExp: config.requireTokenExp, sessions, revocations: revoker.list }),
        new SessionsExtension(sessions),
        new LimitsExtension(),
        ...relay,
        ...(channelRelay === undefined ? [] : [channelRelay]),
        persistence,
        versions,
        activity,
        views,
        new StampClampExtension(),
        new ChannelExtension(channels, log.child({ component: 'channels' })),
        new TelemetryExtension(metrics),
        presence,
        ...awarenessRelay,
        lifecycleHooks,
        new MetricsExtension(metrics),
        new LoggingExtension(log),
      ],
    });

    await deadlines.start();
    fileSweeper.start();
    const sockets = new SocketServer({
      hocuspocus,
      metrics,
      log: log.child({ component: 'sockets' }),
      durability,
      maxMessageBytes: config.maxMessageBytes,
      maxSendBufferBytes: config.maxSendBufferBytes,
      awareness: new AwarenessGuard(
        hocuspocus,
        { maxStatesPerConnection: config.maxAwarenessStates, maxStateBytes: config.maxAwarenessStateBytes },
        metrics,
      ),
      updates,
      limits: new ConnectionCounts(
        {
          maxBytesBeforeAuth: config.maxBytesBeforeAuth,
          authTimeoutMs: config.authTimeoutMs,
          maxUnauthenticatedConnections: config.maxUnauthenticatedConnections,
          maxConnections: config.maxConnections,
          maxConnectionsPerIp: config.maxConnectionsPerIp,
          maxConnectionsPerUser: config.maxConnectionsPerUser,
          messagesPerSecond: config.messagesPerSecond,
          messagesBurst: config.messagesBurst,
          bytesPerSecond: config.bytesPerSecond,
          bytesBurst: config.bytesBurst,
          awarenessPerSecond: config.awarenessPerSecond,
          awarenessBurst: config.awarenessBurst,
          maxDocumentsPerConnection: config.maxDocumentsPerConnection,
        },
        (delta) => metrics.unauthenticatedConnections.inc(delta),
      ),
      allowedOrigins: config.allowedOrigins,
      permessageDeflate: config.permessageDeflate,
      heartbeatIntervalMs: config.heartbeatIntervalMs,
      loopbackHostOnly: devMode,
    });
    const startedAt = Date.now();
    let stopping: Promise<void> | undefined;

    const app = createHttpApp({
      metrics,
      log,
      staticDir: config.staticDir,
      serveSourceMaps: config.serveSourceMaps ?? devMode,
      metricsAccess: config.metricsAccess,
      loopbackHostOnly: devMode,
      sync: {
        sessions: sockets,
        heartbeatMs: config.heartbeatIntervalMs,
        maxMessageBytes: config.maxMessageBytes,
        allowedOrigins: config.allowedOrigins,
      },
      backend: {
        apiKey: config.apiKey,
        verifier,
        maxEventBytes: config.maxEventBytes,
        maxChangeBytes: config.maxMessageBytes,
        publish: (tenant, channel, event, payload) => channels.publish(tenant, channel, event, payload),
        changeDocument: (tenant, name, changes, actor) => writer.change(tenant, name, changes, actor),
        notify: (tenant, user, notification, actor) => writer.notify(tenant, user, notification, actor),
        onRefused: (status) => metrics.refusedRequests.inc({ status: String(status) }),
        revoke: (revocation) => revoker.revoke(revocation),
        revocations: revoker.list,
        versions,
        activity,
        files: {
          store: fileStore,
          maxFileBytes: config.maxFileBytes,
          types: config.fileTypes,
          signer: UrlSigner.fromSettings(config.fileSecret, config.apiKey ?? config.authSecret),
          urlSeconds: config.fileUrlSeconds,
        },
      },
      issueDevToken: devSecret === undefined ? undefined : (user) => issueDevToken(devSecret, user),
      health: () => ({
        status: stopping ? 'stopping' : committer.healthy && (bus?.healthy ?? true) ? 'ok' : 'degraded',
        version,
        uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
        storage: { kind: store.kind, healthy: committer.healthy, backlog: committer.backlog, lastError: committer.lastError },
        ...(bus === undefined ? {} : { redis: { ...bus.health(), peers: peers?.live ?? 0 } }),
        documents: hocuspocus.getDocumentsCount(),
        connections: sockets.size,
        devMode,
      }),
    });
    const httpServer = createServer(
      {
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        // Node looks for requests past their timeout this often (its default, 30 s, would let them run 30 s longer).
        connectionsCheckingInterval: Math.min(HTTP_TIMEOUT_CHECK_MS, config.headersTimeoutMs / 2),
      },
      getRequestListener(app.fetch),
    );
    httpServer.on('upgrade', sockets.handleUpgrade);
    httpServer.on('clientError', clientErrorHandler(metrics));
    const address = await listen(httpServer, config.port, config.host);
    if (config.permessageDeflate) warmCompression();
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;

    log.info({ url, storage: store.kind, devMode, version }, `Concord listening on ${url}`);
    if (config.fileSecret === undefined && config.apiKey === undefined && config.authSecret === undefined && config.databaseUrl !== undefined) {
      log.warn(`no ${SETTINGS.fileSecret.env}, ${SETTINGS.apiKey.env} or ${SETTINGS.authSecret.env}: signed file URLs work only on the instance that made them`);
    }
    if (devMode) {
      log.warn(`dev mode: no CONCORD_AUTH_SECRET or CONCORD_AUTH_JWKS_URL, so ${url}/api/dev/token hands out tokens to anyone who asks`);
    }

    const stop = async () => {
      log.info('stopping: closing connections and storing every document');
      httpServer.close();
      httpServer.closeIdleConnections();
      await sockets.closeAll(SHUTDOWN_GRACE_MS);
      const drained = await Promise.race([
        committer.drain().then(() => true),
        new Promise<false>((resolve) => setTimeout(resolve, SHUTDOWN_STORE_TIMEOUT_MS, false).unref()),
      ]);
      if (!drained) {
        log.error({ backlog: committer.backlog, lastError: committer.lastError }, 'storage did not take every change before shutdown; they were never acknowledged, so clients still hold them');
      }
      await lifecycleHooks.close();
      await versions.close();
      await activity.close();
      await views.close();
      await deadlines.close();
      await fileSweeper.close();
      await fileReferences.settled();
      committer.close();
      sessions.close();
      await channels.close();
      await presence.close();
      await compactor.close();
      await clusterEvents?.close();
      peers?.close();
      for (const documentRelay of relay) documentRelay.close();
      await bus?.close();
      httpServer.closeAllConnections();
      if (ownsStore) await store.close();
      await fileStore.close();
      log.info('stopped');
    };

    return {
      config,
      url,
      syncUrl: `ws://${host}:${address.port}${SYNC_PATH}`,
      port: address.port,
      hocuspocus,
      sessions,
      publish: (channel, event, payload, options = {}) => channels.publish(options.tenant ?? DEFAULT_TENANT, channel, event, payload),
      changeDocument: (name, changes, options = {}) =>
        writer.change(options.tenant ?? DEFAULT_TENANT, name, changes, options.actor ?? SERVER_ACTOR),
      notify: (user, notification, options = {}) =>
        writer.notify(options.tenant ?? DEFAULT_TENANT, user, notification, options.actor ?? SERVER_ACTOR),
      revoke: (revocation) => revoker.revoke(revocation),
      versions: (name, options = {}) => versions.list(options.tenant ?? DEFAULT_TENANT, name),
      version: (name, id, options = {}) => versions.state(options.tenant ?? DEFAULT_TENANT, name, id),
      saveVersion: (name, label, options = {}) => versions.saveNamed(options.tenant ?? DEFAULT_TENANT, name, label, options.actor ?? SERVER_ACTOR),
      activity: (name, options = {}) => activity.read(options.tenant ?? DEFAULT_TENANT, name, options.limit ?? 100),
      restore: (name, id, options = {}) => versions.restore(options.tenant ?? DEFAULT_TENANT, name, id, options.actor ?? SERVER_ACTOR),
      files: { sweep: (now) => fileSweeper.sweep(now), settled: () => fileReferences.settled() },
      stop: () => (stopping ??= stop()),
    };
  } catch (error) {
    peers?.close();
    await bus?.close();
    if (ownsStore) await store.close();
    await files?.close();
    throw error;
  }
}
