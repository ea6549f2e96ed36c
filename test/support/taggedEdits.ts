/**
 * Tagged edits, for tests that count what survived a crash, a shutdown or an unload: a stock HocuspocusProvider
 * with no local persistence types them, and a fresh client with nothing of its own counts them afterwards.
 *
 * Each edit appends one tag `<n>` to the Y.Array `tags`, in its own transaction and its own update message, the
 * way an editor sends keystrokes: a burst per event-loop turn, never waiting for an acknowledgement in between.
 * The provider counts an update as unsynced until the server's acknowledgement for it arrives, and Concord sends
 * that only once the update is durable, in order; so after the first `unsyncedChanges === 0` every edit typed so far
 * must survive any crash, and at any moment the first `typed - unsyncedChanges` edits are acknowledged.
 */
import { HocuspocusProvider } from '@hocuspocus/provider';
import * as Y from 'yjs';
import { onCleanup } from './cleanup.js';
import { mintToken } from './tokens.js';
import { nextEvent } from './wait.js';

export const TAGS = 'tags';
/** Where `paddingBytes` go: beside the tags, never counted. */
export const PADDING = 'padding';
/** Edits per event-loop turn: a fast typist, or a paste split into keystrokes. */
const EDITS_PER_TURN = 20;
/** Generous: 1000 acknowledgements take well under a second on LevelDB or a local Postgres. */
const ACK_TIMEOUT_MS = 30_000;

export const taggedEditsToken = () => mintToken({ sub: 'tag-writer', tenant: 'acme', docs: { '*': 'write' } });

export interface Writer {
  readonly doc: Y.Doc;
  readonly provider: HocuspocusProvider;
  /** Edits typed so far. */
  typed(): number;
  /** Edits the server has acknowledged so far (acknowledgements arrive in order). */
  acknowledged(): number;
  /**
   * Types edits `<from>` .. `<to - 1>`, a burst per event-loop turn. Options: stop early once `stop()` holds; pause
   * while more than `maxInFlight` edits wait for their acknowledgement (a typist the server keeps up with), until the
   * socket first closes; make each edit `paddingBytes` heavier (text typed into `padding` in the same update), to fill
   * the log faster.
   */
  type(from: number, to: number, options?: { stop?: () => boolean; maxInFlight?: number; paddingBytes?: number }): Promise<void>;
  /** Resolves with `performance.now()` at the moment the last edit typed so far is acknowledged. */
  allAcknowledged(): Promise<number>;
  /** Resolves once the socket has closed (every frame the server managed to send has been read by then). */
  closed(): Promise<void>;
  /** The client dies: socket closed, document gone, nothing kept anywhere. */
  destroy(): void;
}

/** A provider connected and synced to `documentName`, nothing typed yet. */
export async function connectWriter(server: { readonly syncUrl: string }, documentName: string): Promise<Writer> {
  const doc = new Y.Doc();
  const provider = new HocuspocusProvider({ url: server.syncUrl, name: documentName, document: doc, token: await taggedEditsToken() });
  let destroyed = false;
  const destroy = () => {
    if (destroyed) return;
    destroyed = true;
    provider.destroy();
    doc.destroy();
  };
  onCleanup(destroy);
  let socketClosed = false;
  const closed = new Promise<void>((resolve) =>
    provider.on('close', () => {
      socketClosed = true;
      resolve();
    }),
  );
  if (!provider.isSynced) await nextEvent(provider, 'synced', () => true, ACK_TIMEOUT_MS);
  if (provider.unsyncedChanges > 0) await nextEvent(provider, 'unsyncedChanges', ({ number }: { number: number }) => number === 0, ACK_TIMEOUT_MS);
  let typed = 0;
  const tags = doc.getArray<string>(TAGS);
  return {
    doc,
    provider,
    typed: () => typed,
    acknowledged: () => typed - provider.unsyncedChanges,
    async type(from, to, { stop = () => false, maxInFlight = Number.POSITIVE_INFINITY, paddingBytes = 0 } = {}) {
      const padding = doc.getText(PADDING);
      const filler = '.'.repeat(paddingBytes);
      for (let n = from; n < to && !stop(); n++) {
        doc.transact(() => {
          tags.push([`<${n}>`]);
          if (filler) padding.insert(padding.length, filler);
        });
        typed += 1;
        if ((n + 1 - from) % EDITS_PER_TURN !== 0) continue;
        await new Promise((resolve) => setImmediate(resolve));
        // Once the socket has closed no acknowledgement comes: typing goes on unthrottled (offline, then resent).
        while (provider.unsyncedChanges > maxInFlight && !stop() && !socketClosed) {
          await Promise.race([closed, nextEvent(provider, 'unsyncedChanges', () => true, ACK_TIMEOUT_MS)]);
        }
      }
    },
    async allAcknowledged() {
      if (provider.unsyncedChanges === 0) return performance.now();
      await nextEvent(provider, 'unsyncedChanges', ({ number }: { number: number }) => number === 0, ACK_TIMEOUT_MS);
      return performance.now();
    },
    closed: () => closed,
    destroy,
  };
}

export interface Survivors {
  /** Distinct tags found. */
  readonly count: number;
  /** Tags found, in document order. */
  readonly tags: readonly string[];
  /** True when the loaded document holds updates whose dependencies never arrived (a hole in the stored log). */
  readonly hasPending: boolean;
}

/** What a fresh client, with nothing of its own, sees of `documentName` on `server`. */
export async function readSurvivors(server: { readonly syncUrl: string }, documentName: string): Promise<Survivors> {
  const doc = new Y.Doc();
  const provider = new HocuspocusProvider({ url: server.syncUrl, name: documentName, document: doc, token: await taggedEditsToken() });
  try {
    if (!provider.isSynced) await nextEvent(provider, 'synced', () => true, ACK_TIMEOUT_MS);
    const tags = doc.getArray<string>(TAGS).toArray();
    return { count: new Set(tags).size, tags, hasPending: doc.store.pendingStructs !== null || doc.store.pendingDs !== null };
  } finally {
    provider.destroy();
    doc.destroy();
  }
}

/** `<0>` .. `<count - 1>`, the tags a writer types first. */
export function expectedTags(count: number): string[] {
  return Array.from({ length: count }, (_, n) => `<${n}>`);
}
