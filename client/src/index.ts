export { createSyncClient } from './client.js';
export { UPDATE_FREQUENCIES, UPDATE_INTERVAL_MS } from './frequency.js';
export type { UpdateFrequency } from './frequency.js';
export type { PendingDocument } from './registry.js';
export { DEFAULT_CACHE_MAX_BYTES, DEFAULT_CACHE_MAX_DOCUMENTS } from './cache.js';
export type { CachedDocument } from './cache.js';
export { LOCAL_LOAD_TIMEOUT_MS, localDatabaseName } from './local.js';
export { TOKEN_EXPIRY_MARGIN_MS } from './token.js';
export { CONNECT_TIMEOUT_MS, DEAD_CONNECTION_AFTER_MS } from './watchdog.js';
export type { ChannelPosition, NotificationPreference, ViewGroup, ViewRow, ViewSpec, ViewTotals, Where } from '@concord/engine';
export type { Clock } from './clock.js';
export { TYPING_TIMEOUT_MS } from './presence.js';
export { ECONOMY_PRESENCE_MS, HIDDEN_PRESENCE_MS } from './presencePace.js';
export { LOW_BATTERY_LEVEL } from './power.js';
export { HIDDEN_DISCONNECT_AFTER_MS, WAKE_LINGER_MS } from './sleep.js';
export { STAMP_INTERVAL_MS, STAMP_WAIT_MS, TELEMETRY_INTERVAL_MS } from './telemetry.js';
export { UNDO_CAPTURE_TIMEOUT_MS, UNDO_MAX_STEPS } from './history.js';
export { ApiError, apiBase } from './http.js';
export { LOCAL_CHUNK_BYTES } from './deviceFiles.js';
export { UPLOAD_REQUEST_TIMEOUT_MS } from './uploads.js';
export type {
  AccessChange,
  AttachmentInfo,
  AttachmentProgress,
  AttachOptions,
  Channel,
  ChannelEventMeta,
  ChannelGap,
  ChannelListener,
  ChannelState,
  Inbox,
  InboxEvents,
  InboxNotification,
  Member,
  ViewedTarget,
  View,
  ViewChange,
  ViewEvents,
  Workspace,
  WorkspaceEvents,
  ConnectionState,
  DocumentEvents,
  DocumentHandle,
  DocumentStatus,
  FieldConflict,
  History,
  HistoryEvents,
  HistoryState,
  OutboxEntry,
  Presence,
  PresenceEvents,
  SyncClient,
  SyncClientEvents,
  SyncClientOptions,
  TokenRequest,
  TokenSource,
  RestoreResult,
  VersionInfo,
} from './types.js';
export { HttpWebSocket } from './httpSocket.js';
export type { HttpFallbackOptions, Transport, TransportOption } from './transport.js';
