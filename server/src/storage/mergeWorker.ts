/**
 * The compaction thread: merges a document's stored updates into one snapshot (apply to a fresh Y.Doc, encode), so
 * the event loop serving clients never replays a long log. Never `Y.mergeUpdates`: it is super-linear on long
 * queues. Started by UpdateMerger; one job at a time, in order.
 */
import { parentPort } from 'node:worker_threads';
import * as Y from 'yjs';
import type { MergeReply, MergeRequest } from './UpdateMerger.js';

const port = parentPort;
if (!port) throw new Error('mergeWorker runs as a worker thread (see UpdateMerger)');

port.on('message', ({ id, bytes, ends }: MergeRequest) => {
  const doc = new Y.Doc();
  try {
    Y.transact(doc, () => {
      let start = 0;
      for (const end of ends) {
        Y.applyUpdate(doc, bytes.subarray(start, end));
        start = end;
      }
    });
    const snapshot = Y.encodeStateAsUpdate(doc);
    port.postMessage({ id, snapshot } satisfies MergeReply, [snapshot.buffer as ArrayBuffer]);
  } catch (error) {
    port.postMessage({ id, error: (error as Error)?.message ?? String(error) } satisfies MergeReply);
  } finally {
    doc.destroy();
  }
});
