/**
 * Channel subscriptions (engine/src/channels.ts): a subscriber's `since` request, sent after each authentication,
 * is answered from the channel's stored log with the events it missed (live events that reach the client before the
 * answer wait for it there). A read that fails is logged and left unanswered: the client asks again when it reconnects. Anything else a client sends on a channel, and
 * every stateless message on ordinary documents, is left to other extensions. Channel documents hold no data:
 * authentication makes every channel connection read-only and storage skips them.
 */
import type { Extension, onStatelessPayload } from '@hocuspocus/server';
import { isChannelDocument, parseSinceRequest } from '@concord/engine';
import { WebSocket } from 'ws';
import type { ChannelHub } from '../channels/ChannelHub.js';
import type { Logger } from '../logger.js';

export class ChannelExtension implements Extension {
  readonly extensionName = 'concord-channels';
  private readonly hub: ChannelHub;
  private readonly log: Logger;

  constructor(hub: ChannelHub, log: Logger) {
    this.hub = hub;
    this.log = log;
  }

  async onStateless({ connection, documentName, payload }: onStatelessPayload): Promise<void> {
    if (!isChannelDocument(documentName)) return;
    const request = parseSinceRequest(payload);
    if (!request) return;
    let answer: string;
    try {
      answer = await this.hub.replay(documentName, request);
    } catch (error) {
      this.log.error({ err: error, document: documentName }, 'a channel replay could not be read');
      return;
    }
    // Equal requests share one read and wake together: a socket closed meanwhile (one that asked 150 times and never
    // read is closed at its send budget by the first answers) gets no more, so no further answer frame is encoded.
    if (connection.webSocket.readyState !== WebSocket.OPEN) return;
    connection.sendStateless(answer);
  }
}
