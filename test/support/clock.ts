/**
 * A clock a test moves by hand (the client's `Clock`): `advance(ms)` runs every timer that falls due, in order, so
 * "five minutes without input" takes no time at all.
 */
export class ManualClock {
  private current: number;
  private timers: Array<{ id: number; at: number; callback: () => void }> = [];
  private nextId = 1;

  constructor(start = Date.now()) {
    this.current = start;
  }

  now = (): number => this.current;

  setTimeout = (callback: () => void, ms: number): unknown => {
    const id = this.nextId++;
    this.timers.push({ id, at: this.current + ms, callback });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.timers = this.timers.filter(({ id }) => id !== handle);
  };

  advance(ms: number): void {
    const until = this.current + ms;
    for (;;) {
      const due = this.timers.filter(({ at }) => at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((timer) => timer !== due);
      this.current = due.at;
      due.callback();
    }
    this.current = until;
  }
}
