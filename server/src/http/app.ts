/**
 * The HTTP side of the one port (Hono): health, Prometheus metrics, the HTTP fallback of `/sync` (syncApi.ts), the
 * app backend's API (backendApi.ts), dev-mode
 * tokens, and the demo app as static
 * files with a single-page fallback. The app's entry points (the page, its service worker and manifest) are sent
 * with `no-cache`, so a new deploy is picked up at the next load; its content-hashed `/assets/*` are immutable.
 * Every answer carries the security headers (securityHeaders.ts); in dev mode only loopback `Host` names are
 * answered (loopbackHost.ts). What operators may not want public is a setting: `/metrics` (open, behind the API key, or
 * off) and the demo's source maps (served in dev mode only, unless said otherwise).
 * Errors are JSON `{ "error": ... }` with a fitting status; nothing here throws
 * past the framework.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono, type MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { mountBackendApi, type BackendApiOptions } from './backendApi.js';
import type { MetricsAccess } from '../config.js';
import type { Metrics } from '../metrics.js';
import { loopbackHostOnly } from './loopbackHost.js';
import { securityHeaders } from './securityHeaders.js';
import { mountSyncApi, SYNC_SESSIONS_PATH, type SyncApiOptions } from './syncApi.js';

export interface HealthReport {
  /**
   * `degraded`: serving, but storage writes fail (changes are kept in memory and retried), or Redis is configured and
   * unreachable (this instance serves its own clients only).
   */
  readonly status: 'ok' | 'degraded' | 'stopping';
  readonly [key: string]: unknown;
}

export interface HttpAppOptions {
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly health: () => HealthReport;
  /** Present in dev mode only: issues a token for the demo tenant. */
  readonly issueDevToken?: (user: { id: string; name?: string | undefined }) => Promise<string>;
  /** Directory served at `/` (the built demo). */
  readonly staticDir?: string | undefined;
  /** The app backend's API: publishing events, changing documents. */
  readonly backend: BackendApiOptions;
  /** Dev mode: answer only requests whose `Host` is a loopback name (DNS rebinding). */
  readonly loopbackHostOnly?: boolean;
  /** Serve `*.map` files of `staticDir` (default: not). */
  readonly serveSourceMaps?: boolean;
  /** Who may read `/metrics` (default: anyone); `api-key` takes `backend.apiKey` as a bearer. */
  readonly metricsAccess?: MetricsAccess;
  /** The HTTP fallback of `/sync` (syncApi.ts); absent: not served. */
  readonly sync?: Omit<SyncApiOptions, 'metrics'>;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** `/metrics` for `access`: open, behind the API key (401 otherwise), or absent (404, not the app's page). */
function metricsGuard(access: MetricsAccess, apiKey: string | undefined): MiddlewareHandler {
  const key = apiKey === undefined ? undefined : digest(apiKey);
  return async (c, next) => {
    if (access === 'off') return c.json({ error: 'metrics are not served here (CONCORD_METRICS=off)' }, 404);
    if (access === 'api-key') {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
      if (key === undefined || bearer === undefined || !timingSafeEqual(digest(bearer), key)) {
        return c.json({ error: 'send the API key as Authorization: Bearer <key> (CONCORD_METRICS=api-key)' }, 401);
      }
    }
    await next();
  };
}

/** Source maps answer 404 unless served on purpose: they hand out the app's original sources. */
const noSourceMaps: MiddlewareHandler = async (c, next) => {
  if (c.req.path.endsWith('.map')) return c.json({ error: `nothing at ${c.req.method} ${c.req.path} (CONCORD_SERVE_SOURCE_MAPS)` }, 404);
  await next();
};

const devTokenQuery = z.object({
  user: z
    .string({ message: 'user is required, e.g. /api/dev/token?user=alice&name=Alice' })
    .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'user must be 1-64 letters, digits or . _ @ -'),
  name: z.string().trim().min(1).max(100, 'name must be at most 100 characters').optional(),
});

/** Files whose name never changes between builds: browsers must ask the server before reusing them. */
const ENTRY_POINTS = /(?:^\/$|\.html$|^\/sw\.js$|^\/registerSW\.js$|\.webmanifest$)/;

const cachingHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.status !== 200) return;
  if (c.req.path.startsWith('/assets/')) c.res.headers.set('Cache-Control', 'public, max-age=31536000, immutable');
  else if (ENTRY_POINTS.test(c.req.path) || !/\.[a-z0-9]+$/i.test(c.req.path)) c.res.headers.set('Cache-Control', 'no-cache');
};

export function createHttpApp(options: HttpAppOptions): Hono {
  const { metrics, log, health, issueDevToken, staticDir, backend } = options;
  const app = new Hono();
  app.use('*', securityHeaders);
  if (options.loopbackHostOnly) app.use('*', loopbackHostOnly);

  app.get('/healthz', (c) => {
    const report = health();
    return c.json(report, report.status === 'stopping' ? 503 : 200);
  });

  app.get('/metrics', metricsGuard(options.metricsAccess ?? 'public', backend.apiKey), async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });

  if (options.sync) mountSyncApi(app, { ...options.sync, metrics });
  mountBackendApi(app, backend);

  if (issueDevToken) {
    app.get('/api/dev/token', async (c) => {
      const query = devTokenQuery.safeParse(c.req.query());
      if (!query.success) return c.json({ error: query.error.issues.map((issue) => issue.message).join('; ') }, 400);
      const token = await issueDevToken({ id: query.data.user, name: query.data.name });
      c.header('Cache-Control', 'no-store');
      return c.json({ token });
    });
  }

  if (staticDir) {
    if (!options.serveSourceMaps) app.use('/*', noSourceMaps);
    app.use('/*', cachingHeaders);
    app.use('/*', serveStatic({ root: staticDir }));
    // Single-page app: routes without a file extension get index.html.
    app.get('*', async (c, next) => {
      if (c.req.path.startsWith('/api/') || /\.[a-z0-9]+$/i.test(c.req.path)) return next();
      return serveStatic({ path: join(staticDir, 'index.html') })(c, next);
    });
  } else {
    app.get('/', (c) => c.json({ name: 'concord', endpoints: ['/sync', '/y/<document>', '/healthz', '/metrics', `POST ${SYNC_SESSIONS_PATH} (HTTP fallback of /sync)`, 'POST /api/channels/<channel>/events', 'POST /api/documents/<name>/changes'] }));
  }

  app.notFound((c) => c.json({ error: `nothing at ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    log.error({ err: error, path: c.req.path }, 'request failed');
    return c.json({ error: 'internal error' }, 500);
  });
  return app;
}
