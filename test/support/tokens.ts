/**
 * JWTs for tests, minted the way an app backend would (jose, HS256), with the claims of SPEC §3.
 */
import { SignJWT } from 'jose';

export const TEST_SECRET = 'concord-test-secret-that-is-long-enough-for-hs256';

export interface TestClaims {
  sub: string;
  name?: string;
  tenant?: string;
  docs?: Record<string, 'read' | 'write'>;
  /** Channel globs the token may publish to over the HTTP API. */
  publish?: string[];
  /** Seconds from now until expiry; negative for an already expired token; null for none. Default one hour. */
  expiresInSeconds?: number | null;
  /** Seconds ago the token was issued (`iat`). Default 0. */
  issuedSecondsAgo?: number;
  /** `iat`, seconds since the epoch (overrides `issuedSecondsAgo`); null for a token without one. */
  issuedAt?: number | null;
}

export async function mintToken(claims: TestClaims, secret: string = TEST_SECRET): Promise<string> {
  const { expiresInSeconds = 3600, issuedSecondsAgo = 0, issuedAt, sub, ...rest } = claims;
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...rest }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub);
  if (issuedAt !== null) jwt.setIssuedAt(issuedAt ?? now - issuedSecondsAgo);
  if (expiresInSeconds !== null) jwt.setExpirationTime(now + expiresInSeconds);
  return jwt.sign(new TextEncoder().encode(secret));
}
