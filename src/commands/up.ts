import { z } from 'zod';
import { defineCommand } from '../command.js';
import type { Io } from '../io.js';
import { jsonOption } from '../options.js';
import { deploymentUrls, resolveHome, startDeployment, stopDeployment, type Deployment } from '../redis/deployment.js';
import { findRedisServer } from '../redis/redis-server.js';

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
  persist: z.boolean().default(true).describe('AOF persistence (appendfsync everysec); --no-persist keeps data in memory only'),
  nodeTimeout: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(2000)
    .describe('cluster-node-timeout in ms: how long a silent primary takes to be failed over')
    .meta({ valueName: 'MS' }),
  detach: z.boolean().default(false).describe('Return once healthy and leave Redis running; stop it with `streamctl down`'),
  keepData: z.boolean().default(false).describe('On Ctrl-C, keep the data files so that the next `up` restarts from them'),
  fresh: z.boolean().default(false).describe('Discard data kept by `down --keep-data` instead of restarting from it'),
  redisServer: z.string().optional().describe('Path of the redis-server binary (default: found on PATH)').meta({ valueName: 'PATH', env: 'STREAMCTL_REDIS_SERVER' }),
  home: z.string().default('.streamctl').describe('State folder: data, logs and the deployment record').meta({ valueName: 'DIR', env: 'STREAMCTL_HOME' }),
  ...jsonOption,
});

function summary(d: Deployment, home: string, elapsedMs: number, resumed: boolean): string {
  const shape = d.mode === 'cluster' ? `Redis Cluster, ${d.primaries} primaries x ${d.replicas} replica(s)` : 'standalone Redis';
  const lines = [`embedded ${shape} ${resumed ? 'restarted' : 'up'} in ${(elapsedMs / 1000).toFixed(1)}s (state: ${home})`];
  for (const n of d.nodes) lines.push(`  ${n.role.padEnd(8)} ${d.host}:${n.port}  pid ${n.pid}${n.slots ? `  slots ${n.slots[0]}-${n.slots[1]}` : ''}`);
  lines.push(`  persistence: ${d.persist ? 'AOF, appendfsync everysec' : 'none'}`);
  lines.push(`other commands find it with no flags; from elsewhere: --redis ${deploymentUrls(d).slice(0, 3).join(',')}`);
  return `${lines.join('\n')}\n`;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
}

export default defineCommand({
  name: 'up',
  description: 'Start the embedded deployment: redis-server processes run by streamctl (a 3x1 Redis Cluster by default, or --standalone). In the foreground until Ctrl-C, or --detach.',
  examples: ['streamctl up', 'streamctl up --detach', 'streamctl up --standalone --no-persist --detach', 'streamctl up --primaries 6 --replicas 1 --port 8000'],
  options,
  async run(opts, io: Io) {
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
    const elapsedMs = Date.now() - t0;
    io.stdout.write(opts.json ? `${JSON.stringify({ ...d, home, urls: deploymentUrls(d), elapsedMs, resumed: started.resumed }, null, 2)}\n` : summary(d, home, elapsedMs, started.resumed));
    if (opts.detach) {
      progress('detached; stop it with `streamctl down`');
      return 0;
    }

    progress('running in the foreground; Ctrl-C stops it');
    for (const p of started.processes) {
      p.child?.once('exit', (code, signal) => {
        if (!io.signal.aborted) progress(`redis-server ${d.host}:${p.port} exited (${signal ?? `code ${code}`}); not restarted`);
      });
    }
    await untilAborted(io.signal);
    progress('stopping...');
    const stopped = await stopDeployment(home, d, { keepData: opts.keepData });
    progress(`stopped ${stopped.length} redis-server process(es)${opts.keepData ? `; data kept in ${home}` : ''}`);
    return 0;
  },
});
