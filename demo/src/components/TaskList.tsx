/**
 * The project's tasks: a form to add one and a row per task, ordered by creation time. Every change to the
 * `tasks` collection (local or remote) re-renders the list. The list is a CSS container: its rows become cards when
 * it is narrow, whatever the screen (styles.css, `.tasks`).
 */
import type { DocumentHandle } from '@concord/client';
import { useCallback, useMemo, useState } from 'preact/hooks';
import { usePeers, useRecords } from '../hooks';
import { newId } from '../ids';
import { ProjectDocument } from '../model';
import { useUndoShortcuts } from '../undo';
import { TaskRow } from './TaskRow';
import { DeletedToast, UndoButtons } from './UndoBar';

interface TaskListProps {
  handle: DocumentHandle;
  /** The tasks the filters let through; null shows every task. */
  shown: ReadonlySet<string> | null;
  selected: string | null;
  /** Tasks someone else just changed, shown lit up. */
  highlighted: ReadonlySet<string>;
  onSelect: (id: string | null) => void;
}

export function TaskList({ handle, shown, selected, highlighted, onSelect }: TaskListProps) {
  const tasks = useMemo(() => handle.typed(ProjectDocument).collection('tasks'), [handle]);
  const all = useRecords(tasks, (a, b) => (a.get('createdAt') ?? 0) - (b.get('createdAt') ?? 0));
  // A task added while a filter hides it stays in sight until the filters change: it was just typed.
  const [added, setAdded] = useState<ReadonlySet<string>>(new Set());
  const records = shown === null ? all : all.filter(([id]) => shown.has(id) || added.has(id));
  const peers = usePeers(handle);
  // The last task deleted, while its "Task deleted — Undo" toast shows.
  const [deleted, setDeleted] = useState<{ id: string; title: string } | null>(null);
  const dismissDeleted = useCallback(() => setDeleted(null), []);
  useUndoShortcuts(handle.history);

  return (
    <section class="tasks" aria-label="Tasks">
      <AddTaskForm
        handle={handle}
        onAdded={(id) => {
          setAdded((current) => new Set([...current, id]));
          onSelect(id);
        }}
      />
      {records.length === 0 ? (
        <p class="muted tasks__empty" data-testid="no-tasks">
          {all.length === 0 ? 'No tasks yet. Add one above.' : 'No task matches the filters.'}
        </p>
      ) : (
        <>
          {/* Column names for the wide layout; each control carries its own label for assistive technology. */}
          <div class="tasks__columns" aria-hidden="true">
            <span>Title</span>
            <span>Status</span>
            <span>Assignee</span>
            <span>Due</span>
            <span />
          </div>
          <ul class="tasks__list">
            {records.map(([id, record]) => (
              <TaskRow
                key={id}
                id={id}
                record={record}
                handle={handle}
                peers={peers}
                selected={id === selected}
                highlighted={highlighted.has(id)}
                onOpen={() => onSelect(id)}
                onDelete={() => {
                  const deletedTitle = record.get('title') ?? '';
                  handle.history.batch(() => tasks.delete(id));
                  setDeleted({ id, title: deletedTitle });
                  if (id === selected) onSelect(null);
                }}
              />
            ))}
          </ul>
        </>
      )}
      {deleted && <DeletedToast key={deleted.id} history={handle.history} title={deleted.title} onDone={dismissDeleted} />}
      <datalist id="people">
        {[...new Set(peers.map((peer) => peer.user.name))].map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
    </section>
  );
}

/** "New task…" and Add (with Undo and Redo beside them): a task in To do, created by this person now. */
export function AddTaskForm({ handle, onAdded }: { handle: DocumentHandle; onAdded: (id: string) => void }) {
  const tasks = useMemo(() => handle.typed(ProjectDocument).collection('tasks'), [handle]);
  const [title, setTitle] = useState('');
  const add = (event: Event) => {
    event.preventDefault();
    const trimmed = title.trim();
    if (!trimmed) return;
    const id = newId();
    handle.history.batch(() => tasks.create({ title: trimmed, status: 'todo', assignee: '', due: '', createdAt: Date.now() }, id));
    setTitle('');
    onAdded(id);
  };
  return (
    <form class="tasks__add" onSubmit={add}>
      <input
        data-testid="new-task-title"
        value={title}
        onInput={(event) => setTitle(event.currentTarget.value)}
        placeholder="New task…"
        maxLength={200}
        aria-label="New task title"
      />
      <button type="submit" data-testid="add-task" disabled={!title.trim()}>
        Add task
      </button>
      <UndoButtons history={handle.history} />
    </form>
  );
}
