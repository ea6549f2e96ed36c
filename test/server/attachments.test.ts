/**
 * Attachments over a real server and real HTTP (docs/attachments-design.md; the directory store under the data dir):
 * - an upload in chunks reads back byte for byte with the contract's headers; a write token uploads, a read token
 *   downloads, a token without the document gets 403 and no credential 401, before any body is read;
 * - dedup: the tenant's second upload of the same bytes answers 200 complete and sends nothing;
 * - resume: a PATCH at the wrong offset gets 409 with the right one, HEAD tells the offset, and a chunk cut mid-body
 *   (through a TCP proxy) keeps nothing of it, and the upload resumes from the stored offset to the right file;
 * - refusals: over CONCORD_MAX_FILE_BYTES (413), a type not allowed (415), bytes that are not the declared PNG (415,
 *   discarded), a digest that does not match (400, discarded);
 * - signed URLs work without Authorization, and get 403 once expired or tampered with;
 * - references: a file is read only through a document that refers to it (404 through another); `attachments` records
 *   add and drop references; the sweep removes a file unreferenced past the retention and keeps a referenced one;
 *   an upload's own reference is provisional: a file no record ever refers to goes a retention after its upload;
 * - bad input gets clear errors, keeps nothing, and the server stays up;
 * - with PostgreSQL, a chunk resumed through another instance lands in the same upload, and every instance serves
 *   the file.
 */
import { createHash, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { ATTACHMENTS_COLLECTION, writeField } from '@concord/engine';
import * as prng from 'lib0/prng';
import { beforeAll, describe, expect, test } from 'vitest';
import * as Y from 'yjs';
import { hocuspocusClient } from '../support/clients.js';
import { describePostgres, freshSchema } from '../support/postgres.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTcpProxy } from '../support/tcpProxy.js';
import { mintToken } from '../support/tokens.js';
import { waitFor } from '../support/wait.js';

const API_KEY = 'backend-api-key-that-is-long-enough-0123456789';
const MiB = 1024 * 1024;
const DAY = 24 * 3600 * 1000;
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHUNK_TYPE = 'application/offset+octet-stream';

let seed = 1;
/** Random bytes (a fresh seed each call), starting as a PNG does unless `asPng` is false. */
function fileBytes(size: number, asPng = true): Uint8Array {
  const bytes = prng.uint8Array(prng.create(seed++), size);
  if (asPng) bytes.set(PNG_SIGNATURE);
  return bytes;
}
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  bytes: Buffer;
}

async function call(
  server: TestServer,
  method: string,
  path: string,
  options: { credential?: string; json?: unknown; raw?: string; bytes?: Uint8Array; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(options.credential ? { Authorization: `Bearer ${options.credential}` } : {}), ...options.headers };
  let body: string | Uint8Array<ArrayBuffer> | undefined;
  if (options.json !== undefined || options.raw !== undefined) {
    headers['Content-Type'] ??= 'application/json';
    body = options.raw ?? JSON.stringify(options.json);
  } else if (options.bytes !== undefined) {
    headers['Content-Type'] ??= CHUNK_TYPE;
    body = new Uint8Array(options.bytes); // a copy on an ArrayBuffer of its own, as fetch takes
  }
  const response = await fetch(`${server.url}${path}`, { method, headers, body });
  const bytes = Buffer.from(await response.arrayBuffer());
  const json = (response.headers.get('content-type') ?? '').startsWith('application/json') && bytes.byteLength > 0;
  return { status: response.status, headers: response.headers, body: json ? (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>) : {}, bytes };
}

const files = (document: string, query = '') => `/api/documents/${document}/files${query}`;
const uploadPath = (document: string, id: string) => `/api/documents/${document}/files/uploads/${id}`;

function start(server: TestServer, document: string, credential: string, bytes: Uint8Array, type = 'image/png', query = '') {
  return call(server, 'POST', files(document, query), { credential, json: { hash: sha256(bytes), size: bytes.byteLength, type, name: 'photo.png' } });
}

function patch(server: TestServer, document: string, id: string, offset: number, bytes: Uint8Array, credential: string) {
  return call(server, 'PATCH', uploadPath(document, id), { credential, bytes, headers: { 'Upload-Offset': String(offset) } });
}

