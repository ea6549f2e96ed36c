/**
 * The upload queue: every file attached on this device that the server does not have yet, sent one at a time
 * whenever the client is connected (docs/attachments-design.md, HTTP API).
 *
 * The rule: an upload always continues from where the server says it is, never from where this client thinks it is.
 * It starts with `POST …/files` (a `200 complete` answer means the server has the file already: nothing is sent);
 * the server's upload id is kept with the queued upload, so after a dropped connection, a reload or a browser restart
 * the client first asks `HEAD …/uploads/<id>` how far the server got, and a `409` to a `PATCH` gives the offset too:
 * bytes the server has are never sent again. A failure that may pass (no answer, 5xx, 429) is retried with the
 * client's reconnect backoff (backoff.ts), and at once when a connection opens; nothing is tried while the socket is
 * closed (offline), and a request in flight is abandoned when it closes. A refusal for good (400: a digest or input
 * the server rejects, 403, 413, 415) marks the record `failed` with the server's reason, as do bytes gone from the
 * device. Either way the record is written first and the upload leaves the queue after, so a crash in between
 * repeats the (idempotent) ending. One tab of an origin uploads a given queued file at a time: it holds a Web Lock
 * named after the file's queue entry while it does (where the browser has Web Locks), and another tab that finds the
 * lock taken goes on with its other files and looks again once the lock is free (the file is then uploaded, or it
 * takes over). An upload whose record was removed leaves the queue at once (`cancel`), in flight or not.
 */
import { ObservableV2 } from 'lib0/observable';
import { reconnectDelayMs } from './backoff.js';
import { MissingFileError, queueKey, type DeviceFiles, type QueuedUpload, type StagedFile } from './deviceFiles.js';
import { ApiError, errorOf, type HttpApi } from './http.js';
import type { AttachmentProgress } from './types.js';

/** How long one request may take before it is given up (and retried): a 1 MiB chunk on a slow mobile link fits. */
export const UPLOAD_REQUEST_TIMEOUT_MS = 60_000;
/** The server's `chunkBytes` when it did not say (it always does). */
const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Uploads the server forgot (404) that are started again in a row before the attempt counts as failed. */
const RESTARTS_IN_A_ROW = 3;
const OFFSET_HEADER = 'Upload-Offset';
const CHUNK_TYPE = 'application/offset+octet-stream';

/** How an upload ended: the record is written with this. */
export type UploadEnding = { readonly state: 'uploaded' } | { readonly state: 'failed'; readonly error: string };

export interface UploadHost {
  readonly api: HttpApi;
  /** Where the bytes and the queue are kept (resolves the client's identity first). */
  files(): Promise<DeviceFiles>;
  /** The client's socket is open: the server is reachable. */
  online(): boolean;
  readonly maxDelayMs: number;
  /** Writes how an upload ended into its attachment record (opening the document when it is not open). */
  settle(document: string, id: string, ending: UploadEnding): Promise<void>;
  /** How an upload ended as its record says in this tab's copy of the document (if open); null when it does not say. */
  ended(document: string, id: string): UploadEnding | null;
}

export type UploadQueueEvents = {
  /** The queued uploads of `document` changed (one added, or one left). */
  change: (document: string) => void;
  progress: (document: string, progress: AttachmentProgress) => void;
};

/** An answer that ends an upload, as opposed to one that moves it on. */
class Refused extends Error {}
/** The upload left the queue while it ran (its document was revoked, the local data cleared). */
class Cancelled extends Error {}

/** Another tab holds the upload's lock. */
const BUSY = Symbol('busy');

/** The Web Locks of this origin, where the runtime has them. */
function webLocks(): LockManager | undefined {
  return typeof navigator === 'undefined' ? undefined : navigator.locks;
}

function retryable(status: number): boolean {
  return status === 0 || status === 401 || status === 408 || status === 429 || status >= 500;
}

async function offsetOf(response: Response): Promise<number> {
  const answer = (await response.json().catch(() => ({}))) as { offset?: unknown };
  if (typeof answer.offset !== 'number' || !Number.isSafeInteger(answer.offset) || answer.offset < 0) {
    throw new ApiError(0, `the server answered ${response.status} without an offset`);
  }
  return answer.offset;
}

