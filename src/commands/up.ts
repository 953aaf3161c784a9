import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import type { Io } from '../cli/io.js';
import { homeOption, jsonOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { deploymentUrls, resolveHome, type Deployment } from '../embedded/deployment.js';
import { EmbeddedPipeline } from '../embedded/embedded-pipeline.js';
import { findRedisServer } from '../embedded/redis-server.js';
import { UsageError } from '../errors.js';
import { startHttpIngest, type HttpIngest } from '../ingest/http-ingest.js';
import { loadPipeline } from '../pipeline/definition.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { untilAborted } from '../wait.js';

/** How often the foreground `up` prints its status line. */
const STATUS_EVERY_MS = 1000;

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
  ...jsonOption,
});

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
    const up = await EmbeddedPipeline.start(io.redis, {
      home: resolveHome(opts.home, io.cwd),
      bin: findRedisServer(opts.redisServer, io.env.PATH),
      mode: opts.standalone ? 'standalone' : 'cluster',
      primaries: opts.primaries,
      replicas: opts.replicas,
      basePort: opts.port,
      persist: opts.persist,
      nodeTimeoutMs: opts.nodeTimeout,
      detached: opts.detach,
      fresh: opts.fresh,
      namespace: opts.namespace,
      pipeline: () => {
        const { definition, file } = loadPipeline(opts.pipeline, io.cwd);
        return { definition, name: file ?? opts.pipeline };
      },
      workers: opts.workers,
      connect: opts.http !== undefined,
      env: io.env,
      progress,
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
    const { deployment: d, home } = up;
    const http = ingest
      ? { url: ingest.url, events: `${ingest.url}/events`, run: ingest.runId, producer: ingest.producerId }
      : undefined;
    const elapsedMs = Date.now() - t0;
    io.stdout.write(
      opts.json
        ? `${JSON.stringify({ ...d, home, urls: deploymentUrls(d), elapsedMs, resumed: up.resumed, ...(http ? { http } : {}) }, null, 2)}\n`
        : `${summary(d, home, elapsedMs, up.resumed)}${http ? `HTTP ingest on ${http.url}: POST ${http.events} (run ${http.run}; audit it with \`streamctl verify --run ${http.run}\`)\n` : ''}`,
    );
    if (opts.detach) {
      await up.detach();
      progress('detached; stop it with `streamctl down`');
      return 0;
    }

    progress('running in the foreground; Ctrl-C stops it');
    up.watchExits(io.signal);
    const status =
      up.conn && !opts.quiet && !opts.json
        ? setInterval(() => {
            up.statusLine().then(
              (line) => line && progress(line),
              () => undefined,
            );
          }, STATUS_EVERY_MS)
        : undefined;
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
    const stopped = await up.stop({ keepData: opts.keepData });
    progress(`stopped ${stopped} redis-server process(es)${opts.keepData ? `; data kept in ${home}` : ''}`);
    return 0;
  },
});
