/**
 * Signed file URLs, for `<img src>` where no Authorization header can go: the path of a file of a document with
 * `tenant`, `expires` (ms since the epoch) and `signature`, the HMAC-SHA256 (hex) of tenant, document, hash and expiry
 * under the server's file secret. A URL is honoured while `expires` is in the future and the signature matches
 * (compared in constant time); nothing else in the query is signed (`name` only names the download).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What the HMAC covers: JSON, so no value can run into the next. */
function payload(tenant: string, document: string, hash: string, expires: number): string {
  return JSON.stringify([tenant, document, hash, expires]);
}

export class UrlSigner {
  private readonly secret: Buffer;

  constructor(secret: string | Buffer) {
    this.secret = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  }

  /**
   * The file secret: `CONCORD_FILE_SECRET` when set, else derived from the API key or the JWT secret (every instance
   * of a cluster has them, so derives the same), else a random key of this process (dev mode: URLs die with it).
   */
  static fromSettings(fileSecret: string | undefined, derivedFrom: string | undefined): UrlSigner {
    if (fileSecret !== undefined) return new UrlSigner(fileSecret);
    if (derivedFrom !== undefined) return new UrlSigner(createHmac('sha256', derivedFrom).update('concord file URLs').digest());
    return new UrlSigner(randomBytes(32));
  }

  sign(tenant: string, document: string, hash: string, expires: number): string {
    return createHmac('sha256', this.secret).update(payload(tenant, document, hash, expires)).digest('hex');
  }

  /** `/api/documents/<document>/files/<hash>?tenant=…&expires=…&signature=…` */
  url(tenant: string, document: string, hash: string, expires: number): string {
    const query = new URLSearchParams({ tenant, expires: String(expires), signature: this.sign(tenant, document, hash, expires) });
    return `/api/documents/${encodeURIComponent(document)}/files/${hash}?${query.toString()}`;
  }

  /** Whether `signature` is this server's for the file until `expires`, and `expires` is after `now`. */
  verify(tenant: string, document: string, hash: string, expires: number, signature: string, now: number): boolean {
    if (!Number.isSafeInteger(expires) || expires <= now || !/^[0-9a-f]{64}$/.test(signature)) return false;
    return timingSafeEqual(Buffer.from(this.sign(tenant, document, hash, expires), 'hex'), Buffer.from(signature, 'hex'));
  }
}
