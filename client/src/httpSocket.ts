/**
 * A WebSocket made of HTTP requests, for networks that refuse WebSockets (docs/http-fallback-design.md): what the
 * provider sees is a `WebSocket` (`readyState`, `send`, `close`, and `open`/`message`/`close`/`error` events); what goes
 * on the wire is the server's HTTP fallback of `/sync` on the same host and port (server `http/syncApi.ts`), carrying
 * the same Hocuspocus frames, the token in them included.
 *
 * The rules it keeps:
 * - One poll (`GET …?after=<last seq read>`) and at most one POST are in flight. A poll that fails is tried once more
 *   with the same `after` (the server sends the same frames again, never twice); a second failure in a row, or a
 *   session the server no longer knows (404), closes the socket 1006, as a dropped WebSocket would.
 * - Frames sent in one turn go in one POST, numbered from the POST's `seq`; they stay queued until the server says it
 *   received them (`received`), so a retried POST is safe (the server drops what it has). A 200 means "received",
 *   never "durable": durability is still told by the SyncStatus frames the server sends.
 * - Pong frames are not sent: the next poll tells the server the client is alive.
 * - `close()` ends the session on the server (`…/close`) and fires `close` asynchronously, as a browser does; a close
 *   event dispatched from outside (Socket.dropConnection) stops the requests too.
 */
import { apiBase } from './http.js';

/** Hocuspocus' Pong frame (MessageType.Pong), which the provider sends in answer to the server's Ping. */
const PONG_FRAME_BYTE = 10;
/** RFC 6455 codes the shim closes with: the client's normal close, and a connection lost without one. */
const NORMAL_CLOSURE = 1000;
const ABNORMAL_CLOSURE = 1006;
/** How much longer than the server's hold a poll may take before it counts as lost. */
const POLL_GRACE_MS = 5_000;
/** A POST that got no answer is sent again after this long, once. */
const POST_RETRY_MS = 250;
/** Record kinds of a poll answer (server `sockets/HttpSession.ts`). */
const RECORD_FRAME = 0;
const RECORD_CLOSE = 1;

export const SYNC_SESSIONS_PATH = '/api/sync/sessions';

export interface HttpWebSocketOptions {
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

interface OpenAnswer {
  session: string;
  heartbeatMs: number;
  maxBodyBytes: number;
}

interface Queued {
  readonly seq: number;
  readonly bytes: Uint8Array;
}

function closeEvent(code: number, reason: string, wasClean: boolean): Event {
  if (typeof CloseEvent === 'function') return new CloseEvent('close', { code, reason, wasClean });
  return Object.assign(new Event('close'), { code, reason, wasClean });
}

function writeVarUint(out: number[], value: number): void {
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

/** lib0's varUint8Array framing of `frames`, one after the other. */
function encodeFrames(frames: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  const heads = frames.map((frame) => {
    const head: number[] = [];
    writeVarUint(head, frame.byteLength);
    length += head.length + frame.byteLength;
    return head;
  });
  const body = new Uint8Array(length);
  let at = 0;
  frames.forEach((frame, i) => {
    body.set(heads[i]!, at);
    at += heads[i]!.length;
    body.set(frame, at);
    at += frame.byteLength;
  });
  return body;
}

class Reader {
  private at = 0;
  private readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  get done(): boolean {
    return this.at >= this.bytes.byteLength;
  }

  uint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.at >= this.bytes.byteLength) throw new RangeError('truncated record');
      const byte = this.bytes[this.at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
  }

  bytesOf(): Uint8Array {
    const length = this.uint();
    if (this.at + length > this.bytes.byteLength) throw new RangeError('truncated record');
    const slice = this.bytes.slice(this.at, this.at + length);
    this.at += length;
    return slice;
  }

  string(): string {
    return new TextDecoder().decode(this.bytesOf());
  }
}

export class HttpWebSocket extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;

  readonly url: string;
  readonly protocol = '';
  readonly extensions = '';
  binaryType: BinaryType = 'arraybuffer';
  readyState = 0;

  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly requests = new AbortController();
  private session: OpenAnswer | null = null;
  private lastServerSeq = 0;
  private nextClientSeq = 1;
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private posting = false;
  private flushScheduled = false;
  private closeDispatched = false;
  private readonly pageHidden = () => this.sendGoodbye(1001, true);

