/**
 * The attachments routes of the backend API (docs/attachments-design.md is the contract, for the client too):
 *
 *   POST  /api/documents/<name>/files                 {"hash","size","type","name"}: 200 stored already, or 201 an upload
 *   PATCH /api/documents/<name>/files/uploads/<id>    bytes from Upload-Offset on: 200 {"offset"}, 201 once complete
 *   HEAD  /api/documents/<name>/files/uploads/<id>    Upload-Offset: where to resume
 *   GET   /api/documents/<name>/files/<hash>          the bytes (Authorization, or ?tenant&expires&signature)
 *   POST  /api/documents/<name>/files/<hash>/url      {"url","expiresAt"}: a signed URL for <img src>
 *
 * Uploading needs write on the document, reading needs read (apiAccess.ts: nothing of a body is read before the
 * credential and the grant are checked, nor a body whose Content-Length is over the route's limit). A file is read
 * only through a document that refers to it (404 otherwise, as for a file not stored), so a hash learnt elsewhere
 * opens nothing. A chunk is read whole into memory (at most FILE_CHUNK_BYTES) and stored only when all of it came
 * and fits the declared size: a cut connection stores nothing of its chunk, and the client resumes from the offset
 * stored. The last chunk completes the upload: its SHA-256 must be the declared hash (400) and its first bytes must
 * carry its type's signature (415), or the upload is discarded. An upload start, a dedup answer and a completed upload
 * make the document refer to the file provisionally (so the uploader reads it back before its `attachments` record
 * syncs): the reference lapses at the retention unless a record backs it by then (files/FileReferences.ts).
 */
import { Readable } from 'node:stream';
import { Access, assertDocumentName, DEFAULT_TENANT, fileHash, INBOX_PREFIX, SERVER_DOCUMENT_PREFIX } from '@concord/engine';
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import { contentDisposition, matchesSignature, MEDIA_TYPE, typeAllowed } from '../files/fileTypes.js';
import type { UrlSigner } from '../files/signedUrls.js';
import {
  FILE_CHUNK_BYTES,
  UnknownUploadError,
  UPLOAD_ID,
  UploadOffsetError,
  type FileStore,
  type StoredFile,
} from '../storage/FileStore.js';
import { ApiError, hasBody, jsonBody, type ApiAccess } from './apiAccess.js';

/** Largest body of an upload start: a hash, a size, a type and a name of at most 255 characters each, in JSON. */
const MAX_START_BODY_BYTES = 4 * 1024;
/** The media type of a PATCH body (tus). */
const CHUNK_TYPE = 'application/offset+octet-stream';
const OFFSET_HEADER = 'Upload-Offset';
const IMMUTABLE = 'private, max-age=31536000, immutable';

export interface FilesApiOptions {
  readonly store: FileStore;
  /** CONCORD_MAX_FILE_BYTES. */
  readonly maxFileBytes: number;
  /** CONCORD_FILE_TYPES, parsed (fileTypes.ts). */
  readonly types: readonly string[];
  readonly signer: UrlSigner;
  /** CONCORD_FILE_URL_SECONDS. */
  readonly urlSeconds: number;
  readonly now?: () => number;
}

const startBody = z.object({
  hash: fileHash,
  size: z.number({ message: 'size (bytes) is required' }).int('size must be a whole number of bytes').nonnegative('size must not be negative'),
  type: z.string({ message: 'type (a media type) is required' }).max(255),
  name: z.string({ message: 'name (the file\'s name) is required' }).min(1).max(255),
});

const completed = (file: StoredFile) => ({ hash: file.hash, size: file.size, type: file.type, complete: true });

