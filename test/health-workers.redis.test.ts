import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import health from '../src/commands/health.js';
import { collectSnapshot } from '../src/observe/collect-snapshot.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { listDlq } from '../src/pipeline/dlq.js';
import { Producer } from '../src/pipeline/producer.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { passthrough } from '../src/pipeline/stages/passthrough.js';
import { ensureTopology, type Topology } from '../src/pipeline/topology.js';
import { publishHeartbeat, removeHeartbeat } from '../src/pipeline/worker/heartbeats.js';
import { StageWorker } from '../src/pipeline/worker/stage-worker.js';
import { waitFor } from '../src/wait.js';
import { testIo } from './helpers/io.js';
import { redisWithConnection } from './helpers/redis.js';

const fixture = redisWithConnection();

async function report(ns: string): Promise<{ code: number; r: Snapshot }> {
  const t = testIo();
  const code = await health.run(health.options.parse({ redis: fixture.server.url, namespace: ns, json: true }), t.io);
  return { code, r: JSON.parse(t.stdout()) as Snapshot };
}

async function text(ns: string): Promise<string> {
  const t = testIo();
  await health.run(health.options.parse({ redis: fixture.server.url, namespace: ns }), t.io);
  return t.stdout();
}

async function produce(topology: Topology, events: number, batch: number): Promise<void> {
  const producer = new Producer({ client: withScripts(fixture.conn.client()), topology, producerId: 'p', batch });
  await producer.init();
  for (let i = 0; i < events; i++) producer.send(`k${i}`, Buffer.from('x'), Date.now());
  await producer.close();
}

