import { openSync } from 'node:fs';
import { join } from 'node:path';
import type { PipelineDefinition } from '../pipeline/definition.js';
import { ensureTopology, type Topology } from '../pipeline/topology.js';
import { liveHeartbeats } from '../pipeline/worker/heartbeats.js';
import type { RedisConnection, RedisFactory } from '../redis/connection.js';
import { parseRedisUrls } from '../redis/endpoint.js';
import { waitFor } from '../wait.js';
import {
  deploymentUrls,
  liveNodes,
  readDeployment,
  startDeployment,
  stopDeployment,
  writeDeployment,
  type Deployment,
  type StartOptions,
  type Started,
} from './deployment.js';
import { isPidAlive } from './pid.js';
import { spawnWorkers, stopWorkerProcesses, WORKER_STOP_MS, type WorkerProcessInfo } from './supervisor.js';

export interface EmbeddedPipelineOptions extends Omit<StartOptions, 'onProgress'> {
  namespace: string;
  /** The pipeline the workers run; loaded only when workers run or a connection is wanted. */
  pipeline: () => { definition: PipelineDefinition; name: string | undefined };
  /** Start the pipeline's stage workers, each in its own process. */
  workers: boolean;
  /** Open a connection and the namespace's topology even without workers (for a server in this process). */
  connect: boolean;
  env: Record<string, string | undefined>;
  progress: (line: string) => void;
}

/**
 * The embedded deployment with the pipeline's stage workers: started together, stopped in order
 * (workers drain first, then Redis stops). A detached one outlives this process; `down` stops it.
 */
export class EmbeddedPipeline {
  readonly home: string;
  readonly deployment: Deployment;
  readonly resumed: boolean;
  readonly workers: WorkerProcessInfo[];
  readonly stages: string[];
  readonly conn: RedisConnection | undefined;
  readonly topology: Topology | undefined;
  /** The redis-server processes this process started (none of a detached deployment's). */
  private readonly started: Started['processes'];
  private readonly progress: (line: string) => void;

  private constructor(p: {
    home: string;
    started: Started;
    progress: (line: string) => void;
    /** When workers or a connection were asked for. */
    running?: { stages: string[]; workers: WorkerProcessInfo[]; conn: RedisConnection; topology: Topology };
  }) {
    this.home = p.home;
    this.deployment = p.started.deployment;
    this.resumed = p.started.resumed;
    this.started = p.started.processes;
    this.progress = p.progress;
    this.stages = p.running?.stages ?? [];
    this.workers = p.running?.workers ?? [];
    this.conn = p.running?.conn;
    this.topology = p.running?.topology;
  }

  /** Starts Redis, then (when asked) the namespace's topology and the stage workers. */
  static async start(redis: RedisFactory, o: EmbeddedPipelineOptions): Promise<EmbeddedPipeline> {
    const { namespace, pipeline, workers: withWorkers, connect, env, progress, ...deploymentOptions } = o;
    const started = await startDeployment({ ...deploymentOptions, onProgress: progress });
    if (!withWorkers && !connect) return new EmbeddedPipeline({ home: o.home, started, progress });
    const d = started.deployment;
    const { definition, name } = pipeline();
    const stages = definition.stages.map((st) => st.name);
    const conn = await redis.open({
      endpoints: parseRedisUrls(deploymentUrls(d).join(',')),
      source: 'embedded deployment',
    });
    const topology = await ensureTopology(conn.client(), namespace, definition.stages, {
      partitions: definition.partitions,
    });
    let workers: WorkerProcessInfo[] = [];
    if (withWorkers) {
      const log = join(o.home, 'workers.log');
      workers = spawnWorkers({
        stages: definition.stages,
        redisUrls: deploymentUrls(d),
        namespace,
        pipeline: name,
        home: o.home,
        detached: o.detached,
        // Detached workers outlive this process: their messages go to a file, not to our stderr.
        ...(o.detached ? { logFd: openSync(log, 'a') } : {}),
        env,
      });
      d.workers = workers.map((w) => ({ stage: w.stage, pid: w.pid }));
      d.namespace = namespace;
      writeDeployment(o.home, d);
      progress(
        `started ${workers.length} stage worker process(es): ${stages.join(' -> ')} in namespace "${namespace}"${o.detached ? ` (log: ${log})` : ''}`,
      );
    }
    return new EmbeddedPipeline({ home: o.home, started, progress, running: { stages, workers, conn, topology } });
  }

