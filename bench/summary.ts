/**
 * `npm run bench` with no arguments: every figure of the performance goals, measured in one run on
 * one embedded standalone Redis (AOF everysec) co-located with everything else, with the
 * calibration of that Redis first, then a table of goal, measured value and verdict. It asserts
 * nothing (the machine is shared and noisy): the verdicts are for reading, not for CI.
 *
 *   1. calibration, and latency at 10,000 events/s open loop (`streamctl bench --rate 10000`, after
 *      a 5 s warm-up: workers that just started train their models in their first seconds) with
 *      the default pipeline's workers running, their RSS;
 *   2. the highest sustainable rate of the default pipeline (`streamctl bench --max`), the workers'
 *      RSS at that rate;
 *   3. the BullMQ 3-queue chain and the naive per-event pipeline on the same Redis, same events;
 *   4. `produce` alone, no workers;
 *   5. HTTP ingest (`npm run bench -- http`'s measurement).
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResult } from '../src/bench/result.js';
import { DEFAULT_PIPELINE } from '../src/pipeline/definition.js';
import { spawnWorkers, stopWorkerProcesses } from '../src/embedded/worker-processes.js';
import { deleteNamespace, ensureTopology } from '../src/pipeline/topology.js';
import { createRedisFactory } from '../src/redis/connection.js';
import { infoNumber, parseInfo } from '../src/redis/info.js';
import { deploymentUrls, startDeployment, stopDeployment } from '../src/embedded/deployment.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { findRedisServer } from '../src/embedded/redis-server.js';
import { waitFor } from '../src/wait.js';
import { cliJson, maxRateSearch, rateRun } from './cli-json.js';
import { benchHttp } from './http.js';
import { runPeers } from '../src/bench/peers/run-peers.js';
import { namespaceKeys } from '../src/pipeline/keys.js';

interface Goal {
  goal: string;
  measured: string;
  met: boolean;
}

const n = (x: number) => Math.round(x).toLocaleString('en');

export async function benchSummary(opts: { peerEvents?: number } = {}): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'streamctl-bench-summary-'));
  const { deployment } = await startDeployment({
    home,
    bin: findRedisServer(undefined, process.env.PATH),
    mode: 'standalone',
    primaries: 1,
    replicas: 0,
    basePort: 25_000,
    persist: true,
    nodeTimeoutMs: 2000,
    detached: false,
    fresh: true,
  });
  const url = deploymentUrls(deployment)[0]!;
  const conn = await createRedisFactory().open({ endpoints: parseRedisUrls(url), source: '--redis' });
  const goals: Goal[] = [];
  const stages = DEFAULT_PIPELINE.stages;
  console.log(
    `streamctl performance summary: default pipeline (enrich -> detect -> cep fused, ${stages.map((s) => `${s.workers} x ${s.name}`).join(', ')} worker processes), ` +
      `standalone Redis (AOF everysec) co-located, ${availableParallelism()} cores`,
  );
  try {
    const ns = 'summary';
    await ensureTopology(conn.client(), ns, stages);
    const workers = spawnWorkers({
      stages,
      redisUrls: [url],
      namespace: ns,
      pipeline: 'default',
      home,
      detached: false,
      logFd: openSync('/dev/null', 'w'),
      env: process.env,
    });
    try {
      // The measurement starts once every worker has announced itself and owns its partitions.
      await waitFor(
        async () => ((await conn.client().hlen(namespaceKeys.workers(ns))) >= workers.length ? true : undefined),
        {
          timeoutMs: 30_000,
          onTimeout: () => new Error('the workers did not start'),
        },
      );

      console.log(
        '\n1. latency at 10,000 events/s, open loop, 10 s measured after a 5 s warm-up (`streamctl bench ' +
          '--rate 10000 --warmup 5s --duration 10s`)',
      );
      const lat = rateRun<BenchResult>(url, ['-n', ns]);
      const c = lat.calibration;
      if (c)
        console.log(
          `   calibration: XADD ${n(c.xaddPerSecond)}/s (ours, pipelined), ${c.redisBenchmarkXaddPerSecond ? `${n(c.redisBenchmarkXaddPerSecond)}/s` : 'n/a'} (redis-benchmark -P 32), round trip ${c.pingMs} ms`,
        );
      const out = lat.latency.find((l) => l.stream === 'out')!;
      console.log(
        `   end to end: p50 ${out.p50} ms, p90 ${out.p90} ms, p99 ${out.p99} ms, p99.9 ${out.p999} ms, max ${out.max} ms; lost ${lat.audit.lost}, duplicates ${lat.audit.duplicates}`,
      );
      // The load generator's own share: its process and Redis, before any stage.
      const ingest = lat.latency.find((l) => l.stream === 'ingest')!;
      console.log(
        `   of which the first hop (intended send time to the append in Redis): p50 ${ingest.p50} ms, p99 ${ingest.p99} ms`,
      );
      const cpu = lat.processes.map((p) => `${p.name.split(' ')[0]} ${p.cpuPercent}%`).join(', ');
      console.log(`   CPU: ${cpu}`);
      goals.push({ goal: 'p50 <= 2 ms at 10,000 events/s', measured: `${out.p50} ms`, met: out.p50 <= 2 });
      goals.push({ goal: 'p99 <= 5 ms at 10,000 events/s', measured: `${out.p99} ms`, met: out.p99 <= 5 });

      console.log('\n2. highest sustainable rate (`streamctl bench --max --max-time 60s`)');
      const max = maxRateSearch<BenchResult>(url, ['-n', ns]);
      const found = max.max!;
      const rate = found.rate ?? 0;
      console.log(
        `   highest sustainable: ${n(rate)} events/s; lost ${max.audit.lost}, duplicates ${max.audit.duplicates}`,
      );
      goals.push({
        goal: 'sustained >= 150,000 events/s end to end, bounded lag',
        measured: `${n(rate)} events/s (search stopped: ${found.stoppedBy})`,
        met: rate >= 150_000,
      });
      const rss = max.processes.filter((p) => p.name.startsWith('worker'));
      console.log(`   worker RSS at the end of the search: ${rss.map((p) => `${p.rssMb} MB`).join(', ')}`);
      const worst = Math.max(...rss.map((p) => p.rssMb));
      goals.push({
        goal: 'worker RSS <= 150 MB at max rate',
        measured: `${worst} MB (largest of ${rss.length})`,
        met: worst <= 150,
      });

      console.log('\n3. peers on the same Redis, the same events (src/bench/peers/)');
      const peers = await runPeers({
        conn,
        events: opts.peerEvents ?? 100_000,
        bullmqEvents: Math.round((opts.peerEvents ?? 100_000) / 5),
        workload: { keys: 1000, seed: 1, anomalyRate: 0.01 },
        prefix: 'summary-peers',
        log: (l) => console.log(`   ${l}`),
      });
      for (const r of peers.results)
        console.log(
          `   ${r.name}: ${n(r.eventsPerSecond)} events/s (${n(r.events)} events, ${r.seconds.toFixed(2)} s); streamctl's sustainable rate is ${(rate / r.eventsPerSecond).toFixed(1)}x`,
        );
      const bull = peers.results.find((r) => /bullmq/i.test(r.name));
      if (bull)
        goals.push({
          goal: '>= 10x the BullMQ 3-queue chain',
          measured: `${(rate / bull.eventsPerSecond).toFixed(1)}x (${n(bull.eventsPerSecond)} jobs/s)`,
          met: rate >= 10 * bull.eventsPerSecond,
        });
      for (const s of peers.skipped) console.log(`   ${s.name} skipped: ${s.reason}`);
    } finally {
      await stopWorkerProcesses(workers, 10_000);
    }

    console.log('\n4. `streamctl produce` alone, 1,000,000 events at max rate, no workers');
    // Alone also means on a Redis that is not busy with the earlier steps: their data deleted, and
    // no AOF rewrite of it running (a rewrite forks and writes out every entry the steps made).
    await deleteNamespace(conn.client(), ns);
    const persistence = async () => parseInfo(await conn.client().info('persistence'));
    await waitFor(async () => (infoNumber(await persistence(), 'aof_rewrite_in_progress') === 0 ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 100,
      onTimeout: () => new Error('the AOF rewrite did not finish'),
    });
    const rewrites = async () => infoNumber(await persistence(), 'aof_rewrites') ?? 0;
    const rewritesBefore = await rewrites();
    const produced = cliJson<{ rate: number; acked: number }>([
      'produce',
      '--redis',
      url,
      '-n',
      'summary-produce',
      '--count',
      '1000000',
      '--rate',
      '0',
      '--json',
    ]);
    console.log(
      `   ${n(produced.rate)} events/s, acked ${n(produced.acked)}; AOF rewrites during it: ${(await rewrites()) - rewritesBefore}`,
    );
    goals.push({
      goal: 'produce alone >= 300,000 events/s',
      measured: `${n(produced.rate)} events/s`,
      met: produced.rate >= 300_000,
    });
  } finally {
    await conn.close();
    await stopDeployment(home, deployment, { keepData: false });
    rmSync(home, { recursive: true, force: true });
  }

  console.log('\n5. HTTP ingest (`npm run bench -- http`)');
  const http = await benchHttp({});
  if (http)
    goals.push({
      goal: 'HTTP ingest >= 100,000 events/s (100-event NDJSON bodies)',
      measured: `${n(http.eventsPerSecond)} events/s`,
      met: http.eventsPerSecond >= 100_000,
    });

  console.log(
    '\nGOAL                                                          MEASURED                                  MET',
  );
  for (const g of goals) console.log(`${g.goal.padEnd(61)} ${g.measured.padEnd(41)} ${g.met ? 'yes' : 'NO'}`);
}
