/**
 * Stock Hocuspocus providers and stock y-websocket providers editing the same documents concurrently, with some
 * of them offline for a while, converge: every replica ends with the same content and state vector as the
 * server, and a fresh client after a restart (a reload from LevelDB) sees the same.
 */
import * as prng from 'lib0/prng';
import { expect, test } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient, serverDocument, sharedSocket, yClient } from '../support/clients.js';
import { contentOf, randomEdit, seededRandom } from '../support/random.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const ROUNDS = 20;
const EDITS_PER_ROUND = 5;

test('hocuspocus and y-websocket clients converge under concurrent random edits and disconnects', async () => {
  const { gen } = seededRandom('convergence');
  const server = await startTestServer();
  const token = await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } });
  const socket = sharedSocket(server);
  const hp = [hocuspocusClient(server, 'shared', token, { websocket: socket }), hocuspocusClient(server, 'shared', token)];
  const ys = [yClient(server, 'shared', token), yClient(server, 'shared', token)];
  await Promise.all([...hp.map((c) => c.whenSynced()), ...ys.map((c) => c.whenSynced())]);
  const docs = [...hp.map((c) => c.doc), ...ys.map((c) => c.doc)];

  for (let round = 0; round < ROUNDS; round++) {
    // Now and then a y-websocket client goes offline for a round and keeps editing.
    const offline = prng.bool(gen) ? prng.oneOf(gen, ys) : undefined;
    offline?.provider.disconnect();
    for (let i = 0; i < EDITS_PER_ROUND; i++) randomEdit(gen, prng.oneOf(gen, docs));
    offline?.provider.connect();
    await new Promise((resolve) => setImmediate(resolve));
  }

  const server0 = () => serverDocument(server, 'acme', 'shared')!;
  await waitFor(
    () => docs.every((doc) => Buffer.from(Y.encodeStateVector(doc)).equals(Buffer.from(Y.encodeStateVector(server0())))),
    { timeoutMs: 15_000, message: 'state vectors never matched' },
  );
  const expected = contentOf(server0());
  for (const doc of docs) expect(contentOf(doc)).toEqual(expected);

  await server.restart();
  const fresh = hocuspocusClient(server, 'shared', token);
  await fresh.whenSynced();
  expect(contentOf(fresh.doc)).toEqual(expected);
  const freshY = yClient(server, 'shared', token);
  await freshY.whenSynced();
  expect(contentOf(freshY.doc)).toEqual(expected);
});
