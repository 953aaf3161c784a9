import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { z } from 'zod';
import { hopLatencies, type LatencySummary } from '../bench/latency.js';
import { pingMs, redisBenchmarkXadd, xaddRate } from '../bench/calibrate.js';
import { processStats } from '../bench/process-stats.js';
import { defineCommand } from '../command.js';
import { durationSchema } from '../duration.js';
import { renderTable } from '../format/table.js';
import { collectHealth } from '../health/collect.js';
import { connectionOptions, namespaceOption, pipelineOption } from '../options.js';
import { audit } from '../pipeline/audit.js';
import { stagePending } from '../pipeline/backlog.js';
import { loadPipeline } from '../pipeline/definition.js';
import { metricWorkload } from '../pipeline/metric-workload.js';
import { sendOpenLoop } from '../pipeline/pacer.js';
import { Producer } from '../pipeline/producer.js';
import { saveRun, type RunRecord } from '../pipeline/runs.js';
import { withScripts } from '../pipeline/scripts.js';
import { ensureTopology } from '../pipeline/topology.js';
import type { Heartbeat } from '../pipeline/worker.js';
import { HEARTBEAT_STALE_MS } from '../pipeline/worker.js';
import { infoNumber, parseInfo } from '../redis/info.js';
import { connect } from '../redis/target.js';
import { sleep } from '../sleep.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  rate: z.coerce.number().positive().default(10_000).describe('Open-loop rate, events per second').meta({ valueName: 'R' }),
  duration: durationSchema().prefault('10s').describe('How long to send, e.g. 30s').meta({ valueName: 'D' }),
  keys: z.coerce.number().int().positive().default(1000).describe('Distinct event keys').meta({ valueName: 'K' }),
  anomalyRate: z.coerce.number().min(0).max(1).default(0.01).describe('Injected anomalies (for the default pipeline)').meta({ valueName: 'P' }),
  batch: z.coerce.number().int().min(1).max(10_000).default(100).describe('Events per stream entry').meta({ valueName: 'B' }),
  linger: durationSchema().prefault('1ms').describe('How long a partial batch waits: bounds latency at low rates').meta({ valueName: 'MS' }),
  wait: durationSchema().prefault('60s').describe('How long to wait for the pipeline to drain after sending').meta({ valueName: 'D' }),
  calibrate: z.boolean().default(true).describe('Measure the raw XADD rate (ours and redis-benchmark\'s) and the round trip first; --no-calibrate skips it'),
  json: z.string().optional().describe('Write the results as JSON to FILE (or stdout with no FILE)').meta({ valueName: 'FILE', preset: '-' }),
});

interface ProcessRow {
  name: string;
  pid?: number;
  cpuPercent: number;
  rssMb: number;
}

