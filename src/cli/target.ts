import { recordedStatus } from '../embedded/deployment-status.js';
import { RuntimeError } from '../errors.js';
import type { Io } from './io.js';
import type { ConnectionOptions } from './options.js';
import type { ConnectionSpec, RedisConnection } from '../redis/connection.js';
import { clientUrls, proxyMap, readDeployment, resolveHome, type Deployment } from '../embedded/deployment.js';
import { parseAddressMap, parseRedisUrls } from '../redis/endpoint.js';

/**
 * Decides where to connect: --redis, else STREAMCTL_REDIS_URL, else the embedded deployment
 * recorded in the state folder.
 * @throws RuntimeError NO_REDIS when none of them is there.
 */
export function resolveTarget(opts: ConnectionOptions, io: Pick<Io, 'env' | 'cwd'>): ConnectionSpec {
  const tls = {
    tlsCa: opts.tlsCa,
    tlsInsecure: opts.tlsInsecure,
    ...(opts.redisMap ? { addressMap: parseAddressMap(opts.redisMap) } : {}),
  };
  if (opts.redis) return { endpoints: parseRedisUrls(opts.redis), source: '--redis', ...tls };
  const fromEnv = io.env.STREAMCTL_REDIS_URL;
  if (fromEnv) return { endpoints: parseRedisUrls(fromEnv), source: 'STREAMCTL_REDIS_URL', ...tls };
  const home = resolveHome(opts.home, io.cwd);
  const d = readDeployment(home);
  if (!d || !d.running) {
    throw new RuntimeError(
      'NO_REDIS',
      `no Redis to talk to: no --redis, no STREAMCTL_REDIS_URL, and no running embedded deployment in ${home}`,
      'start one with `streamctl up --detach`, or pass --redis URL',
    );
  }
  // Through the fault proxies when the deployment runs them: every client's way to the nodes.
  const map = proxyMap(d);
  return {
    endpoints: parseRedisUrls(clientUrls(d).join(',')),
    source: 'embedded deployment',
    ...tls,
    ...(map ? { addressMap: map } : {}),
  };
}

/**
 * The embedded deployment's record and folder, when that is where commands connect (no --redis, no
 * STREAMCTL_REDIS_URL): `health` then shows its supervised processes too.
 */
export function embeddedTarget(
  opts: ConnectionOptions,
  io: Pick<Io, 'env' | 'cwd'>,
): { home: string; deployment: Deployment } | undefined {
  if (opts.redis || io.env.STREAMCTL_REDIS_URL) return undefined;
  const home = resolveHome(opts.home, io.cwd);
  const deployment = readDeployment(home);
  return deployment?.running ? { home, deployment } : undefined;
}

/** Resolves the target and connects to it. */
export function connect(opts: ConnectionOptions, io: Io): Promise<RedisConnection> {
  return io.redis.open(resolveTarget(opts, io));
}

/** The embedded deployment's supervised processes and events, when it is the command's target (for a snapshot). */
export function embeddedStatus(
  opts: ConnectionOptions,
  io: Pick<Io, 'env' | 'cwd'>,
): ReturnType<typeof recordedStatus> | undefined {
  const embedded = embeddedTarget(opts, io);
  return embedded ? recordedStatus(embedded.home, embedded.deployment) : undefined;
}
