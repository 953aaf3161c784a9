import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../src/redis/wait.js';
import { runCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { startWorker, stopWorkers, type WorkerProcess } from './helpers/pipeline.js';
import { startRedis, type TestServer } from './helpers/redis.js';

let server: TestServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

describe('streamctl bench', () => {
  it('runs a small open-loop load and reports calibration, latency per hop, processes and the audit as JSON', async () => {
    const ns = 'bench';
    const workers: WorkerProcess[] = ['stage1', 'stage2', 'stage3'].map((s) => startWorker(s, server.url, ns));
    const conn = await connectTo(server.url);
    try {
      // The workers announce themselves before the measurement starts.
      await waitFor(async () => ((await conn.client().hlen(`${ns}:workers`)) === 3 ? true : undefined), { timeoutMs: 20_000, onTimeout: () => new Error('workers did not start') });
      const r = await runCli(['bench', '--redis', server.url, '-n', ns, '--pipeline', 'passthrough', '--rate', '2000', '--duration', '1s', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.calibration.xaddPerSecond).toBeGreaterThan(0);
      expect(j.calibration.pingMs).toBeGreaterThan(0);
      expect(j.load.sent).toBeGreaterThan(1500);
      expect(j.throughput.drained).toBe(true);
      expect(j.latency.map((l: { stream: string }) => l.stream)).toEqual(['ingest', 'stage1', 'stage2', 'out']);
      for (const l of j.latency) {
        expect(l.events).toBe(j.load.sent);
        expect(l.p50).toBeGreaterThan(0);
        expect(l.p99).toBeGreaterThanOrEqual(l.p50);
        expect(l.max).toBeGreaterThanOrEqual(l.p999);
      }
      // Latency only grows along the pipeline.
      expect(j.latency[3].p50).toBeGreaterThanOrEqual(j.latency[0].p50);
      expect(j.processes.filter((p: { name: string }) => p.name.startsWith('worker')).length).toBe(3);
      expect(j.processes.some((p: { name: string }) => p.name.startsWith('redis'))).toBe(true);
      expect(j.audit).toMatchObject({ lost: 0, duplicates: 0, delivered: j.load.sent });
    } finally {
      await conn.close();
      await stopWorkers(workers);
    }
  });
});
