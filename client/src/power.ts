/**
 * How sparing the client should be with the network, from what the browser tells: whether the tab is shown, the
 * battery, and the data-saver flag. Presence pacing (presencePace.ts) and the hidden tab's sleep (client.ts) follow
 * its mode.
 *
 * The rule: `hidden` while the page is hidden (`document.visibilityState`); otherwise `economy` when the app asks for
 * it (`saveEnergy: 'always'`), or, with `'auto'` (the default), when the battery runs on its own below
 * `LOW_BATTERY_LEVEL` (`navigator.getBattery()`, Chromium) or the data saver is on (`navigator.connection.saveData`);
 * otherwise `live`. A browser that tells none of this is `live` while shown. `'never'` ignores battery and data saver
 * (a hidden tab is still `hidden`).
 */
import { ObservableV2 } from 'lib0/observable';

/** Below this battery level (0–1), not charging, the client saves energy. */
export const LOW_BATTERY_LEVEL = 0.2;

export type PowerMode = 'live' | 'economy' | 'hidden';
export type SaveEnergy = 'auto' | 'always' | 'never';

interface BatteryLike extends EventTarget {
  readonly level: number;
  readonly charging: boolean;
}

interface ConnectionLike extends EventTarget {
  readonly saveData?: boolean;
}

interface BrowserParts {
  document?: EventTarget & { visibilityState?: string };
  navigator?: { getBattery?: () => Promise<BatteryLike>; connection?: ConnectionLike };
}

export class PowerWatch extends ObservableV2<{ mode: (mode: PowerMode) => void }> {
  private readonly preference: SaveEnergy;
  private readonly browser = globalThis as BrowserParts;
  private battery: BatteryLike | null = null;
  private current: PowerMode;
  private destroyed = false;

  constructor(preference: SaveEnergy = 'auto') {
    super();
    this.preference = preference;
    this.current = this.derive();
    this.browser.document?.addEventListener?.('visibilitychange', this.update);
    this.browser.navigator?.connection?.addEventListener?.('change', this.update);
    const getBattery = this.browser.navigator?.getBattery;
    if (preference === 'auto' && typeof getBattery === 'function') {
      getBattery
        .call(this.browser.navigator)
        .then((battery) => {
          if (this.destroyed) return;
          this.battery = battery;
          battery.addEventListener('levelchange', this.update);
          battery.addEventListener('chargingchange', this.update);
          this.update();
        })
        .catch(() => {
          // No battery to read (a desktop, a policy): judged by the rest.
        });
    }
  }

  get mode(): PowerMode {
    return this.current;
  }

  override destroy(): void {
    this.destroyed = true;
    this.browser.document?.removeEventListener?.('visibilitychange', this.update);
    this.browser.navigator?.connection?.removeEventListener?.('change', this.update);
    this.battery?.removeEventListener('levelchange', this.update);
    this.battery?.removeEventListener('chargingchange', this.update);
    super.destroy();
  }

  private derive(): PowerMode {
    if (this.browser.document?.visibilityState === 'hidden') return 'hidden';
    if (this.preference === 'always') return 'economy';
    if (this.preference === 'never') return 'live';
    const lowBattery = this.battery !== null && !this.battery.charging && this.battery.level < LOW_BATTERY_LEVEL;
    const saveData = this.browser.navigator?.connection?.saveData === true;
    return lowBattery || saveData ? 'economy' : 'live';
  }

  private readonly update = () => {
    const next = this.derive();
    if (next === this.current) return;
    this.current = next;
    this.emit('mode', [next]);
  };
}
