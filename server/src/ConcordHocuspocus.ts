/**
 * Hocuspocus without its per-update store timer.
 *
 * Stock Hocuspocus re-arms a debounce timer for a document on every update it applies (`storeDocumentHooks`: 2 s,
 * at most 10 s), to run the `onStoreDocument`/`afterStoreDocument` hooks of extensions that save whole documents
 * now and then. Concord stores every update as it is applied (StorageExtension, through the group committer) and
 * configures no such hook, so on the hot path that timer only costs: clearing and re-arming it, with a closure and a
 * promise, took about 5 % of the server's CPU per acknowledged edit at 10 saturated writers (test/bench). This
 * subclass skips the debounced runs while no configured extension has store hooks. Immediate runs still go through
 * as stock: Hocuspocus unloads a document after the one a direct connection's disconnect makes. Unloading after the
 * last client leaves does not depend on the timer (with none armed, Hocuspocus unloads at once, and
 * StorageExtension's `beforeUnloadDocument` waits for the document's writes).
 */
import { Hocuspocus, type Configuration, type Document, type Extension, type onStoreDocumentPayload } from '@hocuspocus/server';

function hasStoreHooks(extension: Partial<Extension>): boolean {
  return typeof extension.onStoreDocument === 'function' || typeof extension.afterStoreDocument === 'function';
}

export class ConcordHocuspocus extends Hocuspocus {
  /**
   * Whether an extension (or the configuration itself) was given store hooks: then they run as in stock Hocuspocus.
   * Declared only: Hocuspocus' constructor calls `configure`, before an initialiser of this class would run.
   */
  private declare storeHooksConfigured: boolean | undefined;

  override configure(configuration: Partial<Configuration>): Hocuspocus {
    // Read before Hocuspocus appends the configuration's own (default, empty) hooks as the last extension.
    const given = configuration.extensions ?? [];
    this.storeHooksConfigured ||= hasStoreHooks(configuration) || given.some(hasStoreHooks);
    return super.configure(configuration);
  }

  override storeDocumentHooks(document: Document, hookPayload: onStoreDocumentPayload, immediately?: boolean): Promise<unknown> {
    if (!immediately && !this.storeHooksConfigured) return Promise.resolve();
    return super.storeDocumentHooks(document, hookPayload, immediately);
  }
}
