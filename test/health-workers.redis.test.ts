import { describe, expect, it } from 'vitest';
import health from '../src/commands/health.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { Producer } from '../src/pipeline/producer.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { passthrough } from '../src/pipeline/stages/passthrough.js';
import { ensureTopology } from '../src/pipeline/topology.js';
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
    expect(stalled.r.stages).toContainEqual({ stage: 'only', liveWorkers: 0, lag: 20, pending: 0 });

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
      expect(ok.r.stages).toEqual([{ stage: 'only', liveWorkers: 1, lag: 0, pending: 0 }]);
    } finally {
      await w.stop();
    }
    // A stopped worker removes its heartbeat.
    expect((await report(ns)).r.workers).toEqual([]);
  });
});
