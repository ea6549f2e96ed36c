/**
 * Presence over Yjs awareness: this client's own state, and the valid states of its peers.
 *
 * The rules: the `user` part of our state always comes from the client's identity (token claims and options), never
 * from `set`, so a page cannot show someone else's name by accident; `set` merges into the awareness state rather
 * than replacing it, so what an editor binding keeps there (its `cursor`) survives. Peer states are untrusted: only those that
 * pass the engine's `parsePresence` are listed, and our own client id never is.
 */
import {
  colorForUser,
  parsePresence,
  type Peer,
  type PresenceState,
  type PresenceUser,
  type TokenClaims,
} from '@concord/engine';
import { ObservableV2 } from 'lib0/observable';
import type { Awareness } from 'y-protocols/awareness';
import { systemClock, type Clock } from './clock.js';
import type { Presence, PresenceEvents } from './types.js';

/** Used when neither the options nor the token name the user. */
export const ANONYMOUS_USER_ID = 'anonymous';

/** The presence identity: explicit options first, then the token's claims. */
export function resolveUser(override: Partial<PresenceUser> | undefined, claims: TokenClaims | null): PresenceUser {
  const id = override?.id ?? claims?.sub ?? ANONYMOUS_USER_ID;
  return {
    id,
    name: override?.name ?? claims?.name ?? id,
    color: override?.color ?? colorForUser(id),
  };
}

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

/** Typing shows this long after the last keystroke reported with `typing()`. */
export const TYPING_TIMEOUT_MS = 3_000;

export class AwarenessPresence extends ObservableV2<PresenceEvents> implements Presence {
  private readonly awareness: Awareness;
  private readonly clock: Clock;
  private user: PresenceUser;
  private typingTimer: unknown = null;

  constructor(awareness: Awareness, user: PresenceUser, clock: Clock = systemClock) {
    super();
    this.awareness = awareness;
    this.user = user;
    this.clock = clock;
    awareness.on('change', this.onChange);
  }

  get self(): PresenceState {
    return { ...(this.awareness.getLocalState() ?? {}), user: this.user };
  }

  /** Merges into our awareness state: fields others set there (an editor binding's `cursor`) stay. */
  set(state: Partial<Omit<PresenceState, 'user'>>): void {
    const { user: _ignored, ...rest } = state as Partial<PresenceState>;
    this.publish(rest);
  }

  editing(field: string, record: string | null = null, options: { lock?: boolean } = {}): void {
    this.publish({ field, record, locked: options.lock === true });
  }

  stopEditing(): void {
    this.publish({ field: null, record: null, locked: false });
  }

  /** Call on each keystroke: shows "typing" in `where` until `TYPING_TIMEOUT_MS` pass without another call. */
  typing(where: string): void {
    if (this.typingTimer !== null) this.clock.clearTimeout(this.typingTimer);
    this.typingTimer = this.clock.setTimeout(() => this.stopTyping(), TYPING_TIMEOUT_MS);
    if (this.awareness.getLocalState()?.typing !== where) this.publish({ typing: where });
  }

  stopTyping(): void {
    if (this.typingTimer !== null) this.clock.clearTimeout(this.typingTimer);
    this.typingTimer = null;
    if ((this.awareness.getLocalState()?.typing ?? null) !== null) this.publish({ typing: null });
  }

  /**
   * The socket closed and the provider dropped every peer's state: their clocks go too (`Awareness.meta`, a public
   * field). y-protocols ignores a state whose clock it has seen, so the states the server sends on reconnecting would
   * not show a peer whose presence did not change meanwhile until its 15 s renewal (y-websocket#122).
   */
  forgetDroppedPeers(): void {
    const { awareness } = this;
    for (const clientId of [...awareness.meta.keys()]) {
      if (clientId !== awareness.clientID && !awareness.getStates().has(clientId)) awareness.meta.delete(clientId);
    }
  }

  /** Sends our state again with a newer awareness clock (after a reconnect). */
  republish(): void {
    if (this.awareness.getLocalState() !== null) this.publish({});
  }

  /** Sets the identity once it is known (the token may arrive after the handle was created) and publishes it. */
  identify(user: PresenceUser): void {
    this.user = user;
    this.publish({});
  }

  peers(): Peer[] {
    const peers: Peer[] = [];
    for (const [clientId, state] of this.awareness.getStates()) {
      if (clientId === this.awareness.clientID) continue;
      const presence = parsePresence(state);
      if (presence) peers.push({ ...presence, clientId });
    }
    return peers;
  }

  override destroy(): void {
    if (this.typingTimer !== null) this.clock.clearTimeout(this.typingTimer);
    this.awareness.off('change', this.onChange);
    super.destroy();
  }

  private publish(changes: Partial<Omit<PresenceState, 'user'>>): void {
    this.awareness.setLocalState({ ...(this.awareness.getLocalState() ?? {}), ...changes, user: this.user });
  }

  private readonly onChange = ({ added, updated, removed }: AwarenessChange) => {
    const others = [...added, ...updated, ...removed].some((clientId) => clientId !== this.awareness.clientID);
    if (others) this.emit('change', [this.peers()]);
  };
}
