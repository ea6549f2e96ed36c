/**
 * Workspace last-seen times outlive the server process (issue 15 point 3): Bob leaves the workspace of a real
 * `concord serve` and Alice sees him offline; the server is killed (`kill -9`: a departure is shown once it is
 * stored), a new process starts on the same data (LevelDB, and PostgreSQL), and Carol, joining it, sees Bob offline
 * with the same last-seen time.
 */
import type { Member, SyncClient } from '@concord/client';
import { describe, expect, it } from 'vitest';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { makeTempDir } from '../support/server.js';
import { spawnServer } from '../support/serverProcess.js';
import { waitFor } from '../support/wait.js';
import { freshIndexedDB, makeClient, token } from './harness.js';

function member(client: SyncClient, id: string): Member | undefined {
  return client.workspace().members().find((entry) => entry.user.id === id);
}

async function lastSeenSurvivesRestart(storage: { dataDir: string; databaseUrl?: string }): Promise<void> {
  freshIndexedDB();
  const first = await spawnServer(storage);
  const alice = makeClient(first, { token: await token('alice') });
  const bob = makeClient(first, { token: await token('bob') });
  for (const client of [alice, bob]) client.workspace();
  await waitFor(() => member(alice, 'bob')?.status === 'online');

  const beforeLeaving = Date.now();
  await bob.destroy();
  await waitFor(() => member(alice, 'bob')?.status === 'offline');
  const seenAt = member(alice, 'bob')?.lastSeenAt;
  expect(seenAt).toBeGreaterThanOrEqual(beforeLeaving);

  await first.kill('SIGKILL');
  const second = await spawnServer(storage);
  const carol = makeClient(second, { token: await token('carol') });
  carol.workspace();
  await waitFor(() => member(carol, 'carol')?.status === 'online');
  await waitFor(() => member(carol, 'bob') !== undefined);
  expect(member(carol, 'bob')).toMatchObject({ status: 'offline', lastSeenAt: seenAt, user: { name: 'BOB' } });
  // Alice never left (the server died under her): she is not listed as gone.
  expect(member(carol, 'alice')).toBeUndefined();
}

describe('workspace last-seen across a server restart', () => {
  it('LevelDB: someone who left is still listed as last seen, at the same time', async () => {
    await lastSeenSurvivesRestart({ dataDir: await makeTempDir() });
  });
});

describePostgres('workspace last-seen across a server restart on PostgreSQL', () => {
  it('someone who left is still listed as last seen, at the same time', async () => {
    const { url } = await freshSchema();
    await lastSeenSurvivesRestart({ dataDir: await makeTempDir(), databaseUrl: url });
  });
});
