/**
 * Tokens on the client: fetching them for connections, and reading (not verifying) their claims.
 *
 * The rule: one token per socket connection. Every document of a connection authenticates with the same token,
 * so a token function is called once per (re)connect, not once per document; a token is fetched afresh for a new
 * connection, or when the cached one is due for replacement (`refreshTimeOf`: `TOKEN_EXPIRY_MARGIN_MS` before its
 * `exp`, or halfway through its life when it lives shorter than twice that). Claims are decoded only to name the local
 * cache and the presence identity — the server alone decides what a token grants.
 *
 * Refresh on an open connection: the server ends a document's session when its token's `exp` passes, unless a fresh
 * token arrived over the same socket. While documents are authenticated (`onRefresh` listeners), one timer fetches a
 * fresh token when the current one is due and hands it to every listener, which sends it on its provider; nothing is
 * dropped or resynced. A token function that fails leaves the old token, retried until it expires; the server then
 * ends the sessions (Unauthorized) and documents go `unauthorized` as for any refused token.
 */
import { tokenClaimsSchema, type TokenClaims } from '@concord/engine';
import type { TokenSource } from './types.js';

/** A cached token closer than this to its `exp` is fetched again before it is sent (or half its life, if shorter). */
export const TOKEN_EXPIRY_MARGIN_MS = 10_000;
/** Fresh tokens are fetched at most this often: a token function may hand back the same token within a second. */
export const MIN_TOKEN_REFRESH_INTERVAL_MS = 250;

/** Claims of a JWT, decoded without verification; null when the string is not a JWT with valid claims. */
export function decodeTokenClaims(token: string): TokenClaims | null {
  const payload = token.split('.')[1];
  if (payload === undefined) return null;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const result = tokenClaimsSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}

/** The default local namespace of a user: `${tenant}.${sub}`. */
export function namespaceFromClaims(claims: TokenClaims): string {
  return `${claims.tenant}.${claims.sub}`;
}

/**
 * When a token received at `receivedAt` should be replaced (ms since the epoch), or null when it never expires:
 * `TOKEN_EXPIRY_MARGIN_MS` before `exp`, or halfway through its life (from `iat`, else from when it was received) when
 * it lives shorter than twice the margin.
 */
export function refreshTimeOf(token: string, receivedAt: number): number | null {
  const claims = decodeTokenClaims(token);
  if (claims?.exp === undefined) return null;
  const expiresAt = claims.exp * 1000;
  const issuedAt = claims.iat === undefined ? receivedAt : Math.min(claims.iat * 1000, receivedAt);
  return expiresAt - Math.min(TOKEN_EXPIRY_MARGIN_MS, Math.max(0, expiresAt - issuedAt) / 2);
}

export class TokenProvider {
  private readonly source: TokenSource;
  private current: Promise<string> | null = null;
  /** The connection that used `current`; null while no connection has used it yet. */
  private usedByConnection: number | null = null;
  /** The server refused the last token: the next call of the source says so. */
  private refused = false;
  private lastToken: string | null = null;
  /** When the token of `current` is due for replacement; null: never, or not fetched yet. */
  private dueAt: number | null = null;
  private readonly listeners = new Set<() => void>();
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private destroyed = false;

  constructor(source: TokenSource) {
    this.source = source;
  }

  /**
   * Calls `listener` each time a fresh token replaced one that was due, while subscribed (an authenticated document
   * sends it to the server). Returns the unsubscribe function.
   */
  onRefresh(listener: () => void): () => void {
    this.listeners.add(listener);
    this.schedule();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) clearTimeout(this.refreshTimer);
    };
  }

  destroy(): void {
    this.destroyed = true;
    this.listeners.clear();
    clearTimeout(this.refreshTimer);
  }

  /** Whether a refused token can be replaced at all (a fixed string cannot). */
  get canRefresh(): boolean {
    return typeof this.source === 'function';
  }

  /** The server refused `token`: drop it, so the next request fetches a new one and tells the source why. */
  invalidate(token: string | null): void {
    if (token !== null && token !== this.lastToken) return; // an older token; a newer one is already on its way
    this.current = null;
    this.refused = true;
  }

  /** The token to authenticate documents on connection number `connection`. */
  async forConnection(connection: number): Promise<string> {
    if (this.current && this.usedByConnection !== null && this.usedByConnection !== connection) this.current = null;
    this.usedByConnection = connection;
    const token = await this.cached();
    if (!this.isDue()) return token;
    this.current = null;
    return this.cached();
  }

  /** Any current token, without tying it to a connection: the first result names the local cache. */
  peek(): Promise<string> {
    return this.cached();
  }

  /** A token that is not due for replacement (fetching a new one when it is): for HTTP requests. */
  async fresh(): Promise<string> {
    const token = await this.cached();
    if (!this.isDue()) return token;
    this.current = null;
    return this.cached();
  }

  private cached(): Promise<string> {
    if (!this.current) {
      const source = this.source;
      const request = { refused: this.refused };
      const fetched = typeof source === 'string' ? Promise.resolve(source) : Promise.resolve().then(() => source(request));
      this.current = fetched;
      fetched.then(
        (token) => {
          this.lastToken = token;
          this.refused = false;
          if (this.current !== fetched) return;
          this.dueAt = refreshTimeOf(token, Date.now());
          this.schedule();
        },
        () => {
          if (this.current === fetched) this.current = null;
        },
      );
    }
    return this.current;
  }

  private isDue(): boolean {
    return this.dueAt !== null && Date.now() >= this.dueAt;
  }

  /** One timer for the current token's replacement, while anyone listens and the source can give another. */
  private schedule(): void {
    clearTimeout(this.refreshTimer);
    if (this.destroyed || this.listeners.size === 0 || !this.canRefresh || this.dueAt === null) return;
    const delay = Math.max(MIN_TOKEN_REFRESH_INTERVAL_MS, this.dueAt - Date.now());
    this.refreshTimer = setTimeout(() => void this.refresh(), delay);
  }

  /** Fetches a fresh token and hands it to the listeners; a failed fetch is tried again on the next timer. */
  private async refresh(): Promise<void> {
    if (this.destroyed || this.listeners.size === 0) return;
    if (!this.isDue()) {
      this.schedule(); // replaced meanwhile (a new connection fetched one)
      return;
    }
    const before = this.lastToken;
    this.current = null;
    try {
      await this.cached();
    } catch {
      this.schedule(); // the due token stays; the next attempt follows after MIN_TOKEN_REFRESH_INTERVAL_MS
      return;
    }
    if (this.lastToken === before) return; // the source gave the same token again: tried again by the timer
    for (const listener of [...this.listeners]) listener();
  }
}
