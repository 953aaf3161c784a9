import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareResults, renderComparison, type CompareOptions, type Verdict } from '../src/bench/compare.js';
import { readBenchBaseline, type BenchBaseline } from '../src/bench/baseline.js';
import { UsageError } from '../src/errors.js';

function run(
  o: {
    cal?: number | null;
    tput?: number;
    p50?: number;
    p99?: number;
    ingestP50?: number;
    workerCpu?: number;
    redisRss?: number;
    redisPort?: number;
    max?: number | null;
    rate?: number;
  } = {},
): BenchBaseline {
  return {
    pipeline: ['stage1', 'stage2', 'stage3'],
    mode: 'standalone',
    calibration: o.cal === null ? null : { xaddPerSecond: o.cal ?? 100_000 },
    load: { rate: o.rate ?? 10_000 },
    throughput: { eventsPerSecond: o.tput ?? 10_000 },
    latency: [
      { stream: 'ingest', p50: o.ingestP50 ?? 1, p99: 3 },
      { stream: 'stage1', p50: 4, p99: 12 },
      { stream: 'out', p50: o.p50 ?? 10, p99: o.p99 ?? 30 },
    ],
    processes: [
      { name: 'worker stage1', cpuPercent: o.workerCpu ?? 30, rssMb: 80 },
      { name: 'bench (producer)', cpuPercent: 40, rssMb: 100 },
      { name: `redis 127.0.0.1:${o.redisPort ?? 7000} (master)`, cpuPercent: 50, rssMb: o.redisRss ?? 20 },
    ],
    ...(o.max !== undefined ? { max: { rate: o.max } } : {}),
  };
}

const verdictOf = (c: ReturnType<typeof compareResults>, name: string) =>
  c.metrics.find((m) => m.name === name)?.verdict;

type Process = BenchBaseline['processes'][number];
/** `b` with one more process. */
const plus = (b: BenchBaseline, p: Process): BenchBaseline => ({ ...b, processes: [...b.processes, p] });
const stage2 = (cpuPercent: number): Process => ({ name: 'worker stage2', cpuPercent, rssMb: 10 });

describe('compareResults: the verdict of one metric', () => {
  // Each case: the runs, the options, the metric, its relative change (null: no baseline to divide by) and its verdict.
  it.each<[string, BenchBaseline, BenchBaseline, CompareOptions, string, number | null, Verdict]>([
    [
      'a higher-is-better metric up beyond the threshold',
      run(),
      run({ tput: 12_000 }),
      {},
      'throughput',
      0.2,
      'better',
    ],
    [
      'a higher-is-better metric down beyond the threshold',
      run(),
      run({ tput: 8000 }),
      {},
      'throughput',
      -0.2,
      'worse',
    ],
    ['a lower-is-better metric up beyond the threshold', run(), run({ p50: 12 }), {}, 'p50 out', 0.2, 'worse'],
    ['a lower-is-better metric down beyond the threshold', run(), run({ p50: 8 }), {}, 'p50 out', -0.2, 'better'],
    // 25% rather than the default 10%: 10,000 / 8,000 - 1 is exactly 0.25 in floating point, 1.1 - 1 is not 0.1.
    [
      'a change exactly at the threshold',
      run({ tput: 8000 }),
      run({ tput: 10_000 }),
      { minChange: 0.25 },
      'throughput',
      0.25,
      'same within noise',
    ],
    [
      'a change just beyond the threshold',
      run({ tput: 8000 }),
      run({ tput: 10_001 }),
      { minChange: 0.25 },
      'throughput',
      0.2501,
      'better',
    ],
    [
      'a large ratio under the absolute floor',
      run(),
      run({ ingestP50: 1.4 }),
      {},
      'p50 ingest',
      0.4,
      'same within noise',
    ],
    ['a change above the floor and the threshold', run(), run({ ingestP50: 1.6 }), {}, 'p50 ingest', 0.6, 'worse'],
    // Raw -8% is within the 10%; normalised by a calibration 5% faster it is -12.4%.
    [
      'the normalised change decides, not the raw one',
      run(),
      run({ tput: 9200, cal: 105_000 }),
      {},
      'throughput',
      -0.1238,
      'worse',
    ],
    [
      'a zero baseline goes by the floor, then the direction',
      plus(run(), stage2(0)),
      plus(run(), stage2(8)),
      {},
      'cpu worker stage2',
      null,
      'worse',
    ],
    [
      'a zero baseline within the floor',
      plus(run(), stage2(0)),
      plus(run(), stage2(4)),
      {},
      'cpu worker stage2',
      null,
      'same within noise',
    ],
  ])('%s', (_, before, now, options, name, change, verdict) => {
    const m = compareResults(before, now, options).metrics.find((x) => x.name === name)!;
    if (change === null) expect(m.change).toBeNull();
    else expect(m.change).toBeCloseTo(change, 4);
    expect(m.verdict).toBe(verdict);
  });
});