/** Starts and sends every chunk; the last answer (201 once complete, 200 for a dedup answer). */
async function upload(server: TestServer, document: string, credential: string, bytes: Uint8Array, type = 'image/png'): Promise<Answer> {
  const started = await start(server, document, credential, bytes, type);
  if (started.status !== 201) return started;
  const id = started.body.upload as string;
  const chunk = started.body.chunkBytes as number;
  let offset = started.body.offset as number;
  for (;;) {
    const answer = await patch(server, document, id, offset, bytes.subarray(offset, offset + chunk), credential);
    if (answer.status !== 200) return answer;
    offset = answer.body.offset as number;
  }
}

const download = (server: TestServer, document: string, hash: string, credential?: string, query = '') =>
  call(server, 'GET', `/api/documents/${document}/files/${hash}${query}`, credential === undefined ? {} : { credential });

let server: TestServer;
let writer: string;
let reader: string;
let stranger: string;

beforeAll(async () => {
  server = await startTestServer({ apiKey: API_KEY });
  writer = await mintToken({ sub: 'ann', tenant: 'acme', docs: { 'task-*': 'write' } });
  reader = await mintToken({ sub: 'rita', tenant: 'acme', docs: { 'task-*': 'read' } });
  stranger = await mintToken({ sub: 'sam', tenant: 'acme', docs: { 'other-*': 'write' } });
});

