import { UsageError } from '../errors.js';
import { redactUrl, registerSecret } from '../redact.js';

/** One Redis server address with its credentials, parsed from a redis:// or rediss:// URL. */
export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  db: number;
}

/**
 * Parses one URL. The password is registered for redaction before anything can print it.
 * @throws UsageError (exit 2) naming --redis, with the URL redacted.
 */
function parseRedisUrl(text: string): Endpoint {
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed.includes('://') ? trimmed : `redis://${trimmed}`);
  } catch {
    throw new UsageError(
      'BAD_REDIS_URL',
      `--redis: not a URL: ${redactUrl(trimmed)}`,
      'use redis://[user:password@]host:port or rediss://... for TLS',
    );
  }
  const decode = (part: string, what: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new UsageError(
        'BAD_REDIS_URL',
        `--redis: the ${what} in ${redactUrl(trimmed)} has a stray %`,
        'write a literal % as %25 in the URL',
      );
    }
  };
  registerSecret(url.password);
  const password = url.password ? decode(url.password, 'password') : undefined;
  registerSecret(password);
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(
      'BAD_REDIS_URL',
      `--redis: unsupported scheme "${url.protocol}" in ${redactUrl(trimmed)}`,
      'use redis:// or rediss:// (TLS)',
    );
  }
  const port = url.port ? Number(url.port) : 6379;
  if (!url.hostname || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UsageError(
      'BAD_REDIS_URL',
      `--redis: no valid host:port in ${redactUrl(trimmed)}`,
      'use redis://host:port',
    );
  }
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText ? Number(dbText) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new UsageError('BAD_REDIS_URL', `--redis: bad database number "${dbText}"`, 'use redis://host:port/0');
  const username = url.username ? decode(url.username, 'user name') : undefined;
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    tls: url.protocol === 'rediss:',
    ...(username ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    db,
  };
}

/** Parses a comma-separated list of URLs (cluster seeds). */
export function parseRedisUrls(text: string): Endpoint[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new UsageError('BAD_REDIS_URL', '--redis: no URL given', 'use redis://host:port');
  return parts.map(parseRedisUrl);
}

/** `host:port`, bracketing IPv6 hosts. */
export function address(e: { host: string; port: number }): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** The endpoint as a URL with its password redacted: safe to print. */
export function displayUrl(e: Endpoint): string {
  const auth = e.username || e.password ? `${e.username ?? ''}${e.password ? ':***' : ''}@` : '';
  return `${e.tls ? 'rediss' : 'redis'}://${auth}${address(e)}${e.db ? `/${e.db}` : ''}`;
}

/**
 * Parses `--redis-map`: `HOST:PORT=HOST:PORT,...`, the address a node announces (cluster redirections,
 * CLUSTER SLOTS) mapped to the address to connect to instead.
 * @throws UsageError BAD_REDIS_MAP naming the part that does not parse.
 */
export function parseAddressMap(text: string): Record<string, { host: string; port: number }> {
  const map: Record<string, { host: string; port: number }> = {};
  const addr = /^(.+):(\d{1,5})$/;
  for (const part of text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const [from, to] = part.split('=');
    const a = from ? addr.exec(from) : null;
    const b = to ? addr.exec(to) : null;
    if (!a || !b)
      throw new UsageError(
        'BAD_REDIS_MAP',
        `--redis-map: "${part}" is not ANNOUNCED_HOST:PORT=HOST:PORT`,
        'e.g. --redis-map 10.0.0.5:7000=127.0.0.1:17000,10.0.0.6:7000=127.0.0.1:17001',
      );
    map[`${a[1]}:${Number(a[2])}`] = { host: b[1]!, port: Number(b[2]) };
  }
  return map;
}

/** The `--redis-map` text of an address map (`parseAddressMap`'s inverse). */
export function formatAddressMap(map: Record<string, { host: string; port: number }>): string {
  return Object.entries(map)
    .map(([from, to]) => `${from}=${to.host}:${to.port}`)
    .join(',');
}
