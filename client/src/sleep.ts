/**
 * A tab hidden for a long while lets go of its socket (the server, the battery and the peers' presence lists are
 * spared a connection nobody looks at), and takes it back as soon as it is shown.
 *
 * The rule: `hiddenDisconnectAfterMs` after the page turns hidden the socket sleeps (socket.ts `sleep`), unless
 * something is still to send (`pending`: an outbox entry or a queued upload), in which case it sleeps once that is
 * sent. A change made while asleep (an app timer, a background sync) wakes the socket, which goes back to sleep
 * `WAKE_LINGER_MS` after its last change is sent if the page is still hidden. Shown again, the socket wakes at once.
 * Time is the client's clock, so tests move it forward.
 */
import type { Clock } from './clock.js';
import type { PowerMode, PowerWatch } from './power.js';
import type { Socket } from './socket.js';

/** How long a tab stays hidden before it lets go of its socket, by default. */
export const HIDDEN_DISCONNECT_AFTER_MS = 5 * 60_000;
/** After a change woke a hidden tab's socket, how long it stays once everything is sent. */
export const WAKE_LINGER_MS = 10_000;

export interface HiddenSleepOptions {
  readonly power: PowerWatch;
  readonly socket: Socket;
  readonly clock: Clock;
  /** null: never sleep. */
  readonly afterMs: number | null;
  /** Whether something is still to send. */
  readonly pending: () => boolean;
}

export class HiddenSleep {
  private readonly options: HiddenSleepOptions;
  private timer: unknown = null;
  /** The hidden time is up: sleep as soon as nothing is pending. */
  private due = false;

  constructor(options: HiddenSleepOptions) {
    this.options = options;
    options.power.on('mode', this.onMode);
    this.onMode(options.power.mode);
  }

  /** Something was added to or sent from an outbox or the upload queue. */
  changed(): void {
    const { socket, pending } = this.options;
    if (socket.asleep && pending()) {
      socket.wake();
      this.schedule(WAKE_LINGER_MS);
    } else if (this.due && !pending()) {
      this.trySleep();
    }
  }

  destroy(): void {
    this.options.clock.clearTimeout(this.timer);
    this.options.power.off('mode', this.onMode);
  }

  private readonly onMode = (mode: PowerMode) => {
    if (mode === 'hidden') {
      if (this.timer === null && !this.options.socket.asleep && this.options.afterMs !== null) this.schedule(this.options.afterMs);
      return;
    }
    this.options.clock.clearTimeout(this.timer);
    this.timer = null;
    this.due = false;
    this.options.socket.wake();
  };

  private schedule(ms: number): void {
    this.options.clock.clearTimeout(this.timer);
    this.due = false;
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = null;
      this.due = true;
      this.trySleep();
    }, ms);
  }

  private trySleep(): void {
    if (this.options.power.mode !== 'hidden' || this.options.pending()) return;
    this.due = false;
    this.options.socket.sleep();
  }
}
