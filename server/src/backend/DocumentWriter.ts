/**
 * Writes from the app backend (HTTP `POST /api/documents/<name>/changes` and `server.changeDocument`) into a
 * document, through Hocuspocus like any client: the document is loaded if it is not (a direct connection keeps it
 * loaded meanwhile), the changes are applied in one transaction (engine `applyDocumentChanges`), broadcast to every
 * viewer at once and appended to storage. The call resolves once the write is durable, or after
 * `DURABLE_WAIT_MS` with `durable: false` while storage is failing (the change is kept and stored when it recovers,
 * as for clients).
 */
import type { DirectConnection, Hocuspocus } from '@hocuspocus/server';
import {
  Access,
  applyDocumentChanges,
  assertDocumentName,
  assertTenant,
  documentChangesSchema,
  ConcordError,
  ErrorKind,
  qualifyDocumentName,
  SERVER_API_ORIGIN,
  type DocumentChanges,
} from '@concord/engine';
import type { ConnectionContext } from '../extensions/AuthExtension.js';
import type { GroupCommitter } from '../storage/GroupCommitter.js';

/** How long a change waits for storage before the caller is told it is applied but not yet durable. */
export const DURABLE_WAIT_MS = 5_000;

export interface DocumentChangeResult {
  readonly document: string;
  /** Fields and records written. */
  readonly applied: number;
  /** The change is stored (false: storage is failing; it is kept in memory and stored when storage returns). */
  readonly durable: boolean;
}

/** Who makes a change from the backend: shown to lifecycle hooks as the change's author. */
export interface BackendActor {
  readonly id: string;
  readonly name: string;
}

export class DocumentWriter {
  private readonly hocuspocus: Hocuspocus;
  private readonly committer: GroupCommitter;

  constructor(hocuspocus: Hocuspocus, committer: GroupCommitter) {
    this.hocuspocus = hocuspocus;
    this.committer = committer;
  }

  /** Validates `changes` (throws a ConcordError or a zod error message as ConcordError) and applies them. */
  async change(tenant: string, name: string, changes: unknown, actor: BackendActor): Promise<DocumentChangeResult> {
    assertTenant(tenant);
    assertDocumentName(name);
    const parsed = documentChangesSchema.safeParse(changes);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'changes'}: ${issue.message}`).join('; ');
      throw new ConcordError(ErrorKind.InvalidField, detail);
    }
    const qualified = qualifyDocumentName(tenant, name);
    const context: ConnectionContext = { user: actor, tenant, documentName: name, access: Access.Write };
    const connection = await this.hocuspocus.openDirectConnection(qualified, context);
    let applied: number;
    try {
      const document = connection.document;
      if (!document) throw new Error(`document ${name} closed before the change`);
      applied = applyDocumentChanges(document, parsed.data as DocumentChanges, { ...SERVER_API_ORIGIN, context });
    } finally {
      await this.release(connection);
    }
    return { document: name, applied, durable: await this.durable(qualified) };
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
    const ticket = this.committer.lastPendingTicket(qualified);
    if (ticket === 0) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(resolve, DURABLE_WAIT_MS, false);
    });
    try {
      return await Promise.race([this.committer.whenDurable(ticket).then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
