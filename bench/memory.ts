/**
 * `npm run bench -- memory`: what the default pipeline's per-key state costs, and that it stays
 * bounded. For each key count (default 1,000, 100,000 and 1,000,000), on a fresh embedded 3+3
 * cluster: the same number of events (default 1,000,000; the keys take turns, so with as many keys
 * as events every event is a new key), replayed with `produce --from` at full speed, drained
 * (`verify --wait`), then each worker's resident memory (now and its peak), the primaries'
 * used_memory, and the stages' state hashes in Redis (MEMORY USAGE, and their entries). Every run
 * replays the same number of events, so the streams weigh the same and the difference is the state.
 * The figures and the goal are in docs/PERFORMANCE.md.
 *
 *   npm run bench -- memory [--keys 1000,100000,1000000] [--events 1000000] [--port 21000]
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { processStats } from '../src/bench/processes.js';
import { readDeployment } from '../src/embedded/deployment.js';
import { ALERTS } from '../src/pipeline/stages/cep/cep.js';
import { ENRICH_DEFAULTS } from '../src/pipeline/stages/enrich.js';
import { existingTopology, INGEST, OUT } from '../src/pipeline/topology.js';
import { createRedisFactory } from '../src/redis/connection.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { infoNumber, parseInfo } from '../src/redis/info.js';
import { cliJson } from './cli-json.js';
import { withDeployment } from './deployment.js';

export interface MemoryBenchOptions {
  keys: number[];
  events: number;
  port: number;
}

interface Row {
  keys: number;
  events: number;
  acked: number;
  lost: number;
  duplicates: number;
  workers: number;
  /** Resident memory of the workers after the drain: their sum and the largest. */
  workerRssSum: number;
  workerRssMax: number;
  /** The largest worker's peak resident memory during the run. */
  workerPeakMax: number;
  /** used_memory summed over the primaries. */
  redisUsed: number;
  /** MEMORY USAGE of the stages' state hashes, and how many entries they hold. */
  stateBytes: number;
  stateEntries: number;
  /** MEMORY USAGE of the partitions' streams (ingest, out, alerts, dead letters). */
  streamBytes: number;
  /** Keys whose statistics a partition may hold, summed: the keys, or the cap once they are more. */
  keysHeld: number;
  seconds: number;
}

const TYPES = ['cpu', 'mem', 'latency_ms', 'errors'] as const;
const MB = 1024 * 1024;

