/**
 * Server configuration: one table of settings drives the environment variables, the `concord serve` flags and
 * their validation, so the three never disagree. Every value is checked at start; a bad one stops the server with a
 * message that names the variable and the flag, what was expected and what was given.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { DEFAULT_FILE_TYPES, parseFileTypes } from './files/fileTypes.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const MIB = 1024 * 1024;
/** Large enough for a first sync of a big offline document, small enough that one client cannot exhaust memory. */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * MIB;
/** A few first syncs of an ordinary document, or hundreds of typing bursts, that a client has not read yet. */
export const DEFAULT_MAX_SEND_BUFFER_BYTES = 4 * MIB;
const MIN_SECRET_LENGTH = 32;
/** A pattern of CONCORD_FILE_TYPES: `type/subtype`, or a prefix of one ending in `*`. */
const FILE_TYPE_PATTERN = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/(?:[a-z0-9!#$&^_.+-]*\*|[a-z0-9][a-z0-9!#$&^_.+-]*)$/;
/** Updates a connection may have held back at once (sockets/UpdateGate.ts). */
export const DEFAULT_MAX_HELD_UPDATES_PER_CONNECTION = 512;
export const DEFAULT_MAX_HELD_UPDATE_BYTES_PER_CONNECTION = 16 * MIB;
/** Incomplete updates held for one document across its connections. */
export const DEFAULT_MAX_HELD_UPDATES_PER_DOCUMENT = 2048;

const optionalString = z
  .string()
  .transform((value) => value.trim())
  .optional()
  .transform((value) => (value ? value : undefined));

const TRUE_WORDS = new Set(['true', 'on', 'yes', '1']);
const FALSE_WORDS = new Set(['false', 'off', 'no', '0']);

function onOffOrUnset() {
  return z.preprocess(
    (value) => {
      if (typeof value !== 'string') return value;
      const word = value.trim().toLowerCase();
      return TRUE_WORDS.has(word) ? true : FALSE_WORDS.has(word) ? false : value;
    },
    z.boolean({ message: 'must be true or false (on/off, yes/no, 1/0)' }).optional(),
  );
}

function onOff(defaultValue: boolean) {
  return onOffOrUnset().default(defaultValue);
}

/** Who may read `/metrics`. */
export const METRICS_ACCESS = ['public', 'api-key', 'off'] as const;
export type MetricsAccess = (typeof METRICS_ACCESS)[number];

function url(protocols: readonly string[]) {
  return optionalString.refine(
    (value) => {
      if (value === undefined) return true;
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );
}

/** Each setting: its environment variable, its CLI flag, what it means, and how a given value is checked. */
export const SETTINGS = {
  port: {
    env: 'PORT',
    flag: '--port <number>',
    description: 'listen port (0 picks a free one)',
    schema: z.coerce
      .number({ message: 'must be a port number' })
      .int('must be a whole number')
      .min(0, 'must be between 0 and 65535')
      .max(65535, 'must be between 0 and 65535')
      .default(8080),
  },
  host: {
    env: 'HOST',
    flag: '--host <address>',
    description: 'listen address',
    schema: z.string().trim().min(1, 'must not be empty').default('127.0.0.1'),
  },
  dataDir: {
    env: 'CONCORD_DATA_DIR',
    flag: '--data-dir <path>',
    description: 'embedded LevelDB storage directory',
    schema: z.string().trim().min(1, 'must not be empty').default('./data'),
  },
  authSecret: {
    env: 'CONCORD_AUTH_SECRET',
    flag: '--auth-secret <secret>',
    description: 'HS256 secret for JWTs; unset (with no JWKS) means dev mode',
    schema: optionalString.refine((value) => value === undefined || value.length >= MIN_SECRET_LENGTH, {
      message: `must be at least ${MIN_SECRET_LENGTH} characters (256 bits for HS256)`,
    }),
  },
  authJwksUrl: {
    env: 'CONCORD_AUTH_JWKS_URL',
    flag: '--auth-jwks-url <url>',
    description: 'verify RS256/ES256 JWTs against this JWKS',
    schema: url(['http:', 'https:']),
  },
  databaseUrl: {
    env: 'CONCORD_DATABASE_URL',
    flag: '--database-url <url>',
    description: 'PostgreSQL storage shared by instances',
    schema: url(['postgres:', 'postgresql:']),
  },
  redisUrl: {
    env: 'CONCORD_REDIS_URL',
    flag: '--redis-url <url>',
    description: 'Redis that joins instances sharing CONCORD_DATABASE_URL into one cluster (scale-out)',
    schema: url(['redis:', 'rediss:']),
  },
  maxMessageBytes: {
    env: 'CONCORD_MAX_MESSAGE_BYTES',
    flag: '--max-message-bytes <bytes>',
    description: 'largest accepted WebSocket frame',
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(1024, 'must be at least 1024 bytes')
      .max(1024 * MIB, 'must be at most 1 GiB')
      .default(DEFAULT_MAX_MESSAGE_BYTES),
  },
  maxSendBufferBytes: {
    env: 'CONCORD_MAX_SEND_BUFFER_BYTES',
    flag: '--max-send-buffer-bytes <bytes>',
    description:
      'close (4507) a connection that stops reading once the server holds this many bytes unsent for it (one larger frame, such as a first sync, still goes to a client that reads)',
    // 4 MiB: hundreds of typing bursts or a few first syncs of an ordinary document; a thousand stalled sockets cost
    // at most ~4 GiB plus one frame each instead of whatever they ask for.
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(64 * 1024, 'must be at least 65536 bytes')
      .max(1024 * MIB, 'must be at most 1 GiB')
      .default(DEFAULT_MAX_SEND_BUFFER_BYTES),
  },
  maxAwarenessStates: {
    env: 'CONCORD_MAX_AWARENESS_STATES',
    flag: '--max-awareness-states <count>',
    description:
      'awareness client ids one connection may introduce per document (a provider has one, its Y.Doc\'s; the rest is room for an app with a second awareness)',
    schema: z.coerce
      .number({ message: 'must be a number of client ids' })
      .int('must be a whole number')
      .min(1, 'must be at least 1 (every provider needs its own)')
      .max(1000, 'must be at most 1000')
      .default(4),
  },
  maxAwarenessStateBytes: {
    env: 'CONCORD_MAX_AWARENESS_STATE_BYTES',
    flag: '--max-awareness-state-bytes <bytes>',
    description:
      'largest presence (awareness) state, as JSON: user, cursor, page and typing take a few hundred bytes; every peer receives each state',
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(256, 'must be at least 256 bytes')
      .max(64 * MIB, 'must be at most 64 MiB')
      .default(16 * 1024),
  },
  maxHeldUpdatesPerConnection: {
    env: 'CONCORD_MAX_HELD_UPDATES_PER_CONNECTION',
    flag: '--max-held-updates-per-connection <count>',
    description:
      'close (4400) a connection with more updates than this held back, waiting for what they depend on (or for their document to load)',
    // An honest client has none held once its document is open, and a few keystrokes while it opens; 512 covers a
    // fast typist through a slow load, and 512 junk updates cost the server ~1 ms to re-check per document change.
    schema: z.coerce
      .number({ message: 'must be a number of updates' })
      .int('must be a whole number of updates')
      .min(16, 'must be at least 16')
      .max(1_000_000, 'must be at most 1000000')
      .default(DEFAULT_MAX_HELD_UPDATES_PER_CONNECTION),
  },
  maxHeldUpdateBytesPerConnection: {
    env: 'CONCORD_MAX_HELD_UPDATE_BYTES_PER_CONNECTION',
    flag: '--max-held-update-bytes-per-connection <bytes>',
    description: 'close (4400) a connection holding more bytes than this in updates held back',
    // Two largest frames at the default CONCORD_MAX_MESSAGE_BYTES: a first sync sent while the document loads fits.
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(64 * 1024, 'must be at least 65536 bytes')
      .max(1024 * MIB, 'must be at most 1 GiB')
      .default(DEFAULT_MAX_HELD_UPDATE_BYTES_PER_CONNECTION),
  },
  maxHeldUpdatesPerDocument: {
    env: 'CONCORD_MAX_HELD_UPDATES_PER_DOCUMENT',
    flag: '--max-held-updates-per-document <count>',
    description:
      'close (4400) the connection that would take a document past this many incomplete updates held across its connections',
    // Re-checking them all on each change of the document stays under ~5 ms; honest clients hold none.
    schema: z.coerce
      .number({ message: 'must be a number of updates' })
      .int('must be a whole number of updates')
      .min(16, 'must be at least 16')
      .max(1_000_000, 'must be at most 1000000')
      .default(DEFAULT_MAX_HELD_UPDATES_PER_DOCUMENT),
  },
  maxBytesBeforeAuth: {
    env: 'CONCORD_MAX_BYTES_BEFORE_AUTH',
    flag: '--max-bytes-before-auth <bytes>',
    description:
      'bytes a socket may send before its first document is authenticated, per frame and in all (Auth frames aside, which are answered, not held; over it: close 1009)',
    // 64 KiB: an Auth frame with a large token and a provider's first sync and presence fit many times over; 150
    // sockets that each send a full 8 MiB frame before authenticating took 1.2 GB (issue 14), at this budget 10 MB.
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(4096, 'must be at least 4096 bytes')
      .max(1024 * MIB, 'must be at most 1 GiB')
      .default(64 * 1024),
  },
  authTimeoutMs: {
    env: 'CONCORD_AUTH_TIMEOUT_MS',
    flag: '--auth-timeout-ms <ms>',
    description: 'close a socket with 4408 when no document authenticated within this long after it opened',
    // 5 s: a provider sends its token as soon as the socket opens (or after its token function answers); a socket that
    // authenticated nothing by then costs memory for no one, and a client that was merely slow reconnects.
    schema: z.coerce
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(500, 'must be at least 500 ms')
      .max(120_000, 'must be at most 120000 ms')
      .default(5_000),
  },
  maxUnauthenticatedConnections: {
    env: 'CONCORD_MAX_UNAUTHENTICATED_CONNECTIONS',
    flag: '--max-unauthenticated-connections <count>',
    description: 'sockets open at once that have not authenticated a document yet; upgrades beyond it get HTTP 503',
    // 2000: every client of a busy server reconnecting at once after a restart authenticates within a round trip or
    // two, and those refused retry with backoff; 1000 viewers of the fan-out benchmark connect at once.
    schema: z.coerce
      .number({ message: 'must be a number of sockets' })
      .int('must be a whole number of sockets')
      .min(1, 'must be at least 1')
      .default(2_000),
  },
  maxConnections: {
    env: 'CONCORD_MAX_CONNECTIONS',
    flag: '--max-connections <count>',
    description: 'open sockets in all; upgrades beyond it get HTTP 503',
    // 20 000: an idle socket costs a few KiB (test/bench idle row), so this is well under 1 GB, and within the file
    // descriptors of a default systemd service (LimitNOFILE 524288) or a raised ulimit.
    schema: z.coerce
      .number({ message: 'must be a number of sockets' })
      .int('must be a whole number of sockets')
      .min(1, 'must be at least 1')
      .default(20_000),
  },
  maxConnectionsPerIp: {
    env: 'CONCORD_MAX_CONNECTIONS_PER_IP',
    flag: '--max-connections-per-ip <count>',
    description: 'open sockets from one remote address (loopback included); upgrades beyond it get HTTP 429',
    // 10 000: high, because one address can be a whole office behind NAT or a local proxy (then every client is
    // 127.0.0.1; lower it when clients connect directly), and the benchmarks open 5 000 sockets from 127.0.0.1.
    schema: z.coerce
      .number({ message: 'must be a number of sockets' })
      .int('must be a whole number of sockets')
      .min(1, 'must be at least 1')
      .default(10_000),
  },
  maxConnectionsPerUser: {
    env: 'CONCORD_MAX_CONNECTIONS_PER_USER',
    flag: '--max-connections-per-user <count>',
    description: 'open sockets of one user (token `sub`), counted once authenticated; the newest beyond it is closed with 4430',
    // 10 000: a person needs a few (one per tab, one per /y/ document), but service accounts and the benchmarks use
    // one token for thousands of sockets; lower it when every token is a person.
    schema: z.coerce
      .number({ message: 'must be a number of sockets' })
      .int('must be a whole number of sockets')
      .min(1, 'must be at least 1')
      .default(10_000),
  },
  messagesPerSecond: {
    env: 'CONCORD_MESSAGES_PER_SECOND',
    flag: '--messages-per-second <count>',
    description: 'messages one socket may send a second, sustained (token bucket; beyond it and its burst: close 4429)',
    // 50 000: a script writing as fast as the server acknowledges (64 edits in flight, test/bench writers) sends about
    // 18 000 a second here; typing with cursors is about 40.
    schema: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').default(50_000),
  },
  messagesBurst: {
    env: 'CONCORD_MESSAGES_BURST',
    flag: '--messages-burst <count>',
    description: 'messages one socket may send at once above its sustained rate',
    schema: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').default(10_000),
  },
  bytesPerSecond: {
    env: 'CONCORD_BYTES_PER_SECOND',
    flag: '--bytes-per-second <bytes>',
    description: 'bytes one socket may send a second, sustained (token bucket; beyond it and its burst: close 4429)',
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(1024, 'must be at least 1024 bytes')
      .default(16 * MIB),
  },
  bytesBurst: {
    env: 'CONCORD_BYTES_BURST',
    flag: '--bytes-burst <bytes>',
    description: 'bytes one socket may send at once above its sustained rate (at least the largest frame)',
    // 64 MiB: a client back from a long offline stretch syncs several large documents at once.
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(1024, 'must be at least 1024 bytes')
      .default(64 * MIB),
  },
  awarenessPerSecond: {
    env: 'CONCORD_AWARENESS_PER_SECOND',
    flag: '--awareness-per-second <count>',
    description: 'presence (awareness) updates one socket may send a second, sustained (beyond it and its burst: close 4429)',
    // 100: a cursor moved with the mouse updates presence at about the screen's rate; relaying one costs the server far
    // more than an edit (50 000 from one socket took 7.5 s of CPU, issue 14; 2 000 here stalled others for 1–2 s).
    schema: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').default(100),
  },
  awarenessBurst: {
    env: 'CONCORD_AWARENESS_BURST',
    flag: '--awareness-burst <count>',
    description: 'presence updates one socket may send at once above its sustained rate (each document it opens adds 2)',
    // 300: a few seconds of a cursor dragged at full speed; a socket opening many documents gets 2 more per document.
    schema: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').default(300),
  },
  maxDocumentsPerConnection: {
    env: 'CONCORD_MAX_DOCUMENTS_PER_CONNECTION',
    flag: '--max-documents-per-connection <count>',
    description: `documents one /sync socket may have open; beyond it a document is refused (reason ${'`too-many-documents`'}), the socket stays`,
    // 1000: an app that opens every record of a large list as its own document over one socket.
    schema: z.coerce
      .number({ message: 'must be a number of documents' })
      .int('must be a whole number of documents')
      .min(1, 'must be at least 1')
      .default(1_000),
  },
  connectionTimeoutMs: {
    env: 'CONCORD_CONNECTION_TIMEOUT_MS',
    flag: '--connection-timeout-ms <ms>',
    description: 'close connections that sent nothing for this long (clients send presence every 15 s)',
    schema: z.coerce
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(1000, 'must be at least 1000 ms')
      .max(24 * 3600 * 1000, 'must be at most a day')
      .default(60_000),
  },
  headersTimeoutMs: {
    env: 'CONCORD_HEADERS_TIMEOUT_MS',
    flag: '--headers-timeout-ms <ms>',
    description: 'close an HTTP connection (408) whose request headers, WebSocket upgrades included, are not all in within this time (slowloris)',
    // 10 s: a browser sends its headers in one packet; Node's own 60 s (checked every 30 s) let a few thousand
    // byte-a-second clients hold every socket the process may open.
    schema: z.coerce
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(1000, 'must be at least 1000 ms')
      .max(300_000, 'must be at most 300000 ms')
      .default(10_000),
  },
  requestTimeoutMs: {
    env: 'CONCORD_REQUEST_TIMEOUT_MS',
    flag: '--request-timeout-ms <ms>',
    description: 'close an HTTP connection (408) whose request, body included, is not all in within this time (at least the headers timeout)',
    // 60 s: the largest API body (CONCORD_MAX_MESSAGE_BYTES, 8 MiB) over a ~150 KB/s link; Node's own is 5 minutes.
    schema: z.coerce
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(1000, 'must be at least 1000 ms')
      .max(3_600_000, 'must be at most an hour')
      .default(60_000),
  },
  heartbeatIntervalMs: {
    env: 'CONCORD_HEARTBEAT_INTERVAL_MS',
    flag: '--heartbeat-interval-ms <ms>',
    description:
      'ping every connection this often; one that answers none of two pings in a row is dropped and its presence removed (Concord clients call a connection dead after 7 s without a frame: above 3000 raise their deadConnectionAfterMs to more than twice this)',
    // 2.5 s: a client whose network vanished without a word (no FIN, no RST) is dropped 5–7.5 s later, which leaves
    // time for its leaving to reach its peers within 10 s; a healthy client may miss a whole ping round and stay.
    schema: z.coerce
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(500, 'must be at least 500 ms')
      .max(60_000, 'must be at most 60000 ms')
      .default(2_500),
  },
  permessageDeflate: {
    env: 'CONCORD_PERMESSAGE_DEFLATE',
    flag: '--permessage-deflate <on|off>',
    description: 'offer WebSocket compression (frames from 1 KiB are compressed: first syncs and large updates)',
    schema: onOff(true),
  },
  allowedOrigins: {
    env: 'CONCORD_ALLOWED_ORIGINS',
    flag: '--allowed-origins <list>',
    description: 'comma-separated browser origins allowed to open sockets, or *; unset means same origin',
    schema: optionalString
      .transform((value) => (value === undefined ? undefined : value.split(',').map((o) => o.trim()).filter(Boolean)))
      .refine((origins) => origins === undefined || origins.every((o) => o === '*' || isOrigin(o)), {
        message: 'must be * or a comma-separated list of origins like https://app.example.com',
      }),
  },
  apiKey: {
    env: 'CONCORD_API_KEY',
    flag: '--api-key <key>',
    description: 'key the app backend sends as `Authorization: Bearer <key>` to publish events and change documents over HTTP',
    schema: optionalString.refine((value) => value === undefined || value.length >= MIN_SECRET_LENGTH, {
      message: `must be at least ${MIN_SECRET_LENGTH} characters`,
    }),
  },
  eventRetentionCount: {
    env: 'CONCORD_EVENT_RETENTION_COUNT',
    flag: '--event-retention-count <events>',
    description: 'newest events kept per channel for subscribers that reconnect (older ones: the client is told of a gap)',
    schema: z.coerce
      .number({ message: 'must be a number of events' })
      .int('must be a whole number of events')
      .min(0, 'must be 0 or more')
      .max(100_000, 'must be at most 100000')
      .default(1000),
  },
  eventRetentionSeconds: {
    env: 'CONCORD_EVENT_RETENTION_SECONDS',
    flag: '--event-retention-seconds <seconds>',
    description: 'how long events are kept for subscribers that reconnect',
    schema: z.coerce
      .number({ message: 'must be a number of seconds' })
      .int('must be a whole number of seconds')
      .min(0, 'must be 0 or more')
      .max(7 * 24 * 3600, 'must be at most a week')
      .default(24 * 3600),
  },
  versionIntervalSeconds: {
    env: 'CONCORD_VERSION_INTERVAL_SECONDS',
    flag: '--version-interval-seconds <seconds>',
    description: 'save an automatic version of a document this long after the first change since its last one (and when it unloads with changes); 0: none',
    schema: z.coerce
      .number({ message: 'must be a number of seconds' })
      .int('must be a whole number of seconds')
      .min(0, 'must be 0 (no automatic versions) or more')
      .max(7 * 24 * 3600, 'must be at most a week')
      .default(600),
  },
  versionRetentionDays: {
    env: 'CONCORD_VERSION_RETENTION_DAYS',
    flag: '--version-retention-days <days>',
    description: 'how long automatic versions are kept (named versions are kept until deleted with the document)',
    schema: z.coerce
      .number({ message: 'must be a number of days' })
      .min(1 / 24, 'must be at least an hour (1/24)')
      .max(100 * 365, 'must be at most 100 years')
      .default(30),
  },
  activityRetentionCount: {
    env: 'CONCORD_ACTIVITY_RETENTION_COUNT',
    flag: '--activity-retention-count <entries>',
    description: 'newest entries kept in each document\'s activity feed',
    schema: z.coerce
      .number({ message: 'must be a number of entries' })
      .int('must be a whole number of entries')
      .min(1, 'must be at least 1')
      .max(100_000, 'must be at most 100000')
      .default(1000),
  },
  activityRetentionDays: {
    env: 'CONCORD_ACTIVITY_RETENTION_DAYS',
    flag: '--activity-retention-days <days>',
    description: 'how long activity entries are kept',
    schema: z.coerce
      .number({ message: 'must be a number of days' })
      .min(1 / 24, 'must be at least an hour (1/24)')
      .max(100 * 365, 'must be at most 100 years')
      .default(90),
  },
  deadlineLeadMinutes: {
    env: 'CONCORD_DEADLINE_LEAD_MINUTES',
    flag: '--deadline-lead-minutes <minutes>',
    description: 'send a task\'s assignee a deadline notification this long before it is due (fields due and assignee)',
    schema: z.coerce
      .number({ message: 'must be a number of minutes' })
      .min(0, 'must be 0 (at the due time) or more')
      .max(90 * 24 * 60, 'must be at most 90 days')
      .default(24 * 60),
  },
  maxFileBytes: {
    env: 'CONCORD_MAX_FILE_BYTES',
    flag: '--max-file-bytes <bytes>',
    description: 'largest attachment accepted (POST /api/documents/<name>/files answers 413 above it)',
    // 25 MiB: photos, scans and office files; a video of any length is better linked than attached.
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(1, 'must be at least 1 byte')
      .max(1024 * 1024 * MIB, 'must be at most 1 TiB')
      .default(25 * MIB),
  },
  fileTypes: {
    env: 'CONCORD_FILE_TYPES',
    flag: '--file-types <list>',
    description: 'comma-separated media types of attachments accepted (415 otherwise); a trailing * matches any rest (image/*)',
    // What people attach to tasks and comments; nothing a browser would run (HTML, SVG is served as a download only).
    schema: z
      .string()
      .default(DEFAULT_FILE_TYPES)
      .transform((value) => parseFileTypes(value))
      .refine((patterns) => patterns.length > 0 && patterns.every((p) => FILE_TYPE_PATTERN.test(p)), {
        message: 'must be a comma-separated list of media types like image/*,application/pdf',
      }),
  },
  fileRetentionDays: {
    env: 'CONCORD_FILE_RETENTION_DAYS',
    flag: '--file-retention-days <days>',
    description: 'remove an attachment no document has referred to for this long, and an upload not finished for as long',
    schema: z.coerce
      .number({ message: 'must be a number of days' })
      .min(1 / 24, 'must be at least an hour (1/24)')
      .max(100 * 365, 'must be at most 100 years')
      .default(7),
  },
  fileUrlSeconds: {
    env: 'CONCORD_FILE_URL_SECONDS',
    flag: '--file-url-seconds <seconds>',
    description: 'how long a signed attachment URL (for <img src>) works',
    schema: z.coerce
      .number({ message: 'must be a number of seconds' })
      .int('must be a whole number of seconds')
      .min(1, 'must be at least 1 second')
      .max(7 * 24 * 3600, 'must be at most a week')
      .default(900),
  },
  fileSecret: {
    env: 'CONCORD_FILE_SECRET',
    flag: '--file-secret <secret>',
    description:
      'HMAC-SHA256 key of signed attachment URLs, the same on every instance; unset: derived from CONCORD_API_KEY or CONCORD_AUTH_SECRET, else random per process',
    schema: optionalString.refine((value) => value === undefined || value.length >= MIN_SECRET_LENGTH, {
      message: `must be at least ${MIN_SECRET_LENGTH} characters`,
    }),
  },
  maxEventBytes: {
    env: 'CONCORD_MAX_EVENT_BYTES',
    flag: '--max-event-bytes <bytes>',
    description: 'largest event payload accepted, as JSON',
    schema: z.coerce
      .number({ message: 'must be a number of bytes' })
      .int('must be a whole number of bytes')
      .min(64, 'must be at least 64 bytes')
      .max(MIB, 'must be at most 1 MiB')
      .default(64 * 1024),
  },
  webhookUrl: {
    env: 'CONCORD_WEBHOOK_URL',
    flag: '--webhook-url <url>',
    description: 'send a signed webhook to this URL when a document changes (needs CONCORD_WEBHOOK_SECRET)',
    schema: url(['http:', 'https:']),
  },
  webhookSecret: {
    env: 'CONCORD_WEBHOOK_SECRET',
    flag: '--webhook-secret <secret>',
    description: 'HMAC-SHA256 key that signs webhooks (Concord-Signature header)',
    schema: optionalString.refine((value) => value === undefined || value.length >= MIN_SECRET_LENGTH, {
      message: `must be at least ${MIN_SECRET_LENGTH} characters`,
    }),
  },
  hooksFile: {
    env: 'CONCORD_HOOKS_FILE',
    flag: '--hooks-file <path>',
    description: 'JSON file of lifecycle hooks: field changes that publish events or notify users, and webhook targets',
    schema: optionalString,
  },
  requireTokenExp: {
    env: 'CONCORD_REQUIRE_TOKEN_EXP',
    flag: '--require-token-exp <on|off>',
    description: 'refuse tokens without exp (4401); off by default because SPEC §3 makes exp optional and existing issuers may omit it',
    schema: onOff(false),
  },
  presenceWindowMs: {
    env: 'CONCORD_PRESENCE_WINDOW_MS',
    flag: '--presence-window-ms <ms>',
    description: 'send presence (awareness) changes of a document at most once per window, all changes in one message; 0 sends each at once',
    schema: z.coerce
      .number({ message: 'must be a number of milliseconds' })
      .int('must be a whole number of milliseconds')
      .min(0, 'must be 0 or more')
      .max(5_000, 'must be at most 5000 ms (presence would lag)')
      .default(100),
  },
  metricsAccess: {
    env: 'CONCORD_METRICS',
    flag: '--metrics <public|api-key|off>',
    description:
      'who may read GET /metrics: anyone (public), callers sending Authorization: Bearer <CONCORD_API_KEY> (api-key), or nobody (off: 404)',
    // public: Prometheus scrapes without credentials by default, and the metrics carry no document, user or tenant
    // names (labels are protocols, reasons, kinds and statuses); where the port is reachable from outside, api-key.
    schema: z.enum(METRICS_ACCESS, { message: `must be one of ${METRICS_ACCESS.join(', ')}` }).default('public'),
  },
  serveSourceMaps: {
    env: 'CONCORD_SERVE_SOURCE_MAPS',
    flag: '--serve-source-maps <on|off>',
    description: 'serve the static files\' source maps (*.map); unset: only in dev mode',
    // Off outside dev mode: a source map hands out the app's original sources, comments included; browsers' tools
    // need them only while developing.
    schema: onOffOrUnset(),
  },
  logLevel: {
    env: 'CONCORD_LOG_LEVEL',
    flag: '--log-level <level>',
    description: 'pino log level',
    schema: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  },
  staticDir: {
    env: 'CONCORD_STATIC_DIR',
    flag: '--static-dir <path>',
    description: 'directory served at / (default: the built demo, when installed)',
    schema: optionalString,
  },
} as const;

export type SettingName = keyof typeof SETTINGS;
export type ConcordConfig = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> };
/** What a caller may give: any setting, as a typed value or as the string an environment variable would hold. */
export type ConfigInput = { [K in SettingName]?: z.input<(typeof SETTINGS)[K]['schema']> | string };

function isOrigin(value: string): boolean {
  try {
    const parsed = new URL(value);
    return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.origin === value.replace(/\/$/, '');
  } catch {
    return false;
  }
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

function describe(name: SettingName): string {
  const setting = SETTINGS[name];
  return `${setting.env} (${setting.flag.split(' ')[0]})`;
}

/** Settings whose value may carry a password in the URL (`postgres://user:password@host/db`). */
const URLS_WITH_CREDENTIALS: ReadonlySet<SettingName> = new Set(['databaseUrl', 'redisUrl']);

/** A given value as an error message may show it: never a secret, nor a password inside a URL. */
function shown(name: SettingName, raw: unknown): unknown {
  if (name === 'authSecret' || name === 'apiKey' || name === 'webhookSecret' || name === 'fileSecret') return '<hidden>';
  if (URLS_WITH_CREDENTIALS.has(name) && typeof raw === 'string') return raw.replace(/(\/\/[^/?#@]*?:)[^/?#]*@/, '$1<hidden>@');
  return raw;
}

/** Validates every setting; throws ConfigError listing each bad one. */
export function resolveConfig(input: ConfigInput): ConcordConfig {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) {
    const raw = input[name];
    const result = SETTINGS[name].schema.safeParse(raw === '' ? undefined : raw);
    if (result.success) {
      config[name] = result.data;
    } else {
      const given = raw === undefined ? '' : `; got ${JSON.stringify(shown(name, raw))}`;
      problems.push(`${describe(name)} ${result.error.issues[0]?.message ?? 'is invalid'}${given}`);
    }
  }
  if (problems.length === 0) {
    const resolved = config as ConcordConfig;
    const devMode = resolved.authSecret === undefined && resolved.authJwksUrl === undefined;
    if (devMode && !isLoopbackHost(resolved.host)) {
      problems.push(
        `${describe('host')} is ${JSON.stringify(resolved.host)}, not a loopback address: dev mode (no ${SETTINGS.authSecret.env} or ${SETTINGS.authJwksUrl.env}) hands out tokens to anyone and only serves 127.0.0.1, ::1 or localhost`,
      );
    }
    if (resolved.requestTimeoutMs < resolved.headersTimeoutMs) {
      problems.push(`${describe('requestTimeoutMs')} must be at least ${describe('headersTimeoutMs')} (the headers are part of the request)`);
    }
    if (resolved.metricsAccess === 'api-key' && resolved.apiKey === undefined) {
      problems.push(`${describe('metricsAccess')} is api-key but ${describe('apiKey')} is not set`);
    }
    if (resolved.webhookUrl !== undefined && resolved.webhookSecret === undefined) {
      problems.push(`${describe('webhookUrl')} is set but ${describe('webhookSecret')} is not: webhooks are always signed`);
    }
    if (resolved.redisUrl !== undefined && resolved.databaseUrl === undefined) {
      problems.push(
        `${describe('redisUrl')} joins instances into one cluster and needs the PostgreSQL they share (${describe('databaseUrl')}); LevelDB is one process's`,
      );
    }
    if (problems.length === 0) return resolved;
  }
  throw new ConfigError(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
}

/** Reads every setting's environment variable. */
export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(SETTINGS) as SettingName[]) input[name] = env[SETTINGS[name].env];
  return input as ConfigInput;
}

export function isDevMode(config: ConcordConfig): boolean {
  return config.authSecret === undefined && config.authJwksUrl === undefined;
}
