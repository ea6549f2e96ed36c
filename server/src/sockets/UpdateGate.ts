/**
 * One socket's checkpoint for the updates its client sends (updateCheck.ts says what is checked): an update goes on to
 * Hocuspocus only when it is complete and writes new structs only under client ids its user owns; one that writes
 * under another user's client id closes the socket with 4400; one that is incomplete is held here, outside the
 * document, and retried whenever the document changes. Nothing held is acknowledged (Hocuspocus never saw it), and
 * what is held when the socket closes is dropped.
 *
 * Held updates are bounded (UpdateLimits): per connection in number and bytes, and per document in number of
 * incomplete ones across connections. The connection whose update would go past a bound is closed with 4400.
 *
 * Updates also wait here until the socket's session on their document is authorised and the document is loaded
 * (Hocuspocus would have queued them the same way). Held updates go on in the order they came, except that one still
 * incomplete does not hold back those after it: a client that reconnects sends a new edit before the sync step 2
 * that carries the offline edits it continues. A read-only session's updates go on unchecked: Hocuspocus
 * applies none of them.
 *
 * Per update on the hot path: a few map lookups (the session, the document, the client ids' states) and one pass over
 * the update's structs; nothing is allocated for a complete update whose client ids the connection already owns.
 */
import { claimedUser } from '../auth/TokenVerifier.js';
import { isEmptyDeleteSet, type DecodedUpdate } from '../seams/yjs.js';
import { MalformedFrameError } from './frames.js';
import { checkUpdate, Ownership, trimUpdate, Verdict } from './updateCheck.js';
import { SmallMap } from './SmallMap.js';
import type { UpdateGuard, Waiter } from './UpdateGuard.js';

/** Why a connection was closed here (the `reason` label of `concord_rejected_connections_total`). */
export const UpdateRejection = {
  ForeignClientId: 'foreign-client-id',
  TooManyHeldUpdates: 'too-many-held-updates',
} as const;

export class UpdateRefusedError extends MalformedFrameError {
  constructor(message: string, reason: string) {
    super(message, { reason });
  }
}

interface Session {
  /** The user the session's token names; undefined until its Auth frame. */
  user: string | undefined;
  /** null until Hocuspocus authorised the session. */
  writable: boolean | null;
  /** Client ids this session may write new structs under (owned by its user), learned as they come; made with the first. */
  owned: Set<number> | null;
  /** Per client: the clock after what this session forwarded; made with the first (an idle session has neither). */
  forwarded: Map<number, number> | null;
  /** Updates held, in arrival order. */
  held: Array<Held> | null;
}

interface Held {
  readonly update: DecodedUpdate;
  readonly bytes: number;
  readonly payload: unknown;
  /** Counted in its document's held total (it was found incomplete). */
  counted: boolean;
}

function documentNameOf(address: string): string {
  const session = address.indexOf('\0');
  return session < 0 ? address : address.slice(0, session);
}

/** The socket an UpdateGate checks updates for. */
export interface GatedSocket<Payload> {
  /** Sends on a held update once it may go. */
  passHeld(address: string, payload: Payload): void;
  /** Closes the socket: a held update turned out foreign or malformed (an UpdateRefusedError or MalformedFrameError). */
  refuseHeld(error: Error): void;
  /** `payload` carrying `update` instead of its own (the same update without what the document already holds). */
  withUpdate(payload: Payload, update: Uint8Array): Payload;
}

export class UpdateGate<Payload> implements Waiter {
  private readonly guard: UpdateGuard;
  private readonly socket: GatedSocket<Payload>;
  /** Per address (document session): almost always one (see SmallMap). */
  private readonly sessions = new SmallMap<string, Session>();
  private heldCount = 0;
  private heldBytes = 0;
  /** The last update `decide` found complete, written again without what was known (see trimUpdate); else null. */
  private trimmed: Uint8Array | null = null;

  constructor(guard: UpdateGuard, socket: GatedSocket<Payload>) {
    this.guard = guard;
    this.socket = socket;
  }

  private session(address: string): Session {
    let session = this.sessions.get(address);
    if (session === undefined) {
      session = { user: undefined, writable: null, owned: null, forwarded: null, held: null };
      this.sessions.set(address, session);
    }
    return session;
  }

  /** The session on `address` sent a token. */
  authenticating(address: string, token: string): void {
    this.session(address).user = claimedUser(token)?.id;
  }

  /** Hocuspocus authorised the session on `address`. */
  authorised(address: string, writable: boolean): void {
    const session = this.session(address);
    session.writable = writable;
    // Not from inside Hocuspocus' own send of the Authenticated message.
    if (session.held !== null) queueMicrotask(() => session.held !== null && this.release(address, session));
  }

  /** Hocuspocus ended the session on `address`: what it held is dropped (it would never have been applied). */
  ended(address: string): void {
    const session = this.sessions.get(address);
    if (session === undefined) return;
    this.drop(address, session);
    this.sessions.delete(address);
  }

  /** The socket closed. */
  close(): void {
    for (const [address, session] of this.sessions) this.drop(address, session);
    this.sessions.clear();
  }

