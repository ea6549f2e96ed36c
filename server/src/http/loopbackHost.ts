/**
 * Dev mode answers only requests addressed to a loopback name. It hands out tokens to anyone who asks and binds to
 * loopback only, but a page on evil.example whose DNS name is rebound to 127.0.0.1 reaches it from the victim's own
 * browser as "same origin" — with `Host: evil.example`. Requiring the `Host` header to be localhost, 127.0.0.1 or
 * [::1] (any port) refuses those requests and WebSocket upgrades with 403.
 */
import type { MiddlewareHandler } from 'hono';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** `localhost`, `127.0.0.1` or `[::1]`, with or without a port. A missing header is not loopback. */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host.trim().toLowerCase())?.[1];
  return name !== undefined && LOOPBACK_NAMES.has(name);
}

export function notLoopbackMessage(host: string | undefined): string {
  return `Host ${host ?? '(none)'} is not a loopback name: in dev mode the server answers only localhost, 127.0.0.1 or [::1] (DNS rebinding protection); configure CONCORD_AUTH_SECRET to serve other names`;
}

/** Refuses every request whose `Host` is not a loopback name with 403 and a JSON error. */
export const loopbackHostOnly: MiddlewareHandler = async (c, next) => {
  const host = c.req.header('host');
  if (!isLoopbackHostHeader(host)) return c.json({ error: notLoopbackMessage(host) }, 403);
  return next();
};
