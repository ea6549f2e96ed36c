/**
 * What the HTTP server answers a connection whose request never became one: headers or body not in within the
 * timeouts (`CONCORD_HEADERS_TIMEOUT_MS`, `CONCORD_REQUEST_TIMEOUT_MS`: 408), headers too large (431), bytes that are
 * not HTTP (400). It does what Node does without a `clientError` listener, and counts the timeouts
 * (`concord_refused_requests_total{status="408"}`), which Node's own handling does not tell anyone about. The rule: a
 * status line goes out only on a connection that has sent nothing yet (otherwise it would land inside an answer
 * already under way, e.g. a 401 given before a slow body was read); the connection is closed either way.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../metrics.js';

function statusFor(code: string | undefined): number {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  return 400;
}

export function clientErrorHandler(metrics: Metrics): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error, socket) => {
    const status = statusFor(error.code);
    if (status === 408) metrics.refusedRequests.inc({ status: '408' });
    const untouched = (socket as Duplex & { bytesWritten?: number }).bytesWritten === 0;
    if (socket.writable && untouched && error.code !== 'ECONNRESET') {
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  };
}
