import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConnectionError, UsageError } from '../errors.js';
import { address, displayUrl, type Endpoint } from './endpoint.js';

/** Where to connect and how: the result of resolving --redis, STREAMCTL_REDIS_URL or the embedded deployment. */
export interface ConnectionSpec {
  endpoints: Endpoint[];
  tlsCa?: string | undefined;
  tlsInsecure?: boolean | undefined;
  /** Where the endpoints came from, for messages: `--redis`, `STREAMCTL_REDIS_URL`, `embedded deployment`. */
  source: string;
  /**
   * Addresses to connect to instead of those the nodes announce (`host:port` -> address): a proxy
   * per node, or a NAT. A cluster's redirections then stay on the mapped addresses.
   */
  addressMap?: Record<string, { host: string; port: number }> | undefined;
}

export type RedisClient = Redis | Cluster;

/** An open connection to a standalone server or a Cluster; the mode was asked of the server. */
export interface RedisConnection {
  readonly mode: 'cluster' | 'standalone';
  readonly spec: ConnectionSpec;
  /** Redacted seed URLs, safe to print. */
  readonly urls: string[];
  /** The shared client for ordinary commands (a Cluster client in cluster mode). */
  client(): RedisClient;
  /** A new client of its own, for a blocking reader, which must never share a socket. */
  dedicated(): RedisClient;
  /**
   * A standalone client to one node, with the same credentials and TLS, made once per address and
   * closed with the connection. It connects on `connect()` or its first command and never retries.
   * It skips ioredis's ready check (an INFO before the first command): its callers read what they
   * need themselves, and a node still loading its data answers them with LOADING at once rather
   * than holding `connect()` until it has loaded.
   */
  node(host: string, port: number): Redis;
  close(): Promise<void>;
}

/** Opens connections; tests and commands receive it through `io.redis`. */
export interface RedisFactory {
  open(spec: ConnectionSpec): Promise<RedisConnection>;
}

/** Per-command timeout: long enough for a loaded server, short enough to notice a dead one. */
const COMMAND_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 3000;

function tlsOptions(spec: ConnectionSpec, e: Endpoint): TlsOptions | undefined {
  if (!e.tls) return undefined;
  let ca: Buffer | undefined;
  if (spec.tlsCa) {
    try {
      ca = readFileSync(spec.tlsCa);
    } catch (err) {
      throw new UsageError(
        'BAD_TLS_CA',
        `--tls-ca: cannot read ${spec.tlsCa}: ${(err as Error).message}`,
        'give a PEM file with --tls-ca FILE',
      );
    }
  }
  // SNI takes host names only; certificates of IP addresses are still checked against the host.
  return {
    ...(ca ? { ca } : {}),
    rejectUnauthorized: !spec.tlsInsecure,
    ...(isIP(e.host) ? {} : { servername: e.host }),
  };
}

/** Options shared by every standalone client we create for `e`. */
export function redisOptions(spec: ConnectionSpec, e: Endpoint): RedisOptions {
  const tls = tlsOptions(spec, e);
  return {
    host: e.host,
    port: e.port,
    ...(e.username ? { username: e.username } : {}),
    ...(e.password !== undefined ? { password: e.password } : {}),
    db: e.db,
    ...(tls ? { tls } : {}),
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    keepAlive: 10_000,
    noDelay: true,
    connectionName: 'streamctl',
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => (times > 20 ? null : Math.min(50 * times, 1000)),
  };
}

/**
 * Cluster client options. The retry budget on CLUSTERDOWN/TRYAGAIN (about 20 s) is above a
 * cluster-node-timeout plus an election, so a failover delays commands rather than failing them.
 */
function clusterOptions(spec: ConnectionSpec, e: Endpoint): ClusterOptions {
  const { host: _h, port: _p, retryStrategy: _r, maxRetriesPerRequest: _m, ...node } = redisOptions(spec, e);
  return {
    redisOptions: { ...node, maxRetriesPerRequest: 2 },
    clusterRetryStrategy: (times) => (times > 40 ? null : Math.min(100 * times, 1000)),
    retryDelayOnFailover: 300,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 300,
    maxRedirections: 64,
    slotsRefreshTimeout: 2000,
    enableReadyCheck: true,
    scaleReads: 'master',
    ...(spec.addressMap ? { natMap: spec.addressMap } : {}),
  };
}

/** Explains a connection failure in the user's terms: what was tried and what to change. */
function explainConnectError(spec: ConnectionSpec, e: Endpoint, err: unknown): ConnectionError {
  const error = err as NodeJS.ErrnoException;
  const text = String(error?.message ?? err);
  const where = displayUrl(e);
  const code = error?.code ?? '';
  if (/WRONGPASS|NOAUTH|invalid username-password|AUTH failed/i.test(text)) {
    return new ConnectionError(
      'REDIS_AUTH',
      `authentication failed at ${where}: ${text}`,
      `check the user and password in ${spec.source}`,
      err,
    );
  }
  if (/NOPERM/.test(text)) {
    return new ConnectionError(
      'REDIS_NOPERM',
      `the ACL user at ${where} lacks a permission: ${text}`,
      'grant the user +@all on the namespace keys, or use another user in --redis',
      err,
    );
  }
  if (/CERT|certificate|self[- ]signed|SSL|TLS|altname|unable to verify/i.test(text + code)) {
    return new ConnectionError(
      'REDIS_TLS',
      `TLS handshake with ${where} failed: ${text}`,
      spec.tlsCa
        ? 'check that --tls-ca is the CA that signed the server certificate (or --tls-insecure for tests)'
        : 'give the server CA with --tls-ca FILE (or --tls-insecure for tests)',
      err,
    );
  }
  if (!e.tls && (code === 'ECONNRESET' || /Connection is closed/.test(text))) {
    return new ConnectionError(
      'REDIS_UNREACHABLE',
      `${where} closed the connection (${text})`,
      `if the server requires TLS, use rediss:// in ${spec.source}`,
      err,
    );
  }
  const reason =
    code === 'ECONNREFUSED'
      ? 'connection refused'
      : code === 'ETIMEDOUT' || /timed? ?out/i.test(text)
        ? 'timed out'
        : text;
  const hint =
    spec.source === 'embedded deployment'
      ? 'the embedded deployment is not answering: `streamctl up --detach` restarts it, `streamctl down` clears it'
      : `is Redis running at ${address(e)}? start one with \`streamctl up --detach\`, or fix the URL in ${spec.source}`;
  return new ConnectionError('REDIS_UNREACHABLE', `cannot connect to ${where} (${reason})`, hint, err);
}

