/**
 * Writes from the app backend into documents — field changes (HTTP `POST /api/documents/<name>/changes`,
 * `server.changeDocument`) and notifications into a user's inbox (`POST /api/users/<id>/notifications`,
 * `server.notify`) — through Hocuspocus like any client: the document is loaded if it is not (a direct connection keeps it
 * loaded meanwhile), the changes are applied in one transaction (engine `applyDocumentChanges`), broadcast to every
 * viewer at once and appended to storage. The call resolves once the write is durable, or after
 * `DURABLE_WAIT_MS` with `durable: false` while storage is failing (the change is kept and stored when it recovers,
 * as for clients).
 */
import { randomUUID } from 'node:crypto';
import type { DirectConnection, Document, Hocuspocus } from '@hocuspocus/server';
import {
  Access,
  applyDocumentChanges,
  assertDocumentName,
  assertTenant,
  documentChangesSchema,
  ConcordError,
  ErrorKind,
  FIELDS_ROOT,
  InboxDocument,
  inboxDocumentName,
  notificationInput,
  notificationPreference,
  preferenceField,
  readField,
  qualifyDocumentName,
  SERVER_API_ORIGIN,
  type DocumentChanges,
} from '@concord/engine';
import type { ConnectionContext } from '../extensions/AuthExtension.js';
import type { Durability } from '../durability/Durability.js';

/** How long a change waits for storage before the caller is told it is applied but not yet durable. */
export const DURABLE_WAIT_MS = 5_000;

export interface DocumentChangeResult {
  readonly document: string;
  /** Fields and records written. */
  readonly applied: number;
  /** The change is stored (false: storage is failing; it is kept in memory and stored when storage returns). */
  readonly durable: boolean;
}

export interface NotificationResult {
  readonly user: string;
  /** The notification's id in the inbox; null when not delivered. */
  readonly id: string | null;
  /** False when the user switched this kind of notification off. */
  readonly delivered: boolean;
  readonly durable: boolean;
}

function describeIssues(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  return error.issues.map((issue) => `${issue.path.map(String).join('.') || 'body'}: ${issue.message}`).join('; ');
}

/** Who makes a change from the backend: shown to lifecycle hooks as the change's author. */
export interface BackendActor {
  readonly id: string;
  readonly name: string;
}

export class DocumentWriter {
  private readonly hocuspocus: Hocuspocus;
  private readonly durability: Durability;

  constructor(hocuspocus: Hocuspocus, durability: Durability) {
    this.hocuspocus = hocuspocus;
    this.durability = durability;
  }

  /** Validates `changes` (a ConcordError says what is wrong; nothing is written) and applies them. */
  async change(tenant: string, name: string, changes: unknown, actor: BackendActor): Promise<DocumentChangeResult> {
    const parsed = documentChangesSchema.safeParse(changes);
    if (!parsed.success) throw new ConcordError(ErrorKind.InvalidField, describeIssues(parsed.error));
    const { result: applied, durable } = await this.write(tenant, name, actor, (document, origin) =>
      applyDocumentChanges(document, parsed.data as DocumentChanges, origin),
    );
    return { document: name, applied, durable };
  }

  /**
   * Adds a notification to `userId`'s inbox, unless the user switched its kind off (then `delivered` is false and
   * nothing is written). With `options.id`, a notification of that id already in the inbox is written over.
   */
  async notify(tenant: string, userId: string, notification: unknown, actor: BackendActor, options: { id?: string } = {}): Promise<NotificationResult> {
    const parsed = notificationInput.safeParse(notification);
    if (!parsed.success) throw new ConcordError(ErrorKind.InvalidField, describeIssues(parsed.error));
    const input = parsed.data;
    const name = inboxDocumentName(userId);
    // A given id makes sending again harmless: the same notification is written over itself, not added twice.
    const id = options.id ?? randomUUID();
    const { result: delivered, durable } = await this.write(tenant, name, actor, (document, origin) => {
      const preference = notificationPreference.safeParse(readField(document.getMap(FIELDS_ROOT), preferenceField(input.kind)));
      if (preference.success && !preference.data.enabled) return false;
      InboxDocument.open(document).collection('notifications').create({ ...input, createdAt: Date.now() }, id, origin);
      return true;
    });
    return { user: userId, id: delivered ? id : null, delivered, durable };
  }

  /** Runs `write` on the loaded document in one transaction tagged as the server API's, on behalf of `actor`. */
  private async write<T>(
    tenant: string,
    name: string,
    actor: BackendActor,
    write: (document: Document, origin: unknown) => T,
  ): Promise<{ result: T; durable: boolean }> {
    return this.withDocument(tenant, name, actor, (document, origin) => document.transact(() => write(document, origin), origin));
  }

  /**
   * Runs `use` on the document, loaded (and kept loaded) meanwhile, with the origin that tags a change as the server
   * API's on behalf of `actor`; then waits until what the document holds is durable (see `durable`).
   */
  async withDocument<T>(
    tenant: string,
    name: string,
    actor: BackendActor,
    use: (document: Document, origin: unknown) => T | Promise<T>,
  ): Promise<{ result: T; durable: boolean }> {
    assertTenant(tenant);
    assertDocumentName(name);
    const qualified = qualifyDocumentName(tenant, name);
    const context: ConnectionContext = { user: actor, tenant, documentName: name, access: Access.Write };
    const connection = await this.hocuspocus.openDirectConnection(qualified, context);
    let result: T;
    try {
      const document = connection.document;
      if (!document) throw new Error(`document ${name} closed before the change`);
      result = await use(document, { ...SERVER_API_ORIGIN, context });
    } finally {
      await this.release(connection);
    }
    return { result, durable: await this.durable(qualified) };
  }

  /**
   * Lets go of the document: unloaded if nobody else has it open, once storage has its changes. While storage fails
   * the storage extension keeps it loaded instead (it refuses the unload, which is not an error here).
   */
  private async release(connection: DirectConnection): Promise<void> {
    try {
      await connection.disconnect();
    } catch (error) {
      if (error instanceof Error) throw error;
    }
  }

  private async durable(qualified: string): Promise<boolean> {
    const barrier = this.durability.barrier(qualified);
    if (this.durability.passed(barrier)) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(resolve, DURABLE_WAIT_MS, false);
    });
    try {
      return await Promise.race([this.durability.whenPassed(barrier).then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
