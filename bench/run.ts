/**
 * Benchmarks of streamctl. They print figures; they assert nothing (this machine is shared and
 * noisy: compare ratios measured in one run).
 *
 *   npm run bench                         every performance goal in one run, with calibration (bench/summary.ts)
 *   npm run bench -- throughput           throughput of the 3-stage passthrough pipeline
 *   npm run bench -- throughput --events 1000000 --mode standalone|cluster|both
 *   npm run bench -- pipeline --events 500000 --mode cluster   the default pipeline, with detection quality
 *   npm run bench -- ml                   Isolation Forest scoring cost per event
 *   npm run bench -- peers --events 200000   the naive per-event pipeline and a BullMQ 3-queue chain
 *   npm run bench -- http [--pipeline passthrough]   HTTP ingest (serve) driven by autocannon
 *   npm run bench -- memory [--keys 1000,100000,1000000] [--events 1000000]   worker and Redis memory against distinct keys (bench/memory.ts)
 *   npm run bench -- proxy [--rounds 2]   the fault proxies' own cost: p99 at 10,000 ev/s and the max rate, alternated (bench/proxy-cost.ts)
 *   npm run bench -- tracing [--rounds 3] [--rate 3000] [--max-time 120s]   CPU and max rate with tracing off, at 1% and at 100%, alternated; one batch's span tree (bench/trace-cost.ts)
 *   npm run bench -- detection [--seeds 1,2,3] [--events 200000]   the default pipeline's detection quality per seed (bench/detection.ts)
 *   npm run bench -- tracing-drain [--rounds 10] [--events 1000000]   the rate at which the workers drain a backlog, tracing off, 1%, 100%, alternated (bench/trace-drain.ts)
 *   npm run bench -- tracing-instructions [--events 400000] [--rounds 3] [--pipeline passthrough]   instructions per event (callgrind) of the producer and a worker, tracing off, 1%, 100% (bench/trace-instructions.ts)
 *   npm run bench -- health [--rate N] [--calls 20] [--rounds 2] [--cli PATH ...]   health --json under load (bench/health.ts)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stagePending } from '../src/pipeline/backlog.js';
import { BUILTIN_PIPELINES } from '../src/pipeline/definition.js';
import { spawnWorkers, stopWorkerProcesses } from '../src/embedded/worker-processes.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import { createRedisFactory } from '../src/redis/connection.js';
import { deploymentUrls, startDeployment, stopDeployment } from '../src/embedded/deployment.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { findRedisServer } from '../src/embedded/redis-server.js';
import { cliEntry } from '../src/embedded/cli-entry.js';
import { sleep } from '../src/wait.js';
import { benchHealth } from './health.js';
import { benchHttp } from './http.js';
import { benchMemory } from './memory.js';
import { benchMl } from './ml.js';
import { benchPeers } from './peers.js';
import { benchProxyCost } from './proxy-cost.js';
import { benchSummary } from './summary.js';
import { benchTraceCost } from './trace-cost.js';
import { benchDetection } from './detection.js';
import { benchTraceDrain } from './trace-drain.js';
import { benchTraceInstructions } from './trace-instructions.js';

interface Row {
  pipeline: string;
  mode: string;
  events: number;
  produceRate: number;
  endToEnd: number;
  seconds: number;
  lost: number;
  duplicates: number;
  quality?: {
    precision: number;
    recall: number;
    f1: number;
    auc: number;
    anomalies: number;
    unscored: number;
    recallByKind: Record<string, { recall: number }>;
  };
}

function cli(args: string[]): { code: number; json: Record<string, number> } {
  try {
    const out = execFileSync(process.execPath, [cliEntry(), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 << 20,
    });
    return { code: 0, json: JSON.parse(out) };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, json: JSON.parse(e.stdout || '{}') };
  }
}

async function throughput(mode: 'standalone' | 'cluster', events: number, pipeline: string): Promise<Row> {
  const stages = BUILTIN_PIPELINES[pipeline]!.stages;
  const home = mkdtempSync(join(tmpdir(), 'streamctl-bench-'));
  const { deployment } = await startDeployment({
    home,
    bin: findRedisServer(undefined, process.env.PATH),
    mode,
    primaries: 3,
    replicas: 1,
    basePort: 21_000,
    persist: true,
    nodeTimeoutMs: 2000,
    detached: false,
    fresh: true,
  });
  const urls = deploymentUrls(deployment);
  const conn = await createRedisFactory().open({ endpoints: parseRedisUrls(urls.join(',')), source: '--redis' });
  const ns = 'bench';
  try {
    const topology = await ensureTopology(conn.client(), ns, stages);
    const workers = spawnWorkers({
      stages,
      redisUrls: urls,
      namespace: ns,
      pipeline,
      home,
      detached: false,
      logFd: openSync('/dev/null', 'w'),
      env: process.env,
    });
    await sleep(1000); // let the workers take their leases before the clock starts
    const t0 = performance.now();
    const produced = cli([
      'produce',
      '--redis',
      urls.join(','),
      '--namespace',
      ns,
      '--count',
      String(events),
      '--rate',
      '0',
      '--anomaly-rate',
      '0.01',
      '--json',
    ]);
    for (;;) {
      const p = await stagePending(conn.client(), topology);
      if (p.every((s) => s.lag === 0 && s.pending === 0)) break;
      await sleep(20);
    }
    const seconds = (performance.now() - t0) / 1000;
    const verified = cli([
      'verify',
      '--redis',
      urls.join(','),
      '--namespace',
      ns,
      '--pipeline',
      pipeline,
      '--wait',
      '0',
      '--json',
    ]);
    await stopWorkerProcesses(workers, 10_000);
    return {
      pipeline,
      ...(verified.json.quality ? { quality: verified.json.quality as unknown as Row['quality'] } : {}),
      mode: mode === 'cluster' ? 'cluster 3+3' : 'standalone',
      events,
      produceRate: produced.json.rate ?? 0,
      endToEnd: Math.round(events / seconds),
      seconds,
      lost: verified.json.lost ?? -1,
      duplicates: verified.json.duplicates ?? -1,
    };
  } finally {
    await conn.close();
    await stopDeployment(home, deployment, { keepData: false });
    rmSync(home, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      events: { type: 'string' },
      mode: { type: 'string' },
      pipeline: { type: 'string' },
      rate: { type: 'string' },
      calls: { type: 'string' },
      rounds: { type: 'string' },
      port: { type: 'string' },
      cli: { type: 'string', multiple: true },
      keys: { type: 'string' },
      'max-time': { type: 'string' },
      seeds: { type: 'string' },
    },
  });
  const what = positionals[0] ?? 'summary';
  if (what === 'summary') return benchSummary(values.events ? { peerEvents: Number(values.events) } : {});
  if (what === 'ml') return benchMl();
  if (what === 'peers') return benchPeers({ events: Number(values.events ?? 200000) });
  if (what === 'health')
    return benchHealth({
      rate: values.rate === undefined ? undefined : Number(values.rate),
      calls: Number(values.calls ?? 20),
      rounds: Number(values.rounds ?? 2),
      port: Number(values.port ?? 21_000),
      clis: values.cli ?? [],
    });
  if (what === 'proxy')
    return benchProxyCost({ rounds: Number(values.rounds ?? 2), port: Number(values.port ?? 21_000) });
  if (what === 'tracing-instructions')
    return benchTraceInstructions({
      events: Number(values.events ?? 400_000),
      startup: 2000,
      rounds: Number(values.rounds ?? 3),
      pipeline: values.pipeline ?? 'passthrough',
      port: Number(values.port ?? 26_500),
    });
  if (what === 'detection')
    return benchDetection({
      seeds: (values.seeds ?? '1,2,3').split(',').map(Number),
      events: Number(values.events ?? 200_000),
      port: Number(values.port ?? 28_100),
    });
  if (what === 'tracing-drain')
    return benchTraceDrain({
      rounds: Number(values.rounds ?? 10),
      events: Number(values.events ?? 1_000_000),
      port: Number(values.port ?? 21_000),
    });
  if (what === 'tracing')
    return benchTraceCost({
      rounds: Number(values.rounds ?? 3),
      port: Number(values.port ?? 21_000),
      rate: Number(values.rate ?? 3000),
      maxTime: values['max-time'] ?? '120s',
      pipeline: values.pipeline ?? 'default',
    });
  if (what === 'memory')
    return benchMemory({
      keys: (values.keys ?? '1000,100000,1000000').split(',').map(Number),
      events: Number(values.events ?? 1_000_000),
      port: Number(values.port ?? 21_000),
    });
  if (what === 'http') {
    await benchHttp({ pipeline: values.pipeline });
    return;
  }
  if (what !== 'throughput' && what !== 'pipeline')
    throw new Error(
      `unknown benchmark "${what}" (known: summary, detection, throughput, pipeline, ml, peers, http, health, memory, proxy, tracing, tracing-drain, tracing-instructions)`,
    );
  const pipeline = values.pipeline ?? (what === 'pipeline' ? 'default' : 'passthrough');
  const metric = pipeline !== 'passthrough';
  const events = Number(values.events ?? (metric ? 500_000 : 1_000_000));
  const mode = values.mode ?? (metric ? 'cluster' : 'both');
  const modes = mode === 'both' ? (['standalone', 'cluster'] as const) : [mode as 'standalone' | 'cluster'];
  const stages = BUILTIN_PIPELINES[pipeline]?.stages;
  if (!stages) throw new Error(`unknown pipeline "${pipeline}" (known: ${Object.keys(BUILTIN_PIPELINES).join(', ')})`);
  const shape = metric
    ? `"${pipeline}" pipeline (enrich -> detect -> cep${pipeline === 'default' ? ', fused' : ', as three stages'}), anomaly rate 0.01`
    : '3-stage passthrough pipeline (stage1 -> stage2 -> stage3)';
  const processes = stages.map((s) => `${s.workers} x ${s.name}`).join(', ');
  console.log(
    `${shape}, worker processes: ${processes}, ${events.toLocaleString('en')} events, producer in its own process at max rate, AOF everysec, Redis co-located, ${availableParallelism()} cores`,
  );
  const rows: Row[] = [];
  for (const m of modes) rows.push(await throughput(m, events, pipeline));
  console.log('MODE          EVENTS      PRODUCE ev/s   END-TO-END ev/s   SECONDS   LOST   DUPLICATES');
  for (const r of rows) {
    console.log(
      `${r.mode.padEnd(13)} ${r.events.toLocaleString('en').padEnd(11)} ${r.produceRate.toLocaleString('en').padEnd(14)} ${r.endToEnd.toLocaleString('en').padEnd(17)} ${r.seconds.toFixed(2).padEnd(9)} ${String(r.lost).padEnd(6)} ${r.duplicates}`,
    );
    if (r.quality) {
      const q = r.quality;
      console.log(
        `  detection: precision ${q.precision}, recall ${q.recall}, F1 ${q.f1}, ROC AUC ${q.auc} (${q.anomalies} anomalies; ${q.unscored} events unscored: a key's first value, or one before its type's spread was known)`,
      );
      console.log(
        `  recall by kind: ${Object.entries(q.recallByKind)
          .map(([k, v]) => `${k} ${v.recall}`)
          .join(', ')}`,
      );
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
