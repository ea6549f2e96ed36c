/**
 * Who calls the backend API and what it may do there, shared by its routes (backendApi.ts, filesApi.ts): the
 * credential (`Authorization: Bearer`: the API key, whose tenant is `?tenant=`, or a JWT of the tenant), the grant on
 * the route's document (a token's `docs` globs, capped by revocations), JSON bodies, and the errors as JSON.
 *
 * The rule that keeps a caller without a credential cheap: `admitted` checks the credential (401) and what the route
 * grants it (403) before anything of the body is read, and `tooLarge` refuses (413) a body whose Content-Length is
 * over the route's limit before reading it, or one sent chunked as soon as it grows past it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Access, ConcordError, DEFAULT_TENANT, inboxOwner, type TokenClaims } from '@concord/engine';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { documentAccess } from '../auth/access.js';
import { capAccess, type RevocationList } from '../auth/revocations.js';
import type { TokenVerifier } from '../auth/TokenVerifier.js';
import type { BackendActor } from '../backend/DocumentWriter.js';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from './jsonDepth.js';

export type Caller =
  | { readonly kind: 'key'; readonly tenant: string; readonly actor: BackendActor }
  | { readonly kind: 'token'; readonly tenant: string; readonly actor: BackendActor; readonly claims: TokenClaims };

export class ApiError extends Error {
  readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415;

  constructor(status: ApiError['status'], message: string) {
    super(message);
    this.status = status;
  }
}

const KEY_ACTOR: BackendActor = { id: 'api', name: 'App backend' };

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Whether the request comes with a body (a Content-Length above 0, or chunked). */
export function hasBody(c: Context): boolean {
  const length = c.req.header('content-length');
  return (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
}

export async function jsonBody(c: Context): Promise<unknown> {
  if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
    throw new ApiError(415, 'send the body as JSON with Content-Type: application/json');
  }
  const text = await c.req.text();
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    throw new ApiError(400, `the body is JSON nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, 'the body is not valid JSON');
  }
}

export interface ApiAccessOptions {
  readonly apiKey: string | undefined;
  readonly verifier: TokenVerifier;
  /** What caps tokens issued before a revocation. */
  readonly revocations: RevocationList;
  /** Told of each request refused before its body was read (a metric). */
  onRefused?(status: 401 | 403 | 413): void;
  /** Errors of the routes that mean "no such thing" (404). */
  readonly notFound?: ReadonlyArray<abstract new (...args: never[]) => Error>;
}

export type ApiAccess = ReturnType<typeof apiAccess>;

export function apiAccess(options: ApiAccessOptions) {
  const apiKey = options.apiKey === undefined ? undefined : digest(options.apiKey);

  async function authenticate(c: Context): Promise<Caller> {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new ApiError(401, 'send the API key or a token as Authorization: Bearer <credential>');
    const credential = match[1] as string;
    const tenantParam = c.req.query('tenant');
    if (apiKey !== undefined && timingSafeEqual(digest(credential), apiKey)) {
      return { kind: 'key', tenant: tenantParam ?? DEFAULT_TENANT, actor: KEY_ACTOR };
    }
    let claims: TokenClaims;
    try {
      claims = await options.verifier.verify(credential);
    } catch (error) {
      throw new ApiError(401, `the credential is neither the API key nor a valid token: ${(error as Error).message}`);
    }
    if (tenantParam !== undefined && tenantParam !== claims.tenant) {
      throw new ApiError(403, `the token is for tenant ${claims.tenant}, not ${tenantParam}`);
    }
    return { kind: 'token', tenant: claims.tenant, actor: { id: claims.sub, name: claims.name ?? claims.sub }, claims };
  }

  const errors = (handler: (c: Context) => Promise<Response>) => async (c: Context) => {
    try {
      return await handler(c);
    } catch (error) {
      if (error instanceof ApiError) return c.json({ error: error.message }, error.status);
      if (options.notFound?.some((kind) => error instanceof kind)) return c.json({ error: (error as Error).message }, 404);
      if (error instanceof ConcordError) return c.json({ error: error.message, kind: error.kind }, 400);
      throw error;
    }
  };
  const refuseUnread = (c: Context, status: 401 | 403 | 413, message: string) => {
    options.onRefused?.(status);
    return c.json({ error: message }, status);
  };
  const tooLarge = (limit: number) =>
    bodyLimit({ maxSize: limit, onError: (c) => refuseUnread(c, 413, `the body is larger than ${limit} bytes`) });

  /** The caller `admitted` found, for the handler after it. */
  const callers = new WeakMap<Context, Caller>();
  const callerOf = (c: Context) => callers.get(c) as Caller;
  /** Refuses a token that does not grant `needed` on the route's document (write needs write; read, either). */
  const documentGrant = (needed: Access) => (caller: Caller, c: Context) => {
    const name = c.req.param('name') as string;
    if (caller.kind === 'key') return;
    const access = capAccess(documentAccess(caller.claims, name), options.revocations.capFor(caller.claims, name));
    if (access === Access.Write || (needed === Access.Read && access === Access.Read)) return;
    throw new ApiError(403, `the token does not grant ${needed} on ${name}${inboxOwner(name) !== null ? ' (an inbox is its owner\'s alone)' : ''}`);
  };

  /** Checks the credential and what the route grants it (`authorize` throws ApiError 403) before the body is read. */
  const admitted =
    (authorize: (caller: Caller, c: Context) => void = () => {}): MiddlewareHandler =>
    async (c, next) => {
      try {
        const caller = await authenticate(c);
        authorize(caller, c);
        callers.set(c, caller);
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        if (error.status === 401 || error.status === 403 || error.status === 413) return refuseUnread(c, error.status, error.message);
        return c.json({ error: error.message }, error.status);
      }
      await next();
    };

  return { admitted, documentGrant, tooLarge, errors, callerOf, refuseUnread };
}
