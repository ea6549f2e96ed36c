/**
 * How a loaded document reaches its viewers. Every document sends what changed in an event-loop turn as one update
 * encoded from the document itself, not a merge of the turn's updates (seams/hocuspocus.ts
 * `broadcastChangesPerTurn`), and tells the socket layer which frame it is broadcasting, so that frame is translated
 * and compressed once for all its recipients (sockets/compression.ts). Registered first, and set up when a document
 * is created (before storage fills it, which raises no update event): its update listener then runs before the one
 * that queues the durable write, so people see a change before the server stores it (the writer's acknowledgement
 * still waits for the write).
 */
import type { Extension, onLoadDocumentPayload } from '@hocuspocus/server';
import { broadcastChangesPerTurn, observeBroadcasts } from '../seams/hocuspocus.js';
import { broadcastFrames } from '../sockets/compression.js';

export class BroadcastExtension implements Extension {
  readonly extensionName = 'concord-broadcast';

  async onLoadDocument({ document }: onLoadDocumentPayload): Promise<void> {
    broadcastChangesPerTurn(document);
    observeBroadcasts(document, broadcastFrames);
  }
}
