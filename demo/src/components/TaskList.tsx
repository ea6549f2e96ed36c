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
  selected: string | null;
  /** Tasks someone else just changed, shown lit up. */
  highlighted: ReadonlySet<string>;
  onSelect: (id: string | null) => void;
}

export function TaskList({ handle, selected, highlighted, onSelect }: TaskListProps) {
  const tasks = useMemo(() => handle.typed(ProjectDocument).collection('tasks'), [handle]);
  const records = useRecords(tasks, (a, b) => (a.get('createdAt') ?? 0) - (b.get('createdAt') ?? 0));
  const peers = usePeers(handle);
  const [title, setTitle] = useState('');
  // The last task deleted, while its "Task deleted — Undo" toast shows.
  const [deleted, setDeleted] = useState<{ id: string; title: string } | null>(null);
  const dismissDeleted = useCallback(() => setDeleted(null), []);
  useUndoShortcuts(handle.history);

  const add = (event: Event) => {
    event.preventDefault();
    const trimmed = title.trim();
    if (!trimmed) return;
    const id = newId();
    handle.history.batch(() => tasks.create({ title: trimmed, status: 'todo', assignee: '', due: '', createdAt: Date.now() }, id));
    setTitle('');
    onSelect(id);
  };

  return (
    <section class="tasks" aria-label="Tasks">
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
      {records.length === 0 ? (
        <p class="muted tasks__empty" data-testid="no-tasks">
          No tasks yet. Add one above.
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
