import { openSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { UsageError } from '../errors.js';
import { startHttpIngest, type HttpIngest } from '../ingest/http-ingest.js';
import type { Io } from '../cli/io.js';
import { jsonOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { loadPipeline } from '../pipeline/definition.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { spawnWorkers, stopWorkerProcesses, type WorkerProcessInfo } from '../embedded/supervisor.js';
import { ensureTopology } from '../pipeline/topology.js';
import { liveHeartbeats } from '../pipeline/worker/heartbeats.js';
import {
  deploymentUrls,
  resolveHome,
  startDeployment,
  stopDeployment,
  writeDeployment,
  type Deployment,
} from '../embedded/deployment.js';
import { parseRedisUrls } from '../redis/endpoint.js';
import { findRedisServer } from '../embedded/redis-server.js';
import type { RedisConnection } from '../redis/connection.js';

const options = z.object({
  standalone: z.boolean().default(false).describe('Start one redis-server instead of a Redis Cluster'),
  primaries: z.coerce.number().int().min(1).max(100).default(3).describe('Cluster primaries').meta({ valueName: 'N' }),
  replicas: z.coerce.number().int().min(0).max(5).default(1).describe('Replicas per primary').meta({ valueName: 'R' }),
  port: z.coerce
    .number()
    .int()
    .min(1)
    .max(55535)
    .default(7000)
    .describe('First port to try; nodes take free ports from here upward (a cluster node also needs port+10000)')
    .meta({ valueName: 'BASE' }),
  persist: z
    .boolean()
    .default(true)
    .describe('AOF persistence (appendfsync everysec); --no-persist keeps data in memory only'),
  nodeTimeout: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(2000)
    .describe('cluster-node-timeout in ms: how long a silent primary takes to be failed over')
    .meta({ valueName: 'MS' }),
  detach: z
    .boolean()
    .default(false)
    .describe('Return once healthy and leave Redis running; stop it with `streamctl down`'),
  keepData: z
    .boolean()
    .default(false)
    .describe('On Ctrl-C, keep the data files so that the next `up` restarts from them'),
  fresh: z.boolean().default(false).describe('Discard data kept by `down --keep-data` instead of restarting from it'),
  redisServer: z
    .string()
    .optional()
    .describe('Path of the redis-server binary (default: found on PATH)')
    .meta({ valueName: 'PATH', env: 'STREAMCTL_REDIS_SERVER' }),
  home: z
    .string()
    .default('.streamctl')
    .describe('State folder: data, logs and the deployment record')
    .meta({ valueName: 'DIR', env: 'STREAMCTL_HOME' }),
  ...namespaceOption,
  ...pipelineOption,
  workers: z
    .boolean()
    .default(true)
    .describe("Start the pipeline's stage workers, each in its own process; --no-workers starts Redis only"),
  quiet: z.boolean().default(false).describe('No status line every second'),
  http: z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe(
      'Also take events over HTTP, as `streamctl serve` does, on 127.0.0.1:PORT (0 picks a free one) once Redis and the workers are up; Ctrl-C closes it (run recorded) before the workers stop. Not with --detach: the server lives in this process, so beside a detached deployment run `streamctl serve`',
    )
    .meta({ valueName: 'PORT' }),
  ...jsonOption,
});

/** One line a second: per stage, live workers, owned partitions and rate, from the heartbeats. */
async function statusLine(conn: RedisConnection, ns: string, stages: string[]): Promise<string> {
  const beats = await liveHeartbeats(conn.client(), ns);
  const parts = stages.map((st) => {
    const hs = beats.filter((h) => h.stage === st);
    const rate = hs.reduce((a, h) => a + h.rate, 0);
    const owned = hs.reduce((a, h) => a + h.owned.length, 0);
    const done = hs.reduce((a, h) => a + h.received, 0);
    return `${st}: ${hs.length}w ${owned}p ${rate.toLocaleString('en')} ev/s (${done.toLocaleString('en')})`;
  });
  return `${new Date().toISOString().slice(11, 19)}  ${parts.join('  |  ')}`;
}

function summary(d: Deployment, home: string, elapsedMs: number, resumed: boolean): string {
  const shape =
    d.mode === 'cluster' ? `Redis Cluster, ${d.primaries} primaries x ${d.replicas} replica(s)` : 'standalone Redis';
  const lines = [
    `embedded ${shape} ${resumed ? 'restarted' : 'up'} in ${(elapsedMs / 1000).toFixed(1)}s (state: ${home})`,
  ];
  for (const n of d.nodes)
    lines.push(
      `  ${n.role.padEnd(8)} ${d.host}:${n.port}  pid ${n.pid}${n.slots ? `  slots ${n.slots[0]}-${n.slots[1]}` : ''}`,
    );
  lines.push(`  persistence: ${d.persist ? 'AOF, appendfsync everysec' : 'none'}`);
  lines.push(
    `other commands find it with no flags; from elsewhere: --redis ${deploymentUrls(d).slice(0, 3).join(',')}`,
  );
  return `${lines.join('\n')}\n`;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true }),
  );
}

