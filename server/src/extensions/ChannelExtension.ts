/**
 * Channel subscriptions (engine/src/channels.ts): a subscriber's `since` request, sent after each authentication,
 * is answered from the channel's log with the events it missed. Anything else a client sends on a channel, and
 * every stateless message on ordinary documents, is left to other extensions. Channel documents hold no data:
 * authentication makes every channel connection read-only and storage skips them.
 */
import type { Extension, onStatelessPayload } from '@hocuspocus/server';
import { isChannelDocument, parseSinceRequest } from '@concord/engine';
import type { ChannelHub } from '../channels/ChannelHub.js';

export class ChannelExtension implements Extension {
  readonly extensionName = 'concord-channels';
  private readonly hub: ChannelHub;

  constructor(hub: ChannelHub) {
    this.hub = hub;
  }

  async onStateless({ connection, documentName, payload }: onStatelessPayload): Promise<void> {
    if (!isChannelDocument(documentName)) return;
    const request = parseSinceRequest(payload);
    if (request) connection.sendStateless(this.hub.replay(documentName, request));
  }
}
