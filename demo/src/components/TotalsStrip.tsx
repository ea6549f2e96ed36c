/**
 * "7 open · 3 due this week · 1 overdue · 4 done" over the tasks shown (after the filters), with a brief "updating"
 * sign while changes from elsewhere are being applied, so a number that moves on its own says why.
 */
import type { TaskTotals } from '../filters';

interface TotalsStripProps {
  totals: TaskTotals;
  updating: boolean;
  /** What the figures count, for assistive technology ("Tasks shown", "My tasks"). */
  label: string;
}

export function TotalsStrip({ totals, updating, label }: TotalsStripProps) {
  const parts: Array<[keyof TaskTotals, string, number]> = [
    ['open', 'open', totals.open],
    ['dueThisWeek', 'due this week', totals.dueThisWeek],
    ['overdue', 'overdue', totals.overdue],
    ['done', 'done', totals.done],
  ];
  return (
    <p class="totals" data-testid="totals" aria-label={label} aria-live="polite" aria-busy={updating}>
      {parts.map(([key, text, count]) => (
        <span key={key} class={key === 'overdue' && count > 0 ? 'totals__part totals__part--late' : 'totals__part'}>
          <strong data-testid={`totals-${key}`}>{count}</strong> {text}
        </span>
      ))}
      <span class={updating ? 'totals__updating totals__updating--on' : 'totals__updating'} data-testid="totals-updating" hidden={!updating}>
        updating…
      </span>
    </p>
  );
}
