/**
 * A TCP load balancer in front of several server instances, as nginx or HAProxy would stand in front of a cluster:
 * it listens on 127.0.0.1, port 0, and pipes each new connection to the next target in turn (round robin). A target
 * that refuses the connection (ECONNREFUSED: a killed instance) is skipped and the next one is tried, like HAProxy's
 * `option redispatch`; a connection no target takes is reset. `remove(target)` takes a target out of the rotation (a
 * failed health check); connections already piped to it stay. Bytes are piped as they come, with no inspection, so
 * WebSocket upgrades pass through. It closes, resetting every connection, when the test ends.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { onCleanup } from './cleanup.js';

/** A server the balancer sends connections to: anything with an `http://host:port` URL (a ServerProcess). */
export interface Target {
  readonly url: string;
}

export interface Balancer {
  readonly host: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `ws://127.0.0.1:<port>/sync`, for providers that should land on any instance. */
  readonly syncUrl: string;
  /** Connections piped to `target` and still open. */
  openTo(target: Target): number;
  /** New connections no longer go to `target`. */
  remove(target: Target): void;
  close(): Promise<void>;
}

function addressOf(target: Target): { host: string; port: number } {
  const { hostname, port } = new URL(target.url);
  return { host: hostname, port: Number(port) };
}

export async function startBalancer(targets: readonly Target[]): Promise<Balancer> {
  const rotation = [...targets];
  let next = 0;
  const open = new Map<Target, Set<Socket>>(targets.map((target) => [target, new Set()]));
  const sockets = new Set<Socket>();

  /** Pipes `client` to the first target from `rotation[next]` on that accepts it; resets it if none does. */
  const dispatch = (client: Socket, tried: number) => {
    if (client.destroyed) return;
    if (tried >= rotation.length) {
      client.resetAndDestroy();
      return;
    }
    const target = rotation[next % rotation.length]!;
    next = (next + 1) % rotation.length;
    const upstream = createConnection({ ...addressOf(target), noDelay: true });
    upstream.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') dispatch(client, tried + 1);
      else client.resetAndDestroy();
    });
    upstream.once('connect', () => {
      upstream.removeAllListeners('error');
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      const placed = open.get(target)!;
      placed.add(upstream);
      sockets.add(upstream);
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        from.on('error', () => to.resetAndDestroy());
        from.on('close', () => {
          placed.delete(upstream);
          sockets.delete(from);
          if (!to.destroyed) to.end();
        });
        from.pipe(to);
      }
    });
  };

  const server = createServer({ noDelay: true }, (client) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    // The client's first bytes wait, unread, until a target is connected (a socket does not flow until piped).
    dispatch(client, 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  const balancer: Balancer = {
    host: '127.0.0.1',
    port,
    url: `http://127.0.0.1:${port}`,
    syncUrl: `ws://127.0.0.1:${port}/sync`,
    openTo: (target) => open.get(target)?.size ?? 0,
    remove(target) {
      const at = rotation.indexOf(target);
      if (at >= 0) rotation.splice(at, 1);
    },
    close() {
      for (const socket of sockets) socket.resetAndDestroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  onCleanup(() => balancer.close());
  return balancer;
}