export function mountFilesApi(app: Hono, access: ApiAccess, options: FilesApiOptions): void {
  const { store } = options;
  const now = options.now ?? Date.now;
  const { admitted, documentGrant, tooLarge, errors, callerOf } = access;
  /** The tenant of a request admitted by a signed URL rather than a credential. */
  const signedTenants = new WeakMap<Context, string>();
  const tenantOf = (c: Context) => signedTenants.get(c) ?? callerOf(c).tenant;
  const nameOf = (c: Context) => c.req.param('name') as string;

  /** Requests whose body was read; another answered before reading its body closes the connection after it. */
  const bodiesRead = new WeakSet<Context>();
  const closeIfUnread: MiddlewareHandler = async (c, next) => {
    await next();
    if (!bodiesRead.has(c) && hasBody(c)) c.res.headers.set('Connection', 'close');
  };

  /** A document that may hold files: a valid name, not an inbox nor one of the server's own. */
  const filesDocument: MiddlewareHandler = async (c, next) => {
    const name = nameOf(c);
    try {
      assertDocumentName(name);
    } catch (error) {
      return c.json({ error: (error as Error).message }, 400);
    }
    if (name.startsWith(INBOX_PREFIX) || name.startsWith(SERVER_DOCUMENT_PREFIX)) {
      return c.json({ error: `${name} takes no files (inbox and server documents do not)` }, 400);
    }
    await next();
  };

  /** The upload id of the path and the PATCH headers, checked before the body is read. */
  const chunkHeaders: MiddlewareHandler = async (c, next) => {
    if (!UPLOAD_ID.test(c.req.param('id') as string)) return c.json({ error: 'the upload id is not one this server gave (a UUID)' }, 400);
    if ((c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase() !== CHUNK_TYPE) {
      return c.json({ error: `send the bytes with Content-Type: ${CHUNK_TYPE}` }, 415);
    }
    if (!/^\d{1,15}$/.test(c.req.header(OFFSET_HEADER) ?? '')) {
      return c.json({ error: `send ${OFFSET_HEADER}: <bytes already stored> (a whole number)` }, 400);
    }
    await next();
  };

  /** A signed URL's query, or else a credential with read on the document. */
  const readable: MiddlewareHandler = async (c, next) => {
    const signature = c.req.query('signature');
    if (signature === undefined) return admitted(documentGrant(Access.Read))(c, next);
    const tenant = c.req.query('tenant') ?? DEFAULT_TENANT;
    const expires = Number(c.req.query('expires'));
    if (!options.signer.verify(tenant, nameOf(c), c.req.param('hash') as string, expires, signature, now())) {
      return c.json({ error: 'the signed URL is expired or not this server\'s: ask for a new one (POST …/files/<hash>/url)' }, 403);
    }
    signedTenants.set(c, tenant);
    await next();
  };

  /** The file of the path, when the document refers to it; else 404. */
  async function referredFile(c: Context): Promise<StoredFile> {
    const hash = c.req.param('hash') as string;
    const tenant = tenantOf(c);
    const file = fileHash.safeParse(hash).success && (await store.refers(tenant, hash, nameOf(c))) ? await store.file(tenant, hash) : undefined;
    if (file === undefined) throw new ApiError(404, `${nameOf(c)} has no file ${hash}`);
    return file;
  }

  app.post(
    '/api/documents/:name/files',
    admitted(documentGrant(Access.Write)),
    closeIfUnread,
    filesDocument,
    tooLarge(MAX_START_BODY_BYTES),
    errors(async (c) => {
      const caller = callerOf(c);
      const name = nameOf(c);
      const json = await jsonBody(c);
      bodiesRead.add(c);
      const body = startBody.safeParse(json);
      if (!body.success) throw new ApiError(400, body.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
      const { hash, size } = body.data;
      const type = body.data.type.trim().toLowerCase();
      if (size > options.maxFileBytes) throw new ApiError(413, `the file is ${size} bytes; at most ${options.maxFileBytes} are accepted (CONCORD_MAX_FILE_BYTES)`);
      if (!MEDIA_TYPE.test(type)) throw new ApiError(400, 'type must be a media type like image/png');
      if (!typeAllowed(options.types, type)) throw new ApiError(415, `files of type ${type} are not accepted here (CONCORD_FILE_TYPES)`);
      const stored = await store.file(caller.tenant, hash);
      if (stored !== undefined) {
        await store.addReference(caller.tenant, hash, name, { provisionalAt: now() });
        return c.json(completed(stored), 200);
      }
      const upload = await store.startUpload(caller.tenant, { document: name, hash, size, type, by: caller.actor.id }, now());
      await store.addReference(caller.tenant, hash, name, { provisionalAt: now() });
      return c.json({ upload: upload.id, offset: upload.offset, chunkBytes: FILE_CHUNK_BYTES }, 201);
    }),
  );

  app.patch(
    '/api/documents/:name/files/uploads/:id',
    admitted(documentGrant(Access.Write)),
    closeIfUnread,
    filesDocument,
    tooLarge(FILE_CHUNK_BYTES),
    chunkHeaders,
    errors(async (c) => {
      const tenant = callerOf(c).tenant;
      const id = c.req.param('id') as string;
      const offset = Number(c.req.header(OFFSET_HEADER));
      const upload = await store.upload(tenant, id);
      if (upload === undefined || upload.document !== nameOf(c)) throw new ApiError(404, `no upload ${id} for ${nameOf(c)} (unknown, finished or expired)`);
      if (offset > upload.size) throw new ApiError(400, `${OFFSET_HEADER} ${offset} is past the file's ${upload.size} bytes`);
      if (offset !== upload.offset) return c.json({ error: `the upload is at ${upload.offset}`, offset: upload.offset }, 409);
      const declaredLength = c.req.header('content-length');
      const tooMany = (length: number) => new ApiError(400, `${offset} + ${length} bytes are more than the ${upload.size} declared: nothing was kept`);
      if (declaredLength !== undefined && offset + Number(declaredLength) > upload.size) throw tooMany(Number(declaredLength));
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      bodiesRead.add(c);
      if (offset + bytes.byteLength > upload.size) throw tooMany(bytes.byteLength);
      try {
        const after = await store.write(tenant, id, offset, bytes, now());
        if (after.offset < after.size) return c.json({ offset: after.offset }, 200);
        const file = await store.complete(
          tenant,
          id,
          (digest, head) => {
            if (digest !== upload.hash) throw new ApiError(400, `the bytes' SHA-256 is ${digest}, not the ${upload.hash} declared: the upload is discarded`);
            if (!matchesSignature(upload.type, head)) throw new ApiError(415, `the bytes are not ${upload.type}: the upload is discarded`);
          },
          now(),
        );
        // Renewed: an upload resumed over days keeps its uploader able to read the file back once it is there.
        await store.addReference(tenant, file.hash, upload.document, { provisionalAt: now() });
        return c.json(completed(file), 201);
      } catch (error) {
        if (error instanceof UploadOffsetError) return c.json({ error: `the upload is at ${error.offset}`, offset: error.offset }, 409);
        if (error instanceof UnknownUploadError) throw new ApiError(404, error.message);
        throw error;
      }
    }),
  );

  // HEAD (Hono answers HEAD with the GET route, without its body).
  app.get(
    '/api/documents/:name/files/uploads/:id',
    admitted(documentGrant(Access.Write)),
    filesDocument,
    errors(async (c) => {
      const id = c.req.param('id') as string;
      const upload = await store.upload(callerOf(c).tenant, id);
      if (upload === undefined || upload.document !== nameOf(c)) throw new ApiError(404, `no upload ${id} for ${nameOf(c)}`);
      c.header(OFFSET_HEADER, String(upload.offset));
      c.header('Cache-Control', 'no-store');
      return c.json({ offset: upload.offset, size: upload.size }, 200);
    }),
  );

  app.get(
    '/api/documents/:name/files/:hash',
    readable,
    filesDocument,
    errors(async (c) => {
      const file = await referredFile(c);
      const bytes = store.read(tenantOf(c), file.hash);
      const body = Readable.toWeb(Readable.from(bytes)) as unknown as ReadableStream<Uint8Array>;
      return c.body(body, 200, {
        'Content-Type': file.type,
        'Content-Length': String(file.size),
        'Cache-Control': IMMUTABLE,
        'X-Content-Type-Options': 'nosniff',
        'Content-Disposition': contentDisposition(file.type, c.req.query('name')),
      });
    }),
  );

  app.post(
    '/api/documents/:name/files/:hash/url',
    admitted(documentGrant(Access.Read)),
    filesDocument,
    tooLarge(MAX_START_BODY_BYTES),
    errors(async (c) => {
      const file = await referredFile(c);
      const expiresAt = now() + options.urlSeconds * 1000;
      return c.json({ url: options.signer.url(tenantOf(c), nameOf(c), file.hash, expiresAt), expiresAt }, 200);
    }),
  );
}
