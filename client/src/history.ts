/**
 * Per-user undo and redo of one document: a `Y.UndoManager` whose scope is the whole `Y.Doc` (every root, including
 * roots created after it: collections, fields, texts, rich texts, lists), tracking only this client's own changes.
 *
 * The rule: a change is yours when its transaction's origin is `LOCAL_EDIT_ORIGIN` (the engine's typed model:
 * fields, record create and delete), `null` (a plain Yjs write such as `text.insert` or `list.push`), an origin the
 * app tracks with `track()`, or the undo manager itself (undo and redo). Updates from the server (the provider's
 * origin), the IndexedDB copy and other tabs arrive with their own origins and are never tracked, so they neither
 * enter nor clear the stacks: undo reverts your change and keeps everyone else's, and the stacks survive
 * disconnects and reconnects. Undo never overwrites someone else's later write to the same field (Yjs does not
 * bring back a map entry another client replaced).
 *
 * Grouping: one user action is one step. A transaction is one step; the next one joins it when it comes within
 * `UNDO_CAPTURE_TIMEOUT_MS` and changes the same shared types (a burst of typing in one text or one record's field);
 * a change anywhere else starts a new step; `stopCapturing()` ends a step; between `pause()` and `resume()` every
 * change joins one step; `batch(fn)` makes `fn`'s changes one step of their own.
 */
import { LOCAL_EDIT_ORIGIN } from '@concord/engine';
import { ObservableV2 } from 'lib0/observable';
import * as Y from 'yjs';
import type { History, HistoryEvents, HistoryState } from './types.js';

/** Changes to the same types this close together are one undo step (typing); Yjs' own default. */
export const UNDO_CAPTURE_TIMEOUT_MS = 500;
/** Steps kept per stack; the oldest go first (each step keeps what it deleted in memory, to restore it). */
export const UNDO_MAX_STEPS = 500;

const STACK_EVENTS = ['stack-item-added', 'stack-item-popped', 'stack-item-updated', 'stack-cleared'] as const;

export class DocumentHistory extends ObservableV2<HistoryEvents> implements History {
  private readonly doc: Y.Doc;
  private readonly manager: Y.UndoManager;
  private paused = false;
  /** The types the last tracked change touched: a change to others starts a new step. */
  private lastTypes: ReadonlySet<unknown> | null = null;

  constructor(doc: Y.Doc) {
    super();
    this.doc = doc;
    // Registered before the manager's own handler, so a new step is started before the manager records the change.
    doc.on('afterTransaction', this.beforeCapture);
    this.manager = new Y.UndoManager(doc, {
      trackedOrigins: new Set<unknown>([LOCAL_EDIT_ORIGIN, null]),
      captureTimeout: UNDO_CAPTURE_TIMEOUT_MS,
      // A transaction that changed nothing (an empty `transact`) is no step.
      captureTransaction: (transaction) => transaction.changed.size > 0,
    });
    for (const event of STACK_EVENTS) this.manager.on(event, this.onStack);
  }

  get state(): HistoryState {
    return { canUndo: this.canUndo(), canRedo: this.canRedo() };
  }

  canUndo(): boolean {
    return this.manager.undoStack.length > 0;
  }

  canRedo(): boolean {
    return this.manager.redoStack.length > 0;
  }

  undo(): boolean {
    this.endStep();
    return this.manager.undo() !== null;
  }

  redo(): boolean {
    this.endStep();
    return this.manager.redo() !== null;
  }

  stopCapturing(): void {
    if (this.paused) return;
    this.manager.stopCapturing();
    this.lastTypes = null;
  }

  pause(): void {
    if (this.paused) return;
    this.stopCapturing();
    this.paused = true;
    this.manager.captureTimeout = Number.POSITIVE_INFINITY;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.manager.captureTimeout = UNDO_CAPTURE_TIMEOUT_MS;
    this.stopCapturing();
  }

  batch<T>(fn: () => T): T {
    this.endStep();
    try {
      let result!: T;
      this.doc.transact(() => {
        result = fn();
      }, LOCAL_EDIT_ORIGIN);
      return result;
    } finally {
      this.stopCapturing();
    }
  }

  track(origin: unknown): void {
    this.manager.addTrackedOrigin(origin);
  }

  untrack(origin: unknown): void {
    if (origin === LOCAL_EDIT_ORIGIN || origin === null) return;
    this.manager.removeTrackedOrigin(origin);
  }

  clear(): void {
    this.manager.clear();
  }

  override destroy(): void {
    this.doc.off('afterTransaction', this.beforeCapture);
    for (const event of STACK_EVENTS) this.manager.off(event, this.onStack);
    this.manager.destroy();
    super.destroy();
  }

  /** Ends a pause and the current step (before undo, redo or a batch). */
  private endStep(): void {
    this.resume();
    this.stopCapturing();
  }

  private tracked(origin: unknown): boolean {
    const origins = this.manager.trackedOrigins;
    return origins.has(origin) || (origin != null && origins.has((origin as object).constructor));
  }

  private readonly beforeCapture = (transaction: Y.Transaction) => {
    if (this.paused || transaction.changed.size === 0 || transaction.origin === this.manager) return;
    if (!this.tracked(transaction.origin)) return;
    const types = new Set<unknown>(transaction.changed.keys());
    const last = this.lastTypes;
    if (last !== null && (last.size !== types.size || [...types].some((type) => !last.has(type)))) {
      this.manager.stopCapturing();
    }
    this.lastTypes = types;
  };

  private readonly onStack = () => {
    for (const stack of [this.manager.undoStack, this.manager.redoStack]) {
      if (stack.length > UNDO_MAX_STEPS) stack.splice(0, stack.length - UNDO_MAX_STEPS);
    }
    this.emit('change', [this.state]);
  };
}
