import { spawnSync } from 'node:child_process';
import type { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from '../redis/connection.js';
import type { Calibration } from './result.js';

/** Our client's raw rate of pipelined XADDs of one small entry (the ceiling for one-entry-per-event designs). */
async function xaddRate(client: Redis | Cluster, key: string, n = 50_000): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    const p = client.pipeline();
    for (let j = 0; j < 1000 && i + j < n; j++) p.xadd(key, '*', 'f', 'v');
    await p.exec();
  }
  const rate = n / ((performance.now() - t0) / 1000);
  await client.del(key);
  return Math.round(rate);
}

/** Median round trip of PING, in ms: the floor of any single hop. */
async function pingMs(client: Redis | Cluster, n = 200): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.ping();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[n >> 1]! * 1000) / 1000;
}

/**
 * redis-benchmark's pipelined XADD rate against one node, when the binary is installed.
 * @returns requests per second, or undefined when redis-benchmark is missing or fails.
 */
function redisBenchmarkXadd(host: string, port: number, key: string, password?: string): number | undefined {
  const args = [
    '-h',
    host,
    '-p',
    String(port),
    '-n',
    '200000',
    '-P',
    '32',
    '-q',
    ...(password ? ['-a', password] : []),
    'XADD',
    key,
    '*',
    'f',
    'v',
  ];
  const r = spawnSync('redis-benchmark', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return undefined;
  const m = /([\d.]+) requests per second/.exec(r.stdout);
  spawnSync('redis-cli', ['-h', host, '-p', String(port), ...(password ? ['-a', password] : []), 'DEL', key], {
    timeout: 10_000,
  });
  return m ? Math.round(Number(m[1])) : undefined;
}

/**
 * What the Redis underneath does with no pipeline logic at all: our pipelined XADD rate,
 * redis-benchmark's (null when it is not installed) and the round trip, on the first seed.
 */
export async function calibrate(conn: RedisConnection, client: Redis | Cluster, key: string): Promise<Calibration> {
  const seed = conn.spec.endpoints[0]!;
  return {
    xaddPerSecond: await xaddRate(client, key),
    redisBenchmarkXaddPerSecond: redisBenchmarkXadd(seed.host, seed.port, key, seed.password) ?? null,
    pingMs: await pingMs(client),
  };
}
