/**
 * `npm run bench -- health`: how long one `streamctl health --json` process takes (a dashboard's
 * refresh) on the embedded 3+3 cluster while the default pipeline runs at 80% of its highest
 * sustainable rate there. Each round: `up --detach` in a fresh state folder, `produce` in the
 * background, a warm-up, then the calls one second apart (or back to back once a call takes longer),
 * then the same number of refreshes of one `health --watch 1 --json` process (a dashboard that keeps
 * it running pays its start once), `produce` stopped, `down`. Every round starts the deployment with
 * this build; the health calls run
 * the `--cli` builds given (default this one), rounds alternating between them because the machine's
 * speed drifts. The figures and the goal are in docs/PERFORMANCE.md.
 *
 *   npm run bench -- health [--rate N] [--calls 20] [--rounds 2] [--port 21000] [--cli PATH ...]
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { BenchResult } from '../src/bench/result.js';
import { cliEntry } from '../src/embedded/cli-entry.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { sleep } from '../src/wait.js';
import { cliJson, maxRateSearch } from './cli-json.js';
import { withDeployment } from './deployment.js';

/** Before the first call: the workers take their leases and the producer reaches its rate. */
const WARMUP_MS = 5000;
/** A dashboard's refresh period. */
const PERIOD_MS = 1000;

/** Share of the highest sustainable rate the pipeline runs at while health is measured. */
const LOAD_SHARE = 0.8;
/** Share of the rate asked that `produce` must reach for the round to count as kept up. */
const KEPT_UP = 0.98;

export interface HealthBenchOptions {
  /** Events per second to produce; found with `bench --max` when not given. */
  rate?: number | undefined;
  calls: number;
  rounds: number;
  port: number;
  /** CLI entries whose `health --json` is timed; default this build's. */
  clis: string[];
}

interface Round {
  cli: string;
  ms: number[];
  /** Each refresh of `health --watch`: from the end of its wait to its snapshot printed. */
  watchMs: number[];
  produced: number;
  status: string;
  lag: number;
}

/** Starts `node <entry> args...` and resolves once it exits, with its output and wall time. */
function run(entry: string, args: string[]): Promise<{ ms: number; code: number | null; stdout: string }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  return new Promise((done, fail) => {
    child.once('error', fail);
    child.once('close', (code) => done({ ms: performance.now() - t0, code, stdout }));
  });
}

/**
 * The highest sustainable rate of the default pipeline on the cluster (`streamctl bench --max`),
 * after a warm-up: workers that just started train their models in their first seconds, which the
 * search's first step would take for a pipeline that cannot keep up.
 */
async function highestRate(port: number): Promise<number> {
  return withDeployment(port, async (urls) => {
    cliJson<unknown>(['produce', '--redis', urls, '--rate', '10000', '--duration', `${WARMUP_MS * 2}ms`, '--json']);
    const r = maxRateSearch<BenchResult>(urls);
    return r.max?.rate ?? 0;
  });
}

/**
 * `refreshes` snapshots of one `health --watch 1 --json` process: the time each took, the interval
 * between two printed snapshots less the one-second wait. The first, which includes the start, is
 * left out.
 */
async function watchRefreshes(cli: string, urls: string, refreshes: number): Promise<number[]> {
  const child = spawn(process.execPath, [cli, 'health', '--watch', '1', '--json', '--redis', urls], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('close', () => done()));
  const printed: number[] = [];
  let text = '';
  await new Promise<void>((done) => {
    child.stdout.on('data', (d) => {
      text += d;
      // Each snapshot is a JSON document followed by an empty line.
      const parts = text.split('\n}\n\n');
      for (let i = 0; i < parts.length - 1; i++) printed.push(performance.now());
      text = parts[parts.length - 1]!;
      if (printed.length > refreshes) done();
    });
    child.once('close', () => done());
  });
  child.kill('SIGINT');
  await exited;
  return printed.slice(1).map((t, i) => Math.max(0, t - printed[i]! - 1000));
}

