/**
 * A live view across documents (design: docs/live-views-design.md) as the app sees it: rows, groups and totals of the
 * records of every document matching a pattern, kept current by the server.
 *
 * The rule: the view is the derived document `view:<extraction>` (engine/src/views.ts), opened like any document
 * (IndexedDB copy, so it shows its last state offline) and only read here; the filter, groups and totals are computed
 * on this side from its rows with the engine's evaluator (`$me` is this client's user, `$now` the time of each
 * recomputation). Every change of the view document recomputes the rows and emits `change` with the rows that entered,
 * left or changed. `updating` is true from the moment a change arrives until it is recomputed, and while the server
 * builds the view.
 */
import { groupRows, isViewBuilding, matchesWhere, readViewRows, viewTotals, type ViewGroup, type ViewRow, type ViewSpec, type ViewTotals } from '@concord/engine';
import { ObservableV2 } from 'lib0/observable';
import type { DocumentHandle, View, ViewEvents } from './types.js';

const rowKey = (row: ViewRow) => `${row.document}\u0000${row.id}`;

export class LiveView extends ObservableV2<ViewEvents> implements View {
  readonly spec: ViewSpec;
  private readonly handle: DocumentHandle;
  private readonly now: () => number;
  private me: string | null = null;
  private current = new Map<string, { row: ViewRow; json: string }>();
  private recomputing = false;
  private closed = false;

  constructor(handle: DocumentHandle, spec: ViewSpec, me: Promise<string>, now: () => number = Date.now) {
    super();
    this.handle = handle;
    this.spec = spec;
    this.now = now;
    handle.doc.on('update', this.onUpdate);
    void me.then(
      (id) => {
        this.me = id;
        if (!this.closed) this.recompute();
      },
      () => {},
    );
    this.recompute();
  }

  get name(): string {
    return this.handle.name;
  }

  get updating(): boolean {
    return this.recomputing || isViewBuilding(this.handle.doc);
  }

  whenSynced(): Promise<void> {
    return this.handle.whenSynced();
  }

  rows(): ViewRow[] {
    return [...this.current.values()].map(({ row }) => row);
  }

  groups(): ViewGroup<ViewRow>[] {
    return this.spec.groupBy === undefined ? [] : groupRows(this.rows(), this.spec.groupBy, this.spec.aggregate ?? []);
  }

  totals(): ViewTotals {
    return viewTotals(this.rows(), this.spec.aggregate ?? []);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handle.doc.off('update', this.onUpdate);
    super.destroy();
    await this.handle.close();
  }

  private readonly onUpdate = () => {
    const was = this.updating;
    this.recomputing = true;
    if (!was) this.emit('updating', [true]);
    this.recompute();
    this.recomputing = false;
    if (!this.updating) this.emit('updating', [false]);
  };

  private recompute(): void {
    const context = { me: this.me, now: this.now() };
    const next = new Map<string, { row: ViewRow; json: string }>();
    for (const row of readViewRows(this.handle.doc)) {
      if (matchesWhere(this.spec.where, row.values, context)) next.set(rowKey(row), { row, json: JSON.stringify(row.values) });
    }
    const entered: ViewRow[] = [];
    const changed: ViewRow[] = [];
    const left: ViewRow[] = [];
    for (const [key, entry] of next) {
      const before = this.current.get(key);
      if (before === undefined) entered.push(entry.row);
      else if (before.json !== entry.json) changed.push(entry.row);
    }
    for (const [key, entry] of this.current) if (!next.has(key)) left.push(entry.row);
    this.current = next;
    if (entered.length + left.length + changed.length > 0) this.emit('change', [{ entered, left, changed }]);
  }
}
