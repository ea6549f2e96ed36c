/**
 * The filters over the project's tasks (assignee, status, due), shared by the list and the board; they live in the URL
 * (route.ts), so a reload or a link keeps them. demo/src/filters.ts turns them into the engine's view filter.
 */
import { type TaskFilter, isFiltering, EMPTY_FILTER } from '../filters';
import { STATUS_LABELS, TASK_STATUSES } from '../model';
import { useTeam } from '../team';

interface FiltersProps {
  filter: TaskFilter;
  onChange: (filter: TaskFilter) => void;
}

export function Filters({ filter, onChange }: FiltersProps) {
  const team = [...useTeam()].sort((a, b) => a.user.name.localeCompare(b.user.name));
  const known = filter.assignee === '' || ['me', 'nobody'].includes(filter.assignee) || team.some(({ user }) => user.id === filter.assignee);
  return (
    <div class="filters" role="group" aria-label="Filter tasks" data-testid="filters">
      <select
        data-testid="filter-assignee"
        aria-label="Assignee"
        value={filter.assignee}
        onChange={(event) => onChange({ ...filter, assignee: event.currentTarget.value })}
      >
        <option value="">Anyone</option>
        <option value="me">Assigned to me</option>
        <option value="nobody">Unassigned</option>
        {!known && <option value={filter.assignee}>{filter.assignee}</option>}
        {team
          .filter(({ self }) => !self)
          .map(({ user }) => (
            <option key={user.id} value={user.id}>
              {user.name}
            </option>
          ))}
      </select>
      <select
        data-testid="filter-status"
        aria-label="Status"
        value={filter.status}
        onChange={(event) => onChange({ ...filter, status: event.currentTarget.value as TaskFilter['status'] })}
      >
        <option value="">Any status</option>
        <option value="open">Not done</option>
        {TASK_STATUSES.map((status) => (
          <option key={status} value={status}>
            {STATUS_LABELS[status]}
          </option>
        ))}
      </select>
      <select
        data-testid="filter-due"
        aria-label="Due"
        value={filter.due}
        onChange={(event) => onChange({ ...filter, due: event.currentTarget.value as TaskFilter['due'] })}
      >
        <option value="">Any due date</option>
        <option value="overdue">Overdue</option>
        <option value="week">Due this week</option>
        <option value="none">No due date</option>
      </select>
      {isFiltering(filter) && (
        <button type="button" class="link filters__clear" data-testid="filter-clear" onClick={() => onChange(EMPTY_FILTER)}>
          Clear filters
        </button>
      )}
    </div>
  );
}
