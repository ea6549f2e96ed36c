/**
 * Workspace-wide presence: who of the tenant is online, idle or offline, since when, and on which page or document.
 *
 * The rule (C17): the client joins the tenant's workspace room (`@workspace`, a room: no local copy, nothing stored)
 * and shares `{ user, status, lastActiveAt, page, document }` there. It is `idle` once `IDLE_AFTER_MS` pass without
 * input — input is `activity()`, and in a browser any key, pointer or touch on the page, or the tab shown again — by
 * the client's clock, and `online` at the next input. Members are grouped by user: online if any of their clients is
 * online, idle if all are idle; people whose clients all left are `offline` with the time the server saw the last one
 * go (the server shares that table in the room, so it survives this client's own reconnects).
 */
import { IDLE_AFTER_MS, parseLastSeen, parsePresence, type PresenceState } from '@concord/engine';
import { ObservableV2 } from 'lib0/observable';
import type { Clock } from './clock.js';
import type { SyncedDocument } from './document.js';
import type { Member, Workspace, WorkspaceEvents } from './types.js';

/** DOM events that count as input. */
const INPUT_EVENTS = ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart'] as const;
/** Pointer moves are frequent: one counts at most this often. */
const ACTIVITY_THROTTLE_MS = 5_000;

interface EventTarget {
  addEventListener(type: string, listener: () => void, options?: { passive?: boolean }): void;
  removeEventListener(type: string, listener: () => void): void;
}

function domTarget(value: unknown): EventTarget | null {
  const target = value as Partial<EventTarget> | undefined;
  return typeof target?.addEventListener === 'function' ? (target as EventTarget) : null;
}

export class WorkspacePresence extends ObservableV2<WorkspaceEvents> implements Workspace {
  private readonly handle: SyncedDocument;
  private readonly clock: Clock;
  private idleTimer: unknown = null;
  private lastActivityAt: number;
  private idle = false;
  private readonly window = domTarget((globalThis as { window?: unknown }).window);
  private readonly document = domTarget((globalThis as { document?: unknown }).document);
  private readonly release: () => void;

  constructor(handle: SyncedDocument, clock: Clock, release: () => void) {
    super();
    this.handle = handle;
    this.clock = clock;
    this.release = release;
    this.lastActivityAt = clock.now();
    handle.presence.set({ status: 'online', lastActiveAt: this.lastActivityAt });
    handle.presence.on('change', this.onChange);
    for (const type of INPUT_EVENTS) this.window?.addEventListener(type, this.onInput, { passive: true });
    this.document?.addEventListener('visibilitychange', this.onVisibility);
    this.armIdleTimer();
  }

  get status(): 'online' | 'idle' {
    return this.idle ? 'idle' : 'online';
  }

  members(): Member[] {
    const byUser = new Map<string, { states: PresenceState[] }>();
    const ownId = this.handle.presence.self.user.id;
    const states: PresenceState[] = [this.handle.presence.self, ...this.handle.presence.peers()];
    for (const state of states) {
      const entry = byUser.get(state.user.id) ?? { states: [] };
      entry.states.push(state);
      byUser.set(state.user.id, entry);
    }
    const members: Member[] = [...byUser.entries()].map(([id, { states: own }]) => {
      const latest = own.reduce((a, b) => ((b.lastActiveAt ?? 0) > (a.lastActiveAt ?? 0) ? b : a));
      const online = own.some((state) => state.status !== 'idle');
      return {
        user: latest.user,
        self: id === ownId,
        status: online ? 'online' : 'idle',
        lastActiveAt: latest.lastActiveAt ?? null,
        lastSeenAt: null,
        page: latest.page ?? null,
        document: latest.document ?? null,
      };
    });
    for (const [id, seen] of Object.entries(this.lastSeen())) {
      if (byUser.has(id)) continue;
      members.push({
        user: { id, name: seen.name, color: seen.color },
        self: false,
        status: 'offline',
        lastActiveAt: null,
        lastSeenAt: seen.at,
        page: null,
        document: null,
      });
    }
    const rank = { online: 0, idle: 1, offline: 2 } as const;
    return members.sort((a, b) => rank[a.status] - rank[b.status] || a.user.name.localeCompare(b.user.name));
  }

  activity(): void {
    this.lastActivityAt = this.clock.now();
    const wasIdle = this.idle;
    this.idle = false;
    this.armIdleTimer();
    if (!wasIdle) return;
    this.handle.presence.set({ status: 'online', lastActiveAt: this.lastActivityAt });
    this.emit('change', [this.members()]);
  }

  setPage(page: string): void {
    this.handle.presence.set({ page });
  }

  setDocument(name: string | null): void {
    this.handle.presence.set({ document: name });
  }

  async leave(): Promise<void> {
    if (this.idleTimer !== null) this.clock.clearTimeout(this.idleTimer);
    for (const type of INPUT_EVENTS) this.window?.removeEventListener(type, this.onInput);
    this.document?.removeEventListener('visibilitychange', this.onVisibility);
    this.handle.presence.off('change', this.onChange);
    this.release();
    super.destroy();
    await this.handle.close();
  }

  /** Who left the room and when, as the server shares it (its own awareness state). */
  private lastSeen() {
    for (const state of this.handle.awareness.getStates().values()) {
      const table = parseLastSeen(state);
      if (table) return table;
    }
    return {};
  }

  private armIdleTimer(): void {
    if (this.idleTimer !== null) this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = this.clock.setTimeout(this.goIdle, IDLE_AFTER_MS);
  }

  private readonly goIdle = () => {
    this.idleTimer = null;
    if (this.idle) return;
    this.idle = true;
    this.handle.presence.set({ status: 'idle', lastActiveAt: this.lastActivityAt });
    this.emit('change', [this.members()]);
  };

  private readonly onInput = () => {
    if (!this.idle && this.clock.now() - this.lastActivityAt < ACTIVITY_THROTTLE_MS) return;
    this.activity();
  };

  private readonly onVisibility = () => {
    if ((globalThis as { document?: { visibilityState?: string } }).document?.visibilityState === 'visible') this.activity();
  };

  private readonly onChange = () => {
    this.emit('change', [this.members()]);
  };
}