  constructor(url: string | URL, options: HttpWebSocketOptions = {}) {
    super();
    this.url = String(url);
    this.base = `${apiBase(this.url)}${SYNC_SESSIONS_PATH}`;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    void this.open();
  }

  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  send(data: ArrayBufferLike | ArrayBufferView): void {
    if (this.readyState !== HttpWebSocket.OPEN) return;
    const bytes = ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice()
      : new Uint8Array(data as ArrayBuffer).slice();
    if (bytes.byteLength === 1 && bytes[0] === PONG_FRAME_BYTE) return;
    this.queue.push({ seq: this.nextClientSeq++, bytes });
    this.queuedBytes += bytes.byteLength;
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  close(code: number = NORMAL_CLOSURE, reason = ''): void {
    if (this.readyState === HttpWebSocket.CLOSING || this.readyState === HttpWebSocket.CLOSED) return;
    this.readyState = HttpWebSocket.CLOSING;
    this.sendGoodbye(code, false);
    this.stop();
    setTimeout(() => this.finish(code, reason, true), 0);
  }

  /** A close dispatched from outside (the client dropping a dead connection) ends the requests as well. */
  override dispatchEvent(event: Event): boolean {
    if (event.type === 'close' && !this.closeDispatched) {
      this.closeDispatched = true;
      if (this.readyState !== HttpWebSocket.CLOSED) {
        this.sendGoodbye(ABNORMAL_CLOSURE, false);
        this.stop();
        this.readyState = HttpWebSocket.CLOSED;
      }
    }
    return super.dispatchEvent(event);
  }

  private async open(): Promise<void> {
    try {
      const response = await this.fetch(this.base, { method: 'POST', cache: 'no-store', signal: this.requests.signal });
      if (response.status !== 201) {
        const message = ((await response.json().catch(() => ({}))) as { error?: string }).error ?? `HTTP ${response.status}`;
        throw new Error(message);
      }
      this.session = (await response.json()) as OpenAnswer;
    } catch (error) {
      if (this.readyState !== HttpWebSocket.CONNECTING) return;
      this.dispatchEvent(new Event('error'));
      this.finish(ABNORMAL_CLOSURE, error instanceof Error ? error.message : String(error), false);
      return;
    }
    if (this.readyState !== HttpWebSocket.CONNECTING) {
      this.sendGoodbye(NORMAL_CLOSURE, false); // closed while opening: the server's session goes too
      return;
    }
    this.readyState = HttpWebSocket.OPEN;
    (globalThis as { addEventListener?: EventTarget['addEventListener'] }).addEventListener?.('pagehide', this.pageHidden);
    this.dispatchEvent(new Event('open'));
    void this.pollLoop();
  }

  private sessionUrl(suffix = ''): string {
    return `${this.base}/${this.session!.session}${suffix}`;
  }

  private async pollLoop(): Promise<void> {
    let failures = 0;
    while (this.readyState === HttpWebSocket.OPEN) {
      const timeout = AbortSignal.timeout(this.session!.heartbeatMs + POLL_GRACE_MS);
      let response: Response;
      let body: Uint8Array;
      try {
        response = await this.fetch(this.sessionUrl(`?after=${this.lastServerSeq}`), {
          cache: 'no-store',
          signal: AbortSignal.any([this.requests.signal, timeout]),
        });
        body = new Uint8Array(await response.arrayBuffer());
      } catch {
        if (this.readyState !== HttpWebSocket.OPEN) return;
        if (++failures >= 2) return this.lost('the poll failed twice in a row');
        continue; // once more, with the same `after`
      }
      if (this.readyState !== HttpWebSocket.OPEN) return;
      if (response.status === 404) return this.lost('the server no longer knows the session');
      if (response.status !== 200 && response.status !== 204) {
        if (++failures >= 2) return this.lost(`the poll failed twice in a row (HTTP ${response.status})`);
        continue;
      }
      failures = 0;
      if (response.status === 200 && !this.read(body)) return;
    }
  }

  /** Dispatches the records of a poll answer; false once the socket closed. */
  private read(body: Uint8Array): boolean {
    const reader = new Reader(body);
    let seq = reader.uint();
    while (!reader.done) {
      const kind = reader.uint();
      if (kind === RECORD_CLOSE) {
        const code = reader.uint();
        const reason = reader.string();
        this.lastServerSeq = Math.max(this.lastServerSeq, seq);
        this.sendGoodbye(code, false); // tells the server its close was read
        this.stop();
        this.readyState = HttpWebSocket.CLOSING;
        this.finish(code, reason, true);
        return false;
      }
      if (kind !== RECORD_FRAME) throw new RangeError(`unknown record kind ${kind}`);
      const frame = reader.bytesOf();
      if (seq > this.lastServerSeq) {
        this.lastServerSeq = seq;
        this.dispatchEvent(new MessageEvent('message', { data: frame.buffer }));
        if (this.readyState !== HttpWebSocket.OPEN) return false;
      }
      seq += 1;
    }
    return true;
  }

  private async flush(): Promise<void> {
    if (this.posting || this.queue.length === 0 || this.readyState !== HttpWebSocket.OPEN) return;
    this.posting = true;
    let failures = 0;
    while (this.queue.length > 0 && this.readyState === HttpWebSocket.OPEN) {
      const batch: Queued[] = [];
      let bytes = 0;
      for (const queued of this.queue) {
        if (batch.length > 0 && bytes + queued.bytes.byteLength + 10 > this.session!.maxBodyBytes) break;
        batch.push(queued);
        bytes += queued.bytes.byteLength + 10;
      }
      let answer: { status: number; received?: number };
      try {
        const response = await this.fetch(this.sessionUrl(`?seq=${batch[0]!.seq}`), {
          method: 'POST',
          cache: 'no-store',
          headers: { 'Content-Type': 'application/octet-stream' },
          body: encodeFrames(batch.map((queued) => queued.bytes)),
          signal: this.requests.signal,
        });
        answer = { status: response.status, ...((await response.json().catch(() => ({}))) as { received?: number }) };
      } catch {
        if (this.readyState !== HttpWebSocket.OPEN) break;
        if (++failures >= 2) {
          this.lost('a POST failed twice in a row');
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, POST_RETRY_MS));
        continue;
      }
      if (answer.status === 404) {
        this.lost('the server no longer knows the session');
        break;
      }
      if (answer.status !== 200 && answer.status !== 409) break; // refused (400, 413): the server closes the session
      failures = 0;
      const received = answer.received ?? 0;
      while (this.queue.length > 0 && this.queue[0]!.seq <= received) this.queuedBytes -= this.queue.shift()!.bytes.byteLength;
    }
    this.posting = false;
  }

