import type { Deployment } from '../embedded/deployment.js';
import type { ConnectionSpec, RedisConnection, RedisFactory } from '../redis/connection.js';

/**
 * What a fault acts on and through: the state folder its record goes to, the embedded deployment
 * when that is the target (its processes are ours to signal), and a connection to its Redis,
 * opened only when a fault needs one (a paused node makes opening slow).
 */
export interface ChaosEnv {
  home: string;
  /** The embedded deployment's record, when the target is it; undefined for a Redis streamctl did not start. */
  deployment: Deployment | undefined;
  /** Where the Redis came from: `embedded deployment`, `--redis`, `STREAMCTL_REDIS_URL`. */
  source: string;
  /** Redacted URLs, safe to print and record. */
  urls: string[];
  /** The key namespace of the pipeline under test. */
  namespace: string;
  connection(): Promise<RedisConnection>;
  signal: AbortSignal;
  /** A progress line for the person who runs the fault. */
  say(line: string): void;
}

/**
 * A ChaosEnv whose connection is opened on first use (`spec` an error: there is no Redis to reach,
 * and the connection fails with it); `close` closes it if it was.
 */
export function chaosEnv(
  o: Omit<ChaosEnv, 'connection'> & { spec: ConnectionSpec | Error; redis: RedisFactory },
): ChaosEnv & { close(): Promise<void> } {
  let conn: Promise<RedisConnection> | undefined;
  return {
    home: o.home,
    deployment: o.deployment,
    source: o.source,
    urls: o.urls,
    namespace: o.namespace,
    signal: o.signal,
    say: o.say,
    // No Redis to reach (the deployment is down): only `chaos list` and `chaos heal` get this far.
    connection: () => (conn ??= o.spec instanceof Error ? Promise.reject(o.spec) : o.redis.open(o.spec)),
    async close() {
      if (conn) await (await conn.catch(() => undefined))?.close();
    },
  };
}
