/**
 * A TCP proxy the test controls, to take a dependency (PostgreSQL, Redis, a server) away and give it back without
 * touching the real thing: it listens on 127.0.0.1, port 0, and pipes every connection to the target. `cut()`
 * resets every open connection and resets new ones as soon as they arrive (to a client, like a database that went
 * away); `blackhole()` keeps every connection open but silently drops what either side sends and leaves new ones
 * unanswered (a network that went away without telling anyone: no FIN, no RST — nor does one side's close reach the
 * other); `restore()` forwards again (a blackholed connection stays dead: what was dropped is gone; one whose other
 * side closed meanwhile is reset, as that side would answer the first packet to arrive). `retarget()` sends new
 * connections elsewhere (a server restarted on another port, at the address clients already have).
 * `refuseWebSockets()` answers every WebSocket upgrade request (`Upgrade: websocket`) with 403 and forwards the rest (a
 * corporate proxy that blocks WebSockets), until `acceptWebSockets()`. It closes when the test ends.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Connections forwarded so far. */
  readonly accepted: number;
  /** Resets every connection and every new one until `restore()`. */
  cut(): void;
  /** Closes every connection cleanly (FIN, as a server going away politely) and every new one until `restore()`. */
  hangUp(): void;
  /** Drops every byte in both directions, without closing anything, until `restore()`; new connections hang. */
  blackhole(): void;
  restore(): void;
  /** Answers WebSocket upgrade requests 403 (closing their connection); other HTTP requests pass. */
  refuseWebSockets(): void;
  acceptWebSockets(): void;
  /** WebSocket upgrades refused so far. */
  readonly refusedUpgrades: number;
  /** Pipes connections accepted from now on to `target`; open ones stay where they are. */
  retarget(target: { host: string; port: number }): void;
  close(): Promise<void>;
}

export async function startTcpProxy(first: { host: string; port: number }): Promise<TcpProxy> {
  let target = first;
  const open = new Set<Socket>();
  let cut = false;
  let hungUp = false;
  let silent = false;
  let accepted = 0;
  let refusingWebSockets = false;
  let refusedUpgrades = 0;
  /** Connections accepted while blackholed: held open, never forwarded. */
  const held = new Set<Socket>();
  /** Sides whose other side closed while blackholed: they never heard of it, and are reset on restore(). */
  const orphans = new Set<Socket>();

  const drop = (socket: Socket) => {
    if (!socket.destroyed) socket.resetAndDestroy();
  };

  const server = createServer({ noDelay: true }, (client) => {
    if (cut) {
      drop(client);
      return;
    }
    if (hungUp) {
      held.add(client); // until it is gone: close() resets what is left
      client.on('error', () => {});
      client.on('close', () => held.delete(client));
      client.end();
      return;
    }
    if (silent) {
      held.add(client);
      client.on('error', () => {});
      client.on('close', () => held.delete(client));
      client.resume(); // read and discard
      return;
    }
    accepted += 1;
    const upstream = createConnection({ ...target, noDelay: true });
    let dead = false; // blackholed once: stays dead after restore()
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(from);
      from.on('data', (chunk: Buffer) => {
        if (from === client && refusingWebSockets && isUpgradeRequest(chunk)) {
          refusedUpgrades += 1;
          dead = true;
          client.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 27\r\nConnection: close\r\n\r\nWebSockets are not allowed\n');
          return; // the upstream connection saw nothing of it, and goes when the client's does
        }
        if (silent) dead = true;
        if (!dead && !to.destroyed) to.write(chunk);
      });
      // A close while blackholed does not cross the network either.
      const closeOther = () => (silent ? orphans.add(to) : drop(to));
      from.on('error', closeOther);
      from.on('close', () => {
        open.delete(from);
        closeOther();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  const proxy: TcpProxy = {
    host: '127.0.0.1',
    port,
    get accepted() {
      return accepted;
    },
    get refusedUpgrades() {
      return refusedUpgrades;
    },
    refuseWebSockets() {
      refusingWebSockets = true;
    },
    acceptWebSockets() {
      refusingWebSockets = false;
    },
    cut() {
      cut = true;
      for (const socket of [...open, ...held]) drop(socket);
    },
    hangUp() {
      hungUp = true;
      for (const socket of [...open, ...held]) socket.end();
    },
    blackhole() {
      silent = true;
    },
    restore() {
      cut = false;
      hungUp = false;
      silent = false;
      for (const socket of [...held, ...orphans]) drop(socket);
      orphans.clear();
    },
    retarget(next) {
      target = next;
    },
    close() {
      proxy.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  onCleanup(() => proxy.close());
  return proxy;
}

/** Whether `chunk` starts an HTTP request asking for a WebSocket (its headers arrive in the first chunk). */
function isUpgradeRequest(chunk: Buffer): boolean {
  const head = chunk.toString('latin1', 0, Math.min(chunk.length, 8192));
  return head.startsWith('GET ') && /\r\nupgrade:\s*websocket/i.test(head);
}

/** `url` (e.g. a postgres:// URL) pointed at the proxy instead of its own host and port. */
export function throughProxy(url: string, proxy: Pick<TcpProxy, 'host' | 'port'>): string {
  const parsed = new URL(url);
  parsed.hostname = proxy.host;
  parsed.port = String(proxy.port);
  return parsed.toString();
}
