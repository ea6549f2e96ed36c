export { startServer } from './server.js';
export type { ConcordServer, ServerOptions } from './server.js';
export { ConfigError, configFromEnv, DEFAULT_MAX_MESSAGE_BYTES, resolveConfig, SETTINGS } from './config.js';
export type { ConcordConfig, ConfigInput, LogLevel } from './config.js';
export type { AppendEntry, DocumentStore, StoredEntry } from './storage/DocumentStore.js';
export { StoreClosedError } from './storage/DocumentStore.js';
export { MemoryStore } from './storage/MemoryStore.js';
export { LevelStore } from './storage/LevelStore.js';
export type { ConnectionContext } from './extensions/AuthExtension.js';
