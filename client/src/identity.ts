/**
 * Who this client is, locally: the namespace of its IndexedDB cache and its presence identity.
 *
 * The rule: explicit options win; what they leave open comes from the claims of the first token (decoded, not
 * verified). When no namespace can be found — the token function failed, or the token is not a JWT — the client
 * does not guess one: a guessed namespace could hand one user's cache to another, so documents run without a local
 * copy and say why.
 */
import type { PresenceUser } from '@concord/engine';
import { resolveUser } from './presence.js';
import { decodeTokenClaims, namespaceFromClaims, type TokenProvider } from './token.js';

export interface Identity {
  /** Prefix of the IndexedDB database names, or null when none could be found. */
  readonly namespace: string | null;
  readonly user: PresenceUser;
  /** Why there is no namespace. */
  readonly problem: string | null;
}

export interface IdentityOptions {
  readonly localNamespace?: string;
  readonly user?: Partial<PresenceUser>;
}

function complete(user: Partial<PresenceUser> | undefined): user is PresenceUser {
  return user?.id !== undefined && user.name !== undefined && user.color !== undefined;
}

export async function resolveIdentity(options: IdentityOptions, tokens: TokenProvider): Promise<Identity> {
  const { localNamespace, user } = options;
  if (localNamespace !== undefined && complete(user)) return { namespace: localNamespace, user, problem: null };
  let token: string;
  try {
    token = await tokens.peek();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      namespace: localNamespace ?? null,
      user: resolveUser(user, null),
      problem: `no local copy: the token function failed (${reason}) and no localNamespace was given`,
    };
  }
  const claims = decodeTokenClaims(token);
  const namespace = localNamespace ?? (claims ? namespaceFromClaims(claims) : null);
  return {
    namespace,
    user: resolveUser(user, claims),
    problem: namespace === null ? 'no local copy: the token carries no readable claims and no localNamespace was given' : null,
  };
}
