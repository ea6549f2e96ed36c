/**
 * Structured logs (pino, JSON lines on stdout). Components log through children that carry their name, and
 * nothing secret (tokens, secrets) is ever put in a log record.
 */
import { pino, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel): Logger {
  return pino({
    name: 'concord',
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['token', '*.token', 'secret', '*.secret'], censor: '[redacted]' },
  });
}
