import { createServer } from 'node:net';

/** True when nothing listens on 127.0.0.1:`port` (checked by binding it for an instant). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  if (port < 1 || port > 65535) return Promise.resolve(false);
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Cluster nodes also listen on port + 10000 (the cluster bus). */
const CLUSTER_BUS_OFFSET = 10_000;

/**
 * Finds `count` ports from `base` upward that are free, and whose cluster-bus port is free too
 * when `withBus` is set.
 */
export async function findFreePorts(base: number, count: number, withBus: boolean): Promise<number[]> {
  const ports: number[] = [];
  for (let port = base; ports.length < count; port++) {
    if (port > 65535 || (withBus && port + CLUSTER_BUS_OFFSET > 65535)) {
      throw new Error(`no ${count} free ports from ${base} upward`);
    }
    if ((await isPortFree(port)) && (!withBus || (await isPortFree(port + CLUSTER_BUS_OFFSET)))) ports.push(port);
  }
  return ports;
}
