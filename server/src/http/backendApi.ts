/**
 * The app backend's HTTP API: publish an event to a channel, apply field changes to a document, revoke access.
 *
 *   POST /api/channels/<channel>/events    {"event": "payment-recorded", "payload": {...}}
 *   POST /api/documents/<name>/changes     {"fields": {...}, "records": {"<collection>": {"<id>": {...}}}}
 *   POST /api/users/<id>/notifications     {"kind": "assignment", "title": "...", "target": {"document": "task-7"}}
 *   POST /api/revocations                  {"user": "mallory", "documents": "project-*", "access": "none" | "read"}
 *   GET  /api/documents/<name>/versions                  the document's versions, newest first
 *   POST /api/documents/<name>/versions                  {"name": "Before the review"}: a named version of now
 *   GET  /api/documents/<name>/versions/<id>             the version's state, a Yjs update (application/octet-stream)
 *   POST /api/documents/<name>/versions/<id>/restore     the document's content becomes the version's
 *   GET  /api/documents/<name>/activity?limit=50         who changed what, newest first
 *   …    /api/documents/<name>/files…                    attachments (filesApi.ts, docs/attachments-design.md)
 *
 * Callers authenticate with `Authorization: Bearer <credential>`: the server's API key (`CONCORD_API_KEY`; the tenant
 * is the `tenant` query parameter, default `default`), or a JWT of the tenant whose `publish` globs grant the channel
 * or whose `docs` globs grant write on the document (unless a revocation caps the token: auth/revocations.ts), or whose
 * `publish` globs match the user's inbox (`inbox:<id>`). Revocations take the API key only: a valid token gets 403.
 * Every answer is JSON; errors are `{"error": ...}` with 400 (bad
 * input, including JSON nested deeper than MAX_JSON_DEPTH), 401 (no or bad credential), 403 (not granted), 413 (too large)
 * or 415 (not JSON).
 *
 * Credentials, grants, body limits and JSON errors are apiAccess.ts's, shared with the files routes.
 * The rule that keeps a caller without a credential cheap: nothing of a body is read before the credential is checked
 * (401) and what the route grants it (403); a body is then read only up to the route's limit, refused with 413 as soon
 * as its Content-Length says it is larger or, sent chunked, as soon as it grows past it. What the caller still sends
 * after such an answer is discarded as it arrives, never kept (@hono/node-server drains at most 64 MiB or 500 ms,
 * then closes the connection; closing at once would reset the connection under the answer before the client read it).
 */
import { Access, ConcordError, INBOX_PREFIX } from '@concord/engine';
import type { Hono } from 'hono';
import { z } from 'zod';
import { mayPublish } from '../auth/access.js';
import { revocationBody, type RevocationInput, type RevocationResult } from '../auth/Revoker.js';
import type { RevocationList } from '../auth/revocations.js';
import type { TokenVerifier } from '../auth/TokenVerifier.js';
import type { BackendActor, DocumentChangeResult, NotificationResult } from '../backend/DocumentWriter.js';
import type { PublishedEvent } from '../channels/ChannelHub.js';
import type { ActivityRecorder } from '../history/ActivityRecorder.js';
import { UnknownVersionError, type Versions } from '../history/Versions.js';
import { apiAccess, ApiError, jsonBody, type ApiAccess } from './apiAccess.js';
import { mountFilesApi, type FilesApiOptions } from './filesApi.js';

/** Room for the JSON around an event's payload. */
const ENVELOPE_BYTES = 1024;
/** Entries of an activity feed answered by default, and at most. */
const DEFAULT_ACTIVITY_LIMIT = 100;
const MAX_ACTIVITY_LIMIT = 1000;
/** Largest body of a named version's request: the name, and room for JSON around it. */
const MAX_VERSION_BODY_BYTES = 4 * 1024;
/** Largest body of a revocation: a user id and a glob (each at most 1,000 characters) and an access. */
const MAX_REVOCATION_BODY_BYTES = 8 * 1024;

export interface BackendApiOptions {
  readonly apiKey: string | undefined;
  readonly verifier: TokenVerifier;
  readonly maxEventBytes: number;
  /** Largest body of a document change. */
  readonly maxChangeBytes: number;
  /** Resolves once the event is stored. */
  publish(tenant: string, channel: string, event: string, payload: unknown): Promise<PublishedEvent>;
  changeDocument(tenant: string, name: string, changes: unknown, actor: BackendActor): Promise<DocumentChangeResult>;
  notify(tenant: string, user: string, notification: unknown, actor: BackendActor): Promise<NotificationResult>;
  /** Told of each request refused before its body was read (a metric). */
  onRefused?(status: 401 | 403 | 413): void;
  /** Makes a revocation (auth/Revoker.ts); resolves once it is durable. */
  revoke(input: RevocationInput & { tenant: string }): Promise<RevocationResult>;
  /** What caps tokens issued before a revocation. */
  readonly revocations: RevocationList;
  /** Version history (history/Versions.ts). */
  readonly versions: Versions;
  /** Activity feeds (history/ActivityRecorder.ts). */
  readonly activity: Pick<ActivityRecorder, 'read'>;
  /** Attachments (filesApi.ts). */
  readonly files: FilesApiOptions;
}

const publishBody = z.object({
  event: z.string({ message: 'event (the event name) is required' }),
  payload: z.json().optional(),
});

const versionBody = z.object({
  name: z.string({ message: 'name (the version\'s name) is required' }),
});

