/**
 * A few formatting buttons for the description. Undo and redo go through Collaboration's Yjs undo manager, so
 * they undo your own changes only, never someone else's.
 */
import type { Editor } from '@tiptap/core';
import { useEffect, useReducer } from 'preact/hooks';

interface Action {
  label: string;
  title: string;
  run: (editor: Editor) => void;
  active?: (editor: Editor) => boolean;
}

const ACTIONS: readonly Action[] = [
  { label: 'B', title: 'Bold', run: (e) => e.chain().focus().toggleBold().run(), active: (e) => e.isActive('bold') },
  { label: 'I', title: 'Italic', run: (e) => e.chain().focus().toggleItalic().run(), active: (e) => e.isActive('italic') },
  {
    label: 'H',
    title: 'Heading',
    run: (e) => e.chain().focus().toggleHeading({ level: 3 }).run(),
    active: (e) => e.isActive('heading', { level: 3 }),
  },
  {
    label: '•',
    title: 'Bullet list',
    run: (e) => e.chain().focus().toggleBulletList().run(),
    active: (e) => e.isActive('bulletList'),
  },
  { label: '↶', title: 'Undo your last change', run: (e) => e.chain().focus().undo().run() },
  { label: '↷', title: 'Redo', run: (e) => e.chain().focus().redo().run() },
];

export function Toolbar({ editor }: { editor: Editor }) {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const update = () => rerender(undefined);
    editor.on('transaction', update);
    return () => {
      editor.off('transaction', update);
    };
  }, [editor]);
  return (
    <div class="toolbar" role="toolbar" aria-label="Formatting">
      {ACTIONS.map((action) => (
        <button
          key={action.title}
          type="button"
          title={action.title}
          aria-label={action.title}
          aria-pressed={action.active?.(editor) ?? undefined}
          class={action.active?.(editor) ? 'is-active' : undefined}
          onMouseDown={(event) => event.preventDefault()}
          onClick={() => action.run(editor)}
        >
          {action.label}
        </button>
      ))}
    </div>
  );
}
