import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { httpBenchLoad, serveWritingHere } from '../bench/http-load.js';
import { hopLatencies, type LatencySummary } from '../bench/latency.js';
import { pingMs, redisBenchmarkXadd, xaddRate } from '../bench/calibrate.js';
import { compareResults, renderComparison, type Comparison } from '../bench/compare.js';
import { renderHtmlReport } from '../bench/html-report.js';
import { describeStep, findMaxRate, type MaxRateResult } from '../bench/max-rate.js';
import { readBenchBaseline, type ProcessRow } from '../bench/result.js';
import { comparePeers, renderPeers } from '../bench/peers/peer-comparison.js';
import { processStats } from '../bench/process-stats.js';
import { defineCommand } from '../cli/command.js';
import { RuntimeError, UsageError } from '../errors.js';
import { durationSchema } from '../duration.js';
import { renderTable } from '../table.js';
import { collectHealth } from '../health/collect.js';
import { connectionOptions, namespaceOption, pipelineOption } from '../cli/options.js';
import { audit } from '../pipeline/audit.js';
import { stagePending } from '../pipeline/backlog.js';
import { loadPipeline } from '../pipeline/definition.js';
import { metricWorkload } from '../workload/metric-workload.js';
import { sendOpenLoop } from '../workload/pacer.js';
import { Producer } from '../pipeline/producer.js';
import { saveRun, type RunRecord } from '../pipeline/runs.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { ensureTopology } from '../pipeline/topology.js';
import { liveHeartbeats } from '../pipeline/worker/heartbeats.js';
import { infoNumber, parseInfo } from '../redis/info.js';
import { connect } from '../cli/target.js';
import { sleep, waitFor } from '../wait.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  rate: z.coerce
    .number()
    .positive()
    .default(10_000)
    .describe('Open-loop rate, events per second')
    .meta({ valueName: 'R' }),
  duration: durationSchema().prefault('10s').describe('How long to send, e.g. 30s').meta({ valueName: 'D' }),
  keys: z.coerce.number().int().positive().default(1000).describe('Distinct event keys').meta({ valueName: 'K' }),
  anomalyRate: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.01)
    .describe('Injected anomalies (for the default pipeline)')
    .meta({ valueName: 'P' }),
  batch: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(100)
    .describe('Events per stream entry')
    .meta({ valueName: 'B' }),
  warmup: durationSchema()
    .prefault('0s')
    .describe(
      "Send at --rate for this long first, unmeasured: the latency figures count only the events of --duration after it (the warm-up's events are audited too). Workers that just started train their models, fill their caches and JIT-compile in the first seconds",
    )
    .meta({ valueName: 'D' }),
  linger: durationSchema()
    .prefault('0ms')
    .describe(
      "How long a partial batch waits for more events; 0: it goes at the end of the event-loop turn that filled it, or when its partition's append in flight returns",
    )
    .meta({ valueName: 'MS' }),
  wait: durationSchema()
    .prefault('60s')
    .describe('How long to wait for the pipeline to drain after sending')
    .meta({ valueName: 'D' }),
  calibrate: z
    .boolean()
    .default(true)
    .describe(
      "Measure the raw XADD rate (ours and redis-benchmark's) and the round trip first; --no-calibrate skips it",
    ),
  json: z
    .string()
    .optional()
    .describe('Write the results as JSON to FILE (or stdout with no FILE)')
    .meta({ valueName: 'FILE', preset: '-' }),
  html: z
    .string()
    .optional()
    .describe(
      'Also write the results as a self-contained HTML report (inline SVG charts, no network): latency over time and per hop, throughput and lag over time, calibration, processes, audit',
    )
    .meta({ valueName: 'FILE' }),
  compare: z
    .string()
    .optional()
    .describe(
      'Compare with an earlier `bench --json FILE` output: throughput, p50/p99 per hop, CPU/RSS per process role, with a verdict per metric and overall (JSON: comparison). Noise rule: threshold T = max(--min-change, calibration disagreement max(r, 1/r) - 1, r = ratio of the two runs\' calibration XADD rates); throughput and --max rate are divided by each run\'s calibration XADD rate when both have one; p99 gets 2T; changes under 0.5 ms, 5 CPU points or 5 MB are noise. Within the threshold: "same within noise", else "better" or "worse". Overall: worse if any of throughput, max rate, end-to-end p50/p99 or total CPU is worse; better if one is better and none worse',
    )
    .meta({ valueName: 'FILE' }),
  minChange: z.coerce
    .number()
    .min(0)
    .max(10)
    .default(0.1)
    .describe(
      '--compare: the smallest relative change that is more than noise (0.1 = 10%); short runs on a shared machine may need more',
    )
    .meta({ valueName: 'P' }),
  max: z
    .boolean()
    .default(false)
    .describe(
      "Search the highest sustainable rate instead of one run at --rate (--duration is then unused): steps of --max-step from --rate up x1.5, then bisection between the last sustainable and the first unsustainable rate (to 5%). A step is sustainable when the sender achieved 95% of its rate, the lag (entries undelivered or pending, all stages) did not keep growing (peak of the last third of the step <= 2 x peak of the first third + 100, unless what it grew to drained within 150 ms: jitter), and it drained to 0 within a grace of min(--max-step, 2s) after the step. A progress line per step on stderr; JSON: max. Every step's events are audited at the end",
    ),
  maxTime: durationSchema()
    .prefault('60s')
    .describe('--max: time budget of the search (a step starts only if it ends, grace included, within it)')
    .meta({ valueName: 'D' }),
  maxStep: durationSchema()
    .prefault('3s')
    .describe('--max: how long each step sends at its rate')
    .meta({ valueName: 'D' }),
  peers: z
    .boolean()
    .default(false)
    .describe(
      "After the run, run three peer baselines on the same Redis (standalone or cluster) with the same events: a naive per-event consumer-group pipeline, the same with record batches (100 events per entry, one MULTI per read: the transport alone, without streamctl's guarantees or stage work) and a BullMQ 3-queue chain, each hop in its own process; print each one's events/s and the ratio streamctl end-to-end events/s / peer events/s (JSON: peers). Their keys, under <namespace>:peers:, are deleted afterwards. bullmq is an optional dependency: where it is not installed, only the stream peers run and the BullMQ one is listed as not run (JSON: peersSkipped), as is a peer that fails; neither changes the exit code",
    ),
  http: z
    .boolean()
    .default(false)
    .describe(
      'Load through the HTTP ingest instead of the in-process producer: an ingest server (as `streamctl serve`) in this process on a free port, driven by autocannon posting 100-event NDJSON bodies of the metric workload over --connections for --duration (closed loop: --rate is unused); reports requests/s, events/s, HTTP latency percentiles and non-2xx responses (JSON: http), then the same drain and audit of the accepted events',
    ),
  httpUrl: z
    .string()
    .regex(/^https?:\/\/[^/]/, 'an http:// URL, e.g. http://127.0.0.1:8080')
    .optional()
    .describe(
      '--http against the running `streamctl serve` at this base URL instead of one in this process (implies --http); it must write to the same --redis and --namespace. Every event it accepts during the load, from any client, is audited',
    )
    .meta({ valueName: 'URL' }),
  connections: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(16)
    .describe('--http: concurrent HTTP connections, each sending its next request when the last one is answered')
    .meta({ valueName: 'N' }),
  httpRate: z.coerce
    .number()
    .positive()
    .optional()
    .describe(
      '--http: post about this many events per second (in 100-event bodies; autocannon paces requests per connection, so it may overshoot somewhat); default: as fast as the connections are answered',
    )
    .meta({ valueName: 'R' }),
  peerEvents: z.coerce
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe('Events each peer runs with --peers (BullMQ does about 1,000/s on 2 cores)')
    .meta({ valueName: 'N' }),
});

