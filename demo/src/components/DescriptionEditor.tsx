/**
 * A task's description in Tiptap, bound to the `description` rich text (a Y.XmlFragment) of the task's document.
 *
 * Collaboration replaces Tiptap's own undo/redo with Yjs' per-user undo (StarterKit's is switched off, as the
 * extension requires); CollaborationCaret draws everyone else's caret and selection from the document's awareness,
 * labelled with name and colour. The editor is created once the document has loaded from IndexedDB, so it never
 * starts from an empty page and then jumps.
 */
import type { DocumentHandle } from '@concord/client';
import type { PresenceUser } from '@concord/engine';
import { Editor } from '@tiptap/core';
import Collaboration from '@tiptap/extension-collaboration';
import CollaborationCaret from '@tiptap/extension-collaboration-caret';
import StarterKit from '@tiptap/starter-kit';
import { useEffect, useRef, useState } from 'preact/hooks';
import { useDocumentStatus } from '../hooks';
import { TaskDocument } from '../model';
import { Toolbar } from './Toolbar';

/** A remote caret: a coloured bar with the person's name above it. */
function renderCaret(user: Record<string, unknown>): HTMLElement {
  const color = typeof user.color === 'string' ? user.color : '#868e96';
  const name = typeof user.name === 'string' ? user.name : 'Someone';
  const caret = document.createElement('span');
  caret.className = 'collaboration-carets__caret';
  caret.style.borderColor = color;
  caret.dataset.testid = 'remote-caret';
  if (typeof user.id === 'string') caret.dataset.userId = user.id;
  const label = document.createElement('div');
  label.className = 'collaboration-carets__label';
  label.style.backgroundColor = color;
  label.dataset.testid = 'remote-caret-label';
  label.textContent = name;
  caret.append(label);
  return caret;
}

export function DescriptionEditor({ handle, user }: { handle: DocumentHandle; user: PresenceUser }) {
  const mount = useRef<HTMLDivElement>(null);
  const [editor, setEditor] = useState<Editor | null>(null);
  const status = useDocumentStatus(handle);
  const loaded = status?.loadedLocally ?? false;

  useEffect(() => {
    const element = mount.current;
    if (!loaded || !element) return;
    const created = new Editor({
      element,
      extensions: [
        StarterKit.configure({ undoRedo: false }),
        Collaboration.configure({ fragment: handle.typed(TaskDocument).richText('description') }),
        CollaborationCaret.configure({
          provider: { awareness: handle.awareness },
          user: { id: user.id, name: user.name, color: user.color },
          render: renderCaret,
        }),
      ],
      editorProps: {
        attributes: { class: 'editor__content', 'data-testid': 'description-editor', 'aria-label': 'Description' },
      },
    });
    setEditor(created);
    // The Edit menu's undo (or a keyboard's undo key) arrives as `beforeinput`: the editor's own undo, never the
    // browser's, which would rewrite the page under ProseMirror (see ../undo.ts for Ctrl+Z).
    const onBeforeInput = (event: InputEvent) => {
      if (event.inputType !== 'historyUndo' && event.inputType !== 'historyRedo') return;
      event.preventDefault();
      if (event.inputType === 'historyUndo') created.commands.undo();
      else created.commands.redo();
    };
    element.addEventListener('beforeinput', onBeforeInput);
    return () => {
      element.removeEventListener('beforeinput', onBeforeInput);
      setEditor(null);
      created.destroy();
    };
  }, [handle, loaded, user]);

  return (
    <div class="editor">
      {editor && <Toolbar editor={editor} />}
      <div ref={mount} class="editor__mount" />
      {!loaded && <p class="muted">Loading the description…</p>}
    </div>
  );
}
