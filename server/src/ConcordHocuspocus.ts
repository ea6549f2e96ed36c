/**
 * Hocuspocus, minus the per-update work that Concord's configuration never uses.
 *
 * - The store timer. Stock Hocuspocus re-arms a debounce timer for a document on every update it applies
 *   (`storeDocumentHooks`: 2 s, at most 10 s), to run the `onStoreDocument`/`afterStoreDocument` hooks of extensions
 *   that save whole documents now and then. Concord stores every update as it is applied (StorageExtension, through
 *   the group committer) and configures no such hook, so that timer only costs: clearing and re-arming it, with a
 *   closure and a promise, took about 5 % of the server's CPU per acknowledged edit at 10 saturated writers
 *   (test/bench). The debounced runs are skipped; immediate runs still go through as stock, because Hocuspocus unloads
 *   a document after the one a direct connection's disconnect makes. Unloading after the last client leaves does not
 *   depend on the timer (with none armed, Hocuspocus unloads at once, and StorageExtension's `beforeUnloadDocument`
 *   waits for the document's writes).
 * - Per-message hooks nobody implements. For every message and update Hocuspocus runs `beforeHandleMessage`,
 *   `afterHandleMessage`, `beforeSync` and `onChange` through a promise chain over every extension, its own empty
 *   defaults included; a hook no configured extension (nor the configuration itself) implements resolves at once.
 *
 * The rule: whatever a configuration gives, runs exactly as in stock Hocuspocus. Only hooks that nothing configured
 * implements are skipped, so an extension that adds one of them gets it called as usual.
 */
import { Hocuspocus, type Configuration, type Document, type Extension, type HookName, type HookPayloadByName, type onStoreDocumentPayload } from '@hocuspocus/server';

const STORE_HOOKS = ['onStoreDocument', 'afterStoreDocument'] as const satisfies readonly HookName[];
const PER_MESSAGE_HOOKS: ReadonlySet<HookName> = new Set<HookName>(['beforeHandleMessage', 'afterHandleMessage', 'beforeSync', 'onChange']);
const SKIPPABLE_HOOKS: readonly HookName[] = [...STORE_HOOKS, ...PER_MESSAGE_HOOKS];

const DONE = Promise.resolve();

type HookSource = Partial<Record<HookName, unknown>>;

export class ConcordHocuspocus extends Hocuspocus {
  // Declared only: Hocuspocus' constructor calls `configure`, before initialisers of this class would run.
  /** Hooks given directly in a configuration (they stay configured across calls, as Hocuspocus merges them). */
  private declare configurationHooks: Set<HookName> | undefined;
  /** The extensions last given (a configuration without `extensions` keeps them). */
  private declare givenExtensions: readonly Partial<Extension>[] | undefined;
  /** Skippable hooks something configured implements. */
  private declare implemented: Set<HookName>;
  /** Whether any store hook is configured, so the debounced store runs are needed. */
  private declare storeHooksConfigured: boolean;

  override configure(configuration: Partial<Configuration>): Hocuspocus {
    const direct = (this.configurationHooks ??= new Set());
    for (const name of SKIPPABLE_HOOKS) if (typeof (configuration as HookSource)[name] === 'function') direct.add(name);
    this.givenExtensions = configuration.extensions ?? this.givenExtensions ?? [];
    this.implemented = new Set(direct);
    for (const extension of this.givenExtensions) {
      for (const name of SKIPPABLE_HOOKS) if (typeof (extension as HookSource)[name] === 'function') this.implemented.add(name);
    }
    this.storeHooksConfigured = STORE_HOOKS.some((name) => this.implemented.has(name));
    return super.configure(configuration);
  }

  override hooks<T extends HookName>(name: T, payload: HookPayloadByName[T], callback: ((...args: unknown[]) => unknown) | null = null): Promise<unknown> {
    if (callback === null && PER_MESSAGE_HOOKS.has(name) && !this.implemented.has(name)) return DONE;
    return super.hooks(name, payload, callback);
  }

  override storeDocumentHooks(document: Document, hookPayload: onStoreDocumentPayload, immediately?: boolean): Promise<unknown> {
    if (!immediately && !this.storeHooksConfigured) return DONE;
    return super.storeDocumentHooks(document, hookPayload, immediately);
  }
}