/** How long bench waits for a live worker of every stage (workers just started take a second or two). */
const WORKER_WAIT_MS = 10_000;

/**
 * Waits until every stage has a live worker: a load that nothing processes measures nothing, and
 * its audit would count every event as lost.
 * @throws RuntimeError NO_WORKERS naming the stages without one.
 */
async function awaitWorkers(
  client: Redis | Cluster,
  ns: string,
  stages: string[],
  say: (m: string) => void,
  signal: AbortSignal,
): Promise<void> {
  const missing = async () => {
    const live = new Set((await liveHeartbeats(client, ns)).map((h) => h.stage));
    return stages.filter((s) => !live.has(s));
  };
  let idle = await missing();
  if (idle.length === 0) return;
  say(`waiting up to ${WORKER_WAIT_MS / 1000}s for a live worker of stage ${idle.join(', ')}...`);
  await waitFor(async () => ((idle = await missing()).length === 0 ? true : undefined), {
    timeoutMs: WORKER_WAIT_MS,
    intervalMs: 250,
    signal,
    onTimeout: () =>
      new RuntimeError(
        'NO_WORKERS',
        `no live worker for stage ${idle.join(', ')} in namespace "${ns}": nothing would process the load`,
        'start the pipeline (`streamctl up`, or `streamctl worker --stage NAME` per stage) on the same --redis and --namespace, then run bench again',
      ),
  });
}

