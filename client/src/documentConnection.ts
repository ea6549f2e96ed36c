/**
 * A document's place on the client's shared socket: its `HocuspocusProvider`, whether the server authenticated,
 * refused or closed it, and when it tries again.
 *
 * The rule: a document the server refuses or closes is taken off the socket (nothing more is sent for it). A
 * refused token (or a token function that failed) is replaced: the document tries again with a fresh token after a
 * backoff that doubles up to `REFUSED_RETRY_MAX_DELAY_MS`; a Forbidden document, whose token is fine but does not
 * grant it, waits for the socket's next connection. A document refused `revoked` (SPEC §3 revocations: the user's
 * access was revoked, live or before this token was issued) stays off the socket for good: the document tells its
 * listener, which deletes what the device holds of it. A new scope on a later authentication (the server downgraded
 * the session live, or a token now grants less or more) is told as an access change. The server's storage notices
 * (degraded, ok) are read here; other stateless messages go to the document's listeners.
 *
 * While authenticated, the document sends each fresh token the token provider fetches ahead of the current one's
 * expiry (`TokenProvider.onRefresh`) over its open session: the server moves the session's expiry, nothing is resent.
 */
import { CloseReason, parseServerNotice, parseTelemetry, StorageStatus } from '@concord/engine';
import { HocuspocusProvider } from '@hocuspocus/provider';
import type { Awareness } from 'y-protocols/awareness';
import type * as Y from 'yjs';
import type { Clock } from './clock.js';
import type { PowerWatch } from './power.js';
import { PresencePace } from './presencePace.js';
import type { Socket } from './socket.js';
import type { Telemetry } from './telemetry.js';
import type { TokenProvider } from './token.js';

/** First retry of a document refused for its token; doubles per refusal (with jitter) up to the cap. */
export const REFUSED_RETRY_MIN_DELAY_MS = 1_000;
export const REFUSED_RETRY_MAX_DELAY_MS = 30_000;

/** What the connection tells the document it serves. */
export interface ConnectionListener {
  /** Something the document's status is derived from changed. */
  changed(): void;
  /** The server authenticated the document on a connection. */
  authenticated(): void;
  /** The first sync with the server completed. */
  synced(): void;
  /** A stateless message from the server that is not a storage notice. */
  stateless(payload: string): void;
  /** The server revoked this document (reason `revoked`): it is off the socket for good. */
  revoked(): void;
  /** The server authenticated the document again with another scope: read-only now, or writable again. */
  accessChanged(readOnly: boolean): void;
}

export class DocumentConnection {
  readonly provider: HocuspocusProvider;
  private readonly name: string;
  private readonly socket: Socket;
  private readonly tokens: TokenProvider;
  private readonly listener: ConnectionListener;
  /** Taken off the socket after a refusal or a close by the server; back on at the next connection or retry. */
  private offSocket = false;
  /** The server authenticated this document on the current connection (and has not closed it since). */
  private authenticatedHere = false;
  /** The token this document last presented, so a refusal invalidates that one and no newer one. */
  private lastToken: string | null = null;
  private retryDelayMs = REFUSED_RETRY_MIN_DELAY_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Why the server refused the document (until it authenticates it again). */
  private refusedFor: string | null = null;
  /** The reason the server gave with its last refusal (`revoked`, `Forbidden`, `Unauthorized`), until it authenticates it again. */
  private refusedWith: string | null = null;
  /** Refused `revoked`: never back on the socket. */
  private revokedHere = false;
  /** Read-only at the last authentication; null before the first. */
  private lastReadOnly: boolean | null = null;
  /** Why the server closed the document on an open connection. */
  private closedFor: string | null = null;
  /** The server's last storage notice said it cannot store; cleared by an `ok` notice or a new authentication. */
  private degraded = false;
  /** Stops sending fresh tokens; set while the document is authenticated. */
  private stopRefreshing: (() => void) | null = null;
  /** When presence goes out (at once, or paced on a low battery, the data saver, a hidden tab). */
  private readonly pace: PresencePace;
  /** Delivery measured here and reported to the server (telemetry.ts). */
  private readonly telemetry: Telemetry;
  private readonly stopTelemetry: () => void;

  constructor(
    name: string,
    document: { doc: Y.Doc; awareness: Awareness },
    context: { socket: Socket; tokens: TokenProvider; power: PowerWatch; time: Clock; telemetry: Telemetry },
    listener: ConnectionListener,
  ) {
    this.name = name;
    this.socket = context.socket;
    this.tokens = context.tokens;
    this.listener = listener;
    this.provider = new HocuspocusProvider({
      name,
      document: document.doc,
      awareness: document.awareness,
      websocketProvider: this.socket.provider,
      token: async () => (this.lastToken = await this.tokens.forConnection(this.socket.connection)),
    });
    this.pace = new PresencePace(this.provider, document.awareness, context.power, context.time);
    this.telemetry = context.telemetry;
    this.stopTelemetry = context.telemetry.watch(document.doc, this.provider, (payload) => this.sendStateless(payload));
    this.provider.on('authenticated', this.onAuthenticated);
    this.provider.on('authenticationFailed', this.onRefused);
    this.provider.on('synced', this.onProgress);
    this.provider.on('unsyncedChanges', this.onProgress);
    this.provider.on('close', this.onClose);
    this.provider.on('stateless', this.onStateless);
    this.socket.on('open', this.onSocketOpen);
  }

  /** Joins the socket (the provider authenticates and syncs on its open connection, or on the next one). */
  attach(): void {
    this.provider.attach();
  }

