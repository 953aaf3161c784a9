import type { RedisConnection } from '../redis/connection.js';
import type { BatchTracer } from '../pipeline/batch-tracer.js';
import { audit } from '../pipeline/audit.js';
import { stagePending, waitDrained } from '../pipeline/backlog.js';
import { startProgress, type ProgressOutput } from '../progress.js';
import { Producer } from '../pipeline/producer.js';
import { RunRecorder } from '../pipeline/run-recorder.js';
import { saveRun, type RunRecord } from '../pipeline/runs.js';
import type { ScriptClient } from '../pipeline/scripts/scripts.js';
import type { Topology } from '../pipeline/topology.js';
import { metricWorkload } from '../workload/metric-workload.js';
import { sendOpenLoop } from '../workload/pacer.js';
import { sleep } from '../wait.js';
import { calibrate } from './calibrate.js';
import { httpBenchLoad, type HttpLoadResult } from './http-load.js';
import { hopLatencies } from './latency.js';
import { describeStep, findMaxRate, type MaxRateResult } from './max-rate.js';
import { comparePeers, type PeerComparison } from './peers/peer-comparison.js';
import { sampleProcesses } from './processes.js';
import type { BenchResult } from './result.js';

/** What a bench run does; the CLI's flags, checked. */
export interface BenchOptions {
  namespace: string;
  /** Open-loop rate (the start rate of a --max search). */
  rate: number;
  durationMs: number;
  /** Sent at `rate` before `durationMs`, unmeasured (audited). */
  warmupMs: number;
  keys: number;
  anomalyRate: number;
  batch: number;
  lingerMs: number;
  /** How long to wait for the pipeline to drain after sending. */
  waitMs: number;
  calibrate: boolean;
  /** Search the highest sustainable rate instead of one run at `rate`. */
  max?: { budgetMs: number; stepMs: number } | undefined;
  /** Load through the HTTP ingest (in this process, or the `serve` at `url`). */
  http?: { url: string | undefined; connections: number; eventsPerSecond: number | undefined } | undefined;
  /** Run the peer baselines after the measurement. */
  peers?: { events: number } | undefined;
  /** Spans around the producer's appends (`--trace-sample`). */
  tracer?: BatchTracer | undefined;
}

export interface BenchHooks {
  /** Progress lines. */
  say(line: string): void;
  /** One line per --max step: shown even when the results go to stdout as JSON. */
  step(line: string): void;
  /** Where a progress line goes every few seconds while the load runs and drains, off a terminal. */
  progress?: ProgressOutput;
  /** The run's progress, at each change of phase and every second of the load and the drain (a live screen). */
  onProgress?: (p: BenchProgress) => void;
  signal: AbortSignal;
}

/** A bench run's progress: its phase, the load's planned time, the events sent, the backlog. */
export interface BenchProgress {
  phase: string;
  /** The load's planned time (warm-up and duration, or the --max budget), ms. */
  plannedMs: number;
  /** Events sent by the producer (undefined for an HTTP load, whose clients send). */
  sent: number | undefined;
  /** Lag + pending over every stage at the last reading. */
  backlog: number | undefined;
}

/** The result of a bench run: the `--json` document, and whether it passed (audit ok, drained). */
export interface BenchOutcome {
  result: BenchResult & {
    http?: HttpLoadResult;
    peers?: PeerComparison['peers'];
    peersSkipped?: PeerComparison['skipped'];
  };
  peers: PeerComparison | undefined;
  ok: boolean;
}

/** The workload's seed: every bench run sends the same events, and so do its peers. */
const SEED = 1;

/**
 * One bench run on a pipeline whose workers are live: calibration, CPU and memory sampling, the
 * load (open loop at a rate, a --max search, or HTTP), the drain, per-hop latency, the audit, and
 * the peers last, so that they cannot disturb the measurement.
 */
