import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RedisConnection } from '../../src/redis/connection.js';
import { parseInfo } from '../../src/redis/info.js';
import { startDeployment, stopDeployment, type Deployment } from '../../src/embedded/deployment.js';
import { findFreePorts } from '../../src/embedded/ports.js';
import { findRedisServer, startNode, stopNode, type NodeProcess } from '../../src/embedded/redis-server.js';
import { connectTo } from './io.js';

export const REDIS_SERVER = findRedisServer(undefined, process.env.PATH);

/** A base port picked at random, so that parallel test files rarely probe the same ports. */
export function randomBasePort(): number {
  return 20_000 + Math.floor(Math.random() * 30_000);
}

/**
 * Processes (on Linux, from /proc) whose working folder is inside `dir`: a redis-server started
 * there runs in its node folder.
 */
export function processesIn(dir: string): { pid: number; cmd: string }[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  const found: { pid: number; cmd: string }[] = [];
  for (const p of pids) {
    try {
      const cwd = readlinkSync(`/proc/${p}/cwd`).replace(/ \(deleted\)$/, '');
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      // A process exiting, or exited and not reaped yet, still shows its folder, with no command line.
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (cmd === '') continue;
      found.push({ pid: Number(p), cmd });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** SIGKILLs every process running inside `dir` (see `processesIn`) and returns them. */
export function killProcessesIn(dir: string): { pid: number; cmd: string }[] {
  const found = processesIn(dir);
  for (const { pid } of found) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return found;
}

/**
 * A temporary folder, removed by the returned function. Whatever still runs inside it then (a
 * redis-server that its test's `down` or stop missed) is killed and named on stderr, so that one
 * test's leak neither outlives the suite nor goes unnoticed.
 */
export function tempDir(prefix = 'streamctl-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    remove: () => {
      const left = killProcessesIn(dir);
      if (left.length > 0) {
        const test = expect.getState().currentTestName ?? expect.getState().testPath ?? 'unknown test';
        process.stderr.write(
          `leaked process(es) in ${dir} (${test}), killed: ${left.map((l) => `${l.pid} ${l.cmd}`).join('; ')}\n`,
        );
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestServer {
  port: number;
  url: string;
  node: NodeProcess;
  stop(): Promise<void>;
}

/** Starts one standalone redis-server on a free port with extra arguments (TLS, ACL, ...). */
export async function startRedis(extraArgs: string[] = [], opts: { tlsPort?: boolean } = {}): Promise<TestServer> {
  const tmp = tempDir('streamctl-redis-');
  const [port] = await findFreePorts(randomBasePort(), 1, false);
  const args = opts.tlsPort ? ['--port', '0', '--tls-port', String(port), ...extraArgs] : extraArgs;
  const node = await startNode({
    bin: REDIS_SERVER,
    port: port!,
    dir: tmp.dir,
    cluster: false,
    persist: false,
    nodeTimeoutMs: 2000,
    detached: false,
    extraArgs: args,
  }).catch((err) => {
    tmp.remove();
    throw err;
  });
  return {
    port: port!,
    url: `redis://127.0.0.1:${port}`,
    node,
    async stop() {
      // The TLS node's title shows its TLS port; stop it through the child handle.
      node.child?.kill('SIGKILL');
      await stopNode(node, 1000);
      tmp.remove();
    },
  };
}

export interface TestDeployment {
  home: string;
  deployment: Deployment;
  stop(): Promise<void>;
}

/** Starts an embedded deployment (cluster by default) in a temporary state folder. */
export async function startTestDeployment(
  opts: { mode?: 'cluster' | 'standalone'; primaries?: number; replicas?: number; nodeTimeoutMs?: number } = {},
): Promise<TestDeployment> {
  const tmp = tempDir('streamctl-home-');
  const { deployment } = await startDeployment({
    home: tmp.dir,
    bin: REDIS_SERVER,
    mode: opts.mode ?? 'cluster',
    primaries: opts.primaries ?? 3,
    replicas: opts.replicas ?? 1,
    basePort: randomBasePort(),
    persist: false,
    nodeTimeoutMs: opts.nodeTimeoutMs ?? 1000,
    detached: false,
    fresh: true,
  });
  return {
    home: tmp.dir,
    deployment,
    async stop() {
      await stopDeployment(tmp.dir, deployment, { keepData: false });
      tmp.remove();
    },
  };
}

/**
 * A redis-server and a connection to it for the tests of one file: started before them, closed
 * and stopped after them. Read `server` and `conn` inside tests (they exist once beforeAll ran).
 */
export function redisWithConnection(): { readonly server: TestServer; readonly conn: RedisConnection } {
  let server: TestServer | undefined;
  let conn: RedisConnection | undefined;
  beforeAll(async () => {
    server = await startRedis();
    conn = await connectTo(server.url);
  });
  afterAll(async () => {
    await conn?.close();
    await server?.stop();
  });
  return {
    get server() {
      return server!;
    },
    get conn() {
      return conn!;
    },
  };
}

/** How many times `command` (lower case, e.g. `wait`) ran on this Redis node, from INFO commandstats. */
export async function commandCalls(node: { info(section: string): Promise<string> }, command: string): Promise<number> {
  const stats = parseInfo(await node.info('commandstats'))[`cmdstat_${command}`] ?? '';
  return Number(/(?:^|,)calls=(\d+)/.exec(stats)?.[1] ?? 0);
}