describe('compareResults: the overall verdict', () => {
  // The headline metrics, in order: throughput, p50 out, p99 out, cpu total.
  it.each<[string, Parameters<typeof run>[0], Verdict[], Verdict]>([
    [
      'all the same',
      {},
      ['same within noise', 'same within noise', 'same within noise', 'same within noise'],
      'same within noise',
    ],
    [
      'one better, the rest the same',
      { tput: 13_000 },
      ['better', 'same within noise', 'same within noise', 'same within noise'],
      'better',
    ],
    [
      'one better and one worse',
      { tput: 13_000, p99: 45 },
      ['better', 'same within noise', 'worse', 'same within noise'],
      'worse',
    ],
    ['all worse', { tput: 8000, p50: 15, p99: 45, workerCpu: 50 }, ['worse', 'worse', 'worse', 'worse'], 'worse'],
  ])('%s', (_, now, headline, overall) => {
    const c = compareResults(run(), run(now));
    expect(c.metrics.filter((m) => m.headline).map((m) => m.verdict)).toEqual(headline);
    expect(c.verdict).toBe(overall);
  });
});

describe('compareResults: processes by role', () => {
  it('drops the address of a Redis node and keeps other names', () => {
    const at = (slave: string, master: string): BenchBaseline => ({
      ...run(),
      processes: [
        { name: `redis ${slave} (slave)`, cpuPercent: 10, rssMb: 20 },
        { name: `redis ${master} (master)`, cpuPercent: 50, rssMb: 20 },
        { name: 'worker stage1', cpuPercent: 30, rssMb: 80 },
        { name: 'bench (producer)', cpuPercent: 40, rssMb: 100 },
      ],
    });
    const c = compareResults(at('127.0.0.1:7003', '[::1]:6379'), at('127.0.0.1:7103', '[::1]:6479'));
    expect(c.metrics.filter((m) => m.name.startsWith('cpu ')).map((m) => m.name)).toEqual([
      'cpu total',
      'cpu redis slave',
      'cpu redis master',
      'cpu worker stage1',
      'cpu bench (producer)',
    ]);
    expect(c.metrics.every((m) => m.verdict === 'same within noise')).toBe(true);
  });
});

