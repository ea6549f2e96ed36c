/**
 * A raw client of the HTTP fallback of `/sync` (docs/http-fallback-design.md) for server tests: sessions opened with
 * `POST /api/sync/sessions`, hand-made frames POSTed with their seq, polls decoded record by record. Shared by
 * httpSync.test.ts and httpSyncLimits.test.ts.
 */
import { request as httpRequest } from 'node:http';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { expect } from 'vitest';
import * as Y from 'yjs';
import { frames } from '../support/clients.js';
import { onCleanup } from '../support/cleanup.js';
import type { TestServer } from '../support/server.js';
import { waitFor } from '../support/wait.js';

export const SESSIONS = '/api/sync/sessions';

/** Hocuspocus message types read here. */
export const SYNC = 0;
export const AUTH = 2;
export const SYNC_STATUS = 8;
export const PERMISSION_DENIED = 1;

export interface Records {
  readonly firstSeq: number;
  readonly frames: Uint8Array[];
  readonly close?: { code: number; reason: string };
}

export function readRecords(body: Uint8Array): Records {
  const decoder = decoding.createDecoder(body);
  const firstSeq = decoding.readVarUint(decoder);
  const out: Uint8Array[] = [];
  while (decoding.hasContent(decoder)) {
    if (decoding.readVarUint(decoder) === 1) {
      return { firstSeq, frames: out, close: { code: decoding.readVarUint(decoder), reason: decoding.readVarString(decoder) } };
    }
    out.push(decoding.readVarUint8Array(decoder));
  }
  return { firstSeq, frames: out };
}

/** A POST body: `varUint8Array` each. */
export function body(...list: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const encoder = encoding.createEncoder();
  for (const frame of list) encoding.writeVarUint8Array(encoder, frame);
  return encoding.toUint8Array(encoder) as Uint8Array<ArrayBuffer>;
}

export function typeOf(frame: Uint8Array): number {
  const decoder = decoding.createDecoder(frame);
  decoding.readVarString(decoder);
  return decoding.readVarUint(decoder);
}

/** A raw client of one session: every frame read so far, in order, and what it sent. */
export class RawSession {
  readonly received: Uint8Array[] = [];
  after = 0;
  seq = 1;
  close: { code: number; reason: string } | undefined;

  readonly server: TestServer;
  readonly id: string;
  readonly headers: Record<string, string>;

  constructor(server: TestServer, id: string, headers: Record<string, string> = {}) {
    this.server = server;
    this.id = id;
    this.headers = headers;
  }

  get url(): string {
    return `${this.server.url}${SESSIONS}/${this.id}`;
  }

  /** One poll from `after` (default: what was read); keeps what it reads. */
  async poll(after = this.after): Promise<{ status: number; records?: Records }> {
    const response = await fetch(`${this.url}?after=${after}`, { headers: this.headers });
    if (response.status !== 200) return { status: response.status };
    const records = readRecords(new Uint8Array(await response.arrayBuffer()));
    records.frames.forEach((frame, i) => {
      if (records.firstSeq + i > this.after) this.received.push(frame);
    });
    this.after = Math.max(this.after, records.firstSeq + records.frames.length - 1);
    if (records.close) {
      this.close = records.close;
      this.after += 1;
    }
    return { status: 200, records };
  }

  /** Polls until `check` holds for what was read. */
  async pollUntil(check: (received: Uint8Array[]) => boolean, message: string): Promise<void> {
    await waitFor(async () => check(this.received) || ((await this.poll()) && check(this.received)), { message, timeoutMs: 10_000 });
  }

  /** Polls until a close record was read; a 404 on the way fails at once (the close was lost). */
  async pollUntilClosed(message: string): Promise<{ code: number; reason: string }> {
    const read = await waitFor(async () => this.close ?? ((await this.poll()).status === 404 ? 'gone' : this.close), { message, timeoutMs: 10_000 });
    if (read === 'gone') throw new Error(`${message}: the session answered 404 before its close record was read`);
    return read;
  }

  async send(list: Uint8Array[], seq = this.seq): Promise<{ status: number; json: { received?: number; error?: string } }> {
    const response = await fetch(`${this.url}?seq=${seq}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', ...this.headers },
      body: body(...list),
    });
    if (seq === this.seq && response.status === 200) this.seq += list.length;
    return { status: response.status, json: (await response.json()) as { received?: number; error?: string } };
  }
}

export async function open(server: TestServer, headers: Record<string, string> = {}): Promise<RawSession> {
  const response = await fetch(`${server.url}${SESSIONS}`, { method: 'POST', headers });
  expect(response.status, await response.clone().text()).toBe(201);
  expect(response.headers.get('cache-control')).toBe('no-store');
  const opened = (await response.json()) as { session: string; heartbeatMs: number; maxBodyBytes: number };
  expect(opened.session).toMatch(/^[A-Za-z0-9_-]{22}$/);
  const session = new RawSession(server, opened.session, headers);
  onCleanup(() => fetch(`${session.url}/close`, { method: 'POST' }).then(() => undefined, () => undefined));
  return session;
}

/** A Sync Update frame of `document` whose update inserts `text`. */
export function textUpdate(document: string, text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  return frames.update(document, Y.encodeStateAsUpdate(doc));
}

/** A Sync step 1 of `document` with an empty state vector: "send me everything". */
export function syncStep1(document: string): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarString(encoder, document);
  encoding.writeVarUint(encoder, SYNC);
  encoding.writeVarUint(encoder, 0); // step 1
  encoding.writeVarUint8Array(encoder, Y.encodeStateVector(new Y.Doc()));
  return encoding.toUint8Array(encoder);
}

/** The document's text after applying every Sync frame of `document` read. */
export function textOf(received: Uint8Array[], document: string): string {
  const doc = new Y.Doc();
  for (const frame of received) {
    const decoder = decoding.createDecoder(frame);
    if (decoding.readVarString(decoder) !== document || decoding.readVarUint(decoder) !== SYNC) continue;
    const step = decoding.readVarUint(decoder);
    if (step === 0) continue; // SyncStep1: a state vector
    Y.applyUpdate(doc, decoding.readVarUint8Array(decoder));
  }
  return doc.getText('t').toString();
}

export const authenticated = (document: string) => (received: Uint8Array[]) =>
  received.some((frame) => frames.isAuthenticated(frame) && decoding.readVarString(decoding.createDecoder(frame)) === document);
export const acknowledgements = (received: Uint8Array[]) => received.filter((frame) => typeOf(frame) === SYNC_STATUS).length;

/**
 * A POST whose body is sent piece by piece (`write`), with the Content-Length of the whole: what the server answers
 * before the body is complete shows what it refused from the part it had.
 */
export function streamingPost(url: string, contentLength: number) {
  const request = httpRequest(url, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(contentLength) } });
  let answer: { status: number; json: { received?: number; error?: string } } | undefined;
  request.on('response', (response) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (text += chunk));
    response.on('end', () => (answer = { status: response.statusCode ?? 0, json: text === '' ? {} : JSON.parse(text) }));
  });
  request.on('error', () => {}); // the server may drop the rest of a refused body
  request.flushHeaders();
  onCleanup(() => request.destroy());
  return {
    write: (bytes: Uint8Array) => new Promise<void>((resolve, reject) => request.write(bytes, (error) => (error ? reject(error) : resolve()))),
    end: () => request.end(),
    answered: (message: string) => waitFor(() => answer, { message }),
  };
}

/** The head of a `varUint8Array` of `length` bytes: what announces a frame's length in a POST body. */
export function frameHead(length: number): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, length);
  return encoding.toUint8Array(encoder);
}