  /** The connection is gone without a close from the server: 1006, as a WebSocket whose TCP connection broke. */
  private lost(reason: string): void {
    if (this.readyState === HttpWebSocket.CLOSED) return;
    this.sendGoodbye(ABNORMAL_CLOSURE, false);
    this.stop();
    this.readyState = HttpWebSocket.CLOSING;
    this.finish(ABNORMAL_CLOSURE, reason, false);
  }

  /** Tells the server the client is leaving (best effort; `beacon` on pagehide, when fetches are cancelled). */
  private sendGoodbye(code: number, beacon: boolean): void {
    if (this.session === null || this.readyState === HttpWebSocket.CLOSED) return;
    const url = this.sessionUrl(`/close?code=${code}`);
    const nav = (globalThis as { navigator?: { sendBeacon?: (url: string) => boolean } }).navigator;
    if (beacon && typeof nav?.sendBeacon === 'function') {
      nav.sendBeacon(url);
      return;
    }
    this.fetch(url, { method: 'POST', cache: 'no-store', keepalive: true }).catch(() => {});
  }

  private stop(): void {
    this.requests.abort();
    (globalThis as { removeEventListener?: EventTarget['removeEventListener'] }).removeEventListener?.('pagehide', this.pageHidden);
  }

  private finish(code: number, reason: string, wasClean: boolean): void {
    if (this.closeDispatched) {
      this.readyState = HttpWebSocket.CLOSED;
      return;
    }
    this.stop();
    this.readyState = HttpWebSocket.CLOSED;
    this.closeDispatched = true;
    super.dispatchEvent(closeEvent(code, reason, wasClean));
  }
}