/** Writes `events` metric events to `file`, key `i % keys` at event i, event time 1 ms apart. */
async function writeEvents(file: string, events: number, keys: number): Promise<void> {
  const width = String(keys - 1).length;
  const out = createWriteStream(file);
  const t0 = Date.UTC(2026, 0, 1);
  let chunk = '';
  for (let i = 0; i < events; i++) {
    const k = i % keys;
    const type = TYPES[k % TYPES.length];
    // A level per key and a small deterministic wobble: the values matter little, their count does.
    const value = 10 + (k % 90) + ((i * 7919) % 1000) / 1000;
    chunk += `{"key":"host-${String(k).padStart(width, '0')}","type":"${type}","value":${value},"time":${t0 + i}}\n`;
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

async function measure(opts: MemoryBenchOptions, keys: number, file: string): Promise<Row> {
  return withDeployment(opts.port, async (urls, home) => {
    const t0 = performance.now();
    const produced = cliJson<{ acked?: number }>(['produce', '--redis', urls, '--from', file, '--rate', '0', '--json']);
    const verified = cliJson<{ lost?: number; duplicates?: number; status?: string }>([
      'verify',
      '--redis',
      urls,
      '--wait',
      '15m',
      '--json',
    ]);
    const seconds = (performance.now() - t0) / 1000;
    const workers = (readDeployment(home)?.workers ?? []).map((w) => processStats(w.pid));
    const rss = workers.map((w) => w?.rssBytes ?? 0);
    const conn = await createRedisFactory().open({ endpoints: parseRedisUrls(urls), source: '--redis' });
    try {
      const client = conn.client();
      const record = readDeployment(home);
      if (!record?.namespace || !record.configured) throw new Error(`the deployment in ${home} records no pipeline`);
      const topology = await existingTopology(client, record.namespace, urls);
      const stages = Object.keys(record.configured);
      let stateBytes = 0;
      let stateEntries = 0;
      for (let k = 0; k < topology.partitions; k++) {
        for (const stage of stages) {
          const key = topology.keys.state(k, stage);
          stateBytes += Number((await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
          stateEntries += await client.hlen(key);
        }
      }
      let streamBytes = 0;
      for (let k = 0; k < topology.partitions; k++) {
        for (const key of [INGEST, OUT, ALERTS].map((n) => topology.keys.stream(k, n)).concat(topology.keys.dlq(k)))
          streamBytes += Number((await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
      }
      let redisUsed = 0;
      for (const node of record.nodes) {
        const info = parseInfo(await conn.node('127.0.0.1', node.port).info('replication'));
        if (info.role !== 'master') continue;
        redisUsed += infoNumber(parseInfo(await conn.node('127.0.0.1', node.port).info('memory')), 'used_memory') ?? 0;
      }
      return {
        keys,
        events: opts.events,
        acked: produced.acked ?? -1,
        lost: verified.lost ?? -1,
        duplicates: verified.duplicates ?? -1,
        workers: workers.filter(Boolean).length,
        workerRssSum: rss.reduce((a, b) => a + b, 0),
        workerRssMax: Math.max(...rss),
        workerPeakMax: Math.max(...workers.map((w) => w?.peakRssBytes ?? 0)),
        redisUsed,
        stateBytes,
        stateEntries,
        streamBytes,
        // The keys take turns, so each partition sees about keys / partitions of them.
        keysHeld: Math.min(keys, ENRICH_DEFAULTS.maxKeys * topology.partitions),
        seconds,
      };
    } finally {
      await conn.close();
    }
  });
}

const mb = (bytes: number) => (bytes / MB).toFixed(1);

/** Runs the memory benchmark and prints a row per key count, then the ratios to the first. */
export async function benchMemory(opts: MemoryBenchOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'streamctl-bench-memory-'));
  const rows: Row[] = [];
  try {
    console.log(
      `default pipeline on the embedded 3+3 cluster, ${opts.events.toLocaleString('en')} events per run (produce --from, full speed), keys taking turns`,
    );
    for (const keys of opts.keys) {
      const file = join(dir, `events-${keys}.ndjson`);
      await writeEvents(file, opts.events, keys);
      const row = await measure(opts, keys, file);
      rmSync(file, { force: true });
      rows.push(row);
      console.error(`keys ${keys.toLocaleString('en')}: done in ${row.seconds.toFixed(1)} s`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    'KEYS        HELD     WORKERS  RSS SUM MB  RSS MAX MB  PEAK MAX MB  REDIS USED MB  STREAMS MB  STATE MB  STATE ENTRIES  LOST  DUPLICATES',
  );
  for (const r of rows) {
    console.log(
      [
        r.keys.toLocaleString('en').padEnd(11),
        r.keysHeld.toLocaleString('en').padEnd(8),
        String(r.workers).padEnd(8),
        mb(r.workerRssSum).padEnd(11),
        mb(r.workerRssMax).padEnd(11),
        mb(r.workerPeakMax).padEnd(12),
        mb(r.redisUsed).padEnd(14),
        mb(r.streamBytes).padEnd(11),
        mb(r.stateBytes).padEnd(9),
        r.stateEntries.toLocaleString('en').padEnd(14),
        String(r.lost).padEnd(5),
        String(r.duplicates),
      ].join(' '),
    );
  }
  const base = rows[0];
  if (!base) return;
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
  for (const r of rows.slice(1)) {
    const held = r.keysHeld - base.keysHeld;
    const per100k = (a: number, b: number) => (held > 0 ? mb(((a - b) * 100_000) / held) : 'n/a');
    console.log(
      `${r.keys.toLocaleString('en')} keys against ${base.keys.toLocaleString('en')}: worker RSS sum ${ratio(r.workerRssSum, base.workerRssSum)}x, ` +
        `largest worker ${ratio(r.workerRssMax, base.workerRssMax)}x, Redis used_memory ${ratio(r.redisUsed, base.redisUsed)}x; ` +
        `per 100,000 more keys held: workers +${per100k(r.workerRssSum, base.workerRssSum)} MB, ` +
        `Redis +${per100k(r.redisUsed, base.redisUsed)} MB (state hashes +${per100k(r.stateBytes, base.stateBytes)} MB)`,
    );
  }
}
