/**
 * Security headers on every HTTP answer (pages, static files, API JSON, errors), through Hono's secure-headers
 * middleware. The Content-Security-Policy is the one the demo works under:
 * - scripts only from this origin (the built app is module files; no inline script, no eval);
 * - styles from this origin plus inline styles: Tiptap injects its base `<style>` and the collaboration caret marks
 *   remote selections with `style` attributes; inline styles cannot run code;
 * - images and media from this origin, plus `blob:` (an attachment shown from the device's own copy before or
 *   instead of downloading it, `client.fileUrl`) and `data:` images;
 * - connections to this origin and its WebSockets (`ws:`/`wss:` of the request's own host, spelled out for browsers
 *   whose `'self'` does not cover WebSocket schemes); the service worker and manifest from this origin;
 * - never framed (`frame-ancestors 'none'`, and `X-Frame-Options: DENY` for older browsers), no plugins, no
 *   `<base>` rewriting, forms only to this origin.
 * HSTS is left to the TLS-terminating proxy: the server itself speaks plain HTTP.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

/** A Host header that is a plain name or IP with an optional port; anything else is not echoed into the policy. */
const PLAIN_HOST = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

function ownWebSockets(c: Context): string {
  const host = c.req.header('host') ?? '';
  return PLAIN_HOST.test(host) ? `ws://${host} wss://${host}` : '';
}

export const securityHeaders: MiddlewareHandler = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:', 'blob:'],
    mediaSrc: ["'self'", 'blob:'],
    connectSrc: ["'self'", ownWebSockets],
    workerSrc: ["'self'"],
    manifestSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
  xFrameOptions: 'DENY',
  referrerPolicy: 'no-referrer',
  xContentTypeOptions: 'nosniff',
  strictTransportSecurity: false,
});