export default defineCommand({
  name: 'up',
  description:
    'Start the embedded deployment: redis-server processes run by streamctl (a 3x1 Redis Cluster by default, or --standalone). In the foreground until Ctrl-C, or --detach.',
  examples: [
    'streamctl up',
    'streamctl up --detach',
    'streamctl up --standalone --no-persist --detach',
    'streamctl up --primaries 6 --replicas 1 --port 8000',
    'streamctl up --standalone --http 8080',
  ],
  options,
  async run(opts, io: Io) {
    // A detached `up` exits once healthy: a server in it would die with it, and one in a child
    // process would outlive any report of a failure to bind. `serve` does that job explicitly.
    if (opts.http !== undefined && opts.detach) {
      throw new UsageError(
        'HTTP_WITH_DETACH',
        '--http serves from the `up` process itself, which --detach ends',
        'drop --detach (Ctrl-C then stops the server, the workers and Redis), or after `streamctl up --detach` run `streamctl serve --port PORT`',
      );
    }
    const home = resolveHome(opts.home, io.cwd);
    const bin = findRedisServer(opts.redisServer, io.env.PATH);
    const t0 = Date.now();
    const progress = (m: string) => {
      if (!opts.json) io.stderr.write(`${m}\n`);
    };
    const started = await startDeployment({
      home,
      bin,
      mode: opts.standalone ? 'standalone' : 'cluster',
      primaries: opts.primaries,
      replicas: opts.replicas,
      basePort: opts.port,
      persist: opts.persist,
      nodeTimeoutMs: opts.nodeTimeout,
      detached: opts.detach,
      fresh: opts.fresh,
      onProgress: progress,
    });
    const { deployment: d } = started;
    let workers: WorkerProcessInfo[] = [];
    let conn: RedisConnection | undefined;
    let stageNames: string[] = [];
    let ingest: HttpIngest | undefined;
    if (opts.workers || opts.http !== undefined) {
      const { definition, file } = loadPipeline(opts.pipeline, io.cwd);
      stageNames = definition.stages.map((st) => st.name);
      conn = await io.redis.open({
        endpoints: parseRedisUrls(deploymentUrls(d).join(',')),
        source: 'embedded deployment',
      });
      const topology = await ensureTopology(conn.client(), opts.namespace, definition.stages, {
        partitions: definition.partitions,
      });
      if (opts.workers) {
        workers = spawnWorkers({
          stages: definition.stages,
          redisUrls: deploymentUrls(d),
          namespace: opts.namespace,
          pipeline: file ?? opts.pipeline,
          home,
          detached: opts.detach,
          // Detached workers outlive this process: their messages go to a file, not to our stderr.
          ...(opts.detach ? { logFd: openSync(join(home, 'workers.log'), 'a') } : {}),
          env: io.env,
        });
        d.workers = workers.map((w) => ({ stage: w.stage, pid: w.pid }));
        d.namespace = opts.namespace;
        writeDeployment(home, d);
        progress(
          `started ${workers.length} stage worker process(es): ${stageNames.join(' -> ')} in namespace "${opts.namespace}"${opts.detach ? ` (log: ${join(home, 'workers.log')})` : ''}`,
        );
      }
      if (opts.http !== undefined) {
        try {
          ingest = await startHttpIngest({
            client: withScripts(conn.client()),
            topology,
            port: opts.http,
            portFlag: '--http',
            log: (m) => progress(`http ingest: ${m}`),
          });
        } catch (err) {
          // A failed `up` leaves nothing running (kept data stays kept).
          await stopWorkerProcesses(workers, 15_000);
          await conn.close();
          await stopDeployment(home, d, { keepData: opts.keepData || started.resumed });
          throw err;
        }
      }
    }
    const http = ingest
      ? { url: ingest.url, events: `${ingest.url}/events`, run: ingest.runId, producer: ingest.producerId }
      : undefined;
    const elapsedMs = Date.now() - t0;
    io.stdout.write(
      opts.json
        ? `${JSON.stringify({ ...d, home, urls: deploymentUrls(d), elapsedMs, resumed: started.resumed, ...(http ? { http } : {}) }, null, 2)}\n`
        : `${summary(d, home, elapsedMs, started.resumed)}${http ? `HTTP ingest on ${http.url}: POST ${http.events} (run ${http.run}; audit it with \`streamctl verify --run ${http.run}\`)\n` : ''}`,
    );
    if (opts.detach) {
      await conn?.close();
      progress('detached; stop it with `streamctl down`');
      return 0;
    }

    progress('running in the foreground; Ctrl-C stops it');
    for (const w of workers) {
      w.child?.once('exit', (code, signal) => {
        if (!io.signal.aborted)
          progress(`worker ${w.stage} (pid ${w.pid}) exited (${signal ?? `code ${code}`}); not restarted`);
      });
    }
    const status =
      conn && !opts.quiet && !opts.json
        ? setInterval(() => {
            statusLine(conn!, opts.namespace, stageNames).then(progress, () => undefined);
          }, 1000)
        : undefined;
    for (const p of started.processes) {
      p.child?.once('exit', (code, signal) => {
        if (!io.signal.aborted)
          progress(`redis-server ${d.host}:${p.port} exited (${signal ?? `code ${code}`}); not restarted`);
      });
    }
    await untilAborted(io.signal);
    if (status) clearInterval(status);
    if (ingest) {
      // First, while the workers still run: requests in flight finish and the run record is final.
      progress('closing the HTTP ingest...');
      const run = await ingest.close();
      const s = ingest.stats();
      progress(
        `http ingest run ${run.id}: ${s.requests.toLocaleString('en')} request(s), accepted ${s.accepted.toLocaleString('en')} event(s), failed ${run.failed}`,
      );
    }
    if (workers.length) {
      progress('draining the stage workers...');
      await stopWorkerProcesses(workers, 15_000);
    }
    await conn?.close();
    progress('stopping Redis...');
    const stopped = await stopDeployment(home, d, { keepData: opts.keepData });
    progress(`stopped ${stopped.length} redis-server process(es)${opts.keepData ? `; data kept in ${home}` : ''}`);
    return 0;
  },
});
