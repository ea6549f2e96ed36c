/**
 * Tells each socket whose it is once a document on it authenticated (Hocuspocus `connected`, after AuthExtension put
 * the verified user in the context), so the per-user connection cap counts verified users only. Runs once per
 * document a socket opens, never per message; a socket is counted for the user of its first document.
 */
import type { Extension, connectedPayload } from '@hocuspocus/server';
import { ServerSocket } from '../sockets/ServerSocket.js';
import type { ConnectionContext } from './AuthExtension.js';

export class LimitsExtension implements Extension {
  readonly extensionName = 'concord-limits';

  async connected({ connection, context }: connectedPayload): Promise<void> {
    const user = (context as Partial<ConnectionContext> | undefined)?.user?.id;
    const socket = connection.webSocket;
    if (user !== undefined && socket instanceof ServerSocket) socket.identify(user);
  }
}
