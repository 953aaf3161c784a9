import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RuntimeError } from '../errors.js';
import { waitFor } from '../wait.js';
import { inCgroup } from './cgroups.js';
import { firstExecutable, logTail, onPath } from './executables.js';

/** How to start one redis-server process. */
export interface NodeConfig {
  bin: string;
  port: number;
  dir: string;
  cluster: boolean;
  persist: boolean;
  nodeTimeoutMs: number;
  /** Further `--name value` pairs, e.g. TLS or ACL settings. */
  extraArgs?: string[];
  /** Let the process outlive this one (used by `up --detach`). */
  detached: boolean;
  /** A cgroup folder to start the process in (`cgroups.ts`). */
  cgroup?: string | undefined;
}

/** A redis-server we started. `child` is set only in the process that spawned it. */
export interface NodeProcess {
  port: number;
  pid: number;
  dir: string;
  child?: ChildProcess;
}

const INSTALL_HINT =
  'install Redis 7+ (Debian/Ubuntu: `apt-get install redis-server`; macOS: `brew install redis`), ' +
  'or set STREAMCTL_REDIS_SERVER to its path, or use an existing Redis with --redis URL, or `docker compose up -d`';

/**
 * Finds the redis-server binary: an explicit path, then PATH.
 * @throws RuntimeError REDIS_SERVER_MISSING (exit 1) with install hints.
 */
export function findRedisServer(explicit: string | undefined, envPath: string | undefined): string {
  const found = firstExecutable(explicit ? [explicit] : onPath('redis-server', envPath));
  if (found) return found;
  throw new RuntimeError(
    'REDIS_SERVER_MISSING',
    explicit ? `redis-server not found at ${explicit}` : 'redis-server was not found on PATH',
    INSTALL_HINT,
  );
}

/** The command line for one node; the config lives in arguments so the data folder holds only data. */
function nodeArgs(c: NodeConfig): string[] {
  const args = [
    '--port',
    String(c.port),
    '--bind',
    '127.0.0.1',
    '--dir',
    c.dir,
    '--daemonize',
    'no',
    '--logfile',
    join(c.dir, 'redis.log'),
    '--save',
    '',
    '--appendonly',
    c.persist ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    // Replicas on the same machine: start their full sync at once instead of waiting 5 s for others.
    '--repl-diskless-sync-delay',
    '0',
  ];
  if (c.cluster) {
    args.push(
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(c.dir, 'nodes.conf'),
      '--cluster-node-timeout',
      String(c.nodeTimeoutMs),
    );
  }
  return [...args, ...(c.extraArgs ?? [])];
}

/**
 * Starts redis-server and waits until its log says it accepts connections (which works whatever
 * TLS or ACL settings it has, unlike a PING).
 */
export async function startNode(c: NodeConfig, timeoutMs = 15_000): Promise<NodeProcess> {
  mkdirSync(c.dir, { recursive: true });
  const log = join(c.dir, 'redis.log');
  // Measured before the spawn: a fast server may log "Ready" before we look.
  const logStart = existsSync(log) ? readFileSync(log, 'utf8').length : 0;
  const cmd = c.cgroup ? inCgroup(c.cgroup, c.bin, nodeArgs(c)) : { cmd: c.bin, args: nodeArgs(c) };
  const child = spawn(cmd.cmd, cmd.args, { cwd: c.dir, detached: true, stdio: 'ignore' });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.once('error', (err) => {
    exited = err.message;
  });
  await waitFor(
    async () => {
      if (exited) throw new Error(`redis-server on port ${c.port} exited (${exited})`);
      return existsSync(log) && readFileSync(log, 'utf8').slice(logStart).includes('Ready to accept connections')
        ? true
        : undefined;
    },
    {
      timeoutMs,
      onTimeout: (last) => {
        child.kill('SIGKILL');
        return new RuntimeError(
          'REDIS_START_FAILED',
          `${last instanceof Error ? last.message : `redis-server on port ${c.port} did not become ready in ${timeoutMs} ms`}; log ${log}:\n${logTail(log)}`,
          'check the log; another process may hold the port (pick another with --port)',
        );
      },
    },
  );
  if (c.detached) child.unref();
  return { port: c.port, pid: child.pid!, dir: c.dir, ...(c.detached ? {} : { child }) };
}

/** True when `pid` is alive and, where /proc tells, still a redis-server on `port` (pids get reused). */
export function isNodeAlive(pid: number, port: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmd === '') return false; // a zombie
    return cmd.includes('redis-server') && cmd.includes(`:${port}`);
  } catch {
    return existsSync('/proc/self') ? false : true;
  }
}

/**
 * Stops a node: SIGTERM (Redis flushes its AOF and exits), SIGKILL after `graceMs`.
 * @returns once the process is gone.
 */
export async function stopNode(n: { pid: number; port: number }, graceMs = 4000): Promise<void> {
  if (!isNodeAlive(n.pid, n.port)) return;
  try {
    process.kill(n.pid, 'SIGTERM');
  } catch {
    return;
  }
  const gone = async () => (isNodeAlive(n.pid, n.port) ? undefined : true);
  try {
    await waitFor(gone, { timeoutMs: graceMs, intervalMs: 25, onTimeout: () => new Error('still alive') });
  } catch {
    try {
      process.kill(n.pid, 'SIGKILL');
    } catch {
      return;
    }
    await waitFor(gone, {
      timeoutMs: 2000,
      intervalMs: 25,
      onTimeout: () => new RuntimeError('STOP_FAILED', `redis-server pid ${n.pid} (port ${n.port}) did not exit`),
    });
  }
}