export class UploadQueue extends ObservableV2<UploadQueueEvents> {
  private readonly host: UploadHost;
  private store: Promise<DeviceFiles> | null = null;
  private loaded: Promise<void> | null = null;
  /** What is queued, by `queueKey`, in the order it was attached. */
  private readonly items = new Map<string, QueuedUpload>();
  private readonly sent = new Map<string, number>();
  private running: Promise<void> | null = null;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: AbortController | null = null;
  /** The queue key of the upload being sent. */
  private sending: string | null = null;
  /** Queue keys of uploads another tab is sending (its lock is taken). */
  private readonly elsewhere = new Set<string>();
  private destroyed = false;

  constructor(host: UploadHost) {
    super();
    this.host = host;
  }

  /** Resolves once the queue stored on this device is read (a reload's uploads are known from then on). */
  ready(): Promise<void> {
    this.loaded ??= this.readStored().catch(() => {
      this.loaded = null; // read again at the next connection
    });
    return this.loaded ?? Promise.resolve();
  }

  /** Adds what is queued on the device and not here yet: a reload's uploads, or those another tab queued. */
  private async readStored(): Promise<void> {
    for (const upload of await (await this.files()).queued()) {
      if (this.items.has(queueKey(upload))) continue;
      this.items.set(queueKey(upload), upload);
      this.emit('change', [upload.document]);
    }
  }

  files(): Promise<DeviceFiles> {
    this.store ??= this.host.files();
    return this.store;
  }

  /** The uploads of `document` still to do, in the order they were attached. */
  waiting(document: string): QueuedUpload[] {
    return [...this.items.values()].filter((upload) => upload.document === document);
  }

  /** Starts writing a file's bytes to the device (attachments.ts writes them piece by piece, then calls `add`). */
  async stage(): Promise<StagedFile> {
    await this.ready();
    return (await this.files()).stage();
  }

  /** Keeps the staged bytes and queues the upload (both on the device before it resolves), then starts if connected. */
  async add(upload: QueuedUpload, staged: StagedFile): Promise<void> {
    await staged.keep(upload);
    this.queued(upload);
  }

  /** The upload's record came back (redo, undo of a removal): queued again while its bytes are on this device. */
  async requeue(upload: QueuedUpload): Promise<void> {
    if (this.items.has(queueKey(upload))) return;
    if (await (await this.files()).requeue(upload)) this.queued(upload);
  }

  /** The upload's record was removed: it leaves the queue, and stops if it is being sent (its bytes stay: `release`). */
  async cancel(upload: Pick<QueuedUpload, 'document' | 'id'>): Promise<void> {
    const key = queueKey(upload);
    if (this.items.delete(key)) {
      this.sent.delete(key);
      if (this.sending === key) this.inFlight?.abort();
      this.emit('change', [upload.document]);
    }
    await (await this.files()).dequeue(upload);
  }

  /** No record of `document` refers to the file any more: its bytes go when no other document on this device does. */
  async release(document: string, hash: string): Promise<void> {
    await (await this.files()).release(document, hash);
  }

  /**
   * A connection opened: try at once, whatever the backoff said, with what other tabs queued meanwhile too (a tab
   * closed before it was online leaves its files to the others).
   */
  connected(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.failures = 0;
    void this.ready()
      .then(() => this.readStored())
      .catch(() => {})
      .then(() => this.kick());
  }

  /** The connection closed: abandon the request in flight (it is resumed from the server's offset). */
  disconnected(): void {
    this.inFlight?.abort();
  }

  /** The document was revoked: its uploads stop and leave the queue, and the files only it used leave the device. */
  async forgetDocument(document: string): Promise<void> {
    const mine = this.waiting(document);
    for (const upload of mine) this.items.delete(queueKey(upload));
    if (mine.length > 0) this.emit('change', [document]);
    await (await this.files()).forgetDocument(document);
  }

  /** Stops and forgets everything queued; from now on files are kept in `replacement` (local data was cleared). */
  async replaceStore(replacement: DeviceFiles): Promise<void> {
    const documents = new Set([...this.items.values()].map((upload) => upload.document));
    this.items.clear();
    this.inFlight?.abort();
    const previous = this.store;
    this.store = Promise.resolve(replacement);
    this.loaded = Promise.resolve();
    for (const document of documents) this.emit('change', [document]);
    await (await previous?.catch(() => null))?.close();
  }

  override destroy(): void {
    this.destroyed = true;
    clearTimeout(this.retryTimer);
    this.inFlight?.abort();
    void this.store?.then((files) => files.close(), () => {});
    super.destroy();
  }

  private queued(upload: QueuedUpload): void {
    this.items.set(queueKey(upload), upload);
    this.emit('change', [upload.document]);
    this.report(upload, 'waiting');
    this.kick();
  }

