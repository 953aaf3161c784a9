import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { deploymentUrls } from '../src/embedded/deployment.js';
import { waitFor } from '../src/wait.js';
import { Keys } from '../src/pipeline/keys.js';
import { readHeartbeats, type Heartbeat } from '../src/pipeline/worker/heartbeats.js';
import type { AuditReport } from '../src/pipeline/audit.js';
import type { RedisConnection } from '../src/redis/connection.js';
import { runCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { startWorker, stopWorkers, type WorkerProcess } from './helpers/pipeline.js';
import { commandCalls, startTestDeployment, type TestDeployment } from './helpers/redis.js';

const STAGES = ['stage1', 'stage2', 'stage3'];
const LEASE_TTL_MS = 2000;

interface Ctx {
  url: string;
  ns: string;
  conn: RedisConnection;
  workers: WorkerProcess[];
  /** Takeover times measured by the fault, in ms. */
  takeovers: number[];
}

function heartbeats(ctx: Ctx): Promise<Heartbeat[]> {
  return readHeartbeats(ctx.conn.client(), ctx.ns);
}

/** Every 5 s while `running()`, SIGKILL a random worker, time the takeover of its partitions, start a replacement. */
async function killWorkersEvery5s(ctx: Ctx, running: () => boolean): Promise<void> {
  const keys = new Keys(ctx.ns, 16);
  const client = ctx.conn.client();
  while (running()) {
    await new Promise((r) => setTimeout(r, 5000)); // the fault's schedule, not a synchronization
    if (!running()) return;
    const live = ctx.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    const victim = live[Math.floor(Math.random() * live.length)]!;
    const hb = (await heartbeats(ctx)).find((h) => h.pid === victim.child.pid);
    victim.child.kill('SIGKILL');
    const t0 = Date.now();
    await victim.exit;
    ctx.workers.push(startWorker(victim.stage, ctx.url, ctx.ns, ['--lease-ttl', `${LEASE_TTL_MS}ms`]));
    const owned = hb?.owned ?? [];
    await waitFor(
      async () => {
        const holders = await Promise.all(owned.map((k) => client.get(keys.lease(victim.stage, k))));
        return holders.every((h) => h !== null && !h.startsWith(`${hb!.id}:`)) ? true : undefined;
      },
      {
        timeoutMs: 30_000,
        intervalMs: 50,
        onTimeout: () => new Error(`partitions ${owned} of ${victim.stage} not taken over`),
      },
    );
    ctx.takeovers.push(Date.now() - t0);
  }
}

const scenarios = [
  {
    name: 'standalone, 1,000,000 events, no fault',
    mode: 'standalone' as const,
    count: 1_000_000,
    rate: 0,
    perStage: 1,
    fault: undefined,
  },
  {
    name: '3+3 cluster, 1,000,000 events, no fault',
    mode: 'cluster' as const,
    count: 1_000_000,
    rate: 0,
    perStage: 1,
    fault: undefined,
  },
  {
    name: '3+3 cluster, 300,000 events, SIGKILL a worker every 5 s',
    mode: 'cluster' as const,
    count: 300_000,
    rate: 20_000,
    perStage: 2,
    fault: killWorkersEvery5s,
  },
  // --durable: every append and commit is followed by WAIT for a replica on its node's connection.
  {
    name: '3+3 cluster, 100,000 events, durable appends and commits',
    mode: 'cluster' as const,
    count: 100_000,
    rate: 0,
    perStage: 1,
    fault: undefined,
    durable: true,
  },
];

describe('delivery through a 3-stage passthrough pipeline', () => {
  let d: TestDeployment | undefined;
  let ctx: Ctx | undefined;
  afterEach(async () => {
    if (ctx) {
      await stopWorkers(ctx.workers);
      await ctx.conn.close();
    }
    await d?.stop();
    d = undefined;
    ctx = undefined;
  });

  it.each(scenarios)(
    '$name: nothing lost, duplicated or reordered',
    async ({ mode, count, rate, perStage, fault, durable }) => {
      const durableArgs = durable ? ['--durable'] : [];
      d = await startTestDeployment({ mode });
      const url = deploymentUrls(d.deployment).join(',');
      const ns = `t${Date.now().toString(36)}`;
      const conn = await connectTo(url);
      ctx = { url, ns, conn, workers: [], takeovers: [] };
      for (const stage of STAGES)
        for (let i = 0; i < perStage; i++)
          ctx.workers.push(startWorker(stage, url, ns, ['--lease-ttl', `${LEASE_TTL_MS}ms`, ...durableArgs]));

      let producing = true;
      const faults = fault?.(ctx, () => producing);
      const produced = await runCli([
        'produce',
        '--redis',
        url,
        '--namespace',
        ns,
        '--count',
        String(count),
        '--rate',
        String(rate),
        '--json',
        ...durableArgs,
      ]);
      producing = false;
      await faults;
      expect(produced.code, produced.stderr).toBe(0);
      // The default partition count of a new namespace: 16 spread over a cluster's primaries, 4 on a single Redis.
      expect(JSON.parse(produced.stdout)).toMatchObject({
        sent: count,
        acked: count,
        failed: 0,
        partitions: mode === 'cluster' ? 16 : 4,
      });

      const verified = await runCli([
        'verify',
        '--redis',
        url,
        '--namespace',
        ns,
        '--pipeline',
        'passthrough',
        '--wait',
        '120s',
        '--json',
      ]);
      const report = JSON.parse(verified.stdout) as AuditReport;
      expect(report).toMatchObject({
        produced: count,
        delivered: count,
        lost: 0,
        duplicates: 0,
        outOfOrderKeys: 0,
        unexpected: 0,
        drained: true,
      });
      expect(verified.code).toBe(0);
      if (durable) {
        // Each primary holds partitions, so each got WAITs on the connections that wrote to it.
        const waits = await Promise.all(
          d.deployment.nodes
            .filter((n) => n.role === 'primary')
            .map(async (n) => {
              const node = new Redis(n.port, '127.0.0.1', { lazyConnect: true });
              try {
                await node.connect();
                return await commandCalls(node, 'wait');
              } finally {
                node.disconnect();
              }
            }),
        );
        expect(waits).toHaveLength(3);
        for (const w of waits) expect(w).toBeGreaterThan(0);
      }
      if (fault) {
        console.info(`takeover after SIGKILL (ms): ${ctx.takeovers.join(', ')}; lease TTL ${LEASE_TTL_MS} ms`);
        expect(ctx.takeovers.length).toBeGreaterThanOrEqual(2);
        for (const t of ctx.takeovers) expect(t).toBeLessThanOrEqual(LEASE_TTL_MS + 2000);
      }
    },
    240_000,
  );
});
