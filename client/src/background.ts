/**
 * Sending what closed documents still hold: when a connection opens, every document the device's outbox registry
 * lists and no screen has open is opened in the background, synced, and closed again once the server has
 * acknowledged its changes. Without this, an edit made offline in a document that was then closed would wait until
 * someone happened to open that document again.
 *
 * The rule: at most `BACKGROUND_SYNCS_AT_ONCE` documents at a time, each given up after `BACKGROUND_SYNC_TIMEOUT_MS`
 * (it stays listed and is tried on the next connection) or when the server refuses it; a document whose outbox
 * turns out empty is taken off the list. One pass runs at a time.
 */
import type { OutboxRegistry } from './registry.js';
import type { DocumentHandle, DocumentStatus } from './types.js';

export const BACKGROUND_SYNCS_AT_ONCE = 4;
export const BACKGROUND_SYNC_TIMEOUT_MS = 60_000;

export interface BackgroundHost {
  /** Opens a document (another reference when it is open already). */
  open(name: string): DocumentHandle;
  isOpen(name: string): boolean;
  registry(): Promise<OutboxRegistry | null>;
  /** The list changed (a document's changes were sent). */
  changed(): void;
}

function settled(status: DocumentStatus): 'sent' | 'refused' | null {
  if (status.state === 'unauthorized') return 'refused';
  return status.synced && status.pendingChanges === 0 ? 'sent' : null;
}

/** Resolves when the handle's changes are acknowledged ('sent'), it is refused, or the time is up. */
function outcome(handle: DocumentHandle): Promise<'sent' | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const done = (result: 'sent' | 'refused' | 'timeout') => {
      clearTimeout(timer);
      handle.off('status', onStatus);
      resolve(result);
    };
    const onStatus = (status: DocumentStatus) => {
      const result = settled(status);
      if (result) done(result);
    };
    const timer = setTimeout(() => done('timeout'), BACKGROUND_SYNC_TIMEOUT_MS);
    handle.on('status', onStatus);
    onStatus(handle.status);
  });
}

export class BackgroundSender {
  private readonly host: BackgroundHost;
  private running: Promise<void> | null = null;

  constructor(host: BackgroundHost) {
    this.host = host;
  }

  /** Sends every listed document that is not open; resolves when the pass is over. */
  sendAll(): Promise<void> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const registry = await this.host.registry();
    if (!registry) return;
    const waiting = (await registry.pending()).map((document) => document.name).filter((name) => !this.host.isOpen(name));
    const workers = Array.from({ length: Math.min(BACKGROUND_SYNCS_AT_ONCE, waiting.length) }, async () => {
      for (let name = waiting.shift(); name !== undefined; name = waiting.shift()) await this.send(registry, name);
    });
    await Promise.all(workers);
  }

  private async send(registry: OutboxRegistry, name: string): Promise<void> {
    let handle: DocumentHandle;
    try {
      handle = this.host.open(name);
    } catch {
      await registry.record(name, []); // not a valid document name: nothing can ever be sent for it
      return;
    }
    try {
      await handle.whenLoaded();
      if ((await outcome(handle)) === 'sent') {
        await registry.record(name, []);
        this.host.changed();
      }
    } finally {
      await handle.close();
    }
  }
}
