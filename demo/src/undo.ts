/**
 * Undo and redo in the demo: Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y (Cmd on a Mac) undo and redo your own changes to the
 * project (fields, tasks added and deleted) through `handle.history`, in every control, text inputs included. The
 * browser's own undo is never used: it would undo an input's text as the browser remembers it and write that
 * half-undo to everyone. So both the key (`keydown`) and the Edit menu's or a keyboard's undo (`beforeinput` with
 * `historyUndo`/`historyRedo`) are taken over.
 *
 * The description is the exception: Tiptap's Collaboration keeps its own per-user undo of the description's text,
 * which its editor runs on Ctrl+Z before this listener sees the key (it then cancels the key). Inside the editor
 * this listener only makes sure the browser never undoes anything itself, so one Ctrl+Z is never two undos.
 */
import type { History } from '@concord/client';
import { useEffect, useState } from 'preact/hooks';

/** What a key press or an input event asks for, or null. */
export function historyCommand(event: KeyboardEvent | InputEvent): 'undo' | 'redo' | null {
  if (event.type === 'beforeinput') {
    const { inputType } = event as InputEvent;
    return inputType === 'historyUndo' ? 'undo' : inputType === 'historyRedo' ? 'redo' : null;
  }
  const key = event as KeyboardEvent;
  if (!(key.ctrlKey || key.metaKey) || key.altKey) return null;
  const letter = key.key.length === 1 ? key.key.toLowerCase() : key.code.replace(/^Key/, '').toLowerCase();
  if (letter === 'z') return key.shiftKey ? 'redo' : 'undo';
  if (letter === 'y' && !key.shiftKey) return 'redo';
  return null;
}

/** Inside a rich-text editor that keeps its own undo (the description). */
function inOwnUndoEditor(target: EventTarget | null): boolean {
  return target instanceof Element && target.closest('.ProseMirror') !== null;
}

/** Routes undo and redo, from the keyboard or the browser's menu, to `history` while mounted. */
export function useUndoShortcuts(history: History): void {
  useEffect(() => {
    const onEvent = (event: KeyboardEvent | InputEvent) => {
      const command = historyCommand(event);
      // An editor that undid its own text cancelled the event already.
      if (!command || event.defaultPrevented) return;
      event.preventDefault();
      if (inOwnUndoEditor(event.target)) return;
      if (command === 'undo') history.undo();
      else history.redo();
    };
    addEventListener('keydown', onEvent);
    addEventListener('beforeinput', onEvent);
    return () => {
      removeEventListener('keydown', onEvent);
      removeEventListener('beforeinput', onEvent);
    };
  }, [history]);
}

/** Whether `history` can undo and redo, live. */
export function useHistoryState(history: History): { canUndo: boolean; canRedo: boolean } {
  const [state, setState] = useState(history.state);
  useEffect(() => {
    setState(history.state);
    history.on('change', setState);
    return () => history.off('change', setState);
  }, [history]);
  return state;
}

/**
 * Props for a text input whose edits are written as you type: everything typed from the first keystroke until you
 * leave the field (or press Enter, or undo) is one undo step, so Ctrl+Z gives back the whole previous value.
 */
export function burstProps(history: History, write: (value: string) => void) {
  return {
    onInput: (event: { currentTarget: HTMLInputElement }) => {
      history.pause();
      write(event.currentTarget.value);
    },
    onBlur: () => history.resume(),
    onKeyDown: (event: KeyboardEvent) => {
      if (event.key === 'Enter') history.resume();
    },
  };
}
