/**
 * Cross-tab sharing: tabs of one browser that have the same document open exchange its edits over a
 * BroadcastChannel, at once and without the server, so they agree while offline too.
 *
 * The rule: a channel is named like the document's local database (`concord/<namespace>/<document>`), so only tabs
 * of the same user (namespace) and document meet, and a document without a namespace has no channel. A tab sends
 * every update made in it (not those from the server, which every tab receives itself, nor those from the channel).
 * A tab that joins says what it has (`hello` with its state vector); every tab already there answers with what the
 * newcomer lacks and what it has itself (`welcome`), and the newcomer answers that with what the old tab lacks.
 * Updates from the channel are applied with the channel as origin: they are not this tab's own changes, but this
 * tab's provider still sends them to the server, so an edit reaches it through whichever tab is connected.
 */
import * as Y from 'yjs';

type TabMessage =
  | { readonly kind: 'hello'; readonly from: string; readonly stateVector: Uint8Array }
  | { readonly kind: 'welcome'; readonly from: string; readonly to: string; readonly stateVector: Uint8Array }
  | { readonly kind: 'update'; readonly from: string; readonly update: Uint8Array };

export function crossTabAvailable(): boolean {
  return typeof (globalThis as { BroadcastChannel?: unknown }).BroadcastChannel === 'function';
}

function isTabMessage(data: unknown): data is TabMessage {
  if (typeof data !== 'object' || data === null) return false;
  const { kind, from } = data as { kind?: unknown; from?: unknown };
  return typeof from === 'string' && (kind === 'hello' || kind === 'welcome' || kind === 'update');
}

export class TabChannel {
  private readonly doc: Y.Doc;
  private readonly channel: BroadcastChannel;
  private readonly tab = Math.random().toString(36).slice(2);
  /** Updates with these origins came from elsewhere (the provider, IndexedDB) and are not sent to other tabs. */
  private readonly foreignOrigins: ReadonlySet<unknown>;

  /** Joins `name`'s channel and asks the tabs already there for what this one lacks. */
  constructor(name: string, doc: Y.Doc, foreignOrigins: ReadonlySet<unknown>) {
    this.doc = doc;
    this.foreignOrigins = foreignOrigins;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (event: MessageEvent) => this.receive(event.data);
    doc.on('update', this.onUpdate);
    this.post({ kind: 'hello', from: this.tab, stateVector: Y.encodeStateVector(doc) });
  }

  close(): void {
    this.doc.off('update', this.onUpdate);
    this.channel.onmessage = null;
    this.channel.close();
  }

  private readonly onUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin === this || this.foreignOrigins.has(origin)) return;
    this.post({ kind: 'update', from: this.tab, update });
  };

  private receive(data: unknown): void {
    if (!isTabMessage(data) || data.from === this.tab) return;
    try {
      switch (data.kind) {
        case 'hello':
          this.sendMissing(data.stateVector);
          this.post({ kind: 'welcome', from: this.tab, to: data.from, stateVector: Y.encodeStateVector(this.doc) });
          break;
        case 'welcome':
          if (data.to === this.tab) this.sendMissing(data.stateVector);
          break;
        case 'update':
          Y.applyUpdate(this.doc, data.update, this);
          break;
      }
    } catch {
      // Another tab runs other code (an older version mid-deploy) or sent bytes that do not decode: the server
      // remains the way its edits arrive.
    }
  }

  /**
   * Sends what a tab with `stateVector` lacks, if anything (an update with no structs and no deletions is two zero
   * counts; the delete set is always sent whole).
   */
  private sendMissing(stateVector: Uint8Array): void {
    const missing = Y.encodeStateAsUpdate(this.doc, stateVector);
    if (missing.length > 2) this.post({ kind: 'update', from: this.tab, update: missing });
  }

  private post(message: TabMessage): void {
    try {
      this.channel.postMessage(message);
    } catch {
      // The channel closed under us (the tab is closing): nothing to share any more.
    }
  }
}
