import { z } from 'zod';
import { startFaultProxy } from '../chaos/proxy/fault-proxy.js';
import { defineCommand } from '../cli/command.js';
import type { Io } from '../cli/io.js';
import { homeOption, jsonOption, localPortOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { startInBackground, type BackgroundSpec } from '../embedded/background-supervisor.js';
import { readControlEndpoint, sendControl } from '../embedded/control-client.js';
import { CONTROL_VERSION } from '../embedded/control-protocol.js';
import { deploymentUrls, readDeployment, resolveHome, type Deployment } from '../embedded/deployment.js';
import { findPrometheus } from '../embedded/prometheus.js';
import { findRedisServer } from '../embedded/redis-server.js';
import { Supervisor } from '../embedded/supervisor.js';
import { RuntimeError, UsageError } from '../errors.js';
import { startHttpIngest, type HttpIngest } from '../ingest/http-ingest.js';
import { checkStages, loadPipeline } from '../pipeline/definition.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { untilAborted } from '../wait.js';

/** How often the foreground `up` prints its status line. */
const STATUS_EVERY_MS = 1000;

/** `up` on a deployment whose supervisor runs: processes it gave up on start again, else it says it runs. */
async function repair(home: string, io: Io, json: boolean): Promise<number> {
  const status = await sendControl(home, { v: CONTROL_VERSION, kind: 'status' });
  const down = status.processes.filter((p) => p.state === 'gave-up');
  if (down.length === 0) {
    const ports = status.processes.filter((p) => p.kind === 'node').map((p) => p.name.split(':').pop());
    throw new RuntimeError(
      'ALREADY_RUNNING',
      `an embedded deployment is already running in ${home} (ports ${ports.join(', ')}), supervised by pid ${status.supervisor?.pid}`,
      'use it as it is (`streamctl health`), or stop it first with `streamctl down`',
    );
  }
  const r = await sendControl(home, { v: CONTROL_VERSION, kind: 'repair' });
  io.stdout.write(
    json
      ? `${JSON.stringify({ home, repaired: r.started })}\n`
      : `repaired the deployment in ${home}: started ${r.started.join(', ')} again\n`,
  );
  return 0;
}

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
  ...homeOption,
  ...namespaceOption,
  ...pipelineOption,
  workers: z
    .boolean()
    .default(true)
    .describe("Start the pipeline's stage workers, each in its own process; --no-workers starts Redis only"),
  restart: z
    .enum(['on-failure', 'never'])
    .default('on-failure')
    .describe(
      'Restart a worker process or redis-server that dies (with backoff, at most 5 times a minute; a killed ' +
        'primary once its replica took over), or never',
    )
    .meta({ valueName: 'POLICY' }),
  faultProxy: z
    .boolean()
    .default(false)
    .describe(
      'Run a fault proxy in front of every node, through which every streamctl client connects (cluster ' +
        'redirections included), for `chaos latency`, `bandwidth`, `blackhole` and `reset`',
    ),
  quiet: z.boolean().default(false).describe('No status line every second'),
  http: z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .optional()
    .describe(
      'Also take events over HTTP, as `streamctl serve` does, on 127.0.0.1:PORT (0 picks a free one) once ' +
        'Redis and the workers are up; Ctrl-C closes it (run recorded) before the workers stop. Not with ' +
        '--detach: the server lives in this process, so beside a detached deployment run `streamctl serve`',
    )
    .meta({ valueName: 'PORT' }),
  metricsPort: localPortOption(
    "Port of the deployment's metrics on 127.0.0.1 (GET /metrics: nodes, failovers, restarts, workers, lag, " +
      'dead letters) and of Prometheus HTTP service discovery of the workers (GET /discovery); 0 picks a free one',
  ),
  prometheus: z
    .boolean()
    .default(false)
    .describe(
      'Also start Prometheus (the `prometheus` binary on PATH; Debian: `apt-get install prometheus`) scraping the ' +
        "deployment and every worker, with streamctl's alerting rules, its data in <home>/prometheus",
    ),
  prometheusPort: z.coerce
    .number()
    .int()
    .min(1)
    .max(65_535)
    .default(9090)
    .describe('--prometheus: the port of its web UI and API on 127.0.0.1')
    .meta({ valueName: 'PORT' }),
  ...jsonOption,
});

function summary(d: Deployment, home: string, elapsedMs: number, resumed: boolean, supervisorPid: number): string {
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
  lines.push(`  supervisor: pid ${supervisorPid}, restart ${d.restart ?? 'never'}; events in ${home}/events.log`);
  if (d.metrics) lines.push(`  metrics: ${d.metrics.url}; workers' scrape discovery: ${d.metrics.discovery}`);
  if (d.prometheus)
    lines.push(`  prometheus: ${d.prometheus.url} (pid ${d.prometheus.pid}, config ${d.prometheus.config})`);
  lines.push(
    `other commands find it with no flags; from elsewhere: --redis ${deploymentUrls(d).slice(0, 3).join(',')}`,
  );
  return `${lines.join('\n')}\n`;
}

