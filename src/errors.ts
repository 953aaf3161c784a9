/**
 * Typed errors. Every error that reaches the user carries a stable `code` (for scripts and
 * `--json`), the process exit code, and a hint naming the flag or variable to change.
 *
 * Exit codes: 0 ok, 1 failure (unhealthy, unreachable, runtime error), 2 usage or config error.
 */
export class StreamctlError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(code: string, message: string, opts: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.hint = opts.hint;
  }

  /** Machine-readable form for `--json` output. */
  toJSON(): { code: string; message: string; hint?: string; exitCode: number } {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      exitCode: this.exitCode,
    };
  }
}

/** A bad flag, a bad value or a bad config file: exit 2. */
export class UsageError extends StreamctlError {
  constructor(code: string, message: string, hint?: string) {
    super(code, message, { exitCode: 2, ...(hint ? { hint } : {}) });
  }
}

/** Redis could not be reached or refused us: exit 1. */
export class ConnectionError extends StreamctlError {
  constructor(code: string, message: string, hint: string, cause?: unknown) {
    super(code, message, { exitCode: 1, hint, cause });
  }
}

/** Something the command tried to do failed at run time: exit 1. */
export class RuntimeError extends StreamctlError {
  constructor(code: string, message: string, hint?: string, cause?: unknown) {
    super(code, message, { exitCode: 1, ...(hint ? { hint } : {}), cause });
  }
}

/** Wraps anything thrown into a StreamctlError so the entry point can report it uniformly. */
export function toStreamctlError(err: unknown): StreamctlError {
  if (err instanceof StreamctlError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new RuntimeError('INTERNAL', message, 'this is unexpected: rerun with STREAMCTL_DEBUG=1 and report it', err);
}

/**
 * A durable write that reached its primary, but that no replica acknowledged within the bound: it
 * is lost if that primary fails before it replicates, so it is not counted as acknowledged.
 */
export class NotDurableError extends RuntimeError {
  /** The primary, host:port, that had no replica to acknowledge the write. */
  readonly node: string;

  constructor(node: string, timeoutMs: number) {
    super(
      'NOT_DURABLE',
      `no replica of ${node} acknowledged a durable write within ${timeoutMs} ms`,
      `give ${node} a replica (after a failover, wait for the failed node to rejoin as one: \`streamctl health\`), ` +
        'raise --durable-timeout, or run without --durable',
    );
    this.node = node;
  }
}
