/**
 * `npm run bench -- tracing`: what tracing costs. Rounds alternate (the machine's speed drifts)
 * between tracing off, 1% and 100% of the batches sampled, each on a fresh embedded 3+3 cluster
 * with the default pipeline: the CPU of every process at --rate (3,000 events/s: below saturation,
 * where CPU time measures the work; 5 s of warm-up and 10 s measured, which also warms the
 * deployment up), then the highest sustainable rate (`bench --max`, from 20,000 events/s for at
 * most --max-time, 120 s). With tracing on, the workers and the load's producer export over OTLP/HTTP to
 * a receiver in a process of its own; with it off, no process has an endpoint and none loads the
 * SDK. Then one short traced run, exported as JSON, gives the span tree of one batch.
 *
 *   npm run bench -- tracing [--rounds 3] [--rate 3000] [--max-time 120s] [--pipeline default] [--port 21000]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliJson, maxRateSearch, rateRun } from './cli-json.js';
import { withDeployment } from './deployment.js';
import { startSink } from './otlp-sink-process.js';

/** Tracing off, at 1% and at 100% of the batches sampled. */
export type Mode = 'off' | '1%' | '100%';
const RATIO: Record<Mode, string | undefined> = { off: undefined, '1%': '0.01', '100%': '1' };
export const MODES: readonly Mode[] = ['off', '1%', '100%'];

/** The modes in round `i`'s order: each round starts with another, so that no mode always runs first on a fresh machine. */
export function roundModes(i: number): Mode[] {
  return MODES.map((_, j) => MODES[(j + i) % MODES.length]!);
}

/** The flags that sample a mode's share of the batches; none with tracing off. */
export function traceSampleArgs(mode: Mode): string[] {
  return RATIO[mode] ? ['--trace-sample', RATIO[mode]] : [];
}

/** The environment that makes a traced process export to `url`; none with tracing off. */
export function otlpEnv(mode: Mode, url: string): Record<string, string> | undefined {
  return mode === 'off' ? undefined : { OTEL_EXPORTER_OTLP_ENDPOINT: url };
}

interface BenchJson {
  audit: { lost: number; duplicates: number };
  max: { rate: number | null } | null;
  processes: { name: string; cpuPercent: number }[];
}

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  links?: { spanId: string }[];
  service: string;
}

/** Runs `work` with the OTLP variables set for every process it starts (the deployment's workers too). */
export async function withOtlp<T>(env: Record<string, string> | undefined, work: () => Promise<T>): Promise<T> {
  const keys = Object.keys(env ?? {});
  for (const k of keys) process.env[k] = env![k];
  try {
    return await work();
  } finally {
    for (const k of keys) delete process.env[k];
  }
}

/** The span tree of one trace, as text: one line per span, children indented, with durations. */
function renderTree(spans: Span[]): string {
  const byParent = new Map<string, Span[]>();
  for (const s of spans) byParent.set(s.parentSpanId ?? '', [...(byParent.get(s.parentSpanId ?? '') ?? []), s]);
  const ms = (s: Span) => (Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e6).toFixed(2);
  const t0 = BigInt(
    spans.reduce(
      (a, s) => (BigInt(s.startTimeUnixNano) < BigInt(a) ? s.startTimeUnixNano : a),
      spans[0]!.startTimeUnixNano,
    ),
  );
  const lines: string[] = [];
  const walk = (s: Span, depth: number) => {
    const at = (Number(BigInt(s.startTimeUnixNano) - t0) / 1e6).toFixed(2);
    lines.push(
      `${'  '.repeat(depth)}${s.name}  [${s.service}]  +${at} ms, ${ms(s)} ms${s.links?.length ? `, ${s.links.length} link(s)` : ''}`,
    );
    for (const c of byParent.get(s.spanId) ?? []) walk(c, depth + 1);
  };
  for (const root of spans.filter((s) => !s.parentSpanId || !spans.some((p) => p.spanId === s.parentSpanId)))
    walk(root, 0);
  return lines.join('\n');
}