export default defineCommand({
  name: 'bench',
  description:
    "Benchmark the running pipeline: calibration of the Redis underneath, then an open-loop load at --rate for --duration, with latency from each event's intended send time to its commit at every hop (HDR histograms), throughput, CPU and memory of every process, and an audit of the run. It first waits up to 10 s for a live worker of every stage, and exits 1 (NO_WORKERS) if a stage has none.",
  examples: [
    'streamctl bench --rate 10000 --duration 30s',
    'streamctl bench --rate 50000 --duration 20s --json results.json --html results.html',
    'streamctl bench --rate 50000 --duration 20s --compare results.json',
    'streamctl bench --max --rate 20000 --max-time 90s --json max.json',
  ],
  options,
  async run(opts, io) {
    const { definition } = loadPipeline(opts.pipeline, io.cwd);
    // Bad --compare or --html paths fail now, not after a run of minutes.
    const baseline = opts.compare ? readBenchBaseline(resolve(io.cwd, opts.compare)) : undefined;
    const htmlFile = opts.html ? resolve(io.cwd, opts.html) : undefined;
    if (htmlFile && !existsSync(dirname(htmlFile)))
      throw new UsageError(
        'BAD_HTML_FILE',
        `--html: the folder ${dirname(htmlFile)} does not exist`,
        'give --html a file in an existing folder',
      );
    if (opts.max && opts.maxStep <= 0)
      throw new UsageError('BAD_OPTION', '--max-step must be above 0', 'e.g. --max-step 3s');
    const httpLoad = opts.http || opts.httpUrl !== undefined;
    if (opts.warmup > 0 && (opts.max || httpLoad))
      throw new UsageError(
        'BAD_OPTION',
        '--warmup applies to a run at --rate, not to --max or --http',
        'drop --warmup',
      );
    if (httpLoad && opts.max)
      throw new UsageError(
        'BAD_OPTION',
        '--max paces the open-loop producer; --http drives closed-loop HTTP clients',
        'drop --max or --http/--http-url',
      );
    const conn = await connect(opts, io);
    const say = (m: string) => {
      if (opts.json !== '-') io.stderr.write(`${m}\n`);
    };
    try {
      const client = withScripts(conn.client());
      const topology = await ensureTopology(client, opts.namespace, definition.stages, {
        partitions: definition.partitions,
      });

      // A serve elsewhere is a usage error, found before any wait.
      if (opts.httpUrl) await serveWritingHere(client, topology, opts.httpUrl);
      await awaitWorkers(
        client,
        opts.namespace,
        topology.stages.map((st) => st.name),
        say,
        io.signal,
      );

      // Calibration: what the Redis underneath does with no pipeline logic at all.
      let calibration:
        { xaddPerSecond: number; redisBenchmarkXaddPerSecond: number | null; pingMs: number } | undefined;
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
      const workers = (await liveHeartbeats(client, opts.namespace)).filter((h) => h.host === here);
      const nodes = report.nodes.filter((n) => n.up);
      const redisCpu = async () =>
        Promise.all(
          nodes.map(async (n) => {
            const [host, port] = [
              n.address.slice(0, n.address.lastIndexOf(':')),
              Number(n.address.slice(n.address.lastIndexOf(':') + 1)),
            ];
            const info = parseInfo(await conn.node(host, port).info());
            return {
              cpu: (infoNumber(info, 'used_cpu_user') ?? 0) + (infoNumber(info, 'used_cpu_sys') ?? 0),
              rss: infoNumber(info, 'used_memory_rss') ?? 0,
            };
          }),
        );
      const before = {
        t: performance.now(),
        workers: workers.map((w) => processStats(w.pid)),
        self: process.cpuUsage(),
        redis: await redisCpu(),
      };

      // The load: open loop at the rate, events stamped with their intended send time.
      const runId = `bench-${Date.now().toString(36)}`;
      const producer = new Producer({
        client,
        topology,
        producerId: `p-${runId}`,
        batch: opts.batch,
        lingerMs: opts.linger,
      });
      await producer.init();
      const lagOverTime: { t: number; lag: number }[] = [];
      const totalLag = async () => (await stagePending(client, topology)).reduce((a, s) => a + s.lag + s.pending, 0);
      const lagTicker = setInterval(() => {
        totalLag().then(
          (lag) => lagOverTime.push({ t: Math.round(performance.now() - before.t), lag }),
          () => undefined,
        );
      }, 1000);
      const source = metricWorkload({ keys: opts.keys, seed: 1, anomalyRate: opts.anomalyRate });
      const tSend = performance.now();
      // The latency windows count from here, so the first second of the chart is a whole one.
      let sendOrigin = Date.now();
      // With a warm-up, latency counts from the first event after it.
      let measuredFrom: number | undefined;
      let max: MaxRateResult | null = null;
      let http: Awaited<ReturnType<typeof httpBenchLoad>> | undefined;
      if (httpLoad) {
        http = await httpBenchLoad({
          client,
          topology,
          runId,
          httpUrl: opts.httpUrl,
          connections: opts.connections,
          durationMs: opts.duration,
          eventsPerSecond: opts.httpRate,
          keys: opts.keys,
          anomalyRate: opts.anomalyRate,
          batch: opts.batch,
          lingerMs: opts.linger,
          signal: io.signal,
          log: say,
        });
      } else if (opts.max) {
        say(
          `searching the highest sustainable rate from ${opts.rate.toLocaleString('en')}/s in steps of ${opts.maxStep / 1000}s, for at most ${opts.maxTime / 1000}s...`,
        );
        // One producer for every step: its seq range is the run, so the audit covers every step's events.
        max = await findMaxRate(
          {
            send: async (rate, ms) => {
              const t = performance.now();
              const sent = await sendOpenLoop({
                producer,
                source,
                rate,
                total: Math.floor((rate * ms) / 1000),
                durationMs: ms,
                signal: io.signal,
              });
              await producer.flushAll();
              return { sent, durationMs: performance.now() - t };
            },
            lag: totalLag,
            sleep: (ms) => sleep(ms, io.signal),
            now: () => performance.now(),
            aborted: () => io.signal.aborted,
            // On stderr even with --json on stdout: a silent search of a minute looks hung.
            onStep: (step, i) => io.stderr.write(`${describeStep(step, i)}\n`),
          },
          { startRate: opts.rate, budgetMs: opts.maxTime, stepMs: opts.maxStep, graceMs: Math.min(2000, opts.maxStep) },
        );
      } else {
        if (opts.warmup > 0) {
          say(
            `warming up: ${Math.floor((opts.rate * opts.warmup) / 1000).toLocaleString('en')} events at ${opts.rate.toLocaleString('en')}/s for ${opts.warmup / 1000}s, not measured...`,
          );
          await sendOpenLoop({
            producer,
            source,
            rate: opts.rate,
            total: Math.floor((opts.rate * opts.warmup) / 1000),
            durationMs: opts.warmup,
            signal: io.signal,
          });
          measuredFrom = producer.last + 1;
          sendOrigin = Date.now();
        }
        const total = Math.floor((opts.rate * opts.duration) / 1000);
        say(
          `sending ${total.toLocaleString('en')} events at ${opts.rate.toLocaleString('en')}/s for ${opts.duration / 1000}s...`,
        );
        await sendOpenLoop({ producer, source, rate: opts.rate, total, durationMs: opts.duration, signal: io.signal });
      }
      await producer.close();
      const sendSeconds = (performance.now() - tSend) / 1000;
      const run: RunRecord = http?.run ?? {
        id: runId,
        kind: 'produce',
        producer: `p-${runId}`,
        status: 'done',
        startedAt: Date.now(),
        endedAt: Date.now(),
        partitions: topology.partitions,
        rate: opts.rate,
        firstSeq: producer.first,
        lastSeq: producer.last,
        sent: producer.stats.sent,
        acked: producer.stats.acked,
        errors: producer.stats.errors,
        failed: producer.stats.failed,
        failedRanges: producer.stats.failedRanges,
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
      const after = {
        workers: workers.map((w) => processStats(w.pid)),
        self: process.cpuUsage(before.self),
        redis: await redisCpu(),
      };
      const processes: ProcessRow[] = [
        ...workers.map((w, i) => {
          const a = after.workers[i];
          const b = before.workers[i];
          return {
            name: `worker ${w.stage}`,
            pid: w.pid,
            cpuPercent: a && b ? Math.round(((a.cpuSeconds - b.cpuSeconds) / elapsed) * 100) : -1,
            rssMb: a ? Math.round(a.rssBytes / 1048576) : -1,
          };
        }),
        {
          name: 'bench (producer)',
          pid: process.pid,
          cpuPercent: Math.round(((after.self.user + after.self.system) / 1e6 / elapsed) * 100),
          rssMb: Math.round(process.memoryUsage().rss / 1048576),
        },
        ...nodes.map((n, i) => ({
          name: `redis ${n.address} (${n.role})`,
          cpuPercent: Math.round(((after.redis[i]!.cpu - before.redis[i]!.cpu) / elapsed) * 100),
          rssMb: Math.round(after.redis[i]!.rss / 1048576),
        })),
      ];

      const latency: LatencySummary[] = await hopLatencies(
        client,
        topology,
        run.producer,
        measuredFrom ?? run.firstSeq,
        run.lastSeq,
        { originMs: sendOrigin },
      );
      const verdict = await audit(client, topology, run);
      // The peers run after every measurement of ours, so that they cannot disturb it.
      const peers = opts.peers
        ? await comparePeers(conn, {
            namespace: opts.namespace,
            events: opts.peerEvents,
            workload: { keys: opts.keys, seed: 1, anomalyRate: opts.anomalyRate },
            streamctlEventsPerSecond: Math.round(verdict.delivered / endToEndSeconds),
            log: say,
            signal: io.signal,
          })
        : undefined;
      const result = {
        namespace: opts.namespace,
        pipeline: topology.stages.map((s) => s.name),
        mode: conn.mode,
        calibration: calibration ?? null,
        // With --max, rate is the starting rate and durationMs the search's sending time.
        load: {
          rate: opts.rate,
          durationMs: max ? Math.round(sendSeconds * 1000) : opts.duration,
          sent: run.sent,
          sendSeconds: Math.round(sendSeconds * 100) / 100,
          achievedSendRate: Math.round(run.sent / sendSeconds),
          ...(opts.warmup > 0 ? { warmupMs: opts.warmup } : {}),
        },
        throughput: {
          endToEndSeconds: Math.round(endToEndSeconds * 100) / 100,
          eventsPerSecond: Math.round(verdict.delivered / endToEndSeconds),
          drained,
        },
        latency,
        processes,
        lagOverTime,
        audit: {
          lost: verdict.lost,
          duplicates: verdict.duplicates,
          delivered: verdict.delivered,
          outOfOrderKeys: verdict.outOfOrderKeys,
        },
        max,
        ...(http ? { http: http.http } : {}),
        comparison: null as Comparison | null,
        ...(peers ? { peers: peers.peers, peersSkipped: peers.skipped } : {}),
      };
      if (baseline)
        result.comparison = compareResults(baseline, result, { label: opts.compare!, minChange: opts.minChange });
      if (htmlFile) {
        try {
          writeFileSync(htmlFile, renderHtmlReport(result, { generatedAt: new Date().toISOString() }));
        } catch (err) {
          throw new UsageError(
            'BAD_HTML_FILE',
            `--html: cannot write ${htmlFile}: ${(err as Error).message}`,
            'give --html a writable file',
          );
        }
      }

      if (opts.json) {
        const text = `${JSON.stringify(result, null, 2)}\n`;
        if (opts.json === '-') io.stdout.write(text);
        else writeFileSync(opts.json, text);
      }
      if (opts.json !== '-') {
        const lines: string[] = [];
        if (calibration)
          lines.push(
            `calibration: XADD ${calibration.xaddPerSecond.toLocaleString('en')}/s (ours, pipelined), ${calibration.redisBenchmarkXaddPerSecond?.toLocaleString('en') ?? 'n/a'}/s (redis-benchmark -P 32), round trip ${calibration.pingMs} ms`,
          );
        lines.push(
          `load: ${result.load.sent.toLocaleString('en')} events ${max ? `in ${max.steps.length} --max steps open loop` : http ? 'over HTTP, closed loop' : `at ${opts.rate.toLocaleString('en')}/s open loop`} (achieved ${result.load.achievedSendRate.toLocaleString('en')}/s); end to end ${result.throughput.eventsPerSecond.toLocaleString('en')} events/s${drained ? '' : ' (NOT drained)'}`,
        );
        if (http) {
          const h = http.http;
          lines.push(
            `http: ${h.server} ingest ${h.url}, ${h.connections} connection(s): ${h.requests.toLocaleString('en')} requests (${h.requestsPerSecond.toLocaleString('en')}/s), ${h.eventsPerSecond.toLocaleString('en')} events/s accepted, non-2xx ${h.non2xx}${
              h.non2xx
                ? ` (${Object.entries(h.statusCodes)
                    .filter(([c]) => !c.startsWith('2'))
                    .map(([c, n]) => `${c}: ${n}`)
                    .join(', ')})`
                : ''
            }, errors ${h.errors}; latency ms p50 ${h.latencyMs.p50}, p90 ${h.latencyMs.p90}, p99 ${h.latencyMs.p99}, max ${h.latencyMs.max}`,
          );
        }
        if (max) {
          const found =
            max.rate === null
              ? 'no sustainable rate found'
              : `highest sustainable rate ${max.rate.toLocaleString('en')} events/s (achieved ${max.achievedRate!.toLocaleString('en')}/s)`;
          lines.push(
            `max: ${found}; first unsustainable ${max.firstUnsustainable?.toLocaleString('en') ?? 'none found'}; ${max.steps.length} steps in ${(max.elapsedMs / 1000).toFixed(1)}s (stopped: ${max.stoppedBy})`,
          );
        }
        lines.push('', 'LATENCY (ms, from intended send time to commit)');
        lines.push(
          renderTable(
            ['AT', 'EVENTS', 'P50', 'P90', 'P99', 'P99.9', 'MAX'],
            latency.map((l) => [
              l.stream,
              String(l.events),
              String(l.p50),
              String(l.p90),
              String(l.p99),
              String(l.p999),
              String(l.max),
            ]),
          ),
        );
        lines.push('', 'PROCESSES');
        lines.push(
          renderTable(
            ['PROCESS', 'PID', 'CPU %', 'RSS MB'],
            processes.map((p) => [p.name, p.pid ? String(p.pid) : '-', String(p.cpuPercent), String(p.rssMb)]),
          ),
        );
        lines.push(
          '',
          `audit: delivered ${verdict.delivered.toLocaleString('en')}, lost ${verdict.lost}, duplicates ${verdict.duplicates}`,
        );
        if (result.comparison) lines.push('', renderComparison(result.comparison));
        if (htmlFile) lines.push('', `html report: ${htmlFile}`);
        if (peers) lines.push('', ...renderPeers(peers));
        io.stdout.write(`${lines.join('\n')}\n`);
      }
      return verdict.ok && drained ? 0 : 1;
    } finally {
      await conn.close();
    }
  },
});