/** One round: the pipeline under load, `calls` health processes of `cli`, then as many `--watch` refreshes. */
async function measureRound(cli: string, rate: number, opts: HealthBenchOptions): Promise<Round> {
  return withDeployment(opts.port, async (urls) => {
    const args = ['produce', '--redis', urls, '--rate', String(rate), '--duration', '1h', '--json'];
    const producer = spawn(process.execPath, [cliEntry(), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let produced = '';
    producer.stdout.on('data', (d) => (produced += d));
    const exited = new Promise<void>((done) => producer.once('close', () => done()));
    const ms: number[] = [];
    let watchMs: number[] = [];
    let last: Snapshot | undefined;
    try {
      await sleep(WARMUP_MS);
      for (let i = 0; i < opts.calls; i++) {
        const call = await run(cli, ['health', '--json', '--redis', urls]);
        ms.push(call.ms);
        last = JSON.parse(call.stdout) as Snapshot;
        await sleep(Math.max(0, PERIOD_MS - call.ms));
      }
      watchMs = await watchRefreshes(cli, urls, opts.calls);
    } finally {
      producer.kill('SIGINT');
      await exited;
    }
    const record = JSON.parse(produced || '{}') as { rate?: number };
    return {
      cli,
      ms,
      watchMs,
      produced: record.rate ?? 0,
      status: last?.status ?? '?',
      lag: (last?.stages ?? []).reduce((n, s) => n + s.lag, 0),
    };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const n = (x: number) => Math.round(x).toLocaleString('en');

export async function benchHealth(opts: HealthBenchOptions): Promise<void> {
  const clis = opts.clis.length ? opts.clis.map((c) => resolve(c)) : [cliEntry()];
  let rate = opts.rate;
  if (!rate) {
    console.log('finding the highest sustainable rate on the cluster (`streamctl bench --max --max-time 60s`)...');
    const max = await highestRate(opts.port);
    rate = Math.floor((LOAD_SHARE * max) / 1000) * 1000;
    console.log(`highest sustainable rate ${n(max)} events/s: producing at ${n(rate)} (${LOAD_SHARE * 100}%)`);
  }
  console.log(
    `health --json on the embedded 3+3 cluster, default pipeline at ${n(rate)} events/s, ` +
      `${opts.calls} calls a round ${PERIOD_MS / 1000} s apart after a ${WARMUP_MS / 1000} s warm-up`,
  );
  const rounds: Round[] = [];
  for (let i = 0; i < opts.rounds; i++) {
    for (const cli of clis) {
      const r = await measureRound(cli, rate, opts);
      rounds.push(r);
      // Below the rate asked, the machine had no CPU to spare: the figures are of an overload.
      const kept = r.produced >= KEPT_UP * rate ? 'kept up' : 'FELL BEHIND: give a lower --rate';
      console.log(
        `  round ${i + 1} ${cli}: median ${n(median(r.ms))} ms, max ${n(Math.max(...r.ms))} ms ` +
          `(produced ${n(r.produced)} events/s, ${kept}; last call: ${r.status}, lag ${n(r.lag)}); ` +
          `--watch refresh: median ${n(median(r.watchMs))} ms, max ${n(Math.max(...r.watchMs))} ms`,
      );
    }
  }
  console.log('CLI  CALLS  MEDIAN ms  MAX ms  WATCH REFRESH MEDIAN ms  MAX ms');
  for (const cli of clis) {
    const of = rounds.filter((r) => r.cli === cli);
    const ms = of.flatMap((r) => r.ms);
    const watch = of.flatMap((r) => r.watchMs);
    console.log(
      `${cli}  ${ms.length}  ${n(median(ms))}  ${n(Math.max(...ms))}  ${n(median(watch))}  ${n(Math.max(...watch))}`,
    );
  }
}
