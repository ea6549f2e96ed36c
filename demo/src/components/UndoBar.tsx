/**
 * Undo within reach: the undo and redo buttons beside the new-task form (a phone has no Ctrl+Z), and the "Task
 * deleted — Undo" toast a delete shows. The toast's Undo is the history's undo — the delete is your latest step
 * while the toast shows — so it restores the task for everyone; the toast goes as soon as your history moves on
 * (another change, an undo or redo elsewhere) or after a few seconds.
 */
import type { History } from '@concord/client';
import { useEffect } from 'preact/hooks';
import { useHistoryState } from '../undo';
import './UndoBar.css';

/** How long the "Task deleted" toast stays. */
const DELETED_TOAST_MS = 8_000;

export function UndoButtons({ history }: { history: History }) {
  const { canUndo, canRedo } = useHistoryState(history);
  return (
    <span class="undo-buttons">
      <button type="button" data-testid="undo" title="Undo your last change (Ctrl+Z)" aria-label="Undo" disabled={!canUndo} onClick={() => history.undo()}>
        ↶
      </button>
      <button type="button" data-testid="redo" title="Redo (Ctrl+Shift+Z)" aria-label="Redo" disabled={!canRedo} onClick={() => history.redo()}>
        ↷
      </button>
    </span>
  );
}

export function DeletedToast({ history, title, onDone }: { history: History; title: string; onDone: () => void }) {
  useEffect(() => {
    // Subscribed after the delete was recorded: the next change of the history means it is no longer the latest step.
    history.on('change', onDone);
    const timer = setTimeout(onDone, DELETED_TOAST_MS);
    return () => {
      history.off('change', onDone);
      clearTimeout(timer);
    };
  }, [history, onDone]);
  return (
    <div class="deleted-toast" role="status" data-testid="deleted-toast">
      <span class="deleted-toast__text" title={title}>
        Task deleted —
      </span>
      <button type="button" data-testid="undo-delete" onClick={() => history.undo()}>
        Undo
      </button>
    </div>
  );
}
