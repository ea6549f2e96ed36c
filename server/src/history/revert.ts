/**
 * The change that makes a document's content what a saved state held, as one Yjs update applied on top of the
 * document (so every replica merges it like any edit, and history goes on): it deletes what was added since, and
 * adds again, as new content, what was deleted since. Public Yjs API only: the saved state is replayed into a scratch
 * document, the document's changes since then are applied to it as one tracked transaction, and a `Y.UndoManager`
 * undoes that transaction; what the undo wrote is the revert. The manager only sees typed roots, and a root built from
 * updates has no type, so each is given the one its content shows (seams/yjs.ts `typeRoots`).
 *
 * Engine fields (engine/src/fields.ts) come back as they were: their stamped keys are map entries, so the keys written
 * since are deleted and the ones deleted since are written again with their old stamps; reads then find the saved
 * value, and the next edit stamps above it as always.
 */
import * as Y from 'yjs';
import { typeRoots } from '../seams/yjs.js';

/** The origin of the scratch transaction the undo reverts. */
const REPLAY = Symbol('concord-revert-replay');

/**
 * The update that turns `current`'s content into `saved`'s (a state `Y.encodeStateAsUpdate` gave of this document at
 * an earlier time), or null when they hold the same content. `current` is not changed.
 */
export function revertUpdate(current: Y.Doc, saved: Uint8Array): Uint8Array | null {
  // No garbage collection: what the document deleted since must keep its content here, for the undo to write it again.
  const scratch = new Y.Doc({ gc: false });
  try {
    Y.applyUpdate(scratch, saved);
    const since = Y.encodeStateAsUpdate(current, Y.encodeStateVector(scratch));
    // Every root of either side exists before the replay, so the manager's scope covers roots created since too.
    for (const name of current.share.keys()) scratch.get(name);
    typeRoots(scratch, current);
    const manager = new Y.UndoManager([...scratch.share.values()], { trackedOrigins: new Set([REPLAY]), captureTimeout: 0 });
    try {
      Y.applyUpdate(scratch, since, REPLAY);
      const replayed = Y.encodeStateVector(scratch);
      if (manager.undoStack.length === 0) return null; // the document changed nothing since
      let changed = false;
      const watch = (transaction: Y.Transaction) => {
        changed ||= transaction.origin === manager && (transaction.deleteSet.clients.size > 0 || transaction.afterState.size > 0 && differs(transaction));
      };
      scratch.on('afterTransaction', watch);
      manager.undo();
      scratch.off('afterTransaction', watch);
      // The undo's new content, and the delete set (the undo's deletions with those the document already knows).
      return changed ? Y.encodeStateAsUpdate(scratch, replayed) : null;
    } finally {
      manager.destroy();
    }
  } finally {
    scratch.destroy();
  }
}

/** Whether a transaction created content (a client's clock moved). */
function differs(transaction: Y.Transaction): boolean {
  for (const [client, clock] of transaction.afterState) if ((transaction.beforeState.get(client) ?? 0) !== clock) return true;
  return false;
}
