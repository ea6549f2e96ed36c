/**
 * Keystrokes a client sends together go to Hocuspocus as one update (server/src/sockets/UpdateBatch.ts), and the
 * client cannot tell: every message it sent is acknowledged exactly once, none before it is durable, and the text is
 * what it typed. What changes is the work: the server applies far fewer updates than keystrokes.
 */
import { LevelStore, type DocumentStore } from '@concord/server';
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import * as decoding from 'lib0/decoding';
import { expect, test } from 'vitest';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { onCleanup } from '../support/cleanup.js';
import { makeTempDir, startTestServer } from '../support/server.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const KEYSTROKES = 300;
const SYNC_STATUS = 8; // Hocuspocus message type of an acknowledgement

async function clientUpdatesApplied(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^concord_document_updates_total\{source="client"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

test(`${KEYSTROKES} keystrokes sent at once: acknowledged exactly once each, only once durable, applied as a few updates`, async () => {
  const store = await LevelStore.open(await makeTempDir());
  onCleanup(() => store.close());
  let open = true;
  let release: () => void = () => {};
  const gated: DocumentStore = {
    kind: store.kind,
    load: (name) => store.load(name),
    names: (prefix) => store.names(prefix),
    append: async (batch) => {
      while (!open) await new Promise<void>((resolve) => (release = resolve));
      await store.append(batch);
    },
    compact: (name, snapshot, replaced) => store.compact(name, snapshot, replaced),
    close: async () => {},
  };
  const server = await startTestServer({ store: gated });

  let acknowledgements = 0;
  class CountingWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols);
      this.on('message', (data: ArrayBuffer | Buffer) => {
        const bytes = new Uint8Array(data instanceof ArrayBuffer ? data : data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
        if (bytes.length < 2) return; // a ping
        const decoder = decoding.createDecoder(bytes);
        decoding.readVarString(decoder);
        if (decoding.readVarUint(decoder) === SYNC_STATUS) acknowledgements += 1;
      });
    }
  }
  const websocketProvider = new HocuspocusProviderWebsocket({ url: server.syncUrl, WebSocketPolyfill: CountingWebSocket });
  const doc = new Y.Doc();
  const provider = new HocuspocusProvider({ websocketProvider, name: 'notes', document: doc, token: await mintToken({ sub: 'u', tenant: 'acme', docs: { '*': 'write' } }) });
  provider.attach();
  onCleanup(() => provider.destroy());
  await waitFor(() => provider.isSynced && provider.unsyncedChanges === 0, { message: 'not synced' });
  // One keystroke acknowledged first: the socket edits the document, so what follows may be batched.
  doc.getText('t').insert(0, '>');
  await waitFor(() => provider.unsyncedChanges === 0, { message: 'the first keystroke was not acknowledged' });
  const acknowledgedBefore = acknowledgements;
  const appliedBefore = await clientUpdatesApplied(server.url);

  open = false;
  for (let i = 0; i < KEYSTROKES; i++) doc.getText('t').insert(doc.getText('t').length, String(i % 10));
  await waitFor(() => server.current.hocuspocus.documents.get('acme/notes')?.getText('t').length === KEYSTROKES + 1, { message: 'the keystrokes never reached the server' });
  expect(acknowledgements).toBe(acknowledgedBefore); // nothing is durable yet, so nothing is acknowledged
  expect(provider.unsyncedChanges).toBe(KEYSTROKES);

  open = true;
  release();
  await waitFor(() => provider.unsyncedChanges === 0, { message: 'the keystrokes were never all acknowledged' });
  await waitFor(async () => (await store.load('acme/notes')).length > 0);
  expect(acknowledgements - acknowledgedBefore).toBe(KEYSTROKES);
  const stored = new Y.Doc();
  for (const { update } of await store.load('acme/notes')) Y.applyUpdate(stored, update);
  expect(stored.getText('t').toString()).toBe(doc.getText('t').toString());
  const applied = (await clientUpdatesApplied(server.url)) - appliedBefore;
  console.log(`[batching] ${KEYSTROKES} keystrokes applied as ${applied} updates`);
  expect(applied).toBeLessThan(KEYSTROKES / 10);
});