function quiet<T extends RedisClient>(client: T): T {
  // Errors surface through the failing command; an 'error' event with no listener would crash.
  client.on('error', () => {});
  if (client instanceof Cluster) client.on('+node', (node: Redis) => dropOnTimeout(node));
  else dropOnTimeout(client as Redis);
  return client;
}

/**
 * A command that timed out leaves its connection out of step: the client keeps waiting for the
 * answer, and a request that was lost on the way (a network that dropped it) is never answered, so
 * every later answer would be taken for an earlier command's. The connection is dropped and made
 * again instead; the commands still on it fail and are retried by their callers.
 */
function dropOnTimeout(client: Redis): void {
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((
    command: Parameters<Redis['sendCommand']>[0],
    stream?: Parameters<Redis['sendCommand']>[1],
  ) => {
    const reply = send(command, stream);
    command.promise.catch((err: Error) => {
      if (err?.message === 'Command timed out' && client.status === 'ready') client.disconnect(true);
    });
    return reply;
  }) as Redis['sendCommand'];
}

/**
 * Connects a lazy client and, on failure, rejects with the socket's own error (ECONNREFUSED, a TLS
 * error, WRONGPASS) rather than the generic "Connection is closed" that follows it.
 */
export async function connectClient(client: Redis): Promise<void> {
  if (client.status === 'ready') return;
  let first: unknown;
  const onError = (err: unknown) => {
    first ??= err;
  };
  client.on('error', onError);
  try {
    await client.connect();
  } catch (err) {
    throw first ?? err;
  } finally {
    client.off('error', onError);
  }
}

/**
 * Connects once, without retries, to learn whether the server answers and in which mode. Every
 * command pays for it, so it asks only INFO cluster (no ready check before it: that would be
 * another round trip, and INFO answers while the server loads).
 */
async function probe(spec: ConnectionSpec, e: Endpoint): Promise<'cluster' | 'standalone'> {
  const client = quiet(
    new Redis({
      ...redisOptions(spec, e),
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: false,
    }),
  );
  try {
    await connectClient(client);
    const info = await client.info('cluster');
    return /cluster_enabled:1/.test(info) ? 'cluster' : 'standalone';
  } finally {
    client.disconnect();
  }
}

class Connection implements RedisConnection {
  private shared: RedisClient | undefined;
  private readonly owned = new Set<RedisClient>();
  private readonly nodes = new Map<string, Redis>();

  constructor(
    readonly mode: 'cluster' | 'standalone',
    readonly spec: ConnectionSpec,
    private readonly seed: Endpoint,
  ) {}

  get urls(): string[] {
    return this.spec.endpoints.map(displayUrl);
  }

  client(): RedisClient {
    this.shared ??= this.dedicated();
    return this.shared;
  }

  dedicated(): RedisClient {
    const c =
      this.mode === 'cluster'
        ? new Cluster(
            this.spec.endpoints.map((e) => ({ host: e.host, port: e.port })),
            clusterOptions(this.spec, this.seed),
          )
        : new Redis(redisOptions(this.spec, this.seed));
    this.owned.add(quiet(c));
    return c;
  }

  node(host: string, port: number): Redis {
    const key = `${host}:${port}`;
    const mapped = this.spec.addressMap?.[key];
    if (mapped) ({ host, port } = mapped);
    const cached = this.nodes.get(key);
    if (cached && cached.status !== 'end') return cached;
    // lazyConnect lets the caller await connect() and see why a node is unreachable.
    const c = quiet(
      new Redis({
        ...redisOptions(this.spec, { ...this.seed, host, port }),
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        enableReadyCheck: false,
      }),
    );
    this.nodes.set(key, c);
    this.owned.add(c);
    return c;
  }

  async close(): Promise<void> {
    const all = [...this.owned];
    this.owned.clear();
    this.nodes.clear();
    this.shared = undefined;
    await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

/** The factory used by the real CLI. */
export function createRedisFactory(): RedisFactory {
  return {
    async open(spec) {
      let lastError: ConnectionError | undefined;
      for (const e of spec.endpoints) {
        try {
          const mode = await probe(spec, e);
          return new Connection(mode, spec, e);
        } catch (err) {
          if (err instanceof UsageError) throw err;
          lastError = explainConnectError(spec, e, err);
        }
      }
      throw lastError ?? new ConnectionError('REDIS_UNREACHABLE', 'no Redis URL given', 'pass --redis URL');
    },
  };
}
