/**
 * The project's tasks: a form to add one and a row per task, ordered by creation time. Every change to the
 * `tasks` collection (local or remote) re-renders the list. The list is a CSS container: its rows become cards when
 * it is narrow, whatever the screen (styles.css, `.tasks`).
 */
import type { DocumentHandle } from '@concord/client';
import { useMemo, useState } from 'preact/hooks';
import { usePeers, useRecords } from '../hooks';
import { newId } from '../ids';
import { ProjectDocument } from '../model';
import { TaskRow } from './TaskRow';

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

  const add = (event: Event) => {
    event.preventDefault();
    const trimmed = title.trim();
    if (!trimmed) return;
    const id = newId();
    tasks.create({ title: trimmed, status: 'todo', assignee: '', due: '', createdAt: Date.now() }, id);
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
                  tasks.delete(id);
                  if (id === selected) onSelect(null);
                }}
              />
            ))}
          </ul>
        </>
      )}
      <datalist id="people">
        {[...new Set(peers.map((peer) => peer.user.name))].map((name) => (
          <option key={name} value={name} />
        ))}
      </datalist>
    </section>
  );
}
