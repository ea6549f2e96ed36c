/**
 * Close codes and error kinds, defined once for server, client and tests.
 *
 * WebSocket close codes 4000–4999 are free for applications; Concord follows Hocuspocus (4401, 4403, 4408, 4205)
 * and HTTP status numbers where one fits, so a code reads the same in logs, in the browser and in a proxy.
 */

export const CloseCode = {
  /** RFC 6455: the server is going away, or dropped an idle connection; clients reconnect. */
  GoingAway: 1001,
  /** RFC 6455: a frame was larger than the server accepts (`CONCORD_MAX_MESSAGE_BYTES`). */
  MessageTooBig: 1009,
  /** RFC 6455: the server hit an unexpected condition handling this connection; clients reconnect. */
  InternalError: 1011,
  /** RFC 6455: the server is restarting; clients reconnect with backoff. */
  ServiceRestart: 1012,
  /** Hocuspocus' ResetConnection: the server dropped the connection; clients reconnect. */
  ResetConnection: 4205,
  /**
   * The client sent bytes that are not a valid message (bad framing, malformed Yjs update), or a token of another user
   * or tenant on an open connection. Not retried as-is.
   */
  MalformedMessage: 4400,
  /** Hocuspocus' Unauthorized: missing, malformed, badly signed or expired token. */
  Unauthorized: 4401,
  /** Hocuspocus' Forbidden: the token is valid but does not grant this document (or this origin). */
  Forbidden: 4403,
  /** Hocuspocus' ConnectionTimeout: nothing received for longer than the server's timeout. */
  ConnectionTimeout: 4408,
  /**
   * The client stopped reading: the server held more unsent bytes for it than `CONCORD_MAX_SEND_BUFFER_BYTES` (HTTP
   * 507, insufficient storage). Clients reconnect and sync afresh.
   */
  SendBufferFull: 4507,
  /**
   * No document authenticated within the server's deadline after the socket opened (`CONCORD_AUTH_TIMEOUT_MS`). The
   * same number as ConnectionTimeout on purpose: stock clients reconnect on it (a slow token fetch is not final).
   */
  AuthenticationTimeout: 4408,
  /** More messages, bytes or presence updates a second than the server allows one connection (token bucket); reconnect with backoff. */
  RateLimited: 4429,
  /** The user already has as many open connections as the server allows one user; the newest one is closed. */
  TooManyConnections: 4430,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Reasons sent with 4401/4403, spelled as Hocuspocus spells them so stock providers recognise them. */
export const CloseReason = {
  Unauthorized: 'Unauthorized',
  Forbidden: 'Forbidden',
  SendBufferFull: 'Send buffer full: the client stopped reading',
  /** A session ended because its user's access was revoked (SPEC §3 revocations); 4403 on `/y/`. */
  Revoked: 'revoked',
  /** A token of another user or tenant sent on a connection (4400): identity is bound to the connection. */
  IdentityChanged: 'Malformed message: a token of another user or tenant on this connection',
  AuthenticationTimeout: 'Authentication timeout',
  /** Too much data before the first authentication (`CONCORD_MAX_BYTES_BEFORE_AUTH`); sent with 1009. */
  TooMuchBeforeAuthentication: 'Too much data before authentication',
  TooManyConnections: 'Too many connections for this user',
  /** Sent with PermissionDenied for a document beyond `CONCORD_MAX_DOCUMENTS_PER_CONNECTION`; the socket stays. */
  TooManyDocuments: 'too-many-documents',
} as const;

/** Close reasons sent with 4429, naming the bucket that ran dry. */
export const RateLimitReason = {
  Messages: 'Rate limit exceeded: messages',
  Bytes: 'Rate limit exceeded: bytes',
  Awareness: 'Rate limit exceeded: presence updates',
} as const;

/** What went wrong, as a stable string apps and tests can branch on. */
export const ErrorKind = {
  MissingToken: 'missing-token',
  InvalidToken: 'invalid-token',
  TokenExpired: 'token-expired',
  InvalidClaims: 'invalid-claims',
  DocumentNotGranted: 'document-not-granted',
  /** The token was issued before a revocation of this document for its user (SPEC §3 `POST /api/revocations`). */
  Revoked: 'revoked',
  TenantMismatch: 'tenant-mismatch',
  InvalidDocumentName: 'invalid-document-name',
  InvalidTenant: 'invalid-tenant',
  MalformedMessage: 'malformed-message',
  MessageTooBig: 'message-too-big',
  InvalidField: 'invalid-field',
  UnknownField: 'unknown-field',
  InvalidSchema: 'invalid-schema',
  InvalidChannel: 'invalid-channel',
  InvalidEvent: 'invalid-event',
  /** A revocation whose user, documents glob or access is not valid. */
  InvalidRevocation: 'invalid-revocation',
  /** A write to a field someone else holds a lock on (they are editing it), made without `force`. */
  FieldLocked: 'field-locked',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

/** Base of every error Concord throws on purpose: `kind` is stable, `message` is for people. */
export class ConcordError extends Error {
  readonly kind: ErrorKind;

  constructor(kind: ErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConcordError';
    this.kind = kind;
  }
}
