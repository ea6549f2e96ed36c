/**
 * Version history from the client (`handle.versions()`, `handle.version(id)`, `handle.saveVersion(name)`,
 * `handle.restore(id)`): the server's HTTP API (`/api/documents/<name>/versions…`, SPEC §3) on the same host as the
 * sync socket, with the client's token, whose `docs` grant decides (read lists and reads; write names and restores).
 * A restore arrives on every open copy of the document, this one included, as an edit over the socket; the promise
 * resolves once the server has stored it (or with `durable: false` when its storage is failing: it is stored when it
 * recovers). These calls need the network: offline, or with the server out of reach, they reject with an `ApiError`
 * of status 0. A token the server refuses (401) is replaced once, when the token source can give another.
 */
import { HttpApi } from './http.js';
import type { TokenProvider } from './token.js';
import type { RestoreResult, VersionInfo } from './types.js';

export { ApiError, apiBase } from './http.js';

export class VersionsApi {
  private readonly api: HttpApi;

  constructor(syncUrl: string, tokens: TokenProvider) {
    this.api = new HttpApi(syncUrl, tokens);
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

  private request(method: 'GET' | 'POST', path: string, json?: unknown): Promise<Response> {
    return this.api.request({ method, path, json, offline: 'offline: version history needs the network' });
  }
}
