/**
 * What the socket layer (ServerSocket, Outbound, Acknowledgements, SocketLimits) uses of the transport under it: the
 * members of a `ws` WebSocket it calls, and nothing else. A `ws.WebSocket` is a Wire as it is; the HTTP fallback's
 * session (HttpSession.ts) is the other one, so every rule of the socket layer (durability gate, send budget, limits,
 * presence and update checks, revocation, heartbeat, metrics) applies to both transports unchanged.
 *
 * The rule a Wire keeps: `readyState` follows WebSocket's 0–3; `message` carries one whole client frame; `close` is
 * emitted once, after which nothing is sent or received; anything that shows the client is alive may emit `pong`.
 */
import type { RawData } from 'ws';

export interface Wire {
  readonly readyState: number;
  /** Bytes sent and not yet taken by the client (the send-buffer rule, Outbound.ts). */
  readonly bufferedAmount: number;
  on(event: 'message', listener: (data: RawData, isBinary: boolean) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  on(event: 'pong', listener: () => void): this;
  on(event: 'error', listener: (error: Error & { code?: string }) => void): this;
  once(event: 'close', listener: (code: number, reason: Buffer) => void): this;
  send(data: Uint8Array, options: { compress: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  /**
   * Raises the largest frame accepted (once the socket authenticated). Absent on `ws` sockets, whose limit sits in ws
   * internals (seams/ws.ts `raiseMaxPayload`).
   */
  raiseMaxPayload?(bytes: number): boolean;
}