  /**
   * What goes on now for the update (`bytes` long) that `payload` carries: `payload` itself, or a copy carrying the
   * update without what the document already holds (see trimUpdate); undefined when it is held (and passed on later).
   * Throws UpdateRefusedError or MalformedFrameError when the connection must close.
   */
  admit(address: string, update: DecodedUpdate, bytes: number, payload: Payload): Payload | undefined {
    if (update.structs.length === 0 && isEmptyDeleteSet(update.ds)) return payload; // nothing to check (an empty sync step 2)
    const session = this.session(address);
    if (this.decide(address, session, update) === Verdict.Complete) {
      // Held updates of this session may have waited for this one (a client's offline edits arrive in its sync step 2,
      // after a new edit that continues them): they are tried again once it has gone on.
      if (session.held !== null) this.guard.changed(documentNameOf(address));
      return this.going(payload);
    }
    this.hold(address, session, { update, bytes, payload, counted: false });
    return undefined;
  }

  /** `payload`, carrying the update `decide` just found complete as it must go on. */
  private going(payload: Payload): Payload {
    const trimmed = this.trimmed;
    if (trimmed === null) return payload;
    this.trimmed = null;
    return this.socket.withUpdate(payload, trimmed);
  }

  retry(documentName: string): void {
    for (const [address, session] of this.sessions) {
      if (session.held !== null && documentNameOf(address) === documentName) this.release(address, session);
    }
  }

  /** Checks `update`; a complete one counts as forwarded. Throws for a foreign one. Incomplete: the doc may be missing. */
  private decide(address: string, session: Session, update: DecodedUpdate): Verdict | null {
    if (session.writable === false) return Verdict.Complete;
    const name = documentNameOf(address);
    const document = session.writable === null ? undefined : this.guard.get(name);
    if (document === undefined) return null;
    const user = session.user;
    const result = checkUpdate(update, document.doc, session.forwarded ?? undefined, (client) => {
      if (session.owned?.has(client) === true) return Ownership.Own;
      const owner = document.owners.get(client);
      if (owner === undefined) return Ownership.Free;
      if (owner !== user) return Ownership.Foreign;
      (session.owned ??= new Set()).add(client);
      return Ownership.Own;
    });
    if (result.verdict === Verdict.Foreign) {
      throw new UpdateRefusedError(`an update writes under client id ${result.client}, which another user owns`, UpdateRejection.ForeignClientId);
    }
    if (result.verdict === Verdict.Malformed) {
      throw new MalformedFrameError(`an item of client ${result.client} refers to a struct of its own that comes after it`);
    }
    if (result.verdict === Verdict.Complete) {
      if (result.overlaps) this.trimmed = trimUpdate(update, document.doc, session.forwarded ?? undefined);
      for (const client of result.free) {
        if (user !== undefined) this.guard.claim(name, client, user);
        (session.owned ??= new Set()).add(client);
      }
      for (const [client, end] of result.ends) {
        const forwarded = (session.forwarded ??= new Map());
        if ((forwarded.get(client) ?? 0) < end) forwarded.set(client, end);
      }
    }
    return result.verdict;
  }

  private hold(address: string, session: Session, held: Held): void {
    const { limits } = this.guard;
    this.heldCount += 1;
    this.heldBytes += held.bytes;
    (session.held ??= []).push(held);
    if (session.held.length === 1) this.guard.wait(documentNameOf(address), this);
    if (this.heldCount > limits.maxHeldUpdatesPerConnection || this.heldBytes > limits.maxHeldBytesPerConnection) {
      throw new UpdateRefusedError(
        `more than ${limits.maxHeldUpdatesPerConnection} updates (or ${limits.maxHeldBytesPerConnection} bytes) waiting for what they depend on`,
        UpdateRejection.TooManyHeldUpdates,
      );
    }
    this.count(address, held);
  }

  /** Counts `held` in its document's total once it is known to be incomplete (not merely waiting for the document). */
  private count(address: string, held: Held): void {
    if (held.counted) return;
    const document = this.guard.get(documentNameOf(address));
    const session = this.sessions.get(address);
    if (document === undefined || session?.writable == null) return;
    held.counted = true;
    document.held += 1;
    const limit = this.guard.limits.maxHeldUpdatesPerDocument;
    if (document.held > limit) {
      throw new UpdateRefusedError(`more than ${limit} updates held for this document, waiting for what they depend on`, UpdateRejection.TooManyHeldUpdates);
    }
  }

  /**
   * Sends on the held updates that are complete now, in the order they came; one that is still incomplete stays and
   * the next ones are tried (a later update of the same client can be what an earlier one waits for), until a pass
   * sends nothing.
   */
  private release(address: string, session: Session): void {
    try {
      const held = session.held!;
      let progress = true;
      while (progress && held.length > 0) {
        progress = false;
        for (let i = 0; i < held.length; i++) {
          const next = held[i]!;
          const verdict = this.decide(address, session, next.update);
          if (verdict === null) return; // the session or its document is not ready yet
          if (verdict === Verdict.Incomplete) {
            this.count(address, next);
            continue;
          }
          held.splice(i, 1);
          i -= 1;
          this.uncount(address, next);
          this.socket.passHeld(address, this.going(next.payload as Payload));
          progress = true;
        }
      }
      if (held.length > 0) return;
      session.held = null;
      this.guard.stopWaiting(documentNameOf(address), this);
    } catch (error) {
      this.socket.refuseHeld(error as Error);
    }
  }

  private uncount(address: string, held: Held): void {
    this.heldCount -= 1;
    this.heldBytes -= held.bytes;
    if (!held.counted) return;
    held.counted = false;
    const document = this.guard.get(documentNameOf(address));
    if (document !== undefined) document.held -= 1;
  }

  private drop(address: string, session: Session): void {
    if (session.held === null) return;
    for (const held of session.held) this.uncount(address, held);
    session.held = null;
    this.guard.stopWaiting(documentNameOf(address), this);
  }
}