export async function runBench(
  conn: RedisConnection,
  client: ScriptClient,
  topology: Topology,
  o: BenchOptions,
  hooks: BenchHooks,
): Promise<BenchOutcome> {
  const { say, signal } = hooks;
  const plannedMs = o.max ? o.max.budgetMs : o.warmupMs + o.durationMs;
  let phase = 'calibrating';
  let producer: Producer | undefined;
  let backlog: number | undefined;
  const report = (next?: string) => {
    if (next) phase = next;
    hooks.onProgress?.({ phase, plannedMs, sent: o.http ? undefined : producer?.stats.sent, backlog });
  };
  let calibration: BenchResult['calibration'] = null;
  if (o.calibrate) {
    report();
    say('calibrating: raw XADD rate and round trip...');
    calibration = await calibrate(conn, client, `${o.namespace}:bench:calibration`);
  }
  const sampler = await sampleProcesses(conn, o.namespace);

  const runId = `bench-${Date.now().toString(36)}`;
  producer = new Producer({
    client,
    topology,
    producerId: `p-${runId}`,
    batch: o.batch,
    lingerMs: o.lingerMs,
    tracer: o.tracer,
  });
  await producer.init();
  const recorder = new RunRecorder(client, topology, producer, { runId, producerId: `p-${runId}`, rate: o.rate });
  const lagOverTime: BenchResult['lagOverTime'] = [];
  const totalLag = async () => (await stagePending(client, topology)).reduce((a, s) => a + s.lag + s.pending, 0);
  const lagTicker = setInterval(() => {
    totalLag().then(
      (lag) => {
        lagOverTime.push({ t: Math.round(performance.now() - sampler.startedAt), lag });
        backlog = lag;
        report();
      },
      () => undefined,
    );
  }, 1000);
  const source = metricWorkload({ keys: o.keys, seed: SEED, anomalyRate: o.anomalyRate });
  const tSend = performance.now();
  report(o.warmupMs > 0 ? 'warming up' : 'sending');
  const progress = hooks.progress
    ? startProgress(hooks.progress, {
        line: () =>
          `bench: ${phase}, ${Math.round((performance.now() - tSend) / 1000)}s${backlog === undefined ? '' : `, backlog ${backlog.toLocaleString('en')} (lag + pending)`}`,
      })
    : undefined;
  // The latency windows count from here, so the first second of the chart is a whole one.
  let sendOrigin = Date.now();
  // With a warm-up, latency counts from the first event after it.
  let measuredFrom: number | undefined;
  let max: MaxRateResult | null = null;
  let http: Awaited<ReturnType<typeof httpBenchLoad>> | undefined;
  if (o.http) {
    http = await httpBenchLoad({
      client,
      topology,
      runId,
      httpUrl: o.http.url,
      connections: o.http.connections,
      durationMs: o.durationMs,
      eventsPerSecond: o.http.eventsPerSecond,
      keys: o.keys,
      anomalyRate: o.anomalyRate,
      batch: o.batch,
      lingerMs: o.lingerMs,
      signal,
      log: say,
    });
  } else if (o.max) {
    say(
      `searching the highest sustainable rate from ${o.rate.toLocaleString('en')}/s in steps of ${o.max.stepMs / 1000}s, for at most ${o.max.budgetMs / 1000}s...`,
    );
    // One producer for every step: its seq range is the run, so the audit covers every step's events.
    max = await findMaxRate(
      {
        send: async (rate, ms) => {
          report(`trying ${rate.toLocaleString('en')}/s`);
          const t = performance.now();
          const total = Math.floor((rate * ms) / 1000);
          const sent = await sendOpenLoop({ producer, source, rate, total, durationMs: ms, signal });
          await producer.flushAll();
          return { sent, durationMs: performance.now() - t };
        },
        lag: totalLag,
        sleep: (ms) => sleep(ms, signal),
        now: () => performance.now(),
        aborted: () => signal.aborted,
        onStep: (step, i) => hooks.step(describeStep(step, i)),
      },
      { startRate: o.rate, budgetMs: o.max.budgetMs, stepMs: o.max.stepMs, graceMs: Math.min(2000, o.max.stepMs) },
    );
  } else {
    if (o.warmupMs > 0) {
      const total = Math.floor((o.rate * o.warmupMs) / 1000);
      say(
        `warming up: ${total.toLocaleString('en')} events at ${o.rate.toLocaleString('en')}/s for ${o.warmupMs / 1000}s, not measured...`,
      );
      await sendOpenLoop({ producer, source, rate: o.rate, total, durationMs: o.warmupMs, signal });
      measuredFrom = producer.last + 1;
      sendOrigin = Date.now();
      report('sending');
    }
    const total = Math.floor((o.rate * o.durationMs) / 1000);
    say(
      `sending ${total.toLocaleString('en')} events at ${o.rate.toLocaleString('en')}/s for ${o.durationMs / 1000}s...`,
    );
    await sendOpenLoop({ producer, source, rate: o.rate, total, durationMs: o.durationMs, signal });
  }
  await producer.close();
  const sendSeconds = (performance.now() - tSend) / 1000;
  let run: RunRecord;
  if (http) {
    run = http.run;
    await saveRun(client, topology.keys, run);
  } else {
    await recorder.save('done');
    run = recorder.snapshot();
  }

  say('waiting for the pipeline to drain...');
  report('waiting for the drain');
  const drained = await waitDrained(client, topology, { timeoutMs: o.waitMs, intervalMs: 50, signal }).finally(() =>
    progress?.stop(),
  );
  clearInterval(lagTicker);
  const endToEndSeconds = (performance.now() - tSend) / 1000;
  const processes = await sampler.finish();
  report('measuring latency and auditing');

  const latency = await hopLatencies(client, topology, run.producer, measuredFrom ?? run.firstSeq, run.lastSeq, {
    originMs: sendOrigin,
  });
  const verdict = await audit(client, topology, run);
  const eventsPerSecond = Math.round(verdict.delivered / endToEndSeconds);
  // The peers run after every measurement of ours, so that they cannot disturb it.
  if (o.peers) report('running the peers');
  const peers = o.peers
    ? await comparePeers(conn, {
        namespace: o.namespace,
        events: o.peers.events,
        workload: { keys: o.keys, seed: SEED, anomalyRate: o.anomalyRate },
        streamctlEventsPerSecond: eventsPerSecond,
        log: say,
        signal,
      })
    : undefined;
  const result: BenchOutcome['result'] = {
    namespace: o.namespace,
    pipeline: topology.stages.map((s) => s.name),
    mode: conn.mode,
    calibration,
    // With --max, rate is the starting rate and durationMs the search's sending time.
    load: {
      rate: o.rate,
      durationMs: max ? Math.round(sendSeconds * 1000) : o.durationMs,
      sent: run.sent,
      sendSeconds: Math.round(sendSeconds * 100) / 100,
      achievedSendRate: Math.round(run.sent / sendSeconds),
      ...(o.warmupMs > 0 ? { warmupMs: o.warmupMs } : {}),
    },
    throughput: { endToEndSeconds: Math.round(endToEndSeconds * 100) / 100, eventsPerSecond, drained },
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
    comparison: null,
    ...(peers ? { peers: peers.peers, peersSkipped: peers.skipped } : {}),
  };
  return { result, peers, ok: verdict.ok && drained };
}