export function mountBackendApi(app: Hono, options: BackendApiOptions): void {
  const access: ApiAccess = apiAccess({ ...options, notFound: [UnknownVersionError] });
  const { admitted, documentGrant, tooLarge, errors, callerOf } = access;

  app.post(
    '/api/channels/:channel/events',
    admitted((caller, c) => {
      const channel = c.req.param('channel') as string;
      if (caller.kind === 'token' && !mayPublish(caller.claims.publish, channel)) {
        throw new ApiError(403, `the token does not grant publishing to ${channel} (its "publish" claim)`);
      }
    }),
    tooLarge(options.maxEventBytes + ENVELOPE_BYTES),
    errors(async (c) => {
      const caller = callerOf(c);
      const channel = c.req.param('channel') as string;
      const body = publishBody.safeParse(await jsonBody(c));
      if (!body.success) throw new ApiError(400, body.error.issues.map((issue) => issue.message).join('; '));
      const bytes = Buffer.byteLength(JSON.stringify(body.data.payload ?? null));
      if (bytes > options.maxEventBytes) {
        throw new ApiError(413, `the payload is ${bytes} bytes of JSON; at most ${options.maxEventBytes} are accepted`);
      }
      const published = await options.publish(caller.tenant, channel, body.data.event, body.data.payload ?? null);
      const { payload: _payload, ...receipt } = published;
      return c.json(receipt, 200);
    }),
  );

  app.post(
    '/api/documents/:name/changes',
    admitted(documentGrant(Access.Write)),
    tooLarge(options.maxChangeBytes),
    errors(async (c) => {
      const caller = callerOf(c);
      const name = c.req.param('name') as string;
      const changes = await jsonBody(c);
      const result = await options.changeDocument(caller.tenant, name, changes, caller.actor);
      return c.json(result, result.durable ? 200 : 202);
    }),
  );

  app.post(
    '/api/users/:user/notifications',
    admitted((caller, c) => {
      const user = c.req.param('user') as string;
      if (caller.kind === 'token' && !mayPublish(caller.claims.publish, `${INBOX_PREFIX}${user}`)) {
        throw new ApiError(403, `the token does not grant notifying ${user} (its "publish" claim must match ${INBOX_PREFIX}${user})`);
      }
    }),
    tooLarge(options.maxEventBytes + ENVELOPE_BYTES),
    errors(async (c) => {
      const caller = callerOf(c);
      const user = c.req.param('user') as string;
      const notification = await jsonBody(c);
      const result = await options.notify(caller.tenant, user, notification, caller.actor);
      return c.json(result, result.durable ? 200 : 202);
    }),
  );

  app.get(
    '/api/documents/:name/versions',
    admitted(documentGrant(Access.Read)),
    errors(async (c) => {
      const versions = await options.versions.list(callerOf(c).tenant, c.req.param('name') as string);
      return c.json({ versions }, 200);
    }),
  );

  app.post(
    '/api/documents/:name/versions',
    admitted(documentGrant(Access.Write)),
    tooLarge(MAX_VERSION_BODY_BYTES),
    errors(async (c) => {
      const caller = callerOf(c);
      const body = versionBody.safeParse(await jsonBody(c));
      if (!body.success) throw new ApiError(400, body.error.issues.map((issue) => issue.message).join('; '));
      const version = await options.versions.saveNamed(caller.tenant, c.req.param('name') as string, body.data.name, caller.actor);
      return c.json(version, 201);
    }),
  );

  app.get(
    '/api/documents/:name/versions/:id',
    admitted(documentGrant(Access.Read)),
    errors(async (c) => {
      const state = await options.versions.state(callerOf(c).tenant, c.req.param('name') as string, c.req.param('id') as string);
      return c.body(new Uint8Array(state), 200, { 'content-type': 'application/octet-stream' });
    }),
  );

  app.post(
    '/api/documents/:name/versions/:id/restore',
    admitted(documentGrant(Access.Write)),
    errors(async (c) => {
      const caller = callerOf(c);
      const result = await options.versions.restore(caller.tenant, c.req.param('name') as string, c.req.param('id') as string, caller.actor);
      return c.json(result, result.durable ? 200 : 202);
    }),
  );

  app.get(
    '/api/documents/:name/activity',
    admitted(documentGrant(Access.Read)),
    errors(async (c) => {
      const limitParam = c.req.query('limit');
      const limit = limitParam === undefined ? DEFAULT_ACTIVITY_LIMIT : Number(limitParam);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_ACTIVITY_LIMIT) {
        throw new ApiError(400, `limit must be a whole number from 1 to ${MAX_ACTIVITY_LIMIT}`);
      }
      const activity = await options.activity.read(callerOf(c).tenant, c.req.param('name') as string, limit);
      return c.json({ activity }, 200);
    }),
  );

  app.post(
    '/api/revocations',
    admitted((caller) => {
      if (caller.kind === 'token') throw new ApiError(403, 'revocations take the API key only (CONCORD_API_KEY), not a token');
    }),
    tooLarge(MAX_REVOCATION_BODY_BYTES),
    errors(async (c) => {
      const caller = callerOf(c);
      const body = revocationBody.safeParse(await jsonBody(c));
      if (!body.success) throw new ApiError(400, body.error.issues.map((issue) => issue.message).join('; '));
      let result: RevocationResult;
      try {
        result = await options.revoke({ tenant: caller.tenant, ...body.data });
      } catch (error) {
        if (error instanceof ConcordError) throw error;
        return c.json({ error: `the revocation holds on this instance until it restarts, but it could not be stored: ${(error as Error).message}` }, 500);
      }
      return c.json(result, 200);
    }),
  );

  mountFilesApi(app, access, options.files);
}