describe('health and the pipeline workers', () => {
  it('a stage with a backlog and no live worker is stalled; a live worker owning every partition clears it', async () => {
    const ns = 'hw';
    const topology = await ensureTopology(fixture.conn.client(), ns, [{ name: 'only' }], { partitions: 4 });
    const producer = new Producer({ client: withScripts(fixture.conn.client()), topology, producerId: 'p', batch: 10 });
    await producer.init();
    for (let i = 0; i < 200; i++) producer.send(`k${i}`, Buffer.from('x'), Date.now());
    await producer.close();

    const stalled = await report(ns);
    expect(stalled.code).toBe(1);
    expect(stalled.r.status).toBe('degraded');
    expect(stalled.r.problems.map((p) => p.code)).toContain('STAGE_STALLED');
    expect(stalled.r.stages).toContainEqual({ stage: 'only', liveWorkers: 0, lag: 20, pending: 0, deadLetters: 0 });

    const w = new StageWorker({
      conn: fixture.conn,
      topology,
      factory: passthrough,
      stage: { ...topology.stages[0]!, maxDeliveries: 5, params: {} },
    });
    w.start();
    try {
      const ok = await waitFor(
        async () => {
          const h = await report(ns);
          return h.r.workers[0]?.owned === 4 && h.r.stages[0]?.lag === 0 && h.r.stages[0]?.pending === 0
            ? h
            : undefined;
        },
        { timeoutMs: 15_000, onTimeout: () => new Error('worker never drained the stage') },
      );
      expect(ok.code).toBe(0);
      expect(ok.r.workers).toEqual([expect.objectContaining({ id: w.id, stage: 'only', live: true, owned: 4 })]);
      expect(ok.r.stages).toEqual([{ stage: 'only', liveWorkers: 1, lag: 0, pending: 0, deadLetters: 0 }]);
    } finally {
      await w.stop();
    }
    // A stopped worker removes its heartbeat.
    expect((await report(ns)).r.workers).toEqual([]);
  });

  it('a worker whose heartbeat is not live shows no owned partitions and no rate, in JSON and in the table', async () => {
    const ns = 'hdead';
    await ensureTopology(fixture.conn.client(), ns, [{ name: 'only' }], { partitions: 2 });
    // What a worker killed a minute ago leaves behind: its last heartbeat.
    const ts = Date.now() - 60_000;
    const last = { id: 'only-gone-1', stage: 'only', pid: 999_999, host: 'h', startedAt: ts - 5000, ts, owned: [0, 1] };
    const counters = { received: 4200, sent: 4200, emitted: 0, failed: 0, deadLettered: 0, batches: 42, rate: 840 };
    await publishHeartbeat(fixture.conn.client(), ns, { ...last, ...counters });
    try {
      const { r } = await report(ns);
      expect(r.workers).toEqual([
        expect.objectContaining({ id: 'only-gone-1', live: false, owned: 0, rate: 0, received: 4200 }),
      ]);
      expect(r.workers[0]!.lastSeenMs).toBeGreaterThanOrEqual(60_000);
      expect(r.warnings).toContainEqual(expect.objectContaining({ code: 'WORKER_DEAD' }));
      const lines = (await text(ns)).split('\n');
      const [header, row] = [/^\s+ID\s+STAGE/, /^\s+only-gone-1\s/].map((re) =>
        lines
          .find((l) => re.test(l))!
          .trim()
          .split(/\s{2,}/),
      );
      expect(row![header!.indexOf('OWNED')]).toBe('-');
      expect(row![header!.indexOf('RATE')]).toBe('-');
    } finally {
      await removeHeartbeat(fixture.conn.client(), ns, 'only-gone-1');
    }
  });

  it('a fresh heartbeat of a process of this host that is gone is not live; one of another host is', async () => {
    const ns = 'hkilled';
    await ensureTopology(fixture.conn.client(), ns, [{ name: 'only' }], { partitions: 2 });
    // What a worker SIGKILLed a moment ago leaves: a heartbeat still fresh, its process gone.
    const ts = Date.now();
    const beat = (id: string, pid: number, host: string) => ({
      id,
      stage: 'only',
      pid,
      host,
      startedAt: ts - 5000,
      ts,
      owned: [0],
      received: 10,
      sent: 10,
      emitted: 0,
      failed: 0,
      deadLettered: 0,
      batches: 1,
      rate: 100,
    });
    const gone = 2 ** 22 + 12_345; // above the largest pid_max Linux allows (2^22): no process has it
    await publishHeartbeat(fixture.conn.client(), ns, beat('only-killed', gone, hostname()));
    await publishHeartbeat(fixture.conn.client(), ns, beat('only-here', process.pid, hostname()));
    await publishHeartbeat(fixture.conn.client(), ns, beat('only-elsewhere', gone, `not-${hostname()}`));
    try {
      const s = await collectSnapshot(fixture.conn, ns);
      const live = Object.fromEntries(s.workers.map((w) => [w.id, w.live]));
      expect(live).toEqual({ 'only-elsewhere': true, 'only-here': true, 'only-killed': false });
      expect(s.stages[0]!.liveWorkers).toBe(2);
    } finally {
      for (const id of ['only-killed', 'only-here', 'only-elsewhere'])
        await removeHeartbeat(fixture.conn.client(), ns, id);
    }
  });

  it("counts each stage's dead letters from the partitions' shared dead-letter streams", async () => {
    const ns = 'hdlq';
    const topology = await ensureTopology(fixture.conn.client(), ns, [{ name: 'first' }, { name: 'second' }], {
      partitions: 2,
    });
    const failing = () => ({
      name: 'failing',
      process: () => {
        throw new Error('always fails');
      },
    });
    const workers = [
      new StageWorker({
        conn: fixture.conn,
        topology,
        factory: passthrough,
        stage: { ...topology.stages[0]!, maxDeliveries: 1, params: {} },
      }),
      new StageWorker({
        conn: fixture.conn,
        topology,
        factory: failing,
        stage: { ...topology.stages[1]!, maxDeliveries: 1, params: {} },
      }),
    ];
    for (const w of workers) w.start();
    try {
      // One event per entry: more dead letters per partition than a snapshot reads (it samples).
      await produce(topology, 300, 1);
      const drained = await waitFor(
        async () => {
          const h = await report(ns);
          const second = h.r.stages.find((s) => s.stage === 'second');
          return second &&
            second.lag === 0 &&
            second.pending === 0 &&
            h.r.stages.find((s) => s.stage === 'first')?.lag === 0
            ? h
            : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, onTimeout: () => new Error('the stages never drained') },
      );
      const listed = await listDlq(fixture.conn.client(), topology, { limit: 1 });
      expect(listed.byStage).toEqual({ second: listed.total });
      expect(listed.total).toBeGreaterThan(2 * 50);
      const byStage = Object.fromEntries(drained.r.stages.map((s) => [s.stage, s]));
      expect(byStage.first).toMatchObject({ deadLetters: 0 });
      expect(byStage.second).toMatchObject({ deadLetters: listed.total, deadLettersEstimated: true });
      // The streams' lengths and the count agree: a sample only splits a stream's length among stages.
      const dlqLength = drained.r.streams.filter((s) => s.key.endsWith(':dlq')).reduce((n, s) => n + s.length, 0);
      expect(dlqLength).toBe(listed.total);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
  });

  it('merges the deployment it is given: its configured stages and their understaffing', async () => {
    const ns = 'hdeploy';
    await ensureTopology(fixture.conn.client(), ns, [{ name: 'only' }], { partitions: 2 });
    const deployment = { home: '/nowhere', supervisor: null, processes: [], configured: { only: 2 }, events: [] };
    const s = await collectSnapshot(fixture.conn, ns, { deployment });
    expect(s.deployment).toEqual(deployment);
    expect(s.stages).toEqual([
      { stage: 'only', liveWorkers: 0, lag: 0, pending: 0, deadLetters: 0, configuredWorkers: 2, restarts: 0 },
    ]);
    expect(s.problems.map((p) => p.code)).toEqual(['STAGE_UNDERSTAFFED']);
    expect(s.status).toBe('degraded');
  });
});
