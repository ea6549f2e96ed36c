/**
 * Verifies JWTs with jose: HS256 against the configured secret, RS256/ES256 (and their relatives) against a JWKS.
 * The token's header picks the key; an algorithm no configured key serves is refused. Claims are then checked
 * against the engine's schema (SPEC §3). Failures carry an ErrorKind so logs, metrics and clients can tell an
 * expired token from a forged one; messages never include the token.
 *
 * A token that verified is remembered for a short while (`VERIFIED_TTL_MS`, never past its `exp`): a client opens
 * every document of a page with the same token, over one socket or several, and reconnects with it, and checking a
 * signature through WebCrypto costs ~50 µs, most of a connection's set-up here. The cache is bounded
 * (`VERIFIED_MAX_TOKENS`, oldest out first) and holds only tokens that passed every check.
 */
import { webcrypto } from 'node:crypto';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { ConcordError, DEFAULT_TENANT, ErrorKind, tokenClaimsSchema, type TokenClaims } from '@concord/engine';

const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
/** Tolerated clock skew between the token issuer and this server. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** How long a verified token is taken without checking its signature again (its `exp` still applies). */
export const VERIFIED_TTL_MS = 60_000;
/** Verified tokens remembered at most. */
export const VERIFIED_MAX_TOKENS = 1_000;

interface Verified {
  readonly claims: TokenClaims;
  /** Until when (ms since the epoch) the claims are taken as they are. */
  readonly until: number;
}

export interface TokenVerifierOptions {
  /** HS256 shared secret. */
  secret?: string;
  /** JWKS endpoint for asymmetric algorithms. */
  jwksUrl?: string;
}

export class TokenVerifier {
  /** The HS256 secret, imported once (jose would import a raw secret again for every token). */
  private readonly secret: Promise<webcrypto.CryptoKey> | undefined;
  private readonly jwks: JWTVerifyGetKey | undefined;
  private readonly verified = new Map<string, Verified>();
  private readonly now: () => number;

  constructor(options: TokenVerifierOptions & { now?: () => number }) {
    this.now = options.now ?? Date.now;
    this.secret =
      options.secret === undefined
        ? undefined
        : webcrypto.subtle.importKey('raw', new TextEncoder().encode(options.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
    this.secret?.catch(() => {}); // a key that cannot be imported fails each verification instead
    this.jwks = options.jwksUrl === undefined ? undefined : createRemoteJWKSet(new URL(options.jwksUrl));
  }

  async verify(token: string): Promise<TokenClaims> {
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (this.now() < known.until) return known.claims;
      this.verified.delete(token);
    }
    const claims = await this.check(token);
    this.remember(token, claims);
    return claims;
  }

  private remember(token: string, claims: TokenClaims): void {
    const now = this.now();
    const until = Math.min(now + VERIFIED_TTL_MS, claims.exp === undefined ? Number.POSITIVE_INFINITY : claims.exp * 1000);
    if (until <= now) return;
    if (this.verified.size >= VERIFIED_MAX_TOKENS) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, { claims, until });
  }

  private async check(token: string): Promise<TokenClaims> {
    if (!token) throw new ConcordError(ErrorKind.MissingToken, 'no token was sent');
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new ConcordError(ErrorKind.InvalidToken, 'the token is not a JWT');
    }
    let payload: unknown;
    try {
      if (alg === 'HS256' && this.secret) {
        payload = (await jwtVerify(token, await this.secret, { algorithms: ['HS256'], clockTolerance: CLOCK_TOLERANCE_SECONDS, currentDate: new Date(this.now()) })).payload;
      } else if (alg !== undefined && ASYMMETRIC_ALGORITHMS.includes(alg) && this.jwks) {
        payload = (await jwtVerify(token, this.jwks, { algorithms: ASYMMETRIC_ALGORITHMS, clockTolerance: CLOCK_TOLERANCE_SECONDS, currentDate: new Date(this.now()) })).payload;
      } else {
        throw new ConcordError(ErrorKind.InvalidToken, `tokens signed with ${alg ?? 'no algorithm'} are not accepted here`);
      }
    } catch (error) {
      if (error instanceof ConcordError) throw error;
      if (error instanceof errors.JWTExpired) throw new ConcordError(ErrorKind.TokenExpired, 'the token has expired');
      throw new ConcordError(ErrorKind.InvalidToken, `the token could not be verified (${(error as Error).message})`);
    }
    const claims = tokenClaimsSchema.safeParse(payload);
    if (!claims.success) {
      const detail = claims.error.issues.map((issue) => `${issue.path.join('.') || 'token'}: ${issue.message}`).join('; ');
      throw new ConcordError(ErrorKind.InvalidClaims, `the token's claims are invalid (${detail})`);
    }
    return claims.data;
  }
}

/** What a token claims, read without verifying it (see claimedTenant and claimedUser). */
interface UnverifiedClaims {
  readonly tenant: string;
  readonly user: { readonly id: string; readonly name: string } | null;
}

/**
 * Tokens read unverified, remembered (at most `UNVERIFIED_MAX_TOKENS`, oldest out first): each document a socket opens
 * sends its token, and three readers want it (the socket's tenant, its updates' user, its presence's user). Reading
 * one decodes base64 and JSON and checks the claims' schema, a few kilobytes of garbage per connection.
 */
const unverified = new Map<string, UnverifiedClaims>();
const UNVERIFIED_MAX_TOKENS = 1_024;

function readUnverified(token: string): UnverifiedClaims {
  const known = unverified.get(token);
  if (known !== undefined) return known;
  let payload: Record<string, unknown> | null = null;
  try {
    payload = decodeJwt(token);
  } catch {
    // not a JWT: the default tenant, no user; verification refuses it
  }
  const tenant = payload?.tenant;
  const claims = payload === null ? null : tokenClaimsSchema.safeParse(payload);
  const read: UnverifiedClaims = {
    tenant: typeof tenant === 'string' && tenant.length > 0 ? tenant : DEFAULT_TENANT,
    user: claims?.success ? { id: claims.data.sub, name: claims.data.name ?? claims.data.sub } : null,
  };
  if (unverified.size >= UNVERIFIED_MAX_TOKENS) unverified.delete(unverified.keys().next().value!);
  unverified.set(token, read);
  return read;
}

/**
 * The tenant a token claims, read without verifying it. Only for routing a socket's document names into the
 * token's namespace; authentication later verifies the token and refuses it unless the verified tenant matches.
 */
export function claimedTenant(token: string): string {
  return readUnverified(token).tenant;
}

/**
 * The user a token claims (`sub`, and `name` or else `sub`, as AuthExtension names the verified user), read without
 * verifying it, or null when it claims none. Only for a session whose frames Hocuspocus applies once it has verified
 * the same token: a token that fails verification gets its session refused, and none of its frames is applied.
 */
export function claimedUser(token: string): { readonly id: string; readonly name: string } | null {
  return readUnverified(token).user;
}