/** The spans of a JSON dump, with their service names. */
function readDump(file: string): Span[] {
  const out: Span[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const doc = JSON.parse(line) as {
      resourceSpans: {
        resource: { attributes: { key: string; value: { stringValue?: string } }[] };
        scopeSpans: { spans: Span[] }[];
      }[];
    };
    for (const rs of doc.resourceSpans) {
      const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '?';
      for (const ss of rs.scopeSpans) for (const s of ss.spans) out.push({ ...s, service });
    }
  }
  return out;
}

export async function benchTraceCost(o: {
  rounds: number;
  port: number;
  rate: number;
  maxTime: string;
  pipeline: string;
}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'streamctl-trace-bench-'));
  const sink = await startSink(dir, undefined);
  const rows: { mode: Mode; rate: number; cpu: number; lost: number; duplicates: number }[] = [];
  try {
    for (let i = 0; i < o.rounds; i++) {
      for (const mode of roundModes(i)) {
        const env = otlpEnv(mode, sink.url);
        const r = await withOtlp(env, () =>
          withDeployment(
            o.port,
            async (_urls, home) => {
              const trace = [...traceSampleArgs(mode), '--pipeline', o.pipeline];
              // First, and so also the warm-up of the search: a fresh deployment's first seconds are
              // slow (compilation, the first model), and an unwarmed search's first step failed and
              // capped it below.
              const at = rateRun<BenchJson>({ home }, ['--no-calibrate', ...trace], { rate: o.rate });
              const max = maxRateSearch<BenchJson>({ home }, trace, { from: 20_000, budget: o.maxTime });
              return { at, max };
            },
            ['--pipeline', o.pipeline],
          ),
        );
        const row = {
          mode,
          rate: r.max.max?.rate ?? 0,
          // CPU of every process (producer, workers, Redis) at a rate below saturation: a finer measure of the cost.
          cpu: r.at.processes.reduce((a, p) => a + Math.max(0, p.cpuPercent), 0),
          lost: r.at.audit.lost + r.max.audit.lost,
          duplicates: r.at.audit.duplicates + r.max.audit.duplicates,
        };
        rows.push(row);
        console.log(
          `round ${i + 1}  tracing ${mode.padEnd(4)}  max ${row.rate} ev/s  cpu at ${o.rate} ev/s ${row.cpu}%  lost ${row.lost}  duplicates ${row.duplicates}`,
        );
      }
    }
  } finally {
    await sink.stop();
  }
  type Row = (typeof rows)[number];
  const ratios = (mode: Mode, f: (r: Row) => number) =>
    Array.from({ length: o.rounds }, (_, i) => {
      const off = f(rows.find((r, j) => r.mode === 'off' && Math.floor(j / 3) === i)!);
      const on = f(rows.find((r, j) => r.mode === mode && Math.floor(j / 3) === i)!);
      return on / Math.max(off, 1);
    }).sort((a, b) => a - b);
  const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
  const measures: [string, (r: Row) => number][] = [
    ['max rate', (r) => r.rate],
    [`cpu at ${o.rate} ev/s`, (r) => r.cpu],
  ];
  // --rounds 0: only the span tree below.
  for (const mode of o.rounds > 0 ? (['1%', '100%'] as Mode[]) : [])
    for (const [what, f] of measures)
      console.log(
        `tracing ${mode} against off, ${what}: ratios ${ratios(mode, f)
          .map((x) => x.toFixed(3))
          .join(', ')}; median ${median(ratios(mode, f)).toFixed(3)}`,
      );

  // One short traced run, exported as JSON, for the span tree of one batch.
  const dump = join(dir, 'spans.ndjson');
  const json = await startSink(dir, dump);
  try {
    await withOtlp({ OTEL_EXPORTER_OTLP_ENDPOINT: json.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, () =>
      withDeployment(o.port, async (_urls, home) =>
        cliJson([
          'bench',
          '--home',
          home,
          '--rate',
          '1000',
          '--duration',
          '3s',
          '--no-calibrate',
          '--trace-sample',
          '1',
          '--json',
          '-',
        ]),
      ),
    );
  } finally {
    await json.stop();
  }
  const spans = readDump(dump);
  const trace = spans.find((s) => s.name.startsWith('commit'))?.traceId;
  const one = spans.filter((s) => s.traceId === trace);
  console.log(`\nthe span tree of one batch (trace ${trace}):\n${renderTree(one)}`);
  rmSync(dir, { recursive: true, force: true });
}
