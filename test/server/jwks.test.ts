/**
 * CONCORD_AUTH_JWKS_URL: tokens signed with RS256 or ES256 are verified against the keys a JWKS endpoint
 * publishes (jose fetches and caches them); unknown keys and the wrong algorithms are refused.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { beforeAll, expect, test } from 'vitest';
import { admission, hocuspocusClient } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import { startTestServer } from '../support/server.js';
import { mintToken, TEST_SECRET } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

let jwksUrl: string;
const keys: Record<string, CryptoKey> = {};

beforeAll(async () => {
  const rsa = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  keys.rsa = rsa.privateKey;
  keys.ec = ec.privateKey;
  const jwks = {
    keys: [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
    ],
  };
  const server = createServer((_, response) => {
    response.writeHead(200, { 'Content-Type': 'application/json' });
    response.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
});

function sign(alg: 'RS256' | 'ES256', kid: string, key: CryptoKey): Promise<string> {
  return new SignJWT({ tenant: 'acme', docs: { '*': 'write' } })
    .setProtectedHeader({ alg, kid })
    .setSubject('user-1')
    .setExpirationTime('1h')
    .sign(key);
}

test('RS256 and ES256 tokens from the JWKS are accepted', async () => {
  const server = await startTestServer({ authSecret: undefined, authJwksUrl: jwksUrl });
  const rs = hocuspocusClient(server, 'doc', await sign('RS256', 'rsa-1', keys.rsa!));
  const es = hocuspocusClient(server, 'doc', await sign('ES256', 'ec-1', keys.ec!));
  expect(await Promise.all([admission(rs), admission(es)])).toEqual(['read-write', 'read-write']);
});

test('keys the JWKS does not publish, and HS256 without a secret, are refused', async () => {
  const server = await startTestServer({ authSecret: undefined, authJwksUrl: jwksUrl });
  const stranger = await generateKeyPair('RS256');
  const unknown = hocuspocusClient(server, 'doc', await sign('RS256', 'rsa-1', stranger.privateKey));
  const hs = hocuspocusClient(server, 'doc', await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } }, TEST_SECRET));
  await waitFor(() => unknown.failures.length > 0 && hs.failures.length > 0);
  expect(unknown.failures).toEqual(['Unauthorized']);
  expect(hs.failures).toEqual(['Unauthorized']);
});

test('with both a secret and a JWKS, each token is checked by the key its algorithm names', async () => {
  const server = await startTestServer({ authJwksUrl: jwksUrl });
  const rs = hocuspocusClient(server, 'doc', await sign('RS256', 'rsa-1', keys.rsa!));
  const hs = hocuspocusClient(server, 'doc', await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } }));
  expect(await Promise.all([admission(rs), admission(hs)])).toEqual(['read-write', 'read-write']);
});
