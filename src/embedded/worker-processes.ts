import { spawn, type ChildProcess } from 'node:child_process';
import { cliEntry } from './cli-entry.js';
import { isPidAlive } from '../pid.js';
import { sleep } from '../wait.js';
import { workerNodeFlags } from './worker-heap.js';
import { inCgroup } from './cgroups.js';

/** Set in the environment of the workers a foreground `up` (or `npm run bench`) starts: its pid. */
export const SUPERVISOR_PID_ENV = 'STREAMCTL_SUPERVISOR_PID';

/**
 * Waits until `signal` aborts or, with `supervisorPid`, until that process is gone (checked every
 * `everyMs`): a worker whose supervisor died without stopping it drains and exits.
 */
export async function untilStopped(
  signal: AbortSignal,
  supervisorPid?: number,
  everyMs = 1000,
): Promise<'signal' | 'supervisor gone'> {
  while (!signal.aborted) {
    if (supervisorPid !== undefined && !isPidAlive(supervisorPid)) return 'supervisor gone';
    // Without a supervisor there is nothing to check: the longest timer Node allows.
    await sleep(supervisorPid === undefined ? 2 ** 31 - 1 : everyMs, signal);
  }
  return 'signal';
}

/** How long stage worker processes get to drain and commit after SIGTERM before they are killed. */
export const WORKER_STOP_MS = 15_000;

/** One stage worker process started by `up`. */
export interface WorkerProcessInfo {
  stage: string;
  pid: number;
  child?: ChildProcess;
}

/** How to start one stage worker process. */
export interface WorkerSpawn {
  stage: string;
  redisUrls: string[];
  /** `--redis-map` of the workers: the node addresses mapped to their fault proxies. */
  redisMap?: string | undefined;
  namespace: string;
  /** A pipeline file or a built-in pipeline name. */
  pipeline: string | undefined;
  home: string;
  /** Let the process outlive this one, unwatched (it then runs until `down`). */
  detached: boolean;
  /** Where worker stderr goes: inherited, a log file, or a pipe the caller reads. */
  stderr: 'inherit' | 'pipe' | number;
  /** Open an IPC channel on which the worker says when it is ready. */
  ipc?: boolean;
  env: Record<string, string | undefined>;
  /** A cgroup folder to start the worker in (`cgroups.ts`). */
  cgroup?: string | undefined;
}

/** Starts one `streamctl worker --stage S` process. */
export function spawnWorker(o: WorkerSpawn): ChildProcess {
  const args = [cliEntry(), 'worker', '--stage', o.stage, '--redis', o.redisUrls.join(','), '--namespace', o.namespace];
  if (o.redisMap) args.push('--redis-map', o.redisMap);
  args.push('--quiet');
  if (o.pipeline) args.push('--pipeline', o.pipeline);
  const node = [...workerNodeFlags(o.env.NODE_OPTIONS), ...args];
  const cmd = o.cgroup ? inCgroup(o.cgroup, process.execPath, node) : { cmd: process.execPath, args: node };
  const child = spawn(cmd.cmd, cmd.args, {
    detached: true,
    stdio: ['ignore', 'ignore', o.stderr, ...(o.ipc ? (['ipc'] as const) : [])],
    // A watched worker watches this process back: if it dies without stopping the worker (SIGKILL,
    // a crash), the worker drains and exits rather than run on unsupervised.
    env: {
      ...o.env,
      STREAMCTL_HOME: o.home,
      ...(o.detached ? {} : { [SUPERVISOR_PID_ENV]: String(process.pid) }),
    } as NodeJS.ProcessEnv,
  });
  if (o.detached) child.unref();
  return child;
}

export interface SpawnWorkersOptions extends Omit<WorkerSpawn, 'stage' | 'stderr'> {
  stages: { name: string; workers: number }[];
  /** Where worker stderr goes: inherited when not given, else this file descriptor. */
  logFd?: number;
}

/** Starts the workers of every stage, each in its own process so one can be killed. */
export function spawnWorkers(o: SpawnWorkersOptions): WorkerProcessInfo[] {
  const { stages, logFd, ...rest } = o;
  const out: WorkerProcessInfo[] = [];
  for (const s of stages) {
    for (let i = 0; i < s.workers; i++) {
      const child = spawnWorker({ ...rest, stage: s.name, stderr: logFd ?? 'inherit' });
      out.push({ stage: s.name, pid: child.pid!, ...(o.detached ? {} : { child }) });
    }
  }
  return out;
}

/** SIGTERM to every worker (they drain and commit), SIGKILL to those still alive after `timeoutMs`. */
export async function stopWorkerProcesses(workers: { pid: number }[], timeoutMs: number): Promise<void> {
  for (const w of workers) {
    try {
      process.kill(w.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + timeoutMs;
  while (workers.some((w) => isPidAlive(w.pid)) && Date.now() < deadline) await sleep(50);
  for (const w of workers) {
    if (isPidAlive(w.pid)) {
      try {
        process.kill(w.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}
