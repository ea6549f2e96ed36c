/**
 * The project's tasks as a board: one column per status, a card per task (after the filters), ordered by creation
 * time. A card moves to another column by dragging it (a mouse anywhere on the card; a finger on its grip, so that
 * a finger elsewhere still scrolls the page) or with its status control (keyboard, screen readers). A move is one
 * status write, undoable like any edit (Ctrl+Z, or Undo beside "Add task", which adds to To do), and refused like any
 * edit of a field someone else holds.
 *
 * Dragging follows pointer events, not HTML drag and drop, which phones do not fire for touch.
 */
import type { DocumentHandle } from '@concord/client';
import type { Peer } from '@concord/engine';
import { useRef, useState } from 'preact/hooks';
import { STATUS_LABELS, TASK_STATUSES, type TaskStatus } from '../model';
import { directory, useTeam } from '../team';
import { useUndoShortcuts } from '../undo';
import { TaskField, writeTaskField, type TaskRecord } from './TaskFields';
import { AddTaskForm } from './TaskList';

/** How far a pointer moves before a press becomes a drag (a shorter move is a click). */
const DRAG_THRESHOLD_PX = 6;

interface StatusBoardProps {
  handle: DocumentHandle;
  tasks: ReadonlyArray<[string, TaskRecord]>;
  peers: readonly Peer[];
  selected: string | null;
  highlighted: ReadonlySet<string>;
  onOpen: (id: string) => void;
}

interface Drag {
  readonly id: string;
  readonly pointer: number;
  readonly startX: number;
  readonly startY: number;
  moved: boolean;
  over: TaskStatus | null;
}

/** The column under a point, if any (the dragged card lets the pointer through: `pointer-events: none`). */
function columnAt(x: number, y: number): TaskStatus | null {
  const column = document.elementFromPoint(x, y)?.closest<HTMLElement>('[data-status-column]');
  return (column?.dataset.statusColumn as TaskStatus | undefined) ?? null;
}

export function StatusBoard({ handle, tasks, peers, selected, highlighted, onOpen }: StatusBoardProps) {
  const people = directory(useTeam());
  const [drag, setDrag] = useState<{ id: string; dx: number; dy: number; over: TaskStatus | null } | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const current = useRef<Drag | null>(null);
  // The click that ends a drag is not a click on the card's title.
  const justDragged = useRef(false);
  useUndoShortcuts(handle.history);

  const move = (id: string, record: TaskRecord, status: TaskStatus) => {
    if ((record.get('status') ?? 'todo') === status) return;
    const holder = handle.history.batch(() => writeTaskField(record, 'status', status));
    setRefused(holder ? `${holder.name ?? 'Someone'} is editing the status of '${record.get('title') || 'Untitled task'}': not moved.` : null);
  };

  const onPointerDown = (id: string) => (event: PointerEvent) => {
    const target = event.target as HTMLElement;
    if (target.closest('select, input, textarea')) return;
    if (event.pointerType !== 'mouse' && !target.closest('.card__grip')) return;
    if (event.button !== 0) return;
    (event.currentTarget as HTMLElement).setPointerCapture(event.pointerId);
    current.current = { id, pointer: event.pointerId, startX: event.clientX, startY: event.clientY, moved: false, over: null };
  };
  const onPointerMove = (event: PointerEvent) => {
    const active = current.current;
    if (!active || active.pointer !== event.pointerId) return;
    const dx = event.clientX - active.startX;
    const dy = event.clientY - active.startY;
    if (!active.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD_PX) return;
    active.moved = true;
    event.preventDefault();
    active.over = columnAt(event.clientX, event.clientY);
    setDrag({ id: active.id, dx, dy, over: active.over });
  };
  const onPointerEnd = (record: TaskRecord) => (event: PointerEvent) => {
    const active = current.current;
    if (!active || active.pointer !== event.pointerId) return;
    current.current = null;
    setDrag(null);
    if (!active.moved || event.type === 'pointercancel') return;
    justDragged.current = true;
    setTimeout(() => (justDragged.current = false), 0);
    const over = columnAt(event.clientX, event.clientY);
    if (over) move(active.id, record, over);
  };

  return (
    <section class="status-board" aria-label="Board by status" data-testid="status-board">
      <AddTaskForm handle={handle} onAdded={() => {}} />
      {refused && (
        <p class="status-board__refused" role="status" data-testid="move-refused">
          {refused}
        </p>
      )}
      <div class="status-board__columns">
        {TASK_STATUSES.map((status) => {
          const cards = tasks.filter(([, record]) => (record.get('status') ?? 'todo') === status);
          return (
            <section
              key={status}
              class={drag?.over === status ? 'column column--over' : 'column'}
              data-testid="board-column"
              data-status-column={status}
              aria-label={STATUS_LABELS[status]}
            >
              <h2 class="column__title">
                <span class={`status-dot status-dot--${status}`} aria-hidden="true" /> {STATUS_LABELS[status]}{' '}
                <span class="muted" data-testid="column-count">
                  {cards.length}
                </span>
              </h2>
              <ul class="column__cards">
                {cards.map(([id, record]) => {
                  const dragged = drag?.id === id;
                  const assignee = record.get('assignee') ?? '';
                  const due = record.get('due') ?? '';
                  return (
                    <li
                      key={id}
                      class={['card', dragged && 'card--dragged', id === selected && 'card--selected', highlighted.has(id) && 'task--highlighted'].filter(Boolean).join(' ')}
                      style={dragged ? { transform: `translate(${drag.dx}px, ${drag.dy}px)` } : undefined}
                      data-testid="board-card"
                      data-task-id={id}
                      onPointerDown={onPointerDown(id)}
                      onPointerMove={onPointerMove}
                      onPointerUp={onPointerEnd(record)}
                      onPointerCancel={onPointerEnd(record)}
                    >
                      <span class="card__grip" aria-hidden="true" title="Drag to another column">
                        ⠿
                      </span>
                      <button type="button" class="card__title link" data-testid="card-open" onClick={() => !justDragged.current && onOpen(id)}>
                        {record.get('title') || 'Untitled task'}
                      </button>
                      <div class="card__meta">
                        <TaskField id={id} field="status" record={record} handle={handle} peers={peers} />
                        {assignee && <span class="card__assignee">{people.get(assignee)?.name ?? assignee}</span>}
                        {due && <span class="card__due">Due {due}</span>}
                      </div>
                    </li>
                  );
                })}
              </ul>
              {cards.length === 0 && <p class="muted column__empty">{drag ? 'Drop here' : 'No tasks'}</p>}
            </section>
          );
        })}
      </div>
    </section>
  );
}