  /** Says when a worker or a redis-server exits before `stopping` aborts: none is restarted silently. */
  watchExits(stopping: AbortSignal): void {
    for (const w of this.workers) {
      w.child?.once('exit', (code, signal) => {
        if (!stopping.aborted)
          this.progress(`worker ${w.stage} (pid ${w.pid}) exited (${signal ?? `code ${code}`}); not restarted`);
      });
    }
    for (const p of this.started) {
      p.child?.once('exit', (code, signal) => {
        if (!stopping.aborted)
          this.progress(
            `redis-server ${this.deployment.host}:${p.port} exited (${signal ?? `code ${code}`}); not restarted`,
          );
      });
    }
  }

  /** One line: per stage, live workers, owned partitions and rate, from the heartbeats. */
  async statusLine(): Promise<string | undefined> {
    if (!this.conn || !this.topology) return undefined;
    const beats = await liveHeartbeats(this.conn.client(), this.topology.keys.ns);
    const parts = this.stages.map((st) => {
      const hs = beats.filter((h) => h.stage === st);
      const rate = hs.reduce((a, h) => a + h.rate, 0);
      const owned = hs.reduce((a, h) => a + h.owned.length, 0);
      const done = hs.reduce((a, h) => a + h.received, 0);
      return `${st}: ${hs.length}w ${owned}p ${rate.toLocaleString('en')} ev/s (${done.toLocaleString('en')})`;
    });
    return `${new Date().toISOString().slice(11, 19)}  ${parts.join('  |  ')}`;
  }

  /** Leaves everything running (a detached deployment): only this process's connection closes. */
  async detach(): Promise<void> {
    await this.conn?.close();
  }

  /**
   * Drains the stage workers, then stops Redis.
   * @returns the redis-server processes stopped.
   */
  async stop(o: { keepData: boolean }): Promise<number> {
    if (this.workers.length) {
      this.progress('draining the stage workers...');
      await stopWorkerProcesses(this.workers, WORKER_STOP_MS);
    }
    await this.conn?.close();
    this.progress('stopping Redis...');
    return (await stopDeployment(this.home, this.deployment, { keepData: o.keepData })).length;
  }
}

/** How long a foreground `up` gets to stop its processes when `down` asks it to. */
const SUPERVISOR_EXIT_MS = 15_000;

/**
 * Stops the deployment recorded in `home` from another process (`down`): a foreground `up` is asked
 * to stop (so that it exits too), detached workers drain, then Redis stops.
 * @returns the ports of the redis-server processes that were running, or undefined when there is no record.
 */
export async function stopRecorded(home: string, o: { keepData: boolean }): Promise<number[] | undefined> {
  const d = readDeployment(home);
  if (!d) return undefined;
  if (d.supervisorPid && d.supervisorPid !== process.pid && isPidAlive(d.supervisorPid)) {
    process.kill(d.supervisorPid, 'SIGTERM');
    await waitFor(async () => (isPidAlive(d.supervisorPid!) ? undefined : true), {
      timeoutMs: SUPERVISOR_EXIT_MS,
      onTimeout: () => new Error('supervisor did not exit'),
    }).catch(() => undefined);
  }
  if (d.workers?.length) await stopWorkerProcesses(d.workers, WORKER_STOP_MS);
  const before = liveNodes(d).map((n) => n.port);
  // The foreground `up` may have removed or rewritten the record meanwhile.
  const current = readDeployment(home);
  if (current) await stopDeployment(home, current, o);
  return before;
}
