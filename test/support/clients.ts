/**
 * Stock clients for server tests, exactly as users run them: a HocuspocusProvider on `/sync` and a y-websocket
 * WebsocketProvider on `/y/<name>`, plus a raw WebSocket for sending hand-made frames. Each is destroyed when the
 * test ends.
 */
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { onCleanup } from './cleanup.js';
import type { TestServer } from './server.js';
import { waitFor } from './wait.js';

export interface HocuspocusClient {
  readonly doc: Y.Doc;
  readonly provider: HocuspocusProvider;
  /** Reasons of authenticationFailed events, in order. */
  readonly failures: string[];
  /** `'readonly'` or `'read-write'` once authenticated. */
  scope(): string | undefined;
  whenSynced(): Promise<void>;
}

export function hocuspocusClient(
  server: Pick<TestServer, 'syncUrl'>,
  name: string,
  token: string | (() => Promise<string>),
  options: { doc?: Y.Doc; websocket?: HocuspocusProviderWebsocket } = {},
): HocuspocusClient {
  const doc = options.doc ?? new Y.Doc();
  const failures: string[] = [];
  let scope: string | undefined;
  const provider = new HocuspocusProvider({
    ...(options.websocket ? { websocketProvider: options.websocket } : { url: server.syncUrl }),
    name,
    document: doc,
    token,
    onAuthenticationFailed: ({ reason }) => failures.push(reason),
    onAuthenticated: ({ scope: granted }) => {
      scope = granted;
    },
  });
  if (options.websocket) provider.attach();
  onCleanup(() => provider.destroy());
  return {
    doc,
    provider,
    failures,
    scope: () => scope,
    whenSynced: () =>
      provider.isSynced ? Promise.resolve() : new Promise<void>((resolve) => provider.on('synced', () => resolve())),
  };
}

/**
 * How `client` ended its first connection: `'read-write'` or `'readonly'` once synced, or the reason the server
 * refused it. Bounded, unlike `whenSynced()`: a refused client never syncs, and a test that only awaited that showed
 * a regression as its own timeout, with no reason.
 */
export async function admission(client: HocuspocusClient, timeoutMs = 10_000): Promise<string> {
  return waitFor(
    () => {
      if (client.failures.length > 0) return `refused: ${client.failures.join(', ')}`;
      return client.provider.isSynced ? client.scope() : undefined;
    },
    { timeoutMs, message: `${client.provider.configuration.name} to be synced or refused` },
  );
}

/** One multiplexed socket for several hocuspocusClient()s. */
export function sharedSocket(server: Pick<TestServer, 'syncUrl'>): HocuspocusProviderWebsocket {
  const websocket = new HocuspocusProviderWebsocket({ url: server.syncUrl });
  onCleanup(() => websocket.destroy());
  return websocket;
}

export interface YClient {
  readonly doc: Y.Doc;
  readonly provider: WebsocketProvider;
  /** Close events the provider saw, in order. */
  readonly closes: Array<{ code: number; reason: string }>;
  whenSynced(): Promise<void>;
}

export function yClient(server: Pick<TestServer, 'yUrl'>, name: string, token: string, doc = new Y.Doc()): YClient {
  const closes: Array<{ code: number; reason: string }> = [];
  // No BroadcastChannel: clients in one process must sync through the server, not around it.
  const provider = new WebsocketProvider(server.yUrl, name, doc, { params: { token }, disableBc: true });
  provider.on('connection-close', (event) => {
    if (event) closes.push({ code: event.code, reason: event.reason });
  });
  onCleanup(() => provider.destroy());
  return {
    doc,
    provider,
    closes,
    whenSynced: () =>
      provider.synced ? Promise.resolve() : new Promise<void>((resolve) => provider.once('sync', () => resolve())),
  };
}

export interface RawSocket {
  readonly ws: WebSocket;
  readonly received: Uint8Array[];
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  send(frame: Uint8Array | string): void;
}

/** A bare WebSocket to `url`, open when the promise resolves. */
export async function rawSocket(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
  const ws = new WebSocket(url, { headers });
  const received: Uint8Array[] = [];
  ws.on('message', (data) => received.push(new Uint8Array(data as Buffer)));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  onCleanup(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, received, closed, send: (frame) => ws.send(frame) };
}

/** Hocuspocus frame builders for raw-socket tests. */
export const frames = {
  auth(document: string, token: string): Uint8Array {
    const e = encoding.createEncoder();
    encoding.writeVarString(e, document);
    encoding.writeVarUint(e, 2); // Auth
    encoding.writeVarUint(e, 0); // Token
    encoding.writeVarString(e, token);
    return encoding.toUint8Array(e);
  },
  /** A sync Update message carrying `update` bytes as they are. */
  update(document: string | null, update: Uint8Array): Uint8Array {
    const e = encoding.createEncoder();
    if (document !== null) encoding.writeVarString(e, document);
    encoding.writeVarUint(e, 0); // Sync
    encoding.writeVarUint(e, 2); // Update
    encoding.writeVarUint8Array(e, update);
    return encoding.toUint8Array(e);
  },
  /** True when a received Hocuspocus frame is the Authenticated reply. */
  isAuthenticated(frame: Uint8Array): boolean {
    try {
      const d = decoding.createDecoder(frame);
      decoding.readVarString(d);
      return decoding.readVarUint(d) === 2 && decoding.readVarUint(d) === 2;
    } catch {
      return false;
    }
  },
};

/** The server's in-memory copy of a document (tenant-qualified name), or undefined when not loaded. */
export function serverDocument(server: TestServer, tenant: string, name: string): Y.Doc | undefined {
  return server.current.hocuspocus.documents.get(`${tenant}/${name}`);
}
