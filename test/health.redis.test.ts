import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import health from '../src/commands/health.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { waitFor } from '../src/wait.js';
import { testIo } from './helpers/io.js';
import { startRedis, startTestDeployment, type TestDeployment, type TestServer } from './helpers/redis.js';

async function check(opts: Record<string, unknown>): Promise<{ code: number; report: Snapshot }> {
  const t = testIo();
  const code = await health.run(health.options.parse({ json: true, ...opts }), t.io);
  return { code, report: JSON.parse(t.stdout()) as Snapshot };
}

describe('health of a standalone server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());

  it('reports the namespace streams, group lag, pending and consumers', async () => {
    const ns = `h${Date.now()}`;
    const r = new Redis({ port: server.port, lazyConnect: true });
    await r.connect();
    const key = `${ns}:{0}:ingest`;
    for (let i = 0; i < 10; i++) await r.xadd(key, '*', 'v', String(i));
    await r.xgroup('CREATE', key, 'enrich', '0');
    await r.xreadgroup('GROUP', 'enrich', 'w1', 'COUNT', 4, 'STREAMS', key, '>');
    await r.xadd('other:{0}:ingest', '*', 'v', '1'); // outside the namespace: not listed
    r.disconnect();

    const { code, report } = await check({ redis: server.url, namespace: ns });
    // A group with a backlog and no live worker is a stalled stage.
    expect(code).toBe(1);
    expect(report.status).toBe('degraded');
    expect(report.problems).toEqual([expect.objectContaining({ code: 'STAGE_STALLED' })]);
    expect(report.stages).toEqual([{ stage: 'enrich', liveWorkers: 0, lag: 6, pending: 4, deadLetters: 0 }]);
    expect(report.mode).toBe('standalone');
    expect(report.slots).toBeNull();
    expect(report.streams).toEqual([expect.objectContaining({ key, length: 10, groups: 1 })]);
    expect(report.groups).toHaveLength(1);
    const g = report.groups[0]!;
    expect(g).toMatchObject({ stream: key, group: 'enrich', lag: 6, pending: 4 });
    expect(g.oldestPendingIdleMs).toBeGreaterThanOrEqual(0);
    expect(g.consumers).toEqual([expect.objectContaining({ name: 'w1', pending: 4 })]);
    // A server without AOF or RDB is risky but not unhealthy.
    expect(report.warnings.map((w) => w.code)).toContain('NO_PERSISTENCE');
  });

  it('--watch redraws until aborted', async () => {
    const t = testIo();
    const run = health.run(health.options.parse({ redis: server.url, watch: '0.05' }), t.io);
    await waitFor(async () => ((t.stdout().match(/^status:/gm) ?? []).length >= 2 ? true : undefined), {
      timeoutMs: 10_000,
      onTimeout: () => new Error('watch did not refresh'),
    });
    t.abort();
    expect(await run).toBe(0);
  });
});

describe('health of the embedded cluster when a primary dies', () => {
  let d: TestDeployment;
  beforeAll(async () => {
    d = await startTestDeployment({ nodeTimeoutMs: 1000 });
  });
  afterAll(() => d.stop());

  it('is ok, then degraded with the node down, then the slots are covered again', async () => {
    const healthy = await check({ home: d.home });
    expect(healthy.code).toBe(0);
    expect(healthy.report.nodes).toHaveLength(6);
    expect(healthy.report.slots!.covered).toBe(16384);

    const victim = d.deployment.nodes.find((n) => n.role === 'primary')!;
    process.kill(victim.pid, 'SIGKILL');
    const address = `127.0.0.1:${victim.port}`;

    const afterFailover = await waitFor(
      async () => {
        const r = await check({ home: d.home });
        const promoted = r.report.nodes.filter((n) => n.role === 'primary' && n.up && (n.slots ?? 0) > 0).length === 3;
        // Right after the promotion a node can still report cluster_state fail for a moment (Redis
        // delays turning it back to ok): until then health rightly says down.
        return promoted && r.report.slots!.covered === 16384 && r.report.status !== 'down' ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, onTimeout: (e) => new Error(`no failover: ${String(e)}`) },
    );
    expect(afterFailover.code).toBe(1);
    expect(afterFailover.report.status).toBe('degraded');
    const dead = afterFailover.report.nodes.find((n) => n.address === address)!;
    expect(dead.up).toBe(false);
    expect(dead.slots).toBe(0);
    expect(afterFailover.report.problems).toContainEqual(expect.objectContaining({ code: 'NODE_DOWN', node: address }));
    expect(afterFailover.report.failing.map((f) => f.address)).toContain(address);
  });
});