describe('upload and download', () => {
  test('in chunks, read back byte for byte with the contract\'s headers; grants: write uploads, read downloads', async () => {
    const bytes = fileBytes(2 * MiB + 12_345);
    const started = await start(server, 'task-1', writer, bytes);
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ offset: 0, chunkBytes: MiB });
    expect(started.body.upload).toMatch(/^[0-9a-f-]{36}$/);
    const again = await start(server, 'task-1', writer, bytes);
    expect(again.body).toMatchObject({ upload: started.body.upload, offset: 0 });

    const id = started.body.upload as string;
    expect((await patch(server, 'task-1', id, 0, bytes.subarray(0, MiB), writer)).body).toEqual({ offset: MiB });
    expect((await patch(server, 'task-1', id, MiB, bytes.subarray(MiB, 2 * MiB), writer)).body).toEqual({ offset: 2 * MiB });
    expect((await download(server, 'task-1', sha256(bytes), reader)).status).toBe(404); // not there before its last byte
    const last = await patch(server, 'task-1', id, 2 * MiB, bytes.subarray(2 * MiB), writer);
    expect(last.status).toBe(201);
    expect(last.body).toEqual({ hash: sha256(bytes), size: bytes.byteLength, type: 'image/png', complete: true });
    expect((await call(server, 'HEAD', uploadPath('task-1', id), { credential: writer })).status).toBe(404); // finished

    const read = await download(server, 'task-1', sha256(bytes), reader, '?name=holiday%20"photo".png');
    expect(read.status).toBe(200);
    expect(read.bytes.equals(Buffer.from(bytes))).toBe(true);
    expect(read.headers.get('content-type')).toBe('image/png');
    expect(read.headers.get('content-length')).toBe(String(bytes.byteLength));
    expect(read.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(read.headers.get('x-content-type-options')).toBe('nosniff');
    expect(read.headers.get('content-disposition')).toBe('inline; filename="holiday _photo_.png"; filename*=UTF-8\'\'holiday%20%22photo%22.png');
    const byKey = await download(server, 'task-1', sha256(bytes), API_KEY, '?tenant=acme');
    expect(byKey.bytes.equals(Buffer.from(bytes))).toBe(true);
    expect((await download(server, 'task-1', sha256(bytes), API_KEY)).status).toBe(404); // tenant default has no such file
  });

  test('no credential gets 401, a token without the document 403, a read token cannot upload', async () => {
    const bytes = fileBytes(1000);
    const stored = await upload(server, 'task-2', writer, bytes);
    expect(stored.status).toBe(201);
    expect((await start(server, 'task-2', '', bytes)).status).toBe(401);
    expect((await start(server, 'task-3', stranger, bytes)).status).toBe(403);
    expect((await start(server, 'task-3', reader, bytes)).status).toBe(403);
    expect((await download(server, 'task-2', sha256(bytes))).status).toBe(401);
    expect((await download(server, 'task-2', sha256(bytes), 'not-a-token')).status).toBe(401);
    expect((await download(server, 'task-2', sha256(bytes), stranger)).status).toBe(403);
    const anId = randomUUID();
    expect((await patch(server, 'task-2', anId, 0, bytes, '')).status).toBe(401);
    expect((await patch(server, 'task-2', anId, 0, bytes, reader)).status).toBe(403);
    expect((await call(server, 'HEAD', uploadPath('task-2', anId), { credential: reader })).status).toBe(403);
    expect((await call(server, 'POST', `${files('task-2')}/${sha256(bytes)}/url`, { credential: stranger })).status).toBe(403);

    // Refused on the headers alone: the answer comes while the body has not been sent.
    for (const [credential, length, status] of [['', MiB, 401], [reader, MiB, 403], [writer, MiB + 1, 413]] as const) {
      const request = httpRequest(`${server.url}${uploadPath('task-2', anId)}`, {
        method: 'PATCH',
        headers: { ...(credential ? { Authorization: `Bearer ${credential}` } : {}), 'Content-Type': CHUNK_TYPE, 'Upload-Offset': '0', 'Content-Length': String(length) },
      });
      request.on('error', () => undefined);
      request.flushHeaders();
      const answer = await new Promise<{ statusCode?: number; headers: Record<string, unknown> }>((resolve) => request.on('response', resolve));
      expect(answer.statusCode).toBe(status);
      request.destroy();
    }
  });

  test('a tenant\'s second upload of the same bytes answers 200 complete, sends nothing, and is readable there', async () => {
    const bytes = fileBytes(300_000);
    expect((await upload(server, 'task-4', writer, bytes)).status).toBe(201);
    expect((await download(server, 'task-5', sha256(bytes), reader)).status).toBe(404); // task-5 does not refer to it
    const second = await start(server, 'task-5', writer, bytes);
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ hash: sha256(bytes), size: bytes.byteLength, type: 'image/png', complete: true });
    expect((await download(server, 'task-5', sha256(bytes), reader)).bytes.equals(Buffer.from(bytes))).toBe(true);
    // Another tenant stores its own.
    const globex = await mintToken({ sub: 'gus', tenant: 'globex', docs: { 'task-*': 'write' } });
    expect((await start(server, 'task-5', globex, bytes)).status).toBe(201);
    expect((await download(server, 'task-5', sha256(bytes), globex)).status).toBe(404);
  });

  test('a file referred to by document A is 404 through document B, and so is its signed URL', async () => {
    const bytes = fileBytes(5000);
    expect((await upload(server, 'task-a', writer, bytes)).status).toBe(201);
    expect((await download(server, 'task-a', sha256(bytes), API_KEY, '?tenant=acme')).status).toBe(200);
    expect((await download(server, 'task-b', sha256(bytes), API_KEY, '?tenant=acme')).status).toBe(404);
    expect((await call(server, 'POST', `${files('task-b')}/${sha256(bytes)}/url?tenant=acme`, { credential: API_KEY })).status).toBe(404);
    const signed = await call(server, 'POST', `${files('task-a')}/${sha256(bytes)}/url`, { credential: reader });
    const url = (signed.body.url as string).replace('/task-a/', '/task-b/');
    expect((await call(server, 'GET', url)).status).toBe(403);
  });
});

