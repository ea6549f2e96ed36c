/**
 * The server clamps field stamps from the future (server/src/extensions/StampClampExtension.ts): a device whose clock
 * runs an hour ahead writes a field; the server re-writes that entry with its own clock (same value and author), so
 * a later honest write made without seeing it still wins. Stamps within FUTURE_STAMP_ALLOWANCE_MS are left alone,
 * and loading the document from storage clamps nothing again.
 */
import { fieldEntries, readField, writeField } from '@concord/engine';
import { FUTURE_STAMP_ALLOWANCE_MS } from '@concord/server';
import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient } from '../support/clients.js';
import { startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const HOUR_MS = 3_600_000;

async function client(server: Awaited<ReturnType<typeof startTestServer>>, sub: string, doc?: Y.Doc) {
  const token = await mintToken({ sub, name: sub.toUpperCase(), tenant: 'acme', docs: { '*': 'write' } });
  const connected = hocuspocusClient(server, 'task-1', token, doc ? { doc } : {});
  await connected.whenSynced();
  return connected;
}

describe('stamps from the future', () => {
  it('are clamped to the server clock, so a later honest write made without seeing them wins', async () => {
    const server = await startTestServer();
    const fast = await client(server, 'fast');
    const fields = fast.doc.getMap('fields');
    const before = Date.now();
    writeField(fields, 'status', 'from the future', { by: { id: 'fast', name: 'FAST' }, now: Date.now() + HOUR_MS });

    // The server re-wrote it: one entry, stamped with the server's clock, same value and author.
    const clamped = await waitFor(() => {
      const entries = fieldEntries(fields, 'status');
      return entries.length === 1 && entries[0]!.stamp[0] < Date.now() + FUTURE_STAMP_ALLOWANCE_MS ? entries[0] : null;
    });
    expect(clamped.value).toBe('from the future');
    expect(clamped.by).toBe('fast');
    expect(clamped.name).toBe('FAST');
    expect(clamped.stamp[0]).toBeGreaterThanOrEqual(before);
    expect(clamped.writer).toMatch(new RegExp(`\\.${fast.doc.clientID}$`));

    // An honest device that never saw the future write (offline since before it) writes a moment later.
    const honestDoc = new Y.Doc();
    await new Promise((resolve) => setTimeout(resolve, 5));
    writeField(honestDoc.getMap('fields'), 'status', 'honest and later', { by: { id: 'honest' } });
    const honest = await client(server, 'honest', honestDoc);
    await waitFor(() => readField(fields, 'status') === 'honest and later');
    expect(readField(honest.doc.getMap('fields'), 'status')).toBe('honest and later');

    // Within the allowance nothing is rewritten; a restart (loading from storage) clamps nothing either.
    const near = Date.now() + FUTURE_STAMP_ALLOWANCE_MS / 2;
    writeField(fields, 'due', '2027-01-01', { now: near });
    await waitFor(() => readField(honest.doc.getMap('fields'), 'due') === '2027-01-01');
    expect(fieldEntries(honest.doc.getMap('fields'), 'due').map((entry) => entry.stamp[0])).toEqual([near]);
    fast.provider.destroy();
    honest.provider.destroy();
    await server.restart();
    const again = await client(server, 'again');
    expect(readField(again.doc.getMap('fields'), 'status')).toBe('honest and later');
    expect(fieldEntries(again.doc.getMap('fields'), 'due').map((entry) => entry.stamp[0])).toEqual([near]);
  });

  it('without the clamp the future write would win: the honest write is the older stamp', () => {
    // The same two writes on plain replicas (no server): the hour-ahead stamp beats the honest one.
    const fast = new Y.Doc();
    const honest = new Y.Doc();
    writeField(fast.getMap('fields'), 'status', 'from the future', { now: Date.now() + HOUR_MS });
    writeField(honest.getMap('fields'), 'status', 'honest and later');
    Y.applyUpdate(honest, Y.encodeStateAsUpdate(fast));
    expect(readField(honest.getMap('fields'), 'status')).toBe('from the future');
  });
});
