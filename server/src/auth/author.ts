/**
 * Who made a change, from its Yjs transaction origin: the authenticated user of the connection it came over (a
 * Hocuspocus connection origin, its context set by AuthExtension), or the actor of a server write (DocumentWriter's
 * origins carry the same context). Null for changes of no one (storage, another instance's relay).
 */
import { isTransactionOrigin } from '@hocuspocus/server';

export interface Author {
  readonly id: string;
  readonly name: string;
}

export function authorOf(origin: unknown): Author | null {
  const context = isTransactionOrigin(origin) && origin.source === 'connection' ? origin.connection.context : (origin as { context?: unknown } | null)?.context;
  const user = (context as { user?: { id?: unknown; name?: unknown } } | undefined)?.user;
  if (typeof user?.id !== 'string') return null;
  return { id: user.id, name: typeof user.name === 'string' ? user.name : user.id };
}