  private kick(): void {
    if (this.destroyed || this.running || this.retryTimer !== undefined || !this.host.online()) return;
    this.running = this.run().finally(() => {
      this.running = null;
    });
  }

  private async run(): Promise<void> {
    while (!this.destroyed && this.host.online()) {
      const upload = [...this.items.values()].find((item) => !this.elsewhere.has(queueKey(item)));
      if (!upload) return;
      const files = await this.files();
      const outcome = await this.exclusively(files, upload, () => this.attempt(upload));
      if (outcome === BUSY) this.waitForOtherTab(files, upload);
      else if (outcome === 'stop') return;
    }
  }

  /** Runs `work` holding the upload's lock; `BUSY` when another tab holds it (without Web Locks: runs it). */
  private async exclusively<T>(files: DeviceFiles, upload: QueuedUpload, work: () => Promise<T>): Promise<T | typeof BUSY> {
    const locks = webLocks();
    if (!locks || files.scope === null) return work();
    return locks.request(`${files.scope}/upload/${queueKey(upload)}`, { ifAvailable: true }, (lock) => (lock ? work() : BUSY));
  }

  /** Another tab sends `upload`: once its lock is free, drop the upload if that tab ended it, else take it on. */
  private waitForOtherTab(files: DeviceFiles, upload: QueuedUpload): void {
    const key = queueKey(upload);
    this.elsewhere.add(key);
    void webLocks()!
      .request(`${files.scope}/upload/${key}`, async () => {
        const stored = await files.queued().catch(() => null);
        if (stored && !stored.some((item) => queueKey(item) === key) && this.items.delete(key)) {
          this.sent.delete(key);
          this.emit('change', [upload.document]);
          // The other tab ended it, failed or uploaded, and wrote which into the record: this tab tells only what its
          // copy of the record says. A copy that has not heard yet tells nothing; the record, once here, does.
          const ending = this.host.ended(upload.document, upload.id);
          if (ending) this.reportEnding(upload, ending);
        }
      })
      .finally(() => {
        this.elsewhere.delete(key);
        this.kick();
      });
  }

  /** One attempt at `upload`, ended and dequeued when it ends: 'next' to go on with the queue, 'stop' to wait. */
  private async attempt(upload: QueuedUpload): Promise<'next' | 'stop'> {
    const key = queueKey(upload);
    // Another tab may have finished it while this one waited for its lock.
    if (!(await (await this.files()).queued()).some((item) => queueKey(item) === key)) {
      if (this.items.delete(key)) this.emit('change', [upload.document]);
      return 'next';
    }
    let ending: UploadEnding;
    this.sending = key;
    try {
      ending = await this.send(upload);
    } catch (error) {
      if (this.destroyed) return 'stop';
      if (error instanceof Cancelled || !this.items.has(key)) return 'next';
      this.failures += 1;
      this.report(upload, 'waiting', (error as Error).message);
      this.retryLater();
      return 'stop';
    } finally {
      this.sending = null;
    }
    this.failures = 0;
    try {
      await this.host.settle(upload.document, upload.id, ending);
      await (await this.files()).dequeue(upload);
    } catch (error) {
      // The record could not be written now (the client is closing): the next attempt ends it again.
      this.failures += 1;
      this.report(upload, 'waiting', (error as Error).message);
      this.retryLater();
      return 'stop';
    }
    this.items.delete(key);
    this.sent.delete(key);
    this.emit('change', [upload.document]);
    this.reportEnding(upload, ending);
    return 'next';
  }