describe('compareResults', () => {
  it('finds two identical runs the same, metric by metric and overall', () => {
    const c = compareResults(run(), run(), { label: 'base.json' });
    expect(c.verdict).toBe('same within noise');
    expect(c.metrics.every((m) => m.verdict === 'same within noise')).toBe(true);
    expect(c.metrics.map((m) => m.name)).toEqual([
      'throughput',
      'p50 ingest',
      'p99 ingest',
      'p50 stage1',
      'p99 stage1',
      'p50 out',
      'p99 out',
      'cpu total',
      'cpu worker stage1',
      'rss worker stage1',
      'cpu bench (producer)',
      'rss bench (producer)',
      'cpu redis master',
      'rss redis master',
    ]);
    expect(c.metrics.filter((m) => m.headline).map((m) => m.name)).toEqual([
      'throughput',
      'p50 out',
      'p99 out',
      'cpu total',
    ]);
    expect(c.noise).toEqual({ minChange: 0.1, calibrationRatio: 1, threshold: 0.1 });
    expect(c.baseline).toMatchObject({ label: 'base.json', rate: 10_000, calibrationXaddPerSecond: 100_000 });
    expect(c.notes).toEqual([]);
  });

  it.each<[string, Parameters<typeof run>[0], Parameters<typeof run>[0], string, Verdict, Verdict]>([
    ['throughput 20% lower on an equally fast machine', {}, { tput: 8000 }, 'throughput', 'worse', 'worse'],
    ['throughput 30% higher', {}, { tput: 13_000 }, 'throughput', 'better', 'better'],
    [
      'throughput 8% lower: under the 10% minimum',
      {},
      { tput: 9200 },
      'throughput',
      'same within noise',
      'same within noise',
    ],
    [
      'throughput 20% lower on a machine whose calibration is 20% lower',
      {},
      { tput: 8000, cal: 80_000 },
      'throughput',
      'same within noise',
      'same within noise',
    ],
    [
      'throughput equal on a machine calibrating 30% faster: normalised -23%, within the 30% noise',
      {},
      { tput: 10_000, cal: 130_000 },
      'throughput',
      'same within noise',
      'same within noise',
    ],
    [
      'throughput 40% lower on a machine calibrating 25% faster',
      {},
      { tput: 6000, cal: 125_000 },
      'throughput',
      'worse',
      'worse',
    ],
    ['end-to-end p50 50% higher', {}, { p50: 15 }, 'p50 out', 'worse', 'worse'],
    [
      'end-to-end p99 15% higher: within twice the threshold',
      {},
      { p99: 34.5 },
      'p99 out',
      'same within noise',
      'same within noise',
    ],
    ['end-to-end p99 25% higher', {}, { p99: 37.5 }, 'p99 out', 'worse', 'worse'],
    ['end-to-end p99 25% lower', {}, { p99: 22.5 }, 'p99 out', 'better', 'better'],
    [
      'a first-hop p50 40% higher but under 0.5 ms',
      {},
      { ingestP50: 1.4 },
      'p50 ingest',
      'same within noise',
      'same within noise',
    ],
    [
      'a first-hop p50 doubled: worse, but not a headline metric',
      {},
      { ingestP50: 2 },
      'p50 ingest',
      'worse',
      'same within noise',
    ],
    [
      'Redis RSS tripled: worse, but not a headline metric',
      {},
      { redisRss: 60 },
      'rss redis master',
      'worse',
      'same within noise',
    ],
    ['worker CPU up 20 points moves the total CPU too', {}, { workerCpu: 50 }, 'cpu worker stage1', 'worse', 'worse'],
    [
      'worker CPU up 4 points: under the floor',
      {},
      { workerCpu: 34 },
      'cpu worker stage1',
      'same within noise',
      'same within noise',
    ],
    ['better throughput and worse p99 together', {}, { tput: 13_000, p99: 45 }, 'throughput', 'better', 'worse'],
    ['a higher --max rate', { max: 20_000 }, { max: 26_000 }, 'max rate', 'better', 'better'],
    ['a --max rate 5% lower', { max: 20_000 }, { max: 19_000 }, 'max rate', 'same within noise', 'same within noise'],
  ])('%s', (_, before, now, metric, metricVerdict, overall) => {
    const c = compareResults(run(before), run(now));
    expect(verdictOf(c, metric)).toBe(metricVerdict);
    expect(c.verdict).toBe(overall);
  });

  it('widens the threshold to the calibration disagreement, symmetrically', () => {
    expect(compareResults(run(), run({ cal: 125_000 })).noise.threshold).toBeCloseTo(0.25, 3);
    expect(compareResults(run(), run({ cal: 80_000 })).noise.threshold).toBeCloseTo(0.25, 3);
    expect(compareResults(run(), run({ cal: 95_000 })).noise.threshold).toBe(0.1);
  });

  it('normalises throughput by calibration only when both runs have one', () => {
    const both = compareResults(run(), run({ tput: 8000, cal: 80_000 })).metrics.find((m) => m.name === 'throughput')!;
    expect(both.normalised).toBe(true);
    expect(both.change).toBeCloseTo(0, 4);
    const one = compareResults(run(), run({ tput: 8000, cal: null }));
    const t = one.metrics.find((m) => m.name === 'throughput')!;
    expect(t.normalised).toBe(false);
    expect(t.change).toBeCloseTo(-0.2, 4);
    expect(t.verdict).toBe('worse');
    expect(one.noise).toEqual({ minChange: 0.1, calibrationRatio: null, threshold: 0.1 });
    expect(one.notes.join('\n')).toMatch(/not normalised/);
  });

  it('matches Redis nodes by role whatever their port, and sums processes of one role', () => {
    const before = run();
    const now = run({ redisPort: 7100 });
    now.processes.push({ name: 'worker stage1', cpuPercent: 30, rssMb: 80 });
    const c = compareResults(before, now);
    expect(verdictOf(c, 'cpu redis master')).toBe('same within noise');
    expect(c.metrics.find((m) => m.name === 'cpu worker stage1')).toMatchObject({
      baseline: 30,
      current: 60,
      verdict: 'worse',
    });
    expect(c.notes.join('\n')).toMatch(/worker stage1: 1 process\(es\) then 2/);
  });

  it('notes what makes the runs unlike: rates, deployments, pipelines, a --max on one side', () => {
    const before = run({ rate: 5000, max: 9000 });
    const now = run();
    now.mode = 'cluster';
    now.pipeline = ['enrich', 'detect', 'cep'];
    const notes = compareResults(before, now).notes.join('\n');
    expect(notes).toMatch(/different --rate \(5000 then 10000\)/);
    expect(notes).toMatch(/different deployments \(standalone then cluster\)/);
    expect(notes).toMatch(/pipelines differ/);
    expect(notes).toMatch(/only one run has a --max rate/);
  });

  it('renders a table with every metric, the overall verdict and the threshold', () => {
    const text = renderComparison(compareResults(run(), run({ tput: 8000 }), { label: 'base.json' }));
    expect(text).toMatch(/COMPARED WITH base\.json/);
    expect(text).toMatch(/\* throughput\s+10,000 events\/s\s+8,000 events\/s\s+-20\.0% \(normalised\)\s+worse/);
    expect(text).toMatch(/overall: worse \(noise threshold 10%/);
  });
});

describe('readBenchBaseline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streamctl-compare-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const failure = (path: string) => {
    try {
      readBenchBaseline(path);
    } catch (err) {
      return err as UsageError;
    }
    throw new Error('expected a UsageError');
  };

  it('reads a bench result and ignores fields it does not use', () => {
    const p = file('ok.json', JSON.stringify({ ...run(), lagOverTime: [], peers: [{ name: 'x' }] }));
    const b = readBenchBaseline(p);
    expect(b.throughput.eventsPerSecond).toBe(10_000);
    expect(b.latency.map((l) => l.stream)).toEqual(['ingest', 'stage1', 'out']);
  });

  it.each<[string, () => string, RegExp]>([
    ['a missing file', () => join(dir, 'nope.json'), /--compare: cannot read .*nope\.json: no such file/],
    ['a file that is not JSON', () => file('text.json', 'calibration: fast\n'), /--compare: .*text\.json is not JSON/],
    [
      'an error report',
      () => file('error.json', JSON.stringify({ error: { code: 'X', message: 'm', exitCode: 1 } })),
      /--compare: .*error\.json holds an error report, not a bench result/,
    ],
    [
      "another command's JSON",
      () => file('health.json', JSON.stringify({ status: 'ok', nodes: [] })),
      /--compare: .*health\.json is not a bench result \(no "pipeline" field\)/,
    ],
    [
      'a result with a wrong field',
      () => file('bad.json', JSON.stringify({ ...run(), throughput: { eventsPerSecond: 'fast' } })),
      /--compare: .*bad\.json is not a bench result \(throughput\.eventsPerSecond: /,
    ],
    ['a JSON array', () => file('array.json', '[]'), /--compare: .*array\.json is not a bench result \(the document: /],
  ])('rejects %s as a usage error naming the file and why', (_, path, message) => {
    const err = failure(path());
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.code).toBe('BAD_COMPARE_FILE');
    expect(err.message).toMatch(message);
    expect(err.hint).toMatch(/--compare .*bench --json FILE/);
  });
});
