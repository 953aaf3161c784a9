/**
 * `npm run bench -- proxy`: what the fault proxies cost with no fault on them. Rounds alternate
 * between a fresh embedded 3+3 cluster without and with `up --fault-proxy` (the machine's speed
 * drifts): in each, p50 and p99 at 10,000 events/s (`bench --rate 10000 --warmup 5s --duration
 * 10s`) and the highest sustainable rate (`bench --max`, from 20,000 events/s for at most 60 s).
 * Every client, the workers included, goes through the proxies in the rounds with them.
 *
 *   npm run bench -- proxy [--rounds 2] [--port 21000]
 */
import { maxRateSearch, rateRun } from './cli-json.js';
import { withDeployment } from './deployment.js';

interface Round {
  proxy: boolean;
  p50: number;
  p99: number;
  lost: number;
  duplicates: number;
  maxRate: number | null;
}

interface BenchJson {
  latency: { stream: string; p50: number; p99: number }[];
  audit: { lost: number; duplicates: number };
  max: { rate: number | null } | null;
}

async function round(proxy: boolean, port: number): Promise<Round> {
  return withDeployment(
    port,
    async (_urls, home) => {
      const at = rateRun<BenchJson>({ home }, ['--no-calibrate']);
      const max = maxRateSearch<BenchJson>({ home });
      const sink = at.latency[at.latency.length - 1]!;
      return {
        proxy,
        p50: sink.p50,
        p99: sink.p99,
        lost: at.audit.lost + max.audit.lost,
        duplicates: at.audit.duplicates + max.audit.duplicates,
        maxRate: max.max?.rate ?? null,
      };
    },
    proxy ? ['--fault-proxy'] : [],
  );
}

/** Runs the rounds, alternating, and prints a row each and the ratios of the means. */
export async function benchProxyCost(o: { rounds: number; port: number }): Promise<void> {
  const rows: Round[] = [];
  for (let i = 0; i < o.rounds; i++)
    for (const proxy of [false, true]) {
      const r = await round(proxy, o.port);
      rows.push(r);
      console.log(
        `${proxy ? 'with --fault-proxy' : 'without proxies  '}  p50 ${r.p50} ms  p99 ${r.p99} ms at 10,000 ev/s  max ${r.maxRate ?? 'none'} ev/s  lost ${r.lost}  duplicates ${r.duplicates}`,
      );
    }
  const mean = (proxy: boolean, f: (r: Round) => number) => {
    const xs = rows.filter((r) => r.proxy === proxy).map(f);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const ratio = (f: (r: Round) => number) => (mean(true, f) / mean(false, f)).toFixed(2);
  console.log(
    `with proxies against without (means of ${o.rounds} alternated rounds): p50 ${ratio((r) => r.p50)}x, p99 ${ratio((r) => r.p99)}x, max rate ${ratio((r) => r.maxRate ?? 0)}x`,
  );
}
