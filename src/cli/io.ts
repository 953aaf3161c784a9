import { redact } from '../redact.js';
import { createRedisFactory, type RedisFactory } from '../redis/connection.js';

/** A place a command writes text to. */
export interface Output {
  write(text: string): void;
  readonly isTTY: boolean;
  readonly columns: number;
  /** The process's stream behind it, for a live screen (absent in tests, which capture the text). */
  readonly stream?: NodeJS.WriteStream;
}

/**
 * Everything a command touches outside its own code. Tests build one with captured output and
 * their own environment, then call `run(opts, io)` directly.
 */
export interface Io {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  cwd: string;
  redis: RedisFactory;
  /** Aborted on the first Ctrl-C or SIGTERM: commands stop what they do and clean up. */
  signal: AbortSignal;
  /**
   * Tells the process that started this one (a supervisor, over an IPC channel) that the command is
   * serving; absent when nobody listens.
   */
  ready?: () => void;
}

function streamOutput(stream: NodeJS.WriteStream): Output {
  return {
    // Every byte leaves through redact: no path of ours can print a password.
    write: (text) => void stream.write(redact(text)),
    get isTTY() {
      return Boolean(stream.isTTY);
    },
    get columns() {
      return stream.columns ?? 100;
    },
    stream,
  };
}

/** The real process's streams, environment and Redis factory. */
export function createProcessIo(signal: AbortSignal): Io {
  return {
    stdout: streamOutput(process.stdout),
    stderr: streamOutput(process.stderr),
    env: process.env,
    cwd: process.cwd(),
    redis: createRedisFactory(),
    signal,
    ...(process.send ? { ready: () => void process.send!({ type: 'ready' }) } : {}),
  };
}
