/**
 * The sync client: one socket, one token source, one identity, and the registry of open documents.
 *
 * The rule: a document name is open at most once per client. `open` of an open name hands back the same handle
 * with one more reference, so two views of one document share its Y.Doc, its awareness and its provider (a
 * second provider for the same name on the same socket would be refused by the multiplexer anyway).
 */
import { assertDocumentName } from '@concord/engine';
import { ObservableV2 } from 'lib0/observable';
import { SyncedDocument, type DocumentContext } from './document.js';
import { resolveIdentity, type Identity } from './identity.js';
import { deleteNamespace, indexedDBAvailable } from './local.js';
import { resolveUser } from './presence.js';
import { Socket } from './socket.js';
import { TokenProvider } from './token.js';
import type { ConnectionState, DocumentHandle, SyncClient, SyncClientEvents, SyncClientOptions } from './types.js';

class ConcordClient extends ObservableV2<SyncClientEvents> implements SyncClient {
  private readonly options: SyncClientOptions;
  private readonly socket: Socket;
  private readonly tokens: TokenProvider;
  private readonly handles = new Map<string, SyncedDocument>();
  private readonly databases = new Set<string>();
  private readonly context: DocumentContext;
  private identity: Promise<Identity> | null = null;
  private destroyed = false;

  constructor(options: SyncClientOptions) {
    super();
    this.options = options;
    this.tokens = new TokenProvider(options.token);
    this.socket = new Socket(options);
    this.socket.on('state', (state) => this.emit('state', [state]));
    this.context = {
      socket: this.socket,
      tokens: this.tokens,
      identity: () => this.whoAmI(),
      persistence: (options.persistence ?? true) && indexedDBAvailable(),
      rememberDatabase: (name) => this.databases.add(name),
      closed: (handle) => {
        if (this.handles.get(handle.name) === handle) this.handles.delete(handle.name);
      },
    };
  }

  get state(): ConnectionState {
    return this.socket.state;
  }

  open(name: string): DocumentHandle {
    if (this.destroyed) throw new Error('this sync client was destroyed');
    assertDocumentName(name);
    const existing = this.handles.get(name);
    if (existing) return existing.retain();
    const handle = new SyncedDocument(name, this.context, resolveUser(this.options.user, null));
    this.handles.set(name, handle);
    return handle;
  }

  documents(): DocumentHandle[] {
    return [...this.handles.values()];
  }

  async clearLocalData(namespace?: string): Promise<void> {
    const own = (await this.whoAmI()).namespace;
    const target = namespace ?? own;
    if (target === null) return;
    if (target === own) await Promise.all([...this.handles.values()].map((handle) => handle.forgetLocalCopy()));
    await deleteNamespace(target, this.databases);
  }

  override async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.handles.values()].map((handle) => handle.shutdown()));
    this.socket.destroy();
    super.destroy();
  }

  private whoAmI(): Promise<Identity> {
    this.identity ??= resolveIdentity(this.options, this.tokens);
    return this.identity;
  }
}

/** Creates a client: it connects at once and opens documents on demand. */
export function createSyncClient(options: SyncClientOptions): SyncClient {
  return new ConcordClient(options);
}
