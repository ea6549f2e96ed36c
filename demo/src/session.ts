/**
 * Who is signed in, and the token that proves it.
 *
 * The demo signs in against the server's dev-mode endpoint (`GET /api/dev/token`), which grants write on every
 * document of tenant `demo`. Name and token stay in localStorage, so a reload (or a restart with the network
 * down) keeps the person signed in and the app opens on its cached documents. The token function hands the
 * client the stored token and fetches a new one only when there is none, it has expired, or the server refused it.
 */
import type { TokenSource } from '@concord/client';
import { colorForUser, type PresenceUser } from '@concord/engine';

const STORAGE_KEY = 'concord-demo-session';
/** Refetch a token this long before its `exp`, so a reconnect never presents one that expires mid-handshake. */
const TOKEN_EXPIRY_MARGIN_MS = 60_000;

export interface Session {
  readonly user: PresenceUser;
  token: string;
}

/** The user id for a display name: the name, lower-cased and slugged, so "Alice" is `alice` in every window. */
export function userIdFor(name: string): string {
  const slug = name
    .trim()
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug || 'guest';
}

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<{ user: PresenceUser; token: string }>;
    const user = parsed.user;
    if (!user || typeof user.id !== 'string' || typeof user.name !== 'string' || typeof parsed.token !== 'string') {
      return null;
    }
    return { user: { id: user.id, name: user.name, color: colorForUser(user.id) }, token: parsed.token };
  } catch {
    return null;
  }
}

function saveSession(session: Session): void {
  localStorage.setItem(STORAGE_KEY, JSON.stringify({ user: session.user, token: session.token }));
}

export function clearSession(): void {
  localStorage.removeItem(STORAGE_KEY);
}

async function fetchDevToken(user: PresenceUser): Promise<string> {
  const query = new URLSearchParams({ user: user.id, name: user.name });
  let response: Response;
  try {
    response = await fetch(`/api/dev/token?${query}`);
  } catch (error) {
    throw new Error('cannot reach the server; is it running?', { cause: error });
  }
  if (!response.ok) {
    throw new Error(`the server refused a dev token (${response.status}); is it running without an auth secret?`);
  }
  const body = (await response.json()) as { token?: unknown };
  if (typeof body.token !== 'string') throw new Error('the server answered without a token');
  return body.token;
}

/** Signs in as `name`: fetches a token, stores the session, returns it. */
export async function signIn(name: string): Promise<Session> {
  const trimmed = name.trim();
  if (!trimmed) throw new Error('enter a name');
  const id = userIdFor(trimmed);
  const user: PresenceUser = { id, name: trimmed, color: colorForUser(id) };
  const session: Session = { user, token: await fetchDevToken(user) };
  saveSession(session);
  return session;
}

/** Fetches a fresh token for `session` and stores it; throws when the server cannot be reached or refuses. */
async function renewToken(session: Session): Promise<void> {
  session.token = await fetchDevToken(session.user);
  saveSession(session);
}

/** The `exp` claim of a JWT in milliseconds, or undefined when it has none or is not a JWT. */
function expiresAtMs(token: string): number | undefined {
  try {
    const payload = token.split('.')[1];
    if (!payload) return undefined;
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown };
    return typeof json.exp === 'number' ? json.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client's token function for `session`: the stored token, or a fresh one when the server refused the last one
 * (`refused`), or it is about to expire. When fetching fails (the server is down), the stored token is returned:
 * the connection attempt fails on its own and the client retries.
 */
export function tokenFor(session: Session): TokenSource {
  return async ({ refused }) => {
    const exp = expiresAtMs(session.token);
    const stale = exp !== undefined && exp - TOKEN_EXPIRY_MARGIN_MS < Date.now();
    if (refused || stale) await renewToken(session).catch(() => undefined);
    return session.token;
  };
}
