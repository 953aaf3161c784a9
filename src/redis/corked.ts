import type { Cluster, Redis } from 'ioredis';
import type { Writable } from 'node:stream';

/**
 * Runs `send`, which issues commands on `conn` (each with its own callback or promise), with the
 * connection's socket corked (a cluster's: every primary's): the commands leave in one socket write
 * per node, as a pipeline's would.
 *
 * Why not `conn.pipeline()`: ioredis's Pipeline defines an accessor property (`length`) on every
 * instance with a closure of its own, so V8 gives each pipeline a hidden class of its own, made in
 * the old generation. At a pipeline per turn of a worker that filled the old generation and forced
 * frequent full collections (docs/PERFORMANCE.md, Levers measured and kept).
 *
 * Commands that find the connection not ready go to ioredis's offline queue as usual; their replies,
 * errors included, reach each command's own callback.
 */
export function sendCorked<C extends Redis | Cluster, T>(conn: C, send: (c: C) => T): T {
  // A cluster client writes each command on the connection of its slot's primary, at once when
  // ready: corking every primary's socket gives one write per node.
  const nodes = (conn as Cluster).isCluster ? (conn as Cluster).nodes('master') : [conn as Redis];
  const sockets: Writable[] = [];
  for (const n of nodes) {
    const socket = (n as unknown as { stream?: Writable }).stream;
    if (n.status === 'ready' && socket !== undefined && socket.writable) sockets.push(socket);
  }
  for (const s of sockets) s.cork();
  try {
    return send(conn);
  } finally {
    for (const s of sockets) s.uncork();
  }
}
