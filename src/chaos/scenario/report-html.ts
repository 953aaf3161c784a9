import { splitBrainLines } from './report-text.js';
import { COLORS, escapeHtml, htmlPage, lineChart, num, section, table } from '../../bench/html-page.js';
import { formatDuration } from '../../duration.js';
import type { ScenarioReport } from './live-run.js';
import { VERDICT_EXIT } from './runner.js';

const time = (ms: number | undefined) => (ms === undefined ? 'never' : formatDuration(ms));

/**
 * A scenario's report as a self-contained HTML page (pure), in the style of `bench --html`: the
 * verdict, throughput, p99 and backlog per second with the faults marked, the timeline, the gates,
 * the audit and the alerts.
 */
export function renderScenarioHtml(r: ScenarioReport, o: { generatedAt?: string } = {}): string {
  const f = r.final;
  const cards: [string, string][] = [
    ['verdict', `${r.verdict} (exit ${VERDICT_EXIT[r.verdict]})`],
    ['lost / duplicates', f ? `${num(f.lost)} / ${num(f.duplicates)}` : 'not measured'],
    ['unavailability', time(r.unavailabilityMs)],
    ['recovery', time(r.recoveryMs)],
    ['p99 steady / during', `${num(r.phases.steady.p99 ?? NaN)} / ${num(r.phases.during.p99 ?? NaN)} ms`],
  ];
  const faultMarks = r.timeline.filter((e) => e.kind === 'fault' || e.kind === 'abort');
  const marks = (values: number[]) => {
    const top = Math.max(1, ...values);
    return {
      name: 'faults and aborts',
      color: COLORS[3]!,
      dashed: true,
      points: faultMarks.flatMap((e) => [
        [e.atMs / 1000, 0] as [number, number],
        [e.atMs / 1000, top] as [number, number],
      ]),
    };
  };
  const sinkValues = r.seconds.map((x) => x.throughput);
  const throughput = lineChart({
    title: 'Events committed at the sink per second',
    xLabel: 'seconds since the start of the load',
    yLabel: 'events/s',
    series: [
      { name: 'sink', color: COLORS[0]!, points: r.seconds.map((x) => [x.t, x.throughput] as [number, number]) },
      marks(sinkValues),
    ],
  });
  const p99 = lineChart({
    title: 'p99 latency of the events sent each second',
    xLabel: 'seconds since the start of the load',
    yLabel: 'ms (log)',
    log: true,
    series: [
      {
        name: 'p99',
        color: COLORS[1]!,
        points: r.seconds.filter((x) => x.p99 !== undefined).map((x) => [x.t, x.p99!] as [number, number]),
      },
    ],
  });
  const lag = lineChart({
    title: 'Backlog (entries waiting or pending over every stage)',
    xLabel: 'seconds since the start of the load',
    yLabel: 'entries',
    series: [
      {
        name: 'backlog',
        color: COLORS[2]!,
        points: r.seconds.filter((x) => x.lag !== undefined).map((x) => [x.t, x.lag!] as [number, number]),
      },
      marks(r.seconds.map((x) => x.lag ?? 0)),
    ],
  });
  const timeline = table(
    ['AT', 'WHAT', ''],
    r.timeline.map((e) => [`${(e.atMs / 1000).toFixed(1)} s`, e.kind, e.text]),
  );
  const p = r.phases;
  const phases = table(
    ['', 'STEADY', 'DURING', 'AFTER'],
    [
      ['p99 ms (worst second)', p.steady.p99 ?? '-', p.during.p99 ?? '-', p.after.p99 ?? '-'],
      ['sink events/s', p.steady.throughput ?? '-', p.during.throughput ?? '-', p.after.throughput ?? '-'],
      ['largest backlog', p.steady.lag ?? '-', p.during.lag ?? '-', p.after.lag ?? '-'],
    ],
  );
  const gates = table(
    ['PHASE', 'METRIC', 'EXPECTED', 'VALUE', 'RESULT'],
    r.gates
      .filter((g) => g.phase !== 'during' || !g.ok)
      .map((g) => [
        g.phase,
        g.metric,
        g.expect,
        g.value === null ? 'not measured' : String(g.value),
        g.ok ? 'ok' : 'FAILED',
      ]),
    r.gates.filter((g) => g.phase !== 'during' || !g.ok).map((g) => (g.ok ? 'good' : 'bad')),
  );
  const data = f
    ? table(
        ['PRODUCED', 'DELIVERED', 'LOST', 'DUPLICATES', 'UNDELIVERED', 'DEAD-LETTERED'],
        [[f.produced, f.delivered, f.lost, f.duplicates, f.undelivered, f.deadLettered]],
      ) +
      (f.lost > 0 && r.nearLoss?.events.length
        ? `<p>Deployment events beside the lost events:</p>${table(
            ['TIME', 'EVENT', 'PROCESS', ''],
            r.nearLoss.events.map((e) => [e.time, e.kind, e.process, e.reason ?? '']),
          )}`
        : '')
    : '<p class="empty">not measured</p>';
  const alerts = `<p>${escapeHtml(
    `${r.alerts.count} alerts raised during the run${
      Object.keys(r.alerts.byRule).length
        ? `: ${Object.entries(r.alerts.byRule)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`
        : ''
    }`,
  )}</p>`;
  return htmlPage({
    title: `chaos run ${r.name}: ${r.verdict}`,
    meta: `${r.reason}. Load ${r.load.rate}/s for ${formatDuration(r.load.duration)} over ${r.load.keys} keys; run ${r.runId} from ${r.startedAt}${o.generatedAt ? `; ${o.generatedAt}` : ''}`,
    cards,
    body: `${section('Throughput at the sink', throughput)}
${section('Latency', p99)}
${section('Backlog', lag)}
${section('Timeline', timeline)}
${section('Phases', phases)}
${section('Gates', gates)}
${section('Data', data)}
${
  r.splitBrain
    ? section(
        'Split brain',
        `<p>${splitBrainLines(r.splitBrain)
          .map((l) => escapeHtml(l.trim()))
          .join('<br>')}</p>`,
      )
    : ''
}
${section('Alerts', alerts)}
`,
  });
}