  private retryLater(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, reconnectDelayMs(this.failures, this.host.maxDelayMs));
  }

  /** Uploads `upload` from wherever the server is; resolves with how it ended, throws what may pass. */
  private async send(upload: QueuedUpload): Promise<UploadEnding> {
    const key = queueKey(upload);
    const base = `/api/documents/${encodeURIComponent(upload.document)}/files`;
    let current = upload;
    let offset: number | null = null;
    this.report(upload, 'uploading');
    try {
      if (current.upload !== null) offset = await this.ask(`${base}/uploads/${encodeURIComponent(current.upload)}`);
      for (let restarts = 0; ; ) {
        if (offset === null) {
          const started = await this.start(base, current);
          if (started === 'complete') return { state: 'uploaded' };
          current = started.upload;
          offset = started.offset;
          await (await this.files()).update(current);
          if (this.items.has(key)) this.items.set(key, current);
        }
        this.progressed(current, offset);
        const chunkBytes = current.chunkBytes ?? DEFAULT_CHUNK_BYTES;
        const bytes = await (await this.files()).read(current.hash, offset, Math.min(current.size, offset + chunkBytes));
        if (!this.items.has(key)) throw new Cancelled();
        const response = await this.call({
          method: 'PATCH',
          path: `${base}/uploads/${encodeURIComponent(current.upload!)}`,
          bytes,
          headers: { [OFFSET_HEADER]: String(offset), 'Content-Type': CHUNK_TYPE },
        });
        if (response.status === 201) return { state: 'uploaded' };
        if (response.status === 200 || response.status === 409) {
          offset = await offsetOf(response);
          restarts = 0;
          continue;
        }
        if (response.status === 404 && restarts < RESTARTS_IN_A_ROW) {
          restarts += 1; // the server forgot the upload (expired): start again, it says from where
          offset = null;
          continue;
        }
        throw await this.refusal(response);
      }
    } catch (error) {
      if (error instanceof Refused || error instanceof MissingFileError) return { state: 'failed', error: error.message };
      throw error;
    }
  }

  /** `POST …/files`: 'complete' when the server has the file, else the upload (with its id) and where it is. */
  private async start(base: string, upload: QueuedUpload): Promise<'complete' | { upload: QueuedUpload; offset: number }> {
    const { hash, size, type, name } = upload;
    const response = await this.call({ method: 'POST', path: base, json: { hash, size, type, name } });
    if (response.status === 200) {
      await response.body?.cancel().catch(() => {});
      return 'complete';
    }
    if (response.status !== 201) throw await this.refusal(response);
    const answer = (await response.json().catch(() => ({}))) as { upload?: unknown; offset?: unknown; chunkBytes?: unknown };
    if (typeof answer.upload !== 'string' || typeof answer.offset !== 'number') {
      throw new ApiError(0, 'the server answered 201 without an upload id and offset');
    }
    const chunkBytes = typeof answer.chunkBytes === 'number' && answer.chunkBytes > 0 ? answer.chunkBytes : null;
    return { upload: { ...upload, upload: answer.upload, chunkBytes }, offset: answer.offset };
  }

  /** `HEAD …/uploads/<id>`: where the server is, or null when it does not know the upload (any more). */
  private async ask(path: string): Promise<number | null> {
    const response = await this.call({ method: 'HEAD', path });
    if (response.status === 404) return null;
    const offset = Number(response.headers.get(OFFSET_HEADER));
    if (response.ok && Number.isSafeInteger(offset) && offset >= 0) return offset;
    if (response.ok) return null;
    throw await this.refusal(response);
  }

  /** A request that gives up after `UPLOAD_REQUEST_TIMEOUT_MS` or when the connection closes (status 0 either way). */
  private async call(request: { method: 'POST' | 'PATCH' | 'HEAD'; path: string; json?: unknown; bytes?: Uint8Array; headers?: Record<string, string> }): Promise<Response> {
    if (!this.host.online()) throw new ApiError(0, 'offline: the upload waits for a connection');
    const controller = new AbortController();
    this.inFlight = controller;
    try {
      return await this.host.api.send({
        ...request,
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(UPLOAD_REQUEST_TIMEOUT_MS)]),
        offline: 'offline: the upload waits for a connection',
      });
    } finally {
      if (this.inFlight === controller) this.inFlight = null;
    }
  }

  /** The error an answer means: `Refused` (ends the upload) or an `ApiError` that may pass (retried). */
  private async refusal(response: Response): Promise<Error> {
    const error = await errorOf(response);
    return retryable(response.status) ? error : new Refused(error.message);
  }

  private progressed(upload: QueuedUpload, offset: number): void {
    if (this.sent.get(queueKey(upload)) === offset) return;
    this.report(upload, 'uploading', undefined, offset);
  }

  private reportEnding(upload: QueuedUpload, ending: UploadEnding): void {
    if (ending.state === 'uploaded') this.report(upload, 'uploaded', undefined, upload.size);
    else this.report(upload, 'failed', ending.error);
  }

  private report(upload: QueuedUpload, state: AttachmentProgress['state'], error?: string, sent?: number): void {
    const key = queueKey(upload);
    if (sent !== undefined) this.sent.set(key, sent);
    const progress: AttachmentProgress = {
      id: upload.id,
      hash: upload.hash,
      name: upload.name,
      state,
      sent: sent ?? this.sent.get(key) ?? 0,
      total: upload.size,
      ...(error === undefined ? {} : { error }),
    };
    this.emit('progress', [upload.document, Object.freeze(progress)]);
  }
}
