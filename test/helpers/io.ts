import type { Io } from '../../src/cli/io.js';
import { redact } from '../../src/redact.js';
import { createRedisFactory, type RedisConnection } from '../../src/redis/connection.js';
import { parseRedisUrls } from '../../src/redis/endpoint.js';

export interface TestIo {
  io: Io;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  abort(): void;
}

/**
 * An Io with captured output, its own environment (nothing from the real one but PATH), and
 * the real Redis factory. Output passes through redact as the process streams do.
 */
export function testIo(opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): TestIo {
  let out = '';
  let err = '';
  const controller = new AbortController();
  const io: Io = {
    stdout: { write: (t) => void (out += redact(t)), isTTY: false, columns: 120 },
    stderr: { write: (t) => void (err += redact(t)), isTTY: false, columns: 120 },
    env: { PATH: process.env.PATH, ...opts.env },
    cwd: opts.cwd ?? process.cwd(),
    redis: createRedisFactory(),
    signal: controller.signal,
  };
  return { io, stdout: () => out, stderr: () => err, abort: () => controller.abort() };
}

/** Opens a connection to `url` (comma-separated seeds for a cluster) through the real factory. */
export function connectTo(url: string): Promise<RedisConnection> {
  return createRedisFactory().open({ endpoints: parseRedisUrls(url), source: '--redis' });
}
