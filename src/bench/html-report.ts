/**
 * `bench --html FILE`: one bench result as a self-contained HTML page. Charts are inline SVG with
 * inline CSS and no script, so the file opens offline, from a mail attachment or a CI artefact,
 * and references nothing outside itself.
 */
import type { Comparison } from './compare.js';
import type { MaxRateResult } from './max-rate.js';
import type { BenchResult } from './result.js';
import { barChart, COLORS, escapeHtml, htmlPage, lineChart, num, section, table } from './html-page.js';

function maxSection(max: MaxRateResult): string {
  const found =
    max.rate === null
      ? 'no sustainable rate found'
      : `highest sustainable rate ${num(max.rate)} events/s (achieved ${num(max.achievedRate ?? 0)}/s)`;
  const summary = `<p>${escapeHtml(found)}; first unsustainable ${max.firstUnsustainable === null ? 'none found' : `${num(max.firstUnsustainable)} events/s`}; stopped by ${escapeHtml(max.stoppedBy)} after ${num(max.elapsedMs / 1000, 1)} s of a ${num(max.budgetMs / 1000, 1)} s budget (steps of ${num(max.stepMs / 1000, 1)} s, grace ${num(max.graceMs / 1000, 1)} s).</p>`;
  const chart = lineChart({
    title: 'Rate per step',
    xLabel: 'step',
    yLabel: 'events/s',
    series: [
      { name: 'intended rate', color: COLORS[0]!, dashed: true, points: max.steps.map((s, i) => [i + 1, s.rate]) },
      { name: 'achieved rate', color: COLORS[2]!, points: max.steps.map((s, i) => [i + 1, s.achievedRate]) },
    ],
  });
  const rows = max.steps.map((s, i) => [
    i + 1,
    s.phase,
    s.rate,
    s.achievedRate,
    s.sent,
    s.peakLag,
    s.endLag,
    s.drainMs === null ? 'not within grace' : `${num(s.drainMs)} ms`,
    s.sustainable ? 'yes' : `no (${s.reason})`,
  ]);
  return section(
    'Highest sustainable rate (--max)',
    summary +
      chart +
      table(
        ['STEP', 'PHASE', 'RATE', 'ACHIEVED', 'EVENTS', 'PEAK LAG', 'END LAG', 'DRAINED', 'SUSTAINABLE'],
        rows,
        max.steps.map((s) => (s.sustainable ? 'good' : 'bad')),
      ),
  );
}

function comparisonSection(c: Comparison): string {
  const rows = c.metrics.map((m) => [
    `${m.headline ? '* ' : ''}${m.name}`,
    `${num(m.baseline)} ${m.unit}`,
    `${num(m.current)} ${m.unit}`,
    m.change === null
      ? 'n/a'
      : `${m.change >= 0 ? '+' : ''}${num(m.change * 100, 1)}%${m.normalised ? ' (normalised)' : ''}`,
    m.verdict,
  ]);
  const cls = c.metrics.map((m) => (m.verdict === 'worse' ? 'bad' : m.verdict === 'better' ? 'good' : undefined));
  const head = `<p>Against ${escapeHtml(c.baseline.label)}: <strong class="${c.verdict === 'worse' ? 'bad' : c.verdict === 'better' ? 'good' : ''}">${escapeHtml(c.verdict)}</strong>. Noise threshold ${num(c.noise.threshold * 100, 1)}% (at least ${num(c.noise.minChange * 100, 1)}%, ${c.noise.calibrationRatio === null ? 'no calibration ratio' : `calibration ratio ${num(c.noise.calibrationRatio)}`}; p99 twice that). * = decides the overall verdict.</p>`;
  const notes = c.notes.length ? `<ul>${c.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>` : '';
  return section(
    'Comparison (--compare)',
    head + table(['METRIC', 'BEFORE', 'NOW', 'CHANGE', 'VERDICT'], rows, cls) + notes,
  );
}

/**
 * Renders a bench result as a self-contained HTML page (pure): latency over time and per hop,
 * throughput and lag over time, the `--max` search and the `--compare` verdict when present,
 * calibration, processes and the audit.
 */
