/**
 * The token verifier remembers tokens that verified (a page opens all its documents with one token) without ever
 * stretching what a token grants: an expired token is refused even when it was verified a moment before, and a token
 * that failed is checked again every time, never remembered.
 */
import { ErrorKind } from '@concord/engine';
import { expect, test } from 'vitest';
import { TokenVerifier, VERIFIED_TTL_MS } from '../../server/src/auth/TokenVerifier.js';
import { mintToken, TEST_SECRET } from '../support/tokens.js';

test('a verified token is refused once it expires, although it was remembered', async () => {
  let now = Date.now();
  const verifier = new TokenVerifier({ secret: TEST_SECRET, now: () => now });
  const lifetimeSeconds = 20; // well inside VERIFIED_TTL_MS: only `exp` can end the remembered verification
  expect(lifetimeSeconds * 1000).toBeLessThan(VERIFIED_TTL_MS);
  const token = await mintToken({ sub: 'sarah', docs: { '*': 'write' }, expiresInSeconds: lifetimeSeconds });
  expect((await verifier.verify(token)).sub).toBe('sarah');
  expect((await verifier.verify(token)).sub).toBe('sarah');

  now += (lifetimeSeconds + 10) * 1000; // past exp and the 5 s clock tolerance
  await expect(verifier.verify(token)).rejects.toMatchObject({ kind: ErrorKind.TokenExpired });
});

test('a token that failed is never remembered: it fails every time', async () => {
  const verifier = new TokenVerifier({ secret: TEST_SECRET });
  const forged = await mintToken({ sub: 'mallory', docs: { '*': 'write' } }, 'another-secret-that-is-long-enough-for-hs256');
  for (let i = 0; i < 3; i++) await expect(verifier.verify(forged)).rejects.toMatchObject({ kind: ErrorKind.InvalidToken });
});
