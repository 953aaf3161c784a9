import { formatDuration } from '../../duration.js';
import { renderTable } from '../../table.js';
import { VERDICT_EXIT } from './runner.js';
import type { SplitBrain } from './split-brain.js';
import type { ScenarioReport } from './live-run.js';

const n = (v: number | undefined, digits = 1) =>
  v === undefined ? '-' : v.toLocaleString('en', { maximumFractionDigits: digits });
const time = (ms: number | undefined) => (ms === undefined ? 'never' : formatDuration(ms));
const at = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** A scenario's report as text: verdict, timeline, phases, audit, gates, alerts, and the run second by second. */
export function renderScenarioReport(r: ScenarioReport): string {
  const out: string[] = [];
  out.push(`scenario ${r.name}: ${r.verdict.toUpperCase()} (exit ${VERDICT_EXIT[r.verdict]})`);
  out.push(`  ${r.reason}`);
  out.push(
    `load ${n(r.load.rate, 0)}/s for ${formatDuration(r.load.duration)} over ${n(r.load.keys, 0)} keys; run ${r.runId} from ${r.startedAt}; ${r.target.embedded ? 'embedded deployment' : r.target.source} ${r.target.urls[0] ?? ''}${r.target.urls.length > 1 ? ` and ${r.target.urls.length - 1} more` : ''}`,
  );
  out.push('', 'TIMELINE');
  out.push(
    renderTable(
      ['AT', 'WHAT', ''],
      r.timeline.map((e) => [at(e.atMs), e.kind, e.text]),
    ),
  );
  const p = r.phases;
  out.push('', 'PHASES');
  out.push(
    renderTable(
      ['', 'STEADY', 'DURING', 'AFTER'],
      [
        ['from', at(p.steady.fromMs), at(p.during.fromMs), at(p.after.fromMs)],
        ['p99 ms (worst second)', n(p.steady.p99), n(p.during.p99), n(p.after.p99)],
        ['sink events/s', n(p.steady.throughput, 0), n(p.during.throughput, 0), n(p.after.throughput, 0)],
        ['largest backlog', n(p.steady.lag, 0), n(p.during.lag, 0), n(p.after.lag, 0)],
      ],
    ),
  );
  const f = r.final;
  out.push('', 'DATA');
  if (!f) out.push('  not measured');
  else {
    out.push(
      `  produced ${n(f.produced, 0)}  delivered ${n(f.delivered, 0)}  lost ${n(f.lost, 0)}  duplicates ${n(f.duplicates, 0)}  undelivered ${n(f.undelivered, 0)}  dead-lettered ${n(f.deadLettered, 0)}`,
    );
    out.push(
      `  unavailability ${time(r.unavailabilityMs)} (the longest time with no commit at the sink)   recovery ${time(r.recoveryMs)} (from the first fault until the sink is back at 90% of its steady rate with a steady backlog)`,
    );
    const pr = r.producer;
    out.push(
      `  producer: sent ${n(pr.sent, 0)}, acked ${n(pr.acked, 0)}, appends retried ${n(pr.errors, 0)}, retries that had landed ${n(pr.deduplicated, 0)}, given up ${n(pr.failed, 0)}`,
    );
    out.push(
      `  workers' reference lookups: breaker opened ${n(r.lookups.breakerOpened, 0)} time(s), ${n(r.lookups.failures, 0)} failed, ${n(r.lookups.degraded, 0)} fields answered degraded`,
    );
    if (f.lost > 0 && r.audit) {
      out.push(
        `  lost seqs: ${r.audit.lostRanges
          .slice(0, 20)
          .map(([a, b]) => (a === b ? String(a) : `${a}-${b}`))
          .join(', ')}`,
      );
      if (r.nearLoss?.events.length) {
        out.push(
          `  deployment events beside them (${new Date(r.nearLoss.from).toISOString()} to ${new Date(r.nearLoss.to).toISOString()}):`,
        );
        for (const e of r.nearLoss.events)
          out.push(`    ${e.time}  ${e.kind}  ${e.process}${e.reason ? `: ${e.reason}` : ''}`);
      }
    }
  }
  if (r.splitBrain) out.push('', 'SPLIT BRAIN', ...splitBrainLines(r.splitBrain));
  out.push('', 'GATES');
  const shown = r.gates.filter((g) => g.phase !== 'during' || !g.ok);
  const during = r.gates.filter((g) => g.phase === 'during');
  if (during.length)
    out.push(`  during: ${during.length} checks, ${during.filter((g) => !g.ok).length} failed (listed below)`);
  out.push(
    shown.length
      ? renderTable(
          ['PHASE', 'METRIC', 'EXPECTED', 'VALUE', 'AT', 'RESULT'],
          shown.map((g) => [
            g.phase,
            g.metric,
            g.expect,
            g.value === null ? 'not measured' : String(g.value),
            at(g.atMs),
            g.ok ? 'ok' : g.abort ? 'FAILED (abort)' : 'FAILED',
          ]),
        )
      : '  none',
  );
  const rules = Object.entries(r.alerts.byRule)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  out.push('', `ALERTS  ${n(r.alerts.count, 0)} raised during the run${rules ? ` (${rules})` : ''}`);
  out.push('', 'PER SECOND (sink events committed, p99 of the events sent that second, backlog sampled)');
  out.push(
    renderTable(
      ['T', 'SINK EV/S', 'P99 MS', 'BACKLOG'],
      r.seconds.map((x) => [`${x.t}s`, n(x.throughput, 0), n(x.p99), n(x.lag, 0)]),
    ),
  );
  return `${out.join('\n')}\n`;
}

/** The resilience table of `chaos run --scenario all`: one row per scenario. */
export function renderResilienceTable(reports: ScenarioReport[]): string {
  return `${renderTable(
    ['SCENARIO', 'VERDICT', 'LOST', 'DUPLICATES', 'UNAVAILABILITY', 'RECOVERY', 'P99 STEADY', 'P99 DURING', 'WHY'],
    reports.map((r) => [
      r.name,
      r.verdict,
      n(r.final?.lost, 0),
      n(r.final?.duplicates, 0),
      time(r.unavailabilityMs),
      time(r.recoveryMs),
      `${n(r.phases.steady.p99)} ms`,
      `${n(r.phases.during.p99)} ms`,
      r.verdict === 'passed' ? '' : r.reason,
    ]),
  )}\n`;
}

/** The partition's account, in words. */
export function splitBrainLines(b: SplitBrain): string[] {
  const sec = (ms: number | undefined) => (ms === undefined ? '?' : at(ms));
  return [
    `  ${b.node} cut off from the other nodes at ${sec(b.cutAtMs)}; flagged failed by the majority ${b.seenAfterMs === undefined ? 'never (the result does not count)' : `${sec(b.seenAfterMs)} later`}; healed at ${sec(b.healedAtMs)}${b.rejoined ? `: ${b.rejoined}` : ''}`,
    b.lost === 0
      ? `  acknowledged writes lost: none${b.durable ? ' (durable appends: a write no replica held was not acknowledged)' : ''}`
      : `  acknowledged writes lost: ${n(b.lost, 0)}${b.lostSentMs ? `, sent from ${sec(b.lostSentMs[0])} to ${sec(b.lostSentMs[1])} after the cut: the window in which the cut-off primary still took writes` : ''}${b.durable ? ' (with durable appends: none may be, this is a defect)' : ' (asynchronous replication: `--durable` prevents it)'}`,
  ];
}
