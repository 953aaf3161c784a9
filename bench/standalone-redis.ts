import { findRedisServer, startNode, type NodeProcess } from '../src/embedded/redis-server.js';

/** A standalone redis-server of a benchmark's own on `port`, nothing persisted, its files in `dir`; stop it with `stopNode`. */
export async function startStandaloneRedis(port: number, dir: string): Promise<{ node: NodeProcess; url: string }> {
  const node = await startNode({
    bin: findRedisServer(undefined, process.env.PATH),
    port,
    dir,
    cluster: false,
    persist: false,
    nodeTimeoutMs: 2000,
    detached: false,
  });
  return { node, url: `redis://127.0.0.1:${port}` };
}
