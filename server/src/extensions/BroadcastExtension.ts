/**
 * How a loaded document reaches its viewers. Every document sends what changed in an event-loop turn as one update
 * encoded from the document itself, not a merge of the turn's updates (seams/hocuspocus.ts
 * `broadcastChangesPerTurn`), and tells the socket layer which frame it is broadcasting, so that frame is translated
 * and compressed once for all its recipients (sockets/compression.ts). Registered first: every other extension sees
 * documents that already broadcast this way.
 */
import type { afterLoadDocumentPayload, Extension } from '@hocuspocus/server';
import { broadcastChangesPerTurn, observeBroadcasts } from '../seams/hocuspocus.js';
import { broadcastFrames } from '../sockets/compression.js';

export class BroadcastExtension implements Extension {
  readonly extensionName = 'concord-broadcast';

  async afterLoadDocument({ document }: afterLoadDocumentPayload): Promise<void> {
    broadcastChangesPerTurn(document);
    observeBroadcasts(document, broadcastFrames);
  }
}