export default defineCommand({
  name: 'up',
  description:
    'Start the embedded deployment: redis-server processes run by streamctl (a 3x1 Redis Cluster by ' +
    'default, or --standalone). In the foreground until Ctrl-C, or --detach.',
  examples: [
    'streamctl up',
    'streamctl up --detach',
    'streamctl up --standalone --no-persist --detach',
    'streamctl up --primaries 6 --replicas 1 --port 8000',
    'streamctl up --standalone --http 8080',
    'streamctl up --prometheus --metrics-port 9464',
  ],
  options,
  async run(opts, io: Io) {
    // A detached `up` exits once healthy: a server in it would die with it, and one in a child
    // process would outlive any report of a failure to bind. `serve` does that job explicitly.
    if (opts.http !== undefined && opts.detach) {
      throw new UsageError(
        'HTTP_WITH_DETACH',
        '--http serves from the `up` process itself, which --detach ends',
        'drop --detach (Ctrl-C then stops the server, the workers and Redis), or after `streamctl up ' +
          '--detach` run `streamctl serve --port PORT`',
      );
    }
    const progress = (m: string) => {
      if (!opts.json) io.stderr.write(`${m}\n`);
    };
    const t0 = Date.now();
    const home = resolveHome(opts.home, io.cwd);
    const bin = findRedisServer(opts.redisServer, io.env.PATH);
    if (opts.prometheus) findPrometheus(io.env.PATH);
    // The pipeline file and every stage module, before any process starts.
    let pipeline = opts.pipeline;
    if (opts.workers || opts.http !== undefined) {
      const { definition, file } = loadPipeline(opts.pipeline, io.cwd);
      pipeline = file ?? opts.pipeline;
      if (opts.workers) await checkStages(definition, file, io.cwd);
    }
    if (readDeployment(home) && readControlEndpoint(home)) return repair(home, io, opts.json);
    const spec: BackgroundSpec = {
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
      namespace: opts.namespace,
      pipeline,
      cwd: io.cwd,
      workers: opts.workers,
      connect: opts.http !== undefined,
      restart: opts.restart,
      faultProxy: opts.faultProxy,
      env: io.env,
      metricsPort: opts.metricsPort,
      prometheusPort: opts.prometheus ? opts.prometheusPort : undefined,
    };
    if (opts.detach) {
      const bg = await startInBackground(spec, progress, io.signal);
      const elapsedMs = Date.now() - t0;
      const d = bg.deployment;
      io.stdout.write(
        opts.json
          ? `${JSON.stringify({ ...d, home, urls: deploymentUrls(d), elapsedMs, resumed: bg.resumed }, null, 2)}\n`
          : summary(d, home, elapsedMs, bg.resumed, bg.pid),
      );
      progress('detached; stop it with `streamctl down`');
      return 0;
    }
    const up = await Supervisor.start({
      ...spec,
      proxyFactory: startFaultProxy,
      redis: io.redis,
      progress,
      ...(opts.json ? {} : { workerOutput: progress }),
    });
    let ingest: HttpIngest | undefined;
    if (opts.http !== undefined) {
      try {
        ingest = await startHttpIngest({
          client: withScripts(up.conn!.client()),
          topology: up.topology!,
          port: opts.http,
          portFlag: '--http',
          log: (m) => progress(`http ingest: ${m}`),
        });
      } catch (err) {
        // A failed `up` leaves nothing running (kept data stays kept).
        await up.stop({ keepData: opts.keepData || up.resumed });
        throw err;
      }
    }
    const d = up.deployment;
    const http = ingest
      ? { url: ingest.url, events: `${ingest.url}/events`, run: ingest.runId, producer: ingest.producerId }
      : undefined;
    const elapsedMs = Date.now() - t0;
    io.stdout.write(
      opts.json
        ? `${JSON.stringify({ ...d, home, urls: deploymentUrls(d), elapsedMs, resumed: up.resumed, ...(http ? { http } : {}) }, null, 2)}\n`
        : `${summary(d, home, elapsedMs, up.resumed, process.pid)}${http ? `HTTP ingest on ${http.url}: POST ${http.events} (run ${http.run}; audit it with \`streamctl verify --run ${http.run}\`)\n` : ''}`,
    );
    progress('running in the foreground; Ctrl-C stops it');
    const status =
      up.conn && !opts.quiet && !opts.json
        ? setInterval(() => {
            up.statusLine().then(
              (line) => line && progress(line),
              () => undefined,
            );
          }, STATUS_EVERY_MS)
        : undefined;
    // Ctrl-C, or `down` asking the supervisor to stop.
    await Promise.race([untilAborted(io.signal), up.stopped]);
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
    const stopped = await up.stop({ keepData: opts.keepData });
    progress(`stopped ${stopped} redis-server process(es)${opts.keepData ? `; data kept in ${home}` : ''}`);
    return 0;
  },
});