describe('resume', () => {
  test('a PATCH at the wrong offset gets 409 with the right one; HEAD tells it', async () => {
    const bytes = fileBytes(100_000);
    const id = (await start(server, 'task-6', writer, bytes)).body.upload as string;
    expect((await patch(server, 'task-6', id, 0, bytes.subarray(0, 40_000), writer)).status).toBe(200);
    const wrong = await patch(server, 'task-6', id, 0, bytes.subarray(0, 40_000), writer);
    expect(wrong.status).toBe(409);
    expect(wrong.body.offset).toBe(40_000);
    const ahead = await patch(server, 'task-6', id, 50_000, bytes.subarray(50_000), writer);
    expect(ahead.status).toBe(409);
    expect(ahead.body.offset).toBe(40_000);
    const head = await call(server, 'HEAD', uploadPath('task-6', id), { credential: writer });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe('40000');
    expect((await start(server, 'task-6', writer, bytes)).body).toMatchObject({ upload: id, offset: 40_000 });
    expect((await patch(server, 'task-6', id, 40_000, bytes.subarray(40_000), writer)).status).toBe(201);
    expect((await download(server, 'task-6', sha256(bytes), reader)).bytes.equals(Buffer.from(bytes))).toBe(true);
  });

  test('a chunk cut mid-body keeps nothing of it; the upload resumes from the stored offset to the right file', async () => {
    const bytes = fileBytes(2 * MiB + 500);
    const id = (await start(server, 'task-7', writer, bytes)).body.upload as string;
    expect((await patch(server, 'task-7', id, 0, bytes.subarray(0, MiB), writer)).status).toBe(200);

    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const chunk = bytes.subarray(MiB, 2 * MiB);
    const request = httpRequest({
      host: proxy.host,
      port: proxy.port,
      method: 'PATCH',
      path: uploadPath('task-7', id),
      headers: { Authorization: `Bearer ${writer}`, 'Content-Type': CHUNK_TYPE, 'Upload-Offset': String(MiB), 'Content-Length': String(chunk.byteLength) },
    });
    const ended = new Promise<string>((resolve) => {
      request.on('error', (error) => resolve(error.message));
      request.on('response', (response) => resolve(`answered ${response.statusCode}`));
    });
    request.write(chunk.subarray(0, chunk.byteLength / 2), () => proxy.cut());
    expect(await ended).not.toMatch(/^answered/);

    const head = await call(server, 'HEAD', uploadPath('task-7', id), { credential: writer });
    expect(head.headers.get('upload-offset')).toBe(String(MiB));
    expect((await patch(server, 'task-7', id, MiB, chunk, writer)).status).toBe(200);
    expect((await patch(server, 'task-7', id, 2 * MiB, bytes.subarray(2 * MiB), writer)).status).toBe(201);
    expect((await download(server, 'task-7', sha256(bytes), reader)).bytes.equals(Buffer.from(bytes))).toBe(true);
  });

  test('of two PATCHes racing at one offset, one wins and the other gets 409', async () => {
    const bytes = fileBytes(600_000);
    const id = (await start(server, 'task-8', writer, bytes)).body.upload as string;
    const racing = await Promise.all([
      patch(server, 'task-8', id, 0, bytes.subarray(0, 300_000), writer),
      patch(server, 'task-8', id, 0, bytes.subarray(0, 300_000), writer),
    ]);
    expect(racing.map((answer) => answer.status).sort()).toEqual([200, 409]);
    expect((await patch(server, 'task-8', id, 300_000, bytes.subarray(300_000), writer)).status).toBe(201);
    expect((await download(server, 'task-8', sha256(bytes), reader)).bytes.equals(Buffer.from(bytes))).toBe(true);
  });
});

