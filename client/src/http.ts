/**
 * The server's HTTP API as the client calls it (`/api/…` on the host of the sync socket): the base URL, the token, one
 * retry with a new token after a 401, and failures as `ApiError`s.
 *
 * The rule: a request carries the client's current token (`TokenProvider.fresh()`); a token the server refuses (401)
 * is replaced once, when the token source can give another. A request that never got an answer (offline, the server
 * out of reach, the connection cut) is an `ApiError` of status 0, never a bare `TypeError`, so callers tell "try
 * again later" from a refusal by the status alone.
 */
import type { TokenProvider } from './token.js';

/** A refusal or failure of the server's HTTP API: the status (0: no answer) and the server's message. */
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

export interface ApiRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'HEAD';
  /** From `/api` on. */
  readonly path: string;
  /** Sent as JSON. */
  readonly json?: unknown;
  /** Sent as they are (with `headers` saying what they are). */
  readonly bytes?: Uint8Array;
  readonly headers?: Readonly<Record<string, string>>;
  /** Gives up (status 0) when this aborts. */
  readonly signal?: AbortSignal;
  /** The message of the status-0 error thrown at once while the browser says it is offline. */
  readonly offline: string;
}

/** The server's message in an error answer (`{"error": "..."}`), or a sentence with the status. */
export async function errorOf(response: Response): Promise<ApiError> {
  const message = await response
    .json()
    .then((answer: { error?: unknown }) => (typeof answer.error === 'string' ? answer.error : undefined))
    .catch(() => undefined);
  return new ApiError(response.status, message ?? `the server answered ${response.status}`);
}

export class HttpApi {
  /** `http(s)://host:port`, see `apiBase`. */
  readonly base: string;
  private readonly tokens: TokenProvider;

  constructor(syncUrl: string, tokens: TokenProvider) {
    this.base = apiBase(syncUrl);
    this.tokens = tokens;
  }

  /** The server's answer, whatever its status (a 401 is retried once with a new token); throws only status 0. */
  async send(request: ApiRequest, retried = false): Promise<Response> {
    if (typeof navigator !== 'undefined' && navigator.onLine === false) throw new ApiError(0, request.offline);
    const token = await this.tokens.fresh();
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, ...request.headers };
    if (request.json !== undefined) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.base}${request.path}`, {
        method: request.method,
        headers,
        ...(request.json !== undefined ? { body: JSON.stringify(request.json) } : request.bytes ? { body: request.bytes as BodyInit } : {}),
        ...(request.signal ? { signal: request.signal } : {}),
      });
    } catch (error) {
      throw new ApiError(0, `the server could not be reached: ${(error as Error).message}`);
    }
    // A refused token (expired while the device slept, say): once more with a new one, if the source can give it.
    if (response.status === 401 && !retried && this.tokens.canRefresh) {
      await response.body?.cancel().catch(() => {});
      this.tokens.invalidate(token);
      return this.send(request, true);
    }
    return response;
  }

  /** The answer of a request that must succeed: any status other than 2xx is thrown as an `ApiError`. */
  async request(request: ApiRequest): Promise<Response> {
    const response = await this.send(request);
    if (!response.ok) throw await errorOf(response);
    return response;
  }
}
