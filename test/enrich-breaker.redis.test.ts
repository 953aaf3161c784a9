import { describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/pipeline/codec.js';
import { decodeMetricRecord } from '../src/pipeline/stages/metric-record.js';
import { metricWorkload } from '../src/workload/metric-workload.js';
import { Producer } from '../src/pipeline/producer.js';
import { syntheticReference, writeReference } from '../src/workload/reference.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { enrich } from '../src/pipeline/stages/enrich.js';
import { WorkerMetrics } from '../src/observe/metrics.js';
import { ensureTopology, type Topology } from '../src/pipeline/topology.js';
import { StageWorker } from '../src/pipeline/worker/stage-worker.js';
import { waitFor } from '../src/wait.js';
import { redisWithConnection } from './helpers/redis.js';

const fixture = redisWithConnection();

interface Out {
  key: string;
  degraded: boolean;
  ref: { region?: string } | null;
}

/** Every enriched event in the output streams so far, in order per partition. */
async function outputs(topology: Topology): Promise<Out[]> {
  const all: Out[] = [];
  for (let k = 0; k < topology.partitions; k++) {
    const entries = (await fixture.conn.client().xrangeBuffer(topology.keys.stream(k, 'out'), '-', '+')) as [
      Buffer,
      Buffer[],
    ][];
    for (const [, f] of entries) {
      for (const e of decodeEntry(f)) {
        const r = decodeMetricRecord(e.data);
        all.push({
          key: e.key,
          degraded: r.degraded,
          ref: r.ref.length ? (JSON.parse(r.ref.toString()) as Out['ref']) : null,
        });
      }
    }
  }
  return all;
}

describe('enrich with its reference lookups failing', () => {
  it('opens the breaker, keeps events flowing marked degraded, and closes after recovery', async () => {
    const ns = 'breaker';
    const refKey = `${ns}:reference`;
    const topology = await ensureTopology(fixture.conn.client(), ns, [{ name: 'enrich' }], { partitions: 2 });
    const keys = Array.from({ length: 50 }, (_, i) => `host-${String(i).padStart(4, '0')}`);
    await writeReference(fixture.conn.client(), refKey, syntheticReference(keys, 1));
    // The cache and the breaker run on a clock of the test's: cached fields stay fresh and an open
    // breaker stays open until the test moves the clock, however slowly the machine runs.
    let clock = 0;
    const worker = new StageWorker({
      conn: fixture.conn,
      topology,
      factory: enrich,
      stage: { ...topology.stages[0]!, maxDeliveries: 5, params: {} },
      lookup: { ttlMs: 1000, failures: 2, openMs: 1000, timeoutMs: 5000, now: () => clock },
    });
    const metrics = new WorkerMetrics({ defaultMetrics: false });
    metrics.attach(worker);
    const sample = async (name: string) =>
      Number(new RegExp(`^${name}\\{stage="enrich"\\} (\\S+)$`, 'm').exec(await metrics.registry.metrics())?.[1]);
    worker.start();
    const producer = new Producer({
      client: withScripts(fixture.conn.client()),
      topology,
      producerId: 'p',
      batch: 5,
      lingerMs: 1,
    });
    await producer.init();
    const w = metricWorkload({ keys: 50, seed: 3, anomalyRate: 0 });
    // Keys host-0050.. were never looked up, so no cache can answer for them.
    const fresh = metricWorkload({ keys: 100, seed: 4, anomalyRate: 0 });
    const send = async (n: number, source = w) => {
      for (let i = 0; i < n; i++) {
        const e = source.next();
        producer.send(e.key, e.data, Date.now());
      }
      await producer.flushAll();
    };
    const delivered = (n: number) =>
      waitFor(async () => ((await outputs(topology)).length >= n ? outputs(topology) : undefined), {
        timeoutMs: 20_000,
        onTimeout: () => new Error(`fewer than ${n} events delivered`),
      });
    try {
      await send(200);
      const healthy = await delivered(200);
      expect(healthy.every((e) => !e.degraded && e.ref?.region)).toBe(true);

      // The reference hash becomes unreadable (WRONGTYPE): every lookup fails.
      await fixture.conn.client().del(refKey);
      await fixture.conn.client().set(refKey, 'not a hash');
      await send(300, fresh);
      const during = (await delivered(500)).slice(200);
      expect(during.length).toBe(300);
      const uncached = during.filter((e) => Number(e.key.slice(5)) >= 50);
      expect(uncached.length).toBeGreaterThan(100);
      expect(uncached.every((e) => e.degraded && e.ref === null)).toBe(true);
      expect(worker.lookupStats().breakerOpened).toBeGreaterThanOrEqual(1);
      expect(worker.lookupStats().failures).toBeGreaterThan(0);
      expect(await sample('streamctl_lookup_degraded_total')).toBeGreaterThan(100);

      // Recovery: the hash is back. Past the TTL and the open period, lookups reach Redis again:
      // the half-open probe succeeds and the breaker closes.
      await fixture.conn.client().del(refKey);
      await writeReference(fixture.conn.client(), refKey, syntheticReference(keys, 1));
      clock += 2000;
      await waitFor(
        async () => {
          await send(20);
          const all = await outputs(topology);
          return all.slice(-20).every((e) => !e.degraded && e.ref?.region) ? true : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 100, onTimeout: () => new Error('breaker never closed') },
      );
      expect(worker.lookupStats().breaker).toBe('closed');
      expect(await sample('streamctl_lookup_breaker_open')).toBe(0);
      expect(await sample('streamctl_lookup_cache_hit_ratio')).toBeGreaterThan(0);
    } finally {
      await producer.close();
      await worker.stop();
    }
  });
});
