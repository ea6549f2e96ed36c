/**
 * Version history from the client (`handle.versions()`, `handle.version(id)`, `handle.saveVersion(name)`,
 * `handle.restore(id)`): the server's HTTP API (`/api/documents/<name>/versions…`, SPEC §3) on the same host as the
 * sync socket, with the client's token, whose `docs` grant decides (read lists and reads; write names and restores).
 * A restore arrives on every open copy of the document, this one included, as an edit over the socket; the promise
 * resolves once the server has stored it (or with `durable: false` when its storage is failing: it is stored when it
 * recovers). These calls need the network: offline, or with the server out of reach, they reject with an `ApiError`
 * of status 0. A token the server refuses (401) is replaced once, when the token source can give another.
 */
import type { TokenProvider } from './token.js';
import type { RestoreResult, VersionInfo } from './types.js';

/** A refusal or failure of the server's HTTP API: the status and the server's message. */
export class ApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** `http(s)://host:port` (and any path before `/sync`) of a `ws(s)://…/sync` URL. */
export function apiBase(syncUrl: string): string {
  const url = new URL(syncUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
  url.pathname = url.pathname.replace(/\/sync\/?$/, '');
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/$/, '');
}

export class VersionsApi {
  private readonly base: string;
  private readonly tokens: TokenProvider;

  constructor(syncUrl: string, tokens: TokenProvider) {
    this.base = apiBase(syncUrl);
    this.tokens = tokens;
  }

  async list(document: string): Promise<VersionInfo[]> {
    const answer = (await this.json('GET', this.path(document))) as { versions: VersionInfo[] };
    return answer.versions;
  }

  async state(document: string, id: string): Promise<Uint8Array> {
    const response = await this.request('GET', `${this.path(document)}/${encodeURIComponent(id)}`);
    return new Uint8Array(await response.arrayBuffer());
  }

  async save(document: string, name: string): Promise<VersionInfo> {
    return (await this.json('POST', this.path(document), { name })) as VersionInfo;
  }

  async restore(document: string, id: string): Promise<RestoreResult> {
    return (await this.json('POST', `${this.path(document)}/${encodeURIComponent(id)}/restore`)) as RestoreResult;
  }

  private path(document: string): string {
    return `/api/documents/${encodeURIComponent(document)}/versions`;
  }

  private async json(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    return (await this.request(method, path, body)).json();
  }

  private async request(method: 'GET' | 'POST', path: string, body?: unknown, retried = false): Promise<Response> {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) {
      throw new ApiError(0, 'offline: version history needs the network');
    }
    const token = await this.tokens.fresh();
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new ApiError(0, `the server could not be reached: ${(error as Error).message}`);
    }
    // A refused token (expired while the device slept, say): once more with a new one, if the source can give it.
    if (response.status === 401 && !retried && this.tokens.canRefresh) {
      this.tokens.invalidate(token);
      return this.request(method, path, body, true);
    }
    if (!response.ok) {
      const message = await response
        .json()
        .then((answer: { error?: unknown }) => (typeof answer.error === 'string' ? answer.error : undefined))
        .catch(() => undefined);
      throw new ApiError(response.status, message ?? `the server answered ${response.status}`);
    }
    return response;
  }
}