describe('refusals', () => {
  test('over CONCORD_MAX_FILE_BYTES: 413; a chunk over chunkBytes: 413 before it is read', async () => {
    const declared = await call(server, 'POST', files('task-9'), { credential: writer, json: { hash: sha256(new Uint8Array(1)), size: 25 * MiB + 1, type: 'image/png', name: 'big.png' } });
    expect(declared.status).toBe(413);
    expect(declared.body.error).toMatch(/26214400/);
    const bytes = fileBytes(3 * MiB);
    const id = (await start(server, 'task-9', writer, bytes)).body.upload as string;
    const tooBig = await patch(server, 'task-9', id, 0, bytes.subarray(0, MiB + 1), writer);
    expect(tooBig.status).toBe(413);
    expect((await call(server, 'HEAD', uploadPath('task-9', id), { credential: writer })).headers.get('upload-offset')).toBe('0');
  });

  test('a type not in CONCORD_FILE_TYPES: 415; bytes that are not the PNG declared: 415, and the upload is discarded', async () => {
    for (const type of ['text/html', 'application/javascript', 'application/x-msdownload']) {
      expect((await start(server, 'task-10', writer, fileBytes(100), type)).status).toBe(415);
    }
    const script = new TextEncoder().encode('<script>alert(document.cookie)</script>'.repeat(10));
    const started = await start(server, 'task-10', writer, script, 'image/png');
    expect(started.status).toBe(201);
    const refused = await patch(server, 'task-10', started.body.upload as string, 0, script, writer);
    expect(refused.status).toBe(415);
    expect(refused.body.error).toMatch(/not image\/png/);
    expect((await call(server, 'HEAD', uploadPath('task-10', started.body.upload as string), { credential: writer })).status).toBe(404);
    expect((await download(server, 'task-10', sha256(script), reader)).status).toBe(404);
    // The same bytes as text are fine, and served as text; an SVG is stored but never served inline.
    expect((await upload(server, 'task-10', writer, script, 'text/plain')).status).toBe(201);
    const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
    expect((await upload(server, 'task-10', writer, svg, 'image/svg+xml')).status).toBe(201);
    expect((await download(server, 'task-10', sha256(svg), reader)).headers.get('content-disposition')).toBe('attachment');
  });

  test('a digest that does not match: 400, and the upload is discarded', async () => {
    const bytes = fileBytes(70_000);
    const other = fileBytes(70_000);
    const started = await call(server, 'POST', files('task-11'), { credential: writer, json: { hash: sha256(bytes), size: bytes.byteLength, type: 'image/png', name: 'a.png' } });
    const answer = await patch(server, 'task-11', started.body.upload as string, 0, other, writer);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(/SHA-256/);
    expect((await call(server, 'HEAD', uploadPath('task-11', started.body.upload as string), { credential: writer })).status).toBe(404);
    expect((await download(server, 'task-11', sha256(bytes), reader)).status).toBe(404);
    expect((await download(server, 'task-11', sha256(other), reader)).status).toBe(404);
  });
});

describe('signed URLs', () => {
  test('work without Authorization; 403 when tampered with', async () => {
    const bytes = fileBytes(4000);
    await upload(server, 'task-12', writer, bytes);
    const signed = await call(server, 'POST', `${files('task-12')}/${sha256(bytes)}/url`, { credential: reader });
    expect(signed.status).toBe(200);
    const url = signed.body.url as string;
    expect(url).toMatch(/^\/api\/documents\/task-12\/files\/[0-9a-f]{64}\?tenant=acme&expires=\d+&signature=[0-9a-f]{64}$/);
    expect(Math.abs((signed.body.expiresAt as number) - (Date.now() + 900_000))).toBeLessThan(60_000);
    const read = await call(server, 'GET', `${url}&name=photo.png`);
    expect(read.status).toBe(200);
    expect(read.bytes.equals(Buffer.from(bytes))).toBe(true);

    const expires = Number(new URL(url, server.url).searchParams.get('expires'));
    const tampered = [
      url.replace(/signature=([0-9a-f])/, (_, c: string) => `signature=${c === '0' ? '1' : '0'}`),
      url.replace(`expires=${expires}`, `expires=${expires + 1000}`),
      url.replace('tenant=acme', 'tenant=globex'),
      url.replace(/&signature=[0-9a-f]+/, '&signature=abc'),
      url.replace(/&signature=[0-9a-f]+/, ''),
    ];
    for (const bad of tampered) expect((await call(server, 'GET', bad)).status, bad).toBeGreaterThanOrEqual(401);
    for (const bad of tampered.slice(0, 4)) expect((await call(server, 'GET', bad)).status, bad).toBe(403);
  });

  test('403 once expired', async () => {
    const quick = await startTestServer({ apiKey: API_KEY, fileUrlSeconds: 1 });
    const bytes = fileBytes(2000);
    await upload(quick, 'task-13', writer, bytes);
    const { url } = (await call(quick, 'POST', `${files('task-13')}/${sha256(bytes)}/url`, { credential: reader })).body as { url: string };
    expect((await call(quick, 'GET', url)).status).toBe(200);
    await waitFor(async () => (await call(quick, 'GET', url)).status === 403, { timeoutMs: 5_000, message: 'the signed URL still works' });
  });
});

