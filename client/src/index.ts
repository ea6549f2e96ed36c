export { createSyncClient } from './client.js';
export { LOCAL_LOAD_TIMEOUT_MS, localDatabaseName } from './local.js';
export { TOKEN_EXPIRY_MARGIN_MS } from './token.js';
export type {
  ConnectionState,
  DocumentEvents,
  DocumentHandle,
  DocumentStatus,
  Presence,
  PresenceEvents,
  SyncClient,
  SyncClientEvents,
  SyncClientOptions,
  TokenRequest,
  TokenSource,
} from './types.js';
