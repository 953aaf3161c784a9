/**
 * `npm run bench -- tracing-drain`: the pipeline's capacity with tracing off, at 1% and at 100% of
 * the batches sampled, as the rate at which its workers drain a backlog (closed loop: the workers
 * take events as fast as they can, so the rate is the highest they sustain, with no open-loop
 * search and its steps). Rounds alternate the modes (the machine's speed drifts), each on a fresh
 * embedded 3+3 cluster with the default pipeline: a warm-up run at 3,000 events/s, the stage scaled
 * to 0, `--events` appended by `produce` at full speed with the mode's sampling (so that a share of
 * the entries carries a trace context), then the workers scaled back and timed from the first
 * poll at which both run and the backlog went down, to an empty backlog. Beside the rate, the
 * finer measures of the same work: the workers' CPU per event over the drain, and the producer's
 * CPU per event over its run (rates vary run to run with the placement of partitions and the
 * scheduling of 8 processes on few cores; CPU time per event much less). With tracing on, the
 * workers and the producer export over OTLP/HTTP to a receiver in a process of its own.
 *
 *   npm run bench -- tracing-drain [--rounds 10] [--events 1000000] [--port 21000]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { cliEntry } from '../src/embedded/cli-entry.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stagePending } from '../src/pipeline/backlog.js';
import { processStats } from '../src/bench/processes.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import { liveHeartbeats } from '../src/pipeline/worker/heartbeats.js';
import { createRedisFactory } from '../src/redis/connection.js';
import { parseRedisUrls } from '../src/redis/endpoint.js';
import { cliJson, rateRun } from './cli-json.js';
import { withDeployment } from './deployment.js';
import { startSink } from './otlp-sink-process.js';
import { otlpEnv, roundModes, traceSampleArgs, withOtlp, type Mode } from './trace-cost.js';

const STAGE = 'analyze';
const WORKERS = 2;
/** How long a drain may take before the run gives up. */
const DRAIN_MS = 300_000;

/** CPU seconds of the processes this one has waited for (its finished children), from /proc. */
function childrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
}

interface Drain {
  /** Entries before the workers started. */
  full: number;
  /** Entries drained from the moment every worker ran, and how long that took. */
  entries: number;
  seconds: number;
  /** CPU seconds of the workers over that time (their start-up left out). */
  workerCpu: number;
}

/**
 * Polls the backlog (lag + pending entries of every stage) until it is 0, from the first poll at
 * which it went down with all `WORKERS` workers live (their CPU read then and at the end).
 */
async function timeDrain(urls: string, ns: string): Promise<Drain> {
  const conn = await createRedisFactory().open({ endpoints: parseRedisUrls(urls), source: '--redis' });
  try {
    const client = conn.client();
    const topology = await ensureTopology(client, ns, [{ name: STAGE }]);
    const backlog = async () => (await stagePending(client, topology)).reduce((a, s) => a + s.lag + s.pending, 0);
    const cpu = (pids: number[]) => pids.reduce((a, pid) => a + (processStats(pid)?.cpuSeconds ?? 0), 0);
    const full = await backlog();
    let from: { at: number; backlog: number; pids: number[]; cpu: number } | undefined;
    const deadline = performance.now() + DRAIN_MS;
    for (;;) {
      if (performance.now() > deadline)
        throw new Error(`the backlog of ${full} entries did not drain in ${DRAIN_MS / 1000}s`);
      const b = await backlog();
      const at = performance.now();
      if (!from && b < full) {
        const pids = (await liveHeartbeats(client, ns)).filter((h) => h.stage === STAGE).map((h) => h.pid);
        if (pids.length === WORKERS) from = { at, backlog: b, pids, cpu: cpu(pids) };
      }
      if (from && b === 0)
        return { full, entries: from.backlog, seconds: (at - from.at) / 1000, workerCpu: cpu(from.pids) - from.cpu };
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await conn.close();
  }
}

export async function benchTraceDrain(o: { rounds: number; events: number; port: number }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'streamctl-trace-drain-'));
  const sink = await startSink(dir, undefined);
  const rows: { round: number; mode: Mode; rate: number; workerUs: number; producerUs: number }[] = [];
  try {
    for (let i = 0; i < o.rounds; i++) {
      for (const mode of roundModes(i)) {
        const env = otlpEnv(mode, sink.url);
        const trace = traceSampleArgs(mode);
        const row = await withOtlp(env, () =>
          withDeployment(o.port, async (urls, home) => {
            rateRun({ home }, ['--no-calibrate', ...trace], { rate: 3000 });
            cliJson(['scale', '--stage', STAGE, '--workers', '0', '--home', home, '--json']);
            const cpu0 = childrenCpuSeconds();
            cliJson(['produce', '--home', home, '--count', String(o.events), '--rate', '0', ...trace, '--json']);
            const producerCpu = childrenCpuSeconds() - cpu0;
            // Not a blocking call: the backlog is polled while the workers start.
            const [d] = await Promise.all([
              timeDrain(urls, 'streamctl'),
              promisify(execFile)(process.execPath, [
                cliEntry(),
                'scale',
                '--stage',
                STAGE,
                '--workers',
                String(WORKERS),
                '--home',
                home,
              ]),
            ]);
            // An entry is a producer batch: the events per entry are the run's events over the entries.
            const events = (d.entries * o.events) / d.full;
            return {
              rate: Math.round(events / d.seconds),
              workerUs: (d.workerCpu / events) * 1e6,
              producerUs: (producerCpu / o.events) * 1e6,
            };
          }),
        );
        rows.push({ round: i, mode, ...row });
        console.log(
          `round ${i + 1}  tracing ${mode.padEnd(4)}  drained at ${row.rate.toLocaleString('en')} ev/s, workers ${row.workerUs.toFixed(2)} us CPU/event, producer ${row.producerUs.toFixed(2)} us CPU/event`,
        );
      }
    }
  } finally {
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  type Row = (typeof rows)[number];
  const measures: [string, (r: Row) => number][] = [
    ['drain rate', (r) => r.rate],
    ['workers CPU/event', (r) => r.workerUs],
    ['producer CPU/event', (r) => r.producerUs],
  ];
  for (const mode of ['1%', '100%'] as Mode[])
    for (const [what, f] of measures) {
      const ratios = Array.from({ length: o.rounds }, (_, i) => {
        const at = (m: Mode) => f(rows.find((r) => r.round === i && r.mode === m)!);
        return at(mode) / at('off');
      });
      console.log(
        `tracing ${mode} against off, ${what}: ratios ${ratios.map((x) => x.toFixed(3)).join(', ')}; median ${median(ratios).toFixed(3)}`,
      );
    }
}
