/**
 * The HTTP fallback of `/sync` (docs/http-fallback-design.md), for clients whose network refuses WebSockets: the same
 * Hocuspocus frames, carried by requests on the same port.
 *
 *   POST /api/sync/sessions                   201 {"session","heartbeatMs","maxBodyBytes"}: a session opens
 *   GET  /api/sync/sessions/<id>?after=<n>    the server's frames after seq n (held while there are none)
 *   POST /api/sync/sessions/<id>?seq=<s>      the client's frames, numbered from s: 200 {"received"}
 *   POST /api/sync/sessions/<id>/close        204: the client leaves
 *
 * The token travels in the Auth frame, as over a WebSocket: no header carries it, and the session id (128 random
 * bits) is what ties the requests together. Opening passes the checks of a WebSocket upgrade (SocketServer.admit);
 * a later request that carries an Origin must carry the opener's. Answers are never cached. An unknown session is 404
 * (closed, expired, or opened on another instance): the client opens a new one.
 */
import type { IncomingMessage } from 'node:http';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import type { Metrics } from '../metrics.js';
import { HttpSession } from '../sockets/HttpSession.js';
import { isOriginAllowed, type Refusal } from '../sockets/SocketServer.js';

export const SYNC_SESSIONS_PATH = '/api/sync/sessions';
/** The header of the opening answer that names the session (for sticky routing in a load balancer). */
export const SESSION_HEADER = 'Concord-Session';

/** What the routes need of the socket server. */
export interface SyncSessions {
  openSession(request: IncomingMessage): HttpSession | Refusal;
  session(id: string): HttpSession | undefined;
}

export interface SyncApiOptions {
  readonly sessions: SyncSessions;
  readonly metrics: Metrics;
  readonly heartbeatMs: number;
  /** CONCORD_MAX_MESSAGE_BYTES: a POST holds at most one such frame and its length. */
  readonly maxMessageBytes: number;
  /** CONCORD_ALLOWED_ORIGINS (undefined: same origin only). */
  readonly allowedOrigins: readonly string[] | undefined;
}

/** Room for the length prefix of the largest frame and a few small frames sent with it. */
const BODY_OVERHEAD_BYTES = 1024;
const FRAMES = 'application/octet-stream';

type Kind = 'open' | 'poll' | 'send' | 'close';

function incoming(c: Context): IncomingMessage {
  return (c.env as { incoming: IncomingMessage }).incoming;
}

export function mountSyncApi(app: Hono, options: SyncApiOptions): void {
  const { sessions, metrics } = options;
  const maxBodyBytes = options.maxMessageBytes + BODY_OVERHEAD_BYTES;
  const counted = (kind: Kind, response: Response) => {
    metrics.httpSyncRequests.inc({ kind, status: String(response.status) });
    response.headers.set('Cache-Control', 'no-store');
    return response;
  };

  /** CORS for allowed cross-origin callers (same origin, the default, needs none). */
  const cors: MiddlewareHandler = async (c, next) => {
    const origin = c.req.header('origin');
    const crossOrigin = origin !== undefined && options.allowedOrigins !== undefined && isOriginAllowed(incoming(c), options.allowedOrigins);
    if (c.req.method === 'OPTIONS') {
      if (!crossOrigin) return c.json({ error: `origin ${origin} is not allowed (CONCORD_ALLOWED_ORIGINS)` }, 403);
      c.header('Access-Control-Allow-Methods', 'GET, POST');
      c.header('Access-Control-Allow-Headers', 'Content-Type');
      c.header('Access-Control-Max-Age', '600');
      c.header('Access-Control-Allow-Origin', origin);
      c.header('Vary', 'Origin');
      return c.body(null, 204);
    }
    await next();
    if (crossOrigin) {
      c.res.headers.set('Access-Control-Allow-Origin', origin);
      c.res.headers.append('Vary', 'Origin');
    }
  };
  // Once per request: Hono's `/*` matches the bare path too (a second registration ran it twice: `Vary: Origin, Origin`).
  app.use(`${SYNC_SESSIONS_PATH}/*`, cors);

  /** The session of the path, when the request may speak for it (404 / 403 otherwise). */
  const sessionOf = (c: Context): HttpSession | Response => {
    const session = sessions.session(c.req.param('id') as string);
    if (session === undefined) return c.json({ error: 'no such session (closed, expired, or opened on another instance): open a new one' }, 404);
    const origin = c.req.header('origin');
    if (origin !== undefined && origin !== session.origin) return c.json({ error: `origin ${origin} did not open this session` }, 403);
    return session;
  };

  app.post(SYNC_SESSIONS_PATH, (c) => {
    const opened = sessions.openSession(incoming(c));
    if (!(opened instanceof HttpSession)) return counted('open', c.json({ error: opened.message }, opened.status));
    // The id in a header too, for balancers that pin a session's later requests to this instance (README: HTTP
    // fallback behind a load balancer).
    c.header(SESSION_HEADER, opened.id);
    return counted('open', c.json({ session: opened.id, heartbeatMs: options.heartbeatMs, maxBodyBytes }, 201));
  });

  app.get(`${SYNC_SESSIONS_PATH}/:id`, async (c) => {
    const session = sessionOf(c);
    if (session instanceof Response) return counted('poll', session);
    const after = Number(c.req.query('after') ?? '0');
    if (!Number.isSafeInteger(after) || after < 0) return counted('poll', c.json({ error: 'after must be a whole number' }, 400));
    const answer = await session.poll(after, c.req.raw.signal);
    if (answer.status === 200) return counted('poll', c.body(answer.body as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': FRAMES }));
    if (answer.status === 404) return counted('poll', c.json({ error: 'the session is closed' }, 404));
    return counted('poll', c.body(null, 204));
  });

  app.post(`${SYNC_SESSIONS_PATH}/:id`, async (c) => {
    // A body announced over the cap is refused before a byte of it is read; the session reads the rest as they arrive
    // and stops at what it refuses (HttpSession.receive: 413 once a chunked body passes the cap).
    if (Number(c.req.header('content-length') ?? 0) > maxBodyBytes) {
      return counted('send', c.json({ error: `the body is larger than ${maxBodyBytes} bytes` }, 413));
    }
    const session = sessionOf(c);
    if (session instanceof Response) return counted('send', session);
    const seq = Number(c.req.query('seq'));
    const answer = await session.receive(seq, c.req.raw.body, maxBodyBytes);
    if ('error' in answer) return counted('send', c.json({ error: answer.error }, answer.status));
    return counted('send', c.json({ received: answer.received }, answer.status));
  });

  app.post(`${SYNC_SESSIONS_PATH}/:id/close`, (c) => {
    const session = sessionOf(c);
    if (session instanceof Response) return counted('close', session);
    const code = Number(c.req.query('code') ?? '1000');
    session.closedByClient(Number.isInteger(code) && code >= 1000 && code < 5000 ? code : 1000);
    return counted('close', c.body(null, 204));
  });
}
