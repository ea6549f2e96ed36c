/**
 * Who may say what in a document's presence (Yjs awareness). Checked where a frame arrives, right after frames.ts
 * decoded it and before Hocuspocus applies or relays anything of it.
 *
 * The rules:
 * - A connection speaks only for its own client ids. A socket's session on a document (from its Auth frame until the
 *   session ends) owns the awareness client ids it introduced: a stock provider has exactly one (its Y.Doc's
 *   clientID), and a session may introduce at most `maxStatesPerConnection`. An id that another live session of the
 *   document owns is refused, unless that session is the same user's: a client that came back on a new socket
 *   before the server noticed its old one had died brings its client id along. The server's own id (the workspace
 *   room's last-seen table) is nobody's.
 * - What stock clients send about others passes. y-websocket echoes every awareness change it receives, and every
 *   provider sends a removal (a null state) for a peer it timed out. An entry for someone else's id that is not newer
 *   than what the document holds changes nothing (y-protocols ignores it), and Hocuspocus applies no removal a client
 *   sends (a session's states go when the session ends): neither is checked further, nor refused.
 * - Presence identity is the token's. In a state that carries a `user` object, `user.id` and `user.name` are the
 *   token's `sub` and `name` (`sub` without one), as AuthExtension names the user; a state that says otherwise is
 *   rewritten, so the client's user is shown whatever it claimed (and only then does a message cost a new frame).
 *   In the workspace room a client state may not carry a `lastSeen` table (that state is the server's): dropped.
 *   A session whose token was not seen yet (awareness before the Auth frame) claims no one: its `user` is dropped.
 *
 * The claims come from the session's token unverified: a session whose token fails verification is refused, and
 * Hocuspocus applies none of its frames, so every frame applied was checked against verified claims. A violation
 * throws MalformedFrameError: the socket is closed with 4400 and the frame goes nowhere.
 *
 * Cost per awareness message of the usual kind (one state, the sender's own): a lookup in a list of at most
 * `maxStatesPerConnection` ids and two string comparisons; no allocation.
 */
import type { Document, Hocuspocus } from '@hocuspocus/server';
import { isWorkspaceDocument } from '@concord/engine';
import * as encoding from 'lib0/encoding';
import { claimedUser } from '../auth/TokenVerifier.js';
import type { Metrics } from '../metrics.js';
import { awarenessEntries, MalformedFrameError } from './frames.js';

export interface AwarenessLimits {
  /** Awareness client ids one session on a document may introduce. */
  readonly maxStatesPerConnection: number;
  /** Largest awareness state (its JSON), in bytes; checked by frames.ts as it decodes. */
  readonly maxStateBytes: number;
}

interface PresenceUser {
  readonly id: string;
  readonly name: string;
}

/** Past this many entries in one message, the reused entry arrays are let go rather than kept that large. */
const MAX_KEPT_ENTRIES = 256;

/** One socket's session on one document: who it is, and the awareness client ids it introduced. */
export class AwarenessSession {
  /** The document inside the server (`<tenant>/<name>`, without a provider's session suffix). */
  readonly document: string;
  readonly workspace: boolean;
  user: PresenceUser | null;
  readonly own: number[] = [];

  constructor(document: string, user: PresenceUser | null) {
    this.document = document;
    this.workspace = isWorkspaceDocument(document);
    this.user = user;
  }

  /** Takes the user from the session's first token, when it had none. */
  identify(token: string): void {
    this.user ??= claimedUser(token);
  }
}

export class AwarenessGuard {
  readonly limits: AwarenessLimits;
  private readonly hocuspocus: Hocuspocus;
  private readonly metrics: Metrics;
  /** Per document: the session that owns each client id. */
  private readonly owners = new Map<string, Map<number, AwarenessSession>>();

  constructor(hocuspocus: Hocuspocus, limits: AwarenessLimits, metrics: Metrics) {
    this.hocuspocus = hocuspocus;
    this.limits = limits;
    this.metrics = metrics;
  }

  /** A session on `address` (`<tenant>/<name>`, maybe with a session suffix), by the user its token claims. */
  open(address: string, token: string | null): AwarenessSession {
    const session = address.indexOf('\0');
    return new AwarenessSession(session < 0 ? address : address.slice(0, session), token === null ? null : claimedUser(token));
  }

