/**
 * Tokens on the client: fetching them for connections, and reading (not verifying) their claims.
 *
 * The rule: one token per socket connection. Every document of a connection authenticates with the same token,
 * so a token function is called once per (re)connect, not once per document; a token is fetched afresh for a new
 * connection, or when the cached one is about to expire. Claims are decoded only to name the local cache and the
 * presence identity — the server alone decides what a token grants.
 */
import { tokenClaimsSchema, type TokenClaims } from '@concord/engine';
import type { TokenSource } from './types.js';

/** A cached token closer than this to its `exp` is fetched again before it is sent. */
export const TOKEN_EXPIRY_MARGIN_MS = 10_000;

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

function expiresSoon(token: string): boolean {
  const exp = decodeTokenClaims(token)?.exp;
  return exp !== undefined && exp * 1000 - Date.now() < TOKEN_EXPIRY_MARGIN_MS;
}

export class TokenProvider {
  private readonly source: TokenSource;
  private current: Promise<string> | null = null;
  /** The connection that used `current`; null while no connection has used it yet. */
  private usedByConnection: number | null = null;
  /** The server refused the last token: the next call of the source says so. */
  private refused = false;
  private lastToken: string | null = null;

  constructor(source: TokenSource) {
    this.source = source;
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
    if (!expiresSoon(token)) return token;
    this.current = null;
    return this.cached();
  }

  /** Any current token, without tying it to a connection: the first result names the local cache. */
  peek(): Promise<string> {
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
        },
        () => {
          if (this.current === fetched) this.current = null;
        },
      );
    }
    return this.current;
  }
}
