/**
 * How often a document's presence goes out: at once while the tab is shown (`live`), at most once per
 * `ECONOMY_PRESENCE_MS` on a low battery or with the data saver on (`economy`), at most once per `HIDDEN_PRESENCE_MS`
 * while the tab is hidden (power.ts decides which).
 *
 * The rule: the provider's own awareness listener (`boundAwarenessUpdateHandler`, public in @hocuspocus/provider's
 * types) is replaced by this pace, which gathers the client ids whose state changed and hands them to the provider's
 * `awarenessUpdateHandler` when the pace allows, so a burst of cursor moves becomes one message with the latest state.
 * Nothing is lost: the last state always goes out, at the latest one interval after the first change held. Leaving
 * (our state removed) goes out at once, as does everything held when the mode turns `live`. Remote states (applied by
 * the provider, origin = the provider) are never sent back, as the provider's own handler does.
 *
 * The awareness protocol renews a state every 15 s and drops one not heard for 30 s: both intervals are well under
 * 15 s, so pacing never makes a peer drop us.
 */
import type { HocuspocusProvider } from '@hocuspocus/provider';
import type { Awareness } from 'y-protocols/awareness';
import type { Clock } from './clock.js';
import type { PowerMode, PowerWatch } from './power.js';

/** At most one presence message per document in this time on a low battery or with the data saver on. */
export const ECONOMY_PRESENCE_MS = 1_000;
/** At most one presence message per document in this time while the tab is hidden. */
export const HIDDEN_PRESENCE_MS = 5_000;

const INTERVALS: Record<PowerMode, number> = { live: 0, economy: ECONOMY_PRESENCE_MS, hidden: HIDDEN_PRESENCE_MS };

interface AwarenessChanges {
  added: number[];
  updated: number[];
  removed: number[];
}

export class PresencePace {
  private readonly provider: HocuspocusProvider;
  private readonly awareness: Awareness;
  private readonly power: PowerWatch;
  private readonly clock: Clock;
  private readonly held = new Set<number>();
  private sentAt = Number.NEGATIVE_INFINITY;
  private timer: unknown = null;

  constructor(provider: HocuspocusProvider, awareness: Awareness, power: PowerWatch, clock: Clock) {
    this.provider = provider;
    this.awareness = awareness;
    this.power = power;
    this.clock = clock;
    awareness.off('update', provider.boundAwarenessUpdateHandler);
    awareness.on('update', this.onUpdate);
    power.on('mode', this.onMode);
  }

  /** How many client ids wait for the pace (for tests). */
  get waiting(): number {
    return this.held.size;
  }

  destroy(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.awareness.off('update', this.onUpdate);
    this.power.off('mode', this.onMode);
  }

  private readonly onUpdate = ({ added, updated, removed }: AwarenessChanges, origin: unknown) => {
    if (origin === this.provider) return;
    for (const client of [...added, ...updated, ...removed]) this.held.add(client);
    const interval = INTERVALS[this.power.mode];
    if (interval === 0 || removed.includes(this.awareness.clientID) || this.clock.now() - this.sentAt >= interval) {
      this.send();
    } else {
      this.timer ??= this.clock.setTimeout(() => this.send(), this.sentAt + interval - this.clock.now());
    }
  };

  private readonly onMode = (mode: PowerMode) => {
    if (mode === 'live') this.send();
  };

  private send(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = null;
    if (this.held.size === 0) return;
    const clients = [...this.held];
    this.held.clear();
    this.sentAt = this.clock.now();
    this.provider.awarenessUpdateHandler({ added: [], updated: clients, removed: [] }, null);
  }
}