describe('references and cleanup', () => {
  test('attachments records add and drop references; the sweep removes a file unreferenced past the retention, keeps a referenced one', async () => {
    const own = await startTestServer({ apiKey: API_KEY });
    const kept = fileBytes(3000);
    const dropped = fileBytes(3000);
    // Stored through task-1's upload, then referred to by records of task-2 (a client's) and task-3 (the backend's).
    for (const bytes of [kept, dropped]) expect((await upload(own, 'task-1', writer, bytes)).status).toBe(201);
    expect((await download(own, 'task-2', sha256(kept), reader)).status).toBe(404);
    const client = hocuspocusClient(own, 'task-2', writer);
    await client.whenSynced();
    client.doc.transact(() => {
      const record = new Y.Map<unknown>();
      client.doc.getMap(ATTACHMENTS_COLLECTION).set('a-1', record);
      for (const [field, value] of Object.entries({ name: 'kept.png', size: kept.byteLength, type: 'image/png', hash: sha256(kept), state: 'uploaded', addedBy: 'ann', addedAt: Date.now() })) {
        writeField(record, field, value);
      }
    });
    await waitFor(async () => (await download(own, 'task-2', sha256(kept), reader)).status === 200, { message: 'the record did not refer task-2 to the file' });
    const record = (hash: string) => ({ name: 'f.png', size: 3000, type: 'image/png', hash, state: 'uploaded', addedBy: 'api', addedAt: Date.now() });
    await own.current.changeDocument('task-3', { records: { attachments: { 'b-1': record(sha256(dropped)) } } }, { tenant: 'acme' });
    await own.current.files.settled();
    expect((await download(own, 'task-3', sha256(dropped), reader)).status).toBe(200);

    // Every reference goes but task-2's record of `kept`: task-1's upload references through records removed there.
    await own.current.changeDocument('task-1', { records: { attachments: { 'c-1': record(sha256(kept)), 'c-2': record(sha256(dropped)) } } }, { tenant: 'acme' });
    await own.current.changeDocument('task-1', { records: { attachments: { 'c-1': null, 'c-2': null } } }, { tenant: 'acme' });
    await own.current.changeDocument('task-3', { records: { attachments: { 'b-1': null } } }, { tenant: 'acme' });
    await own.current.files.settled();
    expect((await download(own, 'task-3', sha256(dropped), reader)).status).toBe(404);
    expect((await download(own, 'task-1', sha256(kept), reader)).status).toBe(404);

    expect(await own.current.files.sweep(Date.now() + 6 * DAY)).toEqual({ files: 0, uploads: 0 });
    expect(await own.current.files.sweep(Date.now() + 8 * DAY)).toEqual({ files: 1, uploads: 0 });
    expect((await download(own, 'task-2', sha256(kept), reader)).bytes.equals(Buffer.from(kept))).toBe(true);
    expect((await start(own, 'task-3', writer, dropped)).status).toBe(201); // gone: to be sent again
    expect((await start(own, 'task-3', writer, kept)).status).toBe(200);

    // A record removed by the client drops its reference too; an upload left unfinished is swept with the retention.
    client.doc.getMap(ATTACHMENTS_COLLECTION).delete('a-1');
    await waitFor(async () => (await download(own, 'task-2', sha256(kept), reader)).status === 404, { message: 'the removed record still refers' });
    // task-3's dedup reference to kept lapses (no record backs it), and kept goes; the unfinished upload too.
    expect(await own.current.files.sweep(Date.now() + 8 * DAY)).toEqual({ files: 1, uploads: 1 });
  });

  test('a file uploaded for a document no record ever refers to is readable there at once and goes a retention later; one whose record arrives stays', async () => {
    const own = await startTestServer({ apiKey: API_KEY });
    const orphan = fileBytes(3000);
    const backed = fileBytes(3000);
    const abandoned = fileBytes(3000);
    for (const bytes of [orphan, backed]) {
      expect((await upload(own, 'task-40', API_KEY, bytes)).status).toBe(201);
      expect((await download(own, 'task-40', sha256(bytes), API_KEY)).bytes.equals(Buffer.from(bytes))).toBe(true);
    }
    expect((await start(own, 'task-41', API_KEY, orphan)).status).toBe(200); // a dedup answer refers task-41 too
    expect((await download(own, 'task-41', sha256(orphan), API_KEY)).status).toBe(200);
    expect((await start(own, 'task-40', API_KEY, abandoned)).status).toBe(201); // never sent
    const record = { name: 'f.png', size: 3000, type: 'image/png', hash: sha256(backed), state: 'uploaded', addedBy: 'api', addedAt: Date.now() };
    await own.current.changeDocument('task-40', { records: { attachments: { 'd-1': record } } });
    await own.current.files.settled();

    expect(await own.current.files.sweep(Date.now() + 6 * DAY)).toEqual({ files: 0, uploads: 0 });
    expect((await download(own, 'task-40', sha256(orphan), API_KEY)).status).toBe(200);
    expect(await own.current.files.sweep(Date.now() + 8 * DAY)).toEqual({ files: 1, uploads: 1 });
    expect((await download(own, 'task-40', sha256(orphan), API_KEY)).status).toBe(404);
    expect((await download(own, 'task-41', sha256(orphan), API_KEY)).status).toBe(404);
    expect((await download(own, 'task-40', sha256(backed), API_KEY)).bytes.equals(Buffer.from(backed))).toBe(true);
    expect((await start(own, 'task-40', API_KEY, orphan)).status).toBe(201); // gone: to be sent again
    expect(await own.current.files.sweep(Date.now() + 100 * DAY)).toEqual({ files: 0, uploads: 1 }); // the record keeps backed
    expect((await download(own, 'task-40', sha256(backed), API_KEY)).status).toBe(200);
  });
});

