/**
 * Structured lifecycle logs: documents loaded, stored and unloaded, clients connected and gone. Per-message events
 * are left to metrics; logs stay readable under load.
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
    this.log.info({ document: documentName, user: context.user?.id, access: context.access, socket: socketId }, 'client joined');
  }

  async onDisconnect({ documentName, context, socketId, clientsCount }: onDisconnectPayload<ConnectionContext>): Promise<void> {
    this.log.info({ document: documentName, user: context.user?.id, socket: socketId, remaining: clientsCount }, 'client left');
  }

  async afterLoadDocument({ documentName }: afterLoadDocumentPayload): Promise<void> {
    this.log.debug({ document: documentName }, 'document loaded');
  }

  async afterUnloadDocument({ documentName }: afterUnloadDocumentPayload): Promise<void> {
    this.log.debug({ document: documentName }, 'document unloaded');
  }
}