export default defineCommand({
  name: 'bench',
  description: 'Benchmark the running pipeline: calibration of the Redis underneath, then an open-loop load at --rate for --duration, with latency from each event\'s intended send time to its commit at every hop (HDR histograms), throughput, CPU and memory of every process, and an audit of the run.',
  examples: ['streamctl bench --rate 10000 --duration 30s', 'streamctl bench --rate 50000 --duration 20s --json results.json'],
  options,
  async run(opts, io) {
    const { definition } = loadPipeline(opts.pipeline, io.cwd);
    const conn = await connect(opts, io);
    const say = (m: string) => {
      if (opts.json !== '-') io.stderr.write(`${m}\n`);
    };
    try {
      const client = withScripts(conn.client());
      const topology = await ensureTopology(client, opts.namespace, definition.stages, { partitions: definition.partitions });

      // Calibration: what the Redis underneath does with no pipeline logic at all.
      let calibration: { xaddPerSecond: number; redisBenchmarkXaddPerSecond: number | null; pingMs: number } | undefined;
      if (opts.calibrate) {
        say('calibrating: raw XADD rate and round trip...');
        const seed = conn.spec.endpoints[0]!;
        const key = `${opts.namespace}:bench:calibration`;
        calibration = {
          xaddPerSecond: await xaddRate(client, key),
          redisBenchmarkXaddPerSecond: redisBenchmarkXadd(seed.host, seed.port, key, seed.password) ?? null,
          pingMs: await pingMs(client),
        };
      }

      // CPU and memory: the workers on this host (from their heartbeats) and every Redis node.
      const report = await collectHealth(conn, opts.namespace);
      const here = hostname();
      const workers = Object.values(await client.hgetall(`${opts.namespace}:workers`))
        .map((j) => JSON.parse(j) as Heartbeat)
        .filter((h) => h.host === here && Date.now() - h.ts < HEARTBEAT_STALE_MS);
      const nodes = report.nodes.filter((n) => n.up);
      const redisCpu = async () =>
        Promise.all(
          nodes.map(async (n) => {
            const [host, port] = [n.address.slice(0, n.address.lastIndexOf(':')), Number(n.address.slice(n.address.lastIndexOf(':') + 1))];
            const info = parseInfo(await conn.node(host, port).info());
            return { cpu: (infoNumber(info, 'used_cpu_user') ?? 0) + (infoNumber(info, 'used_cpu_sys') ?? 0), rss: infoNumber(info, 'used_memory_rss') ?? 0 };
          }),
        );
      const before = { t: performance.now(), workers: workers.map((w) => processStats(w.pid)), self: process.cpuUsage(), redis: await redisCpu() };

      // The load: open loop at the rate, events stamped with their intended send time.
      const runId = `bench-${Date.now().toString(36)}`;
      const producer = new Producer({ client, topology, producerId: `p-${runId}`, batch: opts.batch, lingerMs: opts.linger });
      await producer.init();
      const total = Math.floor((opts.rate * opts.duration) / 1000);
      say(`sending ${total.toLocaleString('en')} events at ${opts.rate.toLocaleString('en')}/s for ${opts.duration / 1000}s...`);
      const lagOverTime: { t: number; lag: number }[] = [];
      const lagTicker = setInterval(() => {
        stagePending(client, topology).then(
          (p) => lagOverTime.push({ t: Math.round(performance.now() - before.t), lag: p.reduce((a, s) => a + s.lag + s.pending, 0) }),
          () => undefined,
        );
      }, 1000);
      const tSend = performance.now();
      await sendOpenLoop({ producer, source: metricWorkload({ keys: opts.keys, seed: 1, anomalyRate: opts.anomalyRate }), rate: opts.rate, total, durationMs: opts.duration, signal: io.signal });
      await producer.close();
      const sendSeconds = (performance.now() - tSend) / 1000;
      const run: RunRecord = {
        id: runId, kind: 'produce', producer: `p-${runId}`, status: 'done', startedAt: Date.now(), endedAt: Date.now(), partitions: topology.partitions, rate: opts.rate,
        firstSeq: producer.first, lastSeq: producer.last, sent: producer.stats.sent, acked: producer.stats.acked, errors: producer.stats.errors, failed: producer.stats.failed, failedRanges: producer.stats.failedRanges,
      };
      await saveRun(client, topology.keys, run);

      say('waiting for the pipeline to drain...');
      const drainDeadline = Date.now() + opts.wait;
      let drained = false;
      while (!drained && Date.now() < drainDeadline && !io.signal.aborted) {
        drained = (await stagePending(client, topology)).every((s) => s.lag === 0 && s.pending === 0);
        if (!drained) await sleep(50, io.signal);
      }
      clearInterval(lagTicker);
      const elapsed = (performance.now() - before.t) / 1000;
      const endToEndSeconds = (performance.now() - tSend) / 1000;
      const after = { workers: workers.map((w) => processStats(w.pid)), self: process.cpuUsage(before.self), redis: await redisCpu() };
      const processes: ProcessRow[] = [
        ...workers.map((w, i) => {
          const a = after.workers[i];
          const b = before.workers[i];
          return { name: `worker ${w.stage}`, pid: w.pid, cpuPercent: a && b ? Math.round(((a.cpuSeconds - b.cpuSeconds) / elapsed) * 100) : -1, rssMb: a ? Math.round(a.rssBytes / 1048576) : -1 };
        }),
        { name: 'bench (producer)', pid: process.pid, cpuPercent: Math.round(((after.self.user + after.self.system) / 1e6 / elapsed) * 100), rssMb: Math.round(process.memoryUsage().rss / 1048576) },
        ...nodes.map((n, i) => ({ name: `redis ${n.address} (${n.role})`, cpuPercent: Math.round(((after.redis[i]!.cpu - before.redis[i]!.cpu) / elapsed) * 100), rssMb: Math.round(after.redis[i]!.rss / 1048576) })),
      ];

      const latency: LatencySummary[] = await hopLatencies(client, topology, run.producer, run.firstSeq, run.lastSeq);
      const verdict = await audit(client, topology, run);
      const result = {
        namespace: opts.namespace,
        pipeline: topology.stages.map((s) => s.name),
        mode: conn.mode,
        calibration: calibration ?? null,
        load: { rate: opts.rate, durationMs: opts.duration, sent: producer.stats.sent, sendSeconds: Math.round(sendSeconds * 100) / 100, achievedSendRate: Math.round(producer.stats.sent / sendSeconds) },
        throughput: { endToEndSeconds: Math.round(endToEndSeconds * 100) / 100, eventsPerSecond: Math.round(verdict.delivered / endToEndSeconds), drained },
        latency,
        processes,
        lagOverTime,
        audit: { lost: verdict.lost, duplicates: verdict.duplicates, delivered: verdict.delivered, outOfOrderKeys: verdict.outOfOrderKeys },
      };

      if (opts.json) {
        const text = `${JSON.stringify(result, null, 2)}\n`;
        if (opts.json === '-') io.stdout.write(text);
        else writeFileSync(opts.json, text);
      }
      if (opts.json !== '-') {
        const lines: string[] = [];
        if (calibration) lines.push(`calibration: XADD ${calibration.xaddPerSecond.toLocaleString('en')}/s (ours, pipelined), ${calibration.redisBenchmarkXaddPerSecond?.toLocaleString('en') ?? 'n/a'}/s (redis-benchmark -P 32), round trip ${calibration.pingMs} ms`);
        lines.push(`load: ${result.load.sent.toLocaleString('en')} events at ${opts.rate.toLocaleString('en')}/s open loop (achieved ${result.load.achievedSendRate.toLocaleString('en')}/s); end to end ${result.throughput.eventsPerSecond.toLocaleString('en')} events/s${drained ? '' : ' (NOT drained)'}`);
        lines.push('', 'LATENCY (ms, from intended send time to commit)');
        lines.push(renderTable(['AT', 'EVENTS', 'P50', 'P90', 'P99', 'P99.9', 'MAX'], latency.map((l) => [l.stream, String(l.events), String(l.p50), String(l.p90), String(l.p99), String(l.p999), String(l.max)])));
        lines.push('', 'PROCESSES');
        lines.push(renderTable(['PROCESS', 'PID', 'CPU %', 'RSS MB'], processes.map((p) => [p.name, p.pid ? String(p.pid) : '-', String(p.cpuPercent), String(p.rssMb)])));
        lines.push('', `audit: delivered ${verdict.delivered.toLocaleString('en')}, lost ${verdict.lost}, duplicates ${verdict.duplicates}`);
        io.stdout.write(`${lines.join('\n')}\n`);
      }
      return verdict.ok && drained ? 0 : 1;
    } finally {
      await conn.close();
    }
  },
});
