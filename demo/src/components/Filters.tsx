/**
 * The filters over the project's tasks (assignee, status, due), shared by the list and the board; they live in the URL
 * (route.ts), so a reload or a link keeps them. demo/src/filters.ts turns them into the engine's view filter.
 */
import { EMPTY_FILTER, isFiltering, type TaskFilter } from '../filters';
import { STATUS_LABELS, TASK_STATUSES } from '../model';
import { useTeam } from '../team';

interface FiltersProps {
  filter: TaskFilter;
  onChange: (filter: TaskFilter) => void;
}

type Choices = ReadonlyArray<readonly [value: string, label: string]>;

export function Filters({ filter, onChange }: FiltersProps) {
  const team = [...useTeam()].filter(({ self }) => !self).sort((a, b) => a.user.name.localeCompare(b.user.name));
  const people: Choices = team.map(({ user }) => [user.id, user.name]);
  const assignees: Choices = [['', 'Anyone'], ['me', 'Assigned to me'], ['nobody', 'Unassigned'], ...people];
  // A teammate picked before the team list arrived (a link, a reload) keeps its place.
  const known = assignees.some(([value]) => value === filter.assignee);
  const statuses: Choices = [['', 'Any status'], ['open', 'Not done'], ...TASK_STATUSES.map((status) => [status, STATUS_LABELS[status]] as const)];
  const dues: Choices = [['', 'Any due date'], ['overdue', 'Overdue'], ['week', 'Due this week'], ['none', 'No due date']];
  const pick = (key: keyof TaskFilter) => (value: string) => onChange({ ...filter, [key]: value });
  return (
    <div class="filters" role="group" aria-label="Filter tasks" data-testid="filters">
      <FilterSelect name="assignee" label="Assignee" value={filter.assignee} choices={known ? assignees : [...assignees, [filter.assignee, filter.assignee]]} onPick={pick('assignee')} />
      <FilterSelect name="status" label="Status" value={filter.status} choices={statuses} onPick={pick('status')} />
      <FilterSelect name="due" label="Due" value={filter.due} choices={dues} onPick={pick('due')} />
      {isFiltering(filter) && (
        <button type="button" class="link filters__clear" data-testid="filter-clear" onClick={() => onChange(EMPTY_FILTER)}>
          Clear filters
        </button>
      )}
    </div>
  );
}

function FilterSelect(props: { name: string; label: string; value: string; choices: Choices; onPick: (value: string) => void }) {
  return (
    <select data-testid={`filter-${props.name}`} aria-label={props.label} value={props.value} onChange={(event) => props.onPick(event.currentTarget.value)}>
      {props.choices.map(([value, label]) => (
        <option key={value} value={value}>
          {label}
        </option>
      ))}
    </select>
  );
}
