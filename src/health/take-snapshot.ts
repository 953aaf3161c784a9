import type { Io } from '../cli/io.js';
import type { ConnectionOptions } from '../cli/options.js';
import { embeddedTarget } from '../cli/target.js';
import { recordedStatus } from '../embedded/deployment-status.js';
import { collectSnapshot } from '../observe/collect-snapshot.js';
import type { Snapshot } from '../observe/snapshot.js';
import type { RedisConnection } from '../redis/connection.js';

/** The snapshot of a command's target, with the embedded deployment's supervised processes when that is the target. */
export function takeSnapshot(
  conn: RedisConnection,
  opts: ConnectionOptions & { namespace: string },
  io: Pick<Io, 'env' | 'cwd'>,
): Promise<Snapshot> {
  const embedded = embeddedTarget(opts, io);
  return collectSnapshot(conn, opts.namespace, {
    deployment: embedded ? recordedStatus(embedded.home, embedded.deployment) : undefined,
  });
}