  /** Ends a session: the ids it owns are free again. */
  close(session: AwarenessSession): void {
    const owners = this.owners.get(session.document);
    if (owners === undefined) return;
    for (const client of session.own) if (owners.get(client) === session) owners.delete(client);
    session.own.length = 0;
    if (owners.size === 0) this.owners.delete(session.document);
  }

  /**
   * Checks the awareness message frames.ts decoded last, sent in `session`: throws MalformedFrameError on a
   * violation; returns the update to forward instead when a state's identity was rewritten, else null.
   */
  check(session: AwarenessSession): Uint8Array | null {
    const { count, clients, clocks, states } = awarenessEntries;
    let document: Document | undefined | null = null;
    let rewritten: unknown[] | null = null;
    try {
      for (let i = 0; i < count; i++) {
        const state = states[i];
        if (state === null) continue;
        const client = clients[i]!;
        if (!session.own.includes(client)) {
          if (document === null) document = this.hocuspocus.documents.get(session.document);
          const known = document?.awareness.meta.get(client);
          if (known !== undefined && clocks[i]! <= known.clock) continue;
          this.claim(session, client, document);
        }
        const fixed = this.identified(session, state);
        if (fixed !== state) (rewritten ??= states.slice(0, count))[i] = fixed;
      }
    } finally {
      states.fill(undefined, 0, count); // the states are not kept past their message
      if (count > MAX_KEPT_ENTRIES) {
        awarenessEntries.clients = [];
        awarenessEntries.clocks = [];
        awarenessEntries.states = [];
      }
    }
    if (rewritten === null) return null;
    this.metrics.presenceRewritten.inc();
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, count);
    for (let i = 0; i < count; i++) {
      encoding.writeVarUint(encoder, clients[i]!);
      encoding.writeVarUint(encoder, clocks[i]!);
      encoding.writeVarString(encoder, JSON.stringify(rewritten[i]));
    }
    return encoding.toUint8Array(encoder);
  }

  /** `session` introduces `client`, or throws. */
  private claim(session: AwarenessSession, client: number, document: Document | undefined): void {
    if (document !== undefined && client === document.awareness.clientID) {
      throw new MalformedFrameError(`awareness client id ${client} is the server's`, { reason: 'awareness-client-id' });
    }
    let owners = this.owners.get(session.document);
    const owner = owners?.get(client);
    if (owner !== undefined) {
      if (session.user === null || owner.user?.id !== session.user.id) {
        throw new MalformedFrameError(`awareness client id ${client} belongs to another connection`, { reason: 'awareness-client-id' });
      }
      owner.own.splice(owner.own.indexOf(client), 1); // the same user's client, back on a new connection
    }
    if (session.own.length >= this.limits.maxStatesPerConnection) {
      throw new MalformedFrameError(`more than ${this.limits.maxStatesPerConnection} awareness client ids on one connection`, {
        reason: 'awareness-states',
      });
    }
    if (owners === undefined) this.owners.set(session.document, (owners = new Map()));
    owners.set(client, session);
    session.own.push(client);
  }

  /** `state` with the session's identity: itself when it claims no other, else a corrected copy. */
  private identified(session: AwarenessSession, state: unknown): unknown {
    if (typeof state !== 'object' || state === null) return state;
    const { user: claimed, lastSeen } = state as { user?: unknown; lastSeen?: unknown };
    const strayTable = session.workspace && lastSeen !== undefined;
    const isObject = typeof claimed === 'object' && claimed !== null && !Array.isArray(claimed);
    const { user } = session;
    const wrongUser =
      isObject && (user === null || (claimed as { id?: unknown }).id !== user.id || (claimed as { name?: unknown }).name !== user.name);
    if (!wrongUser && !strayTable) return state;
    const fixed: Record<string, unknown> = { ...(state as Record<string, unknown>) };
    if (strayTable) delete fixed['lastSeen'];
    if (wrongUser) {
      if (user === null) delete fixed['user'];
      else fixed['user'] = { ...(claimed as Record<string, unknown>), id: user.id, name: user.name };
    }
    return fixed;
  }
}
