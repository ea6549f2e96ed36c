/**
 * Structured lifecycle logs at `debug`: documents loaded and unloaded, clients joining and leaving them. Per-message
 * events are left to metrics, and so are joins and leaves at the default level: thousands of people opening a
 * dashboard would otherwise write two lines each (and cost the server more than authenticating them).
 */
import type {
  afterLoadDocumentPayload,
  afterUnloadDocumentPayload,
  connectedPayload,
  Extension,
  onDisconnectPayload,
} from '@hocuspocus/server';
import type { Logger } from '../logger.js';
import type { ConnectionContext } from './AuthExtension.js';

export class LoggingExtension implements Extension {
  readonly extensionName = 'concord-logging';
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log.child({ component: 'documents' });
  }

  async connected({ documentName, context, socketId }: connectedPayload<ConnectionContext>): Promise<void> {
    this.log.debug({ document: documentName, user: context.user?.id, access: context.access, socket: socketId }, 'client joined');
  }

  async onDisconnect({ documentName, context, socketId, clientsCount }: onDisconnectPayload<ConnectionContext>): Promise<void> {
    this.log.debug({ document: documentName, user: context.user?.id, socket: socketId, remaining: clientsCount }, 'client left');
  }

  async afterLoadDocument({ documentName }: afterLoadDocumentPayload): Promise<void> {
    this.log.debug({ document: documentName }, 'document loaded');
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    this.log.debug({ document: documentName }, 'document unloaded');
  }
}
