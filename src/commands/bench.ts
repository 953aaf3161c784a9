import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { awaitWorkers, WORKER_WAIT_MS } from '../bench/await-workers.js';
import { runBench } from '../bench/bench-run.js';
import { compareResults } from '../bench/compare.js';
import { renderHtmlReport } from '../bench/html-report.js';
import { serveWritingHere } from '../bench/http-load.js';
import { renderBenchReport } from '../bench/report-text.js';
import { readBenchBaseline } from '../bench/baseline.js';
import { defineCommand } from '../cli/command.js';
import {
  batchOption,
  connectionOptions,
  jsonFileOption,
  namespaceOption,
  pipelineOption,
  traceOption,
} from '../cli/options.js';
import { startTracing } from '../observe/tracing.js';
import { traceConfig } from '../observe/trace-config.js';
import { connect, embeddedStatus } from '../cli/target.js';
import { topSampler } from '../observe/top-sampler.js';
import { redact } from '../redact.js';
import { canRedraw } from '../ui/live.js';
import { startLiveRun, type LiveRun } from '../ui/live-run.js';
import { countFigures } from '../ui/run-status.js';
import { durationSchema } from '../duration.js';
import { UsageError } from '../errors.js';
import { loadPipeline } from '../pipeline/definition.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { ensureTopology } from '../pipeline/topology.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  ...traceOption,
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
  ...batchOption,
  warmup: durationSchema()
    .prefault('0s')
    .describe(
      'Send at --rate for this long first, unmeasured: the latency figures count only the events of ' +
        "--duration after it (the warm-up's events are audited too). Workers that just started train their " +
        'models, fill their caches and JIT-compile in the first seconds',
    )
    .meta({ valueName: 'D' }),
  linger: durationSchema()
    .prefault('0ms')
    .describe(
      'How long a partial batch waits for more events; 0: it goes at the end of the event-loop turn that ' +
        "filled it, or when its partition's append in flight returns",
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
  ...jsonFileOption,
  html: z
    .string()
    .optional()
    .describe(
      'Also write the results as a self-contained HTML report (inline SVG charts, no network): latency over ' +
        'time and per hop, throughput and lag over time, calibration, processes, audit',
    )
    .meta({ valueName: 'FILE' }),
  compare: z
    .string()
    .optional()
    .describe(
      'Compare with an earlier `bench --json FILE` output: throughput, p50/p99 per hop, CPU/RSS per process ' +
        'role, with a verdict per metric and overall (JSON: comparison). Noise rule: threshold T = ' +
        "max(--min-change, calibration disagreement max(r, 1/r) - 1, r = ratio of the two runs' calibration " +
        "XADD rates); throughput and --max rate are divided by each run's calibration XADD rate when both " +
        'have one; p99 gets 2T; changes under 0.5 ms, 5 CPU points or 5 MB are noise. Within the threshold: ' +
        '"same within noise", else "better" or "worse". Overall: worse if any of throughput, max rate, ' +
        'end-to-end p50/p99 or total CPU is worse; better if one is better and none worse',
    )
    .meta({ valueName: 'FILE' }),
  minChange: z.coerce
    .number()
    .min(0)
    .max(10)
    .default(0.1)
    .describe(
      '--compare: the smallest relative change that is more than noise (0.1 = 10%); short runs on a shared ' +
        'machine may need more',
    )
    .meta({ valueName: 'P' }),
  max: z
    .boolean()
    .default(false)
    .describe(
      'Search the highest sustainable rate instead of one run at --rate (--duration is then unused): steps ' +
        'of --max-step from --rate up x1.5, then bisection between the last sustainable and the first ' +
        'unsustainable rate (to 5%). A step is sustainable when the sender achieved 95% of its rate, the lag ' +
        '(entries undelivered or pending, all stages) did not keep growing (peak of the last third of the ' +
        'step <= 2 x peak of the first third + 100, unless what it grew to drained within 150 ms: jitter), ' +
        'and it drained to 0 within a grace of min(--max-step, 2s) after the step. A progress line per step ' +
        "on stderr; JSON: max. Every step's events are audited at the end",
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
      'After the run, run three peer baselines on the same Redis (standalone or cluster) with the same ' +
        'events: a naive per-event consumer-group pipeline, the same with record batches (100 events per ' +
        "entry, one MULTI per read: the transport alone, without streamctl's guarantees or stage work) and a " +
        "BullMQ 3-queue chain, each hop in its own process; print each one's events/s and the ratio streamctl " +
        'end-to-end events/s / peer events/s (JSON: peers). Their keys, under <namespace>:peers:, are deleted ' +
        'afterwards. bullmq is an optional dependency: where it is not installed, only the stream peers run ' +
        'and the BullMQ one is listed as not run (JSON: peersSkipped), as is a peer that fails; neither ' +
        'changes the exit code',
    ),
  http: z
    .boolean()
    .default(false)
    .describe(
      'Load through the HTTP ingest instead of the in-process producer: an ingest server (as `streamctl ' +
        'serve`) in this process on a free port, driven by autocannon posting 100-event NDJSON bodies of the ' +
        'metric workload over --connections for --duration (closed loop: --rate is unused); reports ' +
        'requests/s, events/s, HTTP latency percentiles and non-2xx responses (JSON: http), then the same ' +
        'drain and audit of the accepted events',
    ),
  httpUrl: z
    .string()
    .regex(/^https?:\/\/[^/]/, 'an http:// URL, e.g. http://127.0.0.1:8080')
    .optional()
    .describe(
      '--http against the running `streamctl serve` at this base URL instead of one in this process ' +
        '(implies --http); it must write to the same --redis and --namespace. Every event it accepts during ' +
        'the load, from any client, is audited',
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
      '--http: post about this many events per second (in 100-event bodies; autocannon paces requests per ' +
        'connection, so it may overshoot somewhat); default: as fast as the connections are answered',
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

export default defineCommand({
  name: 'bench',
  description:
    "Benchmark the running pipeline: calibration of the Redis underneath, then an open-loop load at --rate for --duration, with latency from each event's intended send time to its commit at every hop (HDR histograms), throughput, CPU and memory of every process, and an audit of the run. " +
    `It first waits up to ${WORKER_WAIT_MS / 1000} s for a live worker of every stage, and exits 1 (NO_WORKERS) if a stage has none. ` +
    'On a terminal it draws its progress live on stderr (phase, events sent, backlog, the stages at their rate, latency); off one it writes plain lines.',
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
    let live: LiveRun | undefined;
    const say = (m: string) => {
      if (live) live.say(redact(m));
      else if (opts.json !== '-') io.stderr.write(`${m}\n`);
    };
    const tracing = await startTracing(traceConfig(opts.traceSample, io.env, 'streamctl-bench'), (line) =>
      io.stderr.write(`${line}\n`),
    );
    try {
      const client = withScripts(conn.client());
      const topology = await ensureTopology(client, opts.namespace, definition.stages, {
        partitions: definition.partitions,
      });
      // A serve elsewhere is a usage error, found before any wait.
      if (opts.httpUrl) await serveWritingHere(client, topology, opts.httpUrl);
      // On a terminal the run draws its live screen on stderr; off one it writes plain lines.
      if (canRedraw(io.stderr))
        live = startLiveRun({
          stream: io.stderr.stream,
          title: `bench ${topology.stages.map((st) => st.name).join(' -> ')}`,
          sample: topSampler(conn, opts.namespace, () => embeddedStatus(opts, io)),
          intervalMs: 1000,
          color: !io.env.NO_COLOR,
          nodes: false,
        });
      await awaitWorkers(
        client,
        opts.namespace,
        topology.stages.map((st) => st.name),
        say,
        io.signal,
      );
      const outcome = await runBench(
        conn,
        client,
        topology,
        {
          namespace: opts.namespace,
          rate: opts.rate,
          durationMs: opts.duration,
          warmupMs: opts.warmup,
          keys: opts.keys,
          anomalyRate: opts.anomalyRate,
          batch: opts.batch,
          lingerMs: opts.linger,
          waitMs: opts.wait,
          calibrate: opts.calibrate,
          max: opts.max ? { budgetMs: opts.maxTime, stepMs: opts.maxStep } : undefined,
          http: httpLoad
            ? { url: opts.httpUrl, connections: opts.connections, eventsPerSecond: opts.httpRate }
            : undefined,
          peers: opts.peers ? { events: opts.peerEvents } : undefined,
          tracer: tracing?.batches,
        },
        // --max's steps go to stderr even with --json on stdout: a silent search of a minute looks hung.
        live
          ? {
              say,
              step: say,
              onProgress: (p) =>
                live!.update({
                  phase: p.phase,
                  plannedMs: p.plannedMs,
                  figures: countFigures([
                    ['sent', p.sent],
                    ['backlog', p.backlog],
                  ]),
                }),
              signal: io.signal,
            }
          : { say, step: (line) => io.stderr.write(`${line}\n`), progress: io.stderr, signal: io.signal },
      );
      live?.update({ phase: io.signal.aborted ? 'interrupted' : outcome.ok ? 'done' : 'failed' });
      await live?.stop();
      const { result } = outcome;
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
      if (opts.json !== '-') io.stdout.write(renderBenchReport(outcome, { htmlFile }));
      return outcome.ok ? 0 : 1;
    } finally {
      await live?.stop();
      await conn.close();
      await tracing?.shutdown();
    }
  },
});