  /** Authenticated and on the socket now. */
  get authenticated(): boolean {
    return !this.offSocket && this.provider.isAuthenticated;
  }

  get synced(): boolean {
    return this.provider.isSynced;
  }

  get readOnly(): boolean {
    return this.provider.authorizedScope === 'readonly';
  }

  /** Why the server refused the document, or null. */
  get refusal(): string | null {
    return this.refusedFor;
  }

  /** The reason the server gave with its refusal, as it sent it (`revoked`, `Forbidden`, …), or null. */
  get refusalReason(): string | null {
    return this.refusedWith;
  }

  /** Why the server closed the document, or null. */
  get closedByServer(): string | null {
    return this.closedFor;
  }

  get serverDegraded(): boolean {
    return this.degraded;
  }

  /** Sends a stateless message to the server for this document (dropped while it is not on a connection). */
  sendStateless(payload: string): void {
    if (!this.offSocket) this.provider.sendStateless(payload);
  }

  destroy(): void {
    this.endRefresh();
    this.pace.destroy();
    this.stopTelemetry();
    this.socket.off('open', this.onSocketOpen);
    clearTimeout(this.retryTimer);
    // A Close queued on a closed socket would reach the server after the next connection's authentications and
    // close the same document opened again by then; without a connection the server holds no session to close.
    if (!this.socket.isOpen && !this.offSocket) this.socket.detachSilently(this.provider);
    this.provider.destroy();
  }

  private readonly onAuthenticated = () => {
    this.authenticatedHere = true;
    this.stopRefreshing ??= this.tokens.onRefresh(this.sendFreshToken);
    this.degraded = false; // a server that is still degraded says so again right after authentication
    this.telemetry.authenticated((payload) => this.sendStateless(payload));
    this.retryDelayMs = REFUSED_RETRY_MIN_DELAY_MS;
    this.refusedFor = null;
    this.refusedWith = null;
    this.closedFor = null;
    const readOnly = this.readOnly;
    const accessChanged = this.lastReadOnly !== null && this.lastReadOnly !== readOnly;
    this.lastReadOnly = readOnly;
    this.listener.authenticated();
    if (accessChanged) this.listener.accessChanged(readOnly);
    this.listener.changed();
  };

  private readonly onStateless = ({ payload }: { payload: string }) => {
    const notice = parseServerNotice(payload);
    if (!notice) {
      const measured = parseTelemetry(payload);
      if (measured?.concord === 'clock') this.telemetry.clockAnswer(measured);
      else if (measured?.concord === 'stamp') this.telemetry.stamp(this.provider.document, measured);
      else this.listener.stateless(payload);
      return;
    }
    this.degraded = notice.status === StorageStatus.Degraded;
    this.listener.changed();
  };

  private readonly onRefused = ({ reason }: { reason: string }) => {
    this.endRefresh();
    this.refusedFor = `the server refused document ${this.name}: ${reason}`;
    this.refusedWith = reason;
    this.takeOffSocket();
    if (reason === CloseReason.Revoked) {
      // The token it was refused with was issued before a revocation: the next connection fetches a fresh one.
      this.revokedHere = true;
      clearTimeout(this.retryTimer);
      this.tokens.invalidate(this.lastToken);
      this.listener.revoked();
    } else if (reason !== CloseReason.Forbidden && this.tokens.canRefresh) {
      this.tokens.invalidate(this.lastToken);
      this.scheduleRetry();
    }
    this.listener.changed();
  };

  /** Puts the document back on the socket after the backoff; it authenticates with a freshly fetched token. */
  private scheduleRetry(): void {
    clearTimeout(this.retryTimer);
    const delay = this.retryDelayMs / 2 + Math.random() * (this.retryDelayMs / 2);
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, REFUSED_RETRY_MAX_DELAY_MS);
    this.retryTimer = setTimeout(() => {
      if (!this.offSocket || this.revokedHere) return;
      this.offSocket = false;
      this.provider.attach();
    }, delay);
  }

  private readonly onProgress = () => {
    if (this.provider.isSynced) this.listener.synced();
    this.listener.changed();
  };

  /**
   * A close while the socket stays open is the server closing this document — unless the document was not
   * authenticated yet: then it is the server's answer to the Close of an earlier handle of the same name, routed
   * here by name, and means nothing for this one.
   */
  private readonly onClose = ({ event }: { event?: { reason?: string } }) => {
    const wasAuthenticated = this.authenticatedHere;
    this.authenticatedHere = false;
    this.endRefresh();
    if (this.socket.isOpen && wasAuthenticated && !this.offSocket) {
      this.closedFor = `the server closed document ${this.name}: ${event?.reason || 'no reason given'}`;
      this.takeOffSocket();
    }
    this.listener.changed();
  };

  private readonly onSocketOpen = () => {
    if (!this.offSocket || this.revokedHere) return;
    clearTimeout(this.retryTimer);
    this.offSocket = false;
    this.provider.attach();
  };

  /** A fresh token for the open session (the provider asks the token function, which hands back the fresh one). */
  private readonly sendFreshToken = () => {
    if (this.authenticatedHere && !this.offSocket && this.socket.isOpen) void this.provider.sendToken();
  };

  private endRefresh(): void {
    this.stopRefreshing?.();
    this.stopRefreshing = null;
  }

  private takeOffSocket(): void {
    if (this.offSocket) return;
    this.offSocket = true;
    this.socket.detachSilently(this.provider);
  }
}
