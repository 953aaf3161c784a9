import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../src/pipeline/codec.js';
import { Producer } from '../src/pipeline/producer.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { ensureTopology, existingTopology } from '../src/pipeline/topology.js';
import { readHeartbeats } from '../src/pipeline/worker/heartbeats.js';
import { waitFor } from '../src/wait.js';
import { runCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { startWorker, stopWorkers } from './helpers/pipeline.js';
import { ReplyCutter } from './helpers/proxy.js';
import { startRedis, type TestServer } from './helpers/redis.js';

let server: TestServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

const open = (url: string) => connectTo(url);

describe('idempotent producer', () => {
  it.each([
    { name: 'every 7th reply lost', every: 7, batch: 50 },
    { name: 'every 10th reply lost, one event per batch', every: 10, batch: 1 },
  ])('$name: retries never duplicate', async ({ every, batch }) => {
    const ns = `lost${every}x${batch}`;
    const cutter = new ReplyCutter(server.port);
    const port = await cutter.start();
    const direct = await open(server.url);
    const viaProxy = await open(`redis://127.0.0.1:${port}`);
    try {
      const topology = await ensureTopology(direct.client(), ns, [], { partitions: 4 });
      const producer = new Producer({
        client: withScripts(viaProxy.client()),
        topology,
        producerId: 'p1',
        batch,
        lingerMs: 1,
      });
      await producer.init();
      const count = 2000;
      for (let i = 0; i < count; i++) {
        producer.send(`k${i % 37}`, Buffer.from(String(i)), Date.now());
        // Lose replies as the run goes: the command reached Redis, its answer never came back.
        if (i % (every * batch) === 0) cutter.armed = 1;
        if (i % 100 === 0) await producer.flushAll();
      }
      await producer.close();
      expect(cutter.cut).toBeGreaterThan(5);
      expect(producer.stats).toMatchObject({ sent: count, acked: count, failed: 0 });
      expect(producer.stats.deduplicated).toBeGreaterThan(0);

      // Every seq the producer handed out is in ingest exactly once.
      const seen = new Map<number, number>();
      for (let k = 0; k < 4; k++) {
        const entries = (await direct.client().xrangeBuffer(topology.keys.stream(k, 'ingest'), '-', '+')) as [
          Buffer,
          Buffer[],
        ][];
        for (const [, fields] of entries)
          for (const e of decodeEntry(fields)) seen.set(e.seq, (seen.get(e.seq) ?? 0) + 1);
      }
      expect(producer.last - producer.first + 1).toBe(count);
      expect(seen.size).toBe(count);
      expect([...seen.values()].filter((n) => n > 1)).toEqual([]);
    } finally {
      await viaProxy.close();
      await direct.close();
      await cutter.stop();
    }
  });
});

describe('worker shutdown', () => {
  it('SIGTERM under load: exits within the timeout and leaves no pending entries of its own', async () => {
    const ns = 'sigterm';
    const conn = await open(server.url);
    const workers = ['stage1', 'stage2', 'stage3'].map((s) =>
      startWorker(s, server.url, ns, ['--shutdown-timeout', '8s']),
    );
    try {
      const producing = runCli([
        'produce',
        '--redis',
        server.url,
        '--namespace',
        ns,
        '--count',
        '150000',
        '--rate',
        '30000',
        '--json',
      ]);
      const victim = workers[1]!;
      // Wait until the stage-2 worker is busy: it has committed batches.
      const hb = await waitFor(
        async () => {
          const all = await readHeartbeats(conn.client(), ns);
          return all.find((h) => h.pid === victim.child.pid && h.batches > 10);
        },
        { timeoutMs: 30_000, onTimeout: () => new Error('stage2 worker never got busy') },
      );
      const t0 = Date.now();
      victim.child.kill('SIGTERM');
      const exit = await victim.exit;
      expect(exit.code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(8000);
      const { keys, partitions } = await existingTopology(conn.client(), ns, server.url);
      for (let k = 0; k < partitions; k++) {
        const mine = (await conn
          .client()
          .xpending(keys.stream(k, 'stage1'), 'stage2', '-', '+', 10, hb.id)) as unknown[];
        expect(mine).toEqual([]);
      }
      workers[1] = startWorker('stage2', server.url, ns);
      expect((await producing).code).toBe(0);
      const verified = await runCli([
        'verify',
        '--redis',
        server.url,
        '--namespace',
        ns,
        '--pipeline',
        'passthrough',
        '--wait',
        '60s',
        '--json',
      ]);
      expect(JSON.parse(verified.stdout)).toMatchObject({ lost: 0, duplicates: 0, delivered: 150000 });
    } finally {
      await stopWorkers(workers);
      await conn.close();
    }
  }, 120_000);
});