export function renderHtmlReport(r: BenchResult, o: { generatedAt?: string } = {}): string {
  const hops = r.latency;
  const last = hops[hops.length - 1];
  const ok = r.audit.lost === 0 && r.audit.duplicates === 0;
  const cards = [
    ['end-to-end throughput', `${num(r.throughput.eventsPerSecond)} ev/s`],
    ['achieved send rate', `${num(r.load.achievedSendRate)} ev/s`],
    ...(last ? [[`p50 / p99 at ${last.stream}`, `${num(last.p50)} / ${num(last.p99)} ms`]] : []),
    ...(r.max ? [['max sustainable rate', r.max.rate === null ? 'none' : `${num(r.max.rate)} ev/s`]] : []),
    ...(r.comparison ? [['vs baseline', r.comparison.verdict]] : []),
    ['audit', ok ? 'no loss, no duplicates' : `lost ${num(r.audit.lost)}, duplicates ${num(r.audit.duplicates)}`],
  ];

  const latencyOverTime = lineChart({
    title: 'Latency over time (p50 solid, p99 dashed), by intended send time',
    xLabel: 'seconds since the first event',
    yLabel: 'ms (log)',
    log: true,
    series: hops.flatMap((h, i) => [
      {
        name: `${h.stream} p50`,
        color: COLORS[i % COLORS.length]!,
        points: (h.overTime ?? []).map((w) => [w.t, w.p50] as [number, number]),
      },
      {
        name: `${h.stream} p99`,
        color: COLORS[i % COLORS.length]!,
        dashed: true,
        points: (h.overTime ?? []).map((w) => [w.t, w.p99] as [number, number]),
      },
    ]),
  });
  const labels = ['p50', 'p90', 'p99', 'p99.9', 'max'];
  const percentiles = barChart({
    title: 'Latency percentiles per hop',
    categories: labels,
    xLabel: 'percentile',
    yLabel: 'ms (log)',
    log: true,
    series: hops.map((h, i) => ({
      name: h.stream,
      color: COLORS[i % COLORS.length]!,
      values: [h.p50, h.p90, h.p99, h.p999, h.max],
    })),
  });
  const latencyTable = table(
    ['HOP', 'EVENTS', 'P50', 'P90', 'P99', 'P99.9', 'MAX', 'MEAN'],
    hops.map((h) => [h.stream, h.events, h.p50, h.p90, h.p99, h.p999, h.max, h.mean]),
  );
  const throughput = lineChart({
    title: 'Events committed per second at each hop',
    xLabel: 'seconds since the first event',
    yLabel: 'events/s',
    series: hops.map((h, i) => ({
      name: h.stream,
      color: COLORS[i % COLORS.length]!,
      points: (h.commitsOverTime ?? []).map((w) => [w.t, w.events] as [number, number]),
    })),
  });
  const lag = lineChart({
    title: 'Pipeline lag over time',
    xLabel: 'seconds since the load started',
    yLabel: 'entries behind (all stages)',
    series: [
      {
        name: 'lag + pending entries',
        color: COLORS[3]!,
        points: r.lagOverTime.map((s) => [s.t / 1000, s.lag] as [number, number]),
      },
    ],
  });
  const cal = r.calibration
    ? table(
        ['MEASURE', 'VALUE'],
        [
          ['XADD, our client, pipelined (events/s)', r.calibration.xaddPerSecond],
          ['XADD, redis-benchmark -P 32 (events/s)', r.calibration.redisBenchmarkXaddPerSecond ?? 'n/a'],
          ['round trip (ms)', r.calibration.pingMs],
        ],
      )
    : '<p class="empty">not calibrated (--no-calibrate)</p>';
  const processes = table(
    ['PROCESS', 'PID', 'CPU %', 'RSS MB'],
    r.processes.map((p) => [p.name, p.pid ?? '-', p.cpuPercent < 0 ? '-' : p.cpuPercent, p.rssMb < 0 ? '-' : p.rssMb]),
  );
  const audit = table(
    ['CHECK', 'VALUE'],
    [
      ['sent', r.load.sent],
      ['delivered', r.audit.delivered],
      ['lost', r.audit.lost],
      ['duplicates', r.audit.duplicates],
      ['out-of-order keys', r.audit.outOfOrderKeys],
      ['drained', r.throughput.drained ? 'yes' : 'no'],
    ],
    [
      undefined,
      undefined,
      r.audit.lost ? 'bad' : undefined,
      r.audit.duplicates ? 'bad' : undefined,
      r.audit.outOfOrderKeys ? 'bad' : undefined,
      r.throughput.drained ? undefined : 'bad',
    ],
  );

  const title = `streamctl bench: ${r.pipeline.join(' -> ')} (${r.mode})`;
  const load = `namespace ${r.namespace}; ${num(r.load.sent)} events at ${num(r.load.rate)}/s open loop over ${num(r.load.sendSeconds, 2)} s; end to end ${num(r.throughput.endToEndSeconds, 2)} s${o.generatedAt ? `; ${o.generatedAt}` : ''}`;
  return htmlPage({
    title,
    meta: load,
    cards: cards as [string, string][],
    body: `${section('Latency over time', latencyOverTime)}
${section('Latency per hop (ms, from intended send time to commit)', percentiles + latencyTable)}
${section('Throughput over time', throughput)}
${section('Lag over time', lag)}
${r.max ? maxSection(r.max) : ''}
${r.comparison ? comparisonSection(r.comparison) : ''}
${section('Calibration', cal)}
${section('Processes', processes)}
${section('Audit', `<p class="${ok ? 'good' : 'bad'}">${ok ? 'no loss, no duplicates' : 'events were lost or duplicated'}</p>${audit}`)}
`,
  });
}