describe('bad input', () => {
  test('clear errors, nothing kept, and the server stays up', async () => {
    const bytes = fileBytes(10_000);
    const post = (raw: string, headers: Record<string, string> = {}) => call(server, 'POST', files('task-20'), { credential: writer, raw, headers });
    expect((await post('{"hash": ')).status).toBe(400);
    expect((await post(JSON.stringify({ hash: sha256(bytes), size: 10, type: 'image/png', name: 'x' }), { 'Content-Type': 'text/plain' })).status).toBe(415);
    const valid = { hash: sha256(bytes), size: bytes.byteLength, type: 'image/png', name: 'x.png' };
    for (const bad of [
      { ...valid, size: -1 },
      { ...valid, size: 1.5 },
      { ...valid, size: '10' },
      { ...valid, hash: 'ABC' },
      { ...valid, hash: sha256(bytes).toUpperCase() },
      { ...valid, type: 'png' },
      { ...valid, type: 'image/png; charset=x' },
      { ...valid, name: '' },
      { ...valid, name: 'x'.repeat(300) },
      [],
      null,
    ]) {
      const answer = await post(JSON.stringify(bad));
      expect(answer.status, JSON.stringify(bad)).toBe(400);
      expect(typeof answer.body.error).toBe('string');
    }
    expect((await post('x'.repeat(5000))).status).toBe(413);
    expect((await call(server, 'POST', files('inbox:ann'), { credential: API_KEY, json: valid })).status).toBe(400);
    expect((await call(server, 'POST', files('server:deadlines'), { credential: API_KEY, json: valid })).status).toBe(400);

    const id = (await post(JSON.stringify(valid))).body.upload as string;
    const send = (offset: string | undefined, body: Uint8Array, headers: Record<string, string> = {}) =>
      call(server, 'PATCH', uploadPath('task-20', id), { credential: writer, bytes: body, headers: { ...(offset === undefined ? {} : { 'Upload-Offset': offset }), ...headers } });
    expect((await send(undefined, bytes.subarray(0, 10))).status).toBe(400);
    expect((await send('-1', bytes.subarray(0, 10))).status).toBe(400);
    expect((await send('abc', bytes.subarray(0, 10))).status).toBe(400);
    expect((await send('20000', bytes.subarray(0, 10))).status).toBe(400); // beyond the size
    expect((await send('0', bytes.subarray(0, 10), { 'Content-Type': 'application/octet-stream' })).status).toBe(415);
    const beyond = await send('0', fileBytes(10_001));
    expect(beyond.status).toBe(400);
    expect(beyond.body.error).toMatch(/nothing was kept/);
    // Sent chunked (no Content-Length): counted as it is read.
    const chunked = await fetch(`${server.url}${uploadPath('task-20', id)}`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${writer}`, 'Content-Type': CHUNK_TYPE, 'Upload-Offset': '0' },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(fileBytes(6000));
          controller.enqueue(fileBytes(4001));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(400);
    expect(((await chunked.json()) as { error: string }).error).toMatch(/nothing was kept/);
    expect((await call(server, 'HEAD', uploadPath('task-20', id), { credential: writer })).headers.get('upload-offset')).toBe('0');
    expect((await patch(server, 'task-21', id, 0, bytes, writer)).status).toBe(404); // another document's upload
    for (const badId of ['..%2F..%2Fetc%2Fpasswd', 'not-a-uuid', id.toUpperCase(), `${id}.json`]) {
      expect((await patch(server, 'task-20', badId, 0, bytes, writer)).status, badId).toBe(400);
    }
    expect((await patch(server, 'task-20', randomUUID(), 0, bytes, writer)).status).toBe(404);
    for (const badHash of ['..%2F..%2Fetc%2Fpasswd', 'abc', `${sha256(bytes)}.json`]) {
      expect((await download(server, 'task-20', badHash, reader)).status, badHash).toBe(404);
    }
    const huge = await fetch(`${server.url}${files('task-20')}`, { method: 'POST', headers: { Authorization: `Bearer ${writer}`, 'X-Filler': 'x'.repeat(64 * 1024) } }).catch((error: Error) => error);
    expect(huge instanceof Error || huge.status === 431).toBe(true);

    expect((await send('0', bytes)).status).toBe(201); // the upload itself was never harmed
    expect((await download(server, 'task-20', sha256(bytes), reader)).bytes.equals(Buffer.from(bytes))).toBe(true);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

// Skipped (with a notice) only when PostgreSQL is unreachable outside CI; under CI=true it fails (support/postgres.ts).
describePostgres('attachments in PostgreSQL', () => {
  test('an upload resumed through another instance completes; every instance serves the file', async () => {
    const { url } = await freshSchema();
    const first = await startTestServer({ apiKey: API_KEY, databaseUrl: url });
    const second = await startTestServer({ apiKey: API_KEY, databaseUrl: url });
    const bytes = fileBytes(MiB + 1000);
    const id = (await start(first, 'task-30', writer, bytes)).body.upload as string;
    expect((await patch(first, 'task-30', id, 0, bytes.subarray(0, MiB), writer)).status).toBe(200);
    expect((await call(second, 'HEAD', uploadPath('task-30', id), { credential: writer })).headers.get('upload-offset')).toBe(String(MiB));
    expect((await patch(second, 'task-30', id, 0, bytes.subarray(0, MiB), writer)).status).toBe(409);
    expect((await patch(second, 'task-30', id, MiB, bytes.subarray(MiB), writer)).status).toBe(201);
    for (const instance of [first, second]) {
      expect((await download(instance, 'task-30', sha256(bytes), reader)).bytes.equals(Buffer.from(bytes))).toBe(true);
    }
    expect((await start(first, 'task-31', writer, bytes)).status).toBe(200);
    expect((await download(second, 'task-31', sha256(bytes), reader)).status).toBe(200);
    expect(await first.current.files.sweep(Date.now() + 6 * DAY)).toEqual({ files: 0, uploads: 0 });
    // No record refers to it: the upload's and the dedup answer's references lapse, and the file goes.
    expect(await first.current.files.sweep(Date.now() + 8 * DAY)).toEqual({ files: 1, uploads: 0 });
    expect((await download(second, 'task-30', sha256(bytes), reader)).status).toBe(404);
  });
});
