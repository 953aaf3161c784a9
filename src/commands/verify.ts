import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { durationSchema } from '../duration.js';
import { renderTable } from '../table.js';
import { connectionOptions, jsonOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { audit, type AuditReport } from '../pipeline/audit.js';
import { waitDrained } from '../pipeline/backlog.js';
import { DetectionQualityTracker, type DetectionQuality } from '../workload/detection-quality.js';
import { addAlerts, AlertQualityTracker, pipelineCepRules, type AlertQuality } from '../workload/alert-quality.js';
import { EmittedReader } from '../pipeline/emitted-reader.js';
import { ALERTS } from '../pipeline/stages/cep/cep.js';
import { loadPipeline } from '../pipeline/definition.js';
import { loadRun } from '../pipeline/runs.js';
import { ensureTopology } from '../pipeline/topology.js';
import { connect, embeddedTarget } from '../cli/target.js';
import {
  deadLetterLimitSchema,
  formatDeadLetterLimit,
  overDeadLetterLimit,
  type DeadLetterLimit,
} from '../pipeline/dead-letter-limit.js';
import { readEvents } from '../embedded/events-log.js';
import { eventsNearLoss, type EventsNearLoss } from '../embedded/events-near-loss.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  run: z.string().optional().describe('Run id (default: the latest run)').meta({ valueName: 'ID' }),
  wait: durationSchema()
    .prefault('30s')
    .describe('Wait up to this long for the pipeline to drain before reconciling, e.g. 60s; 0 = no wait')
    .meta({ valueName: 'D' }),
  maxDeadLetters: deadLetterLimitSchema()
    .optional()
    .describe(
      'Fail (exit 1) when more events than this were dead-lettered: a count (0) or a share of the produced (1%)',
    )
    .meta({ valueName: 'N|P%' }),
  trace: z
    .boolean()
    .default(false)
    .describe('Also list the trace ids of a few traced batches of the run at the sink, to look up in Jaeger'),
  ...jsonOption,
});

/** Traced batches listed by `--trace` (all are counted). */
const TRACES_LISTED = 5;

/** A batch at the sink that carries a trace context: where it is, and the trace to look up. */
interface TracedBatch {
  stream: string;
  id: string;
  traceId: string;
  events: number;
}

/** Deployment events read from the log when a loss is explained: the log is short, a few per incident. */
const EVENTS_READ = 10_000;

/**
 * The shape of `streamctl verify --json`: the audit, the detection quality when the events carry
 * ground truth (and the alerts' quality per rule when the pipeline has a cep stage), the dead-letter limit when one was given, the embedded deployment's events near
 * a loss, and the warnings printed with the text report.
 */
type VerifyReport = AuditReport & {
  quality?: DetectionQuality;
  alerts?: AlertQuality;
  maxDeadLetters?: string;
  deadLetterLimitExceeded?: boolean;
  deploymentEvents?: EventsNearLoss;
  warnings: string[];
  /** `--trace`: how many of the run's batches at the sink carry a trace context, and a few of them. */
  traces?: { batches: number; listed: TracedBatch[] };
};

const percent = (share: number) => `${Number((100 * share).toPrecision(3))}%`;
/** A share with what it is of: `0.93 (120/129)`, `-` of nothing. */
const share = (value: number, part: number, whole: number) => (whole ? `${value.toFixed(2)} (${part}/${whole})` : '-');
const time = (ms: number) => new Date(ms).toISOString();

/** The warnings and failure reasons a report reads as: what is undelivered and where, dead letters. */
function findings(r: AuditReport, limit: DeadLetterLimit | undefined, exceeded: boolean): string[] {
  const out: string[] = [];
  for (const s of r.undeliveredByStage) {
    out.push(
      `${s.undelivered.toLocaleString('en')} events are undelivered, not lost: still in the input of stage ${s.stage}, ` +
        (s.liveWorkers
          ? `which has ${s.liveWorkers} live worker(s); verify again with a longer --wait`
          : `which has no live worker; start one (\`streamctl worker --stage ${s.stage}\`) and verify again`),
    );
  }
  if (r.deadLettered > 0) {
    out.push(
      `${r.deadLettered.toLocaleString('en')} of ${r.produced.toLocaleString('en')} events (${percent(r.deadLetterShare)}) ` +
        `were dead-lettered${exceeded && limit ? `, over --max-dead-letters ${formatDeadLetterLimit(limit)}` : ''}; ` +
        'see `streamctl dlq list`',
    );
  }
  return out;
}

function render(r: VerifyReport): string {
  const lines = [
    `run ${r.run} (producer ${r.producer}): ${r.ok ? 'OK' : 'FAILED'}${r.drained ? '' : ' (pipeline not drained)'}`,
    renderTable(
      [
        'PRODUCED',
        'DELIVERED',
        'LOST',
        'UNDELIVERED',
        'DUPLICATES',
        'UNEXPECTED',
        'OUT-OF-ORDER KEYS',
        'DEAD-LETTERED',
        'UNKNOWN',
      ],
      [
        [
          r.produced,
          r.delivered,
          r.lost,
          r.undelivered,
          r.duplicates,
          r.unexpected,
          r.outOfOrderKeys,
          r.deadLettered,
          r.unknown,
        ].map((v) => v.toLocaleString('en')),
      ],
    ),
  ];
  if (r.quality) {
    const q = r.quality;
    lines.push(
      '',
      `detection: precision ${q.precision}  recall ${q.recall}  F1 ${q.f1}  (${q.anomalies} anomalies, ${q.flagged} flagged, of ${q.events} events, every one counted)`,
      ...Object.entries(q.bySource).map(
        ([name, s]) =>
          `  scored by ${name === 'zscore' ? 'the z-score fallback (no model yet, or the key warming up)' : 'the forest'}: ${s.events} events, ${s.anomalies} anomalies, precision ${s.precision}  recall ${s.recall}  ROC AUC ${s.auc}`,
      ),
      `unscored (a key's first value, or one before its type's spread was known): ${q.unscored} events, ${q.unscoredAnomalies} of them anomalies (counted as missed)`,
      `recall by kind: ${Object.entries(q.recallByKind)
        .map(([k, v]) => `${k} ${v.recall} (${v.detected}/${v.anomalies})`)
        .join(', ')}`,
    );
  }
  if (r.alerts) {
    const a = r.alerts;
    lines.push(
      '',
      'alerts by rule, against the ground truth (precision: of its alerts; coverage: of the anomaly episodes it is for):',
      renderTable(
        ['RULE', 'ALERTS', 'PRECISION', 'COVERAGE', 'FOR'],
        a.rules.map((q) => [
          q.rule,
          q.alerts.toLocaleString('en'),
          share(q.precision, q.trueAlerts, q.alerts),
          share(q.coverage, q.covered, q.episodes),
          q.for?.join(', ') ?? 'every kind',
        ]),
      ),
      `episodes covered by any rule: ${share(a.coverage, a.covered, a.episodes)}` +
        (Object.keys(a.unaimed).length
          ? ` of the kinds the rules are for; no rule is for ${Object.entries(a.unaimed)
              .map(([kind, n]) => `${kind} (${n.toLocaleString('en')} episodes)`)
              .join(', ')}: the anomaly flag reports them`
          : '') +
        (a.otherRuns ? `; ${a.otherRuns.toLocaleString('en')} alerts of other runs not counted` : ''),
    );
  }
  if (r.lostRanges.length) {
    lines.push(`lost seqs: ${r.lostRanges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')}`);
    lines.push(...renderEvents(r.deploymentEvents));
  }
  if (r.traces) {
    lines.push(
      '',
      r.traces.batches
        ? `traced: ${r.traces.batches.toLocaleString('en')} batch(es) at the sink carry a trace; look these up in Jaeger:`
        : 'traced: no batch of this run at the sink carries a trace (run produce with --trace-sample, or OTEL_EXPORTER_OTLP_ENDPOINT set)',
    );
    if (r.traces.listed.length)
      lines.push(
        renderTable(
          ['TRACE ID', 'EVENTS', 'SINK ENTRY'],
          r.traces.listed.map((t) => [t.traceId, String(t.events), `${t.stream} ${t.id}`]),
        ),
      );
  }
  if (r.warnings.length) lines.push('', ...r.warnings.map((w) => `warning: ${w}`));
  lines.push(
    '',
    renderTable(
      ['STAGE', 'PENDING', 'LAG'],
      r.pending.map((p) => [p.stage, String(p.pending), String(p.lag)]),
    ),
  );
  return `${lines.join('\n')}\n`;
}

/** The deployment events beside the lost seqs, or why there are none to show. */
function renderEvents(near: EventsNearLoss | undefined): string[] {
  if (!near) return ['(the target is not a running embedded deployment: no event log to set the loss against)'];
  const span = `${time(near.from)} to ${time(near.to)}`;
  const head =
    near.basis === 'sent'
      ? `deployment events near the lost seqs' send times (${span}):`
      : `the lost seqs could not be dated; deployment events during the run (${span}):`;
  if (!near.events.length) return [`${head} none`];
  return [
    head,
    ...near.events.map(
      (e) => `  ${e.time}  ${e.kind}  ${e.process}${e.pid ? ` (pid ${e.pid})` : ''}${e.reason ? `: ${e.reason}` : ''}`,
    ),
  ];
}

export default defineCommand({
  name: 'verify',
  description:
    'Audit a produce run: reconcile what the producer appended with what reached the sink and the ' +
    'dead-letter streams. Exit 1 when anything was lost, duplicated or is still undelivered, or when ' +
    'more events than --max-dead-letters were dead-lettered.',
  examples: [
    'streamctl verify',
    'streamctl verify --run lq3k2-a1b2c3 --wait 60s --json',
    'streamctl verify --max-dead-letters 0.1%',
  ],
  options,
  async run(opts, io) {
    const { definition } = loadPipeline(opts.pipeline, io.cwd);
    const conn = await connect(opts, io);
    try {
      const client = conn.client();
      const topology = await ensureTopology(client, opts.namespace, definition.stages);
      let run = await loadRun(client, topology.keys, opts.run);
      // The run must have ended, and every stage caught up, for what is missing to count as lost.
      await waitDrained(client, topology, {
        timeoutMs: opts.wait,
        intervalMs: 250,
        signal: io.signal,
        ready: async () => (run = await loadRun(client, topology.keys, run.id)).status !== 'running',
        progress: io.stderr,
      });
      const quality = new DetectionQualityTracker();
      const rules = pipelineCepRules(definition);
      const alertQuality = rules ? new AlertQualityTracker(rules, run.producer) : undefined;
      const traced: TracedBatch[] = [];
      let tracedCount = 0;
      const audited = await audit(client, topology, run, {
        // Each event's truth is read once, for the detection and the alerts alike.
        onDelivered: (e) => alertQuality?.addTruth(e.seq, quality.add(e.data)),
        ...(opts.trace
          ? {
              onTraced: (t: { stream: string; id: string; traceparent: string; events: number }) => {
                tracedCount++;
                if (traced.length < TRACES_LISTED)
                  traced.push({
                    stream: t.stream,
                    id: t.id,
                    traceId: t.traceparent.split('-')[1] ?? '',
                    events: t.events,
                  });
              },
            }
          : {}),
      });
      const q = quality.result();
      if (alertQuality) await addAlerts(alertQuality, new EmittedReader(client, topology.keys, ALERTS));
      const aq = alertQuality?.result();
      const limit = opts.maxDeadLetters;
      const exceeded = limit ? overDeadLetterLimit(limit, audited.deadLettered, audited.produced) : false;
      const embedded = audited.lost > 0 ? embeddedTarget(opts, io) : undefined;
      const report: VerifyReport = {
        ...audited,
        ok: audited.ok && !exceeded,
        ...(q ? { quality: q } : {}),
        ...(aq ? { alerts: aq } : {}),
        ...(limit ? { maxDeadLetters: formatDeadLetterLimit(limit), deadLetterLimitExceeded: exceeded } : {}),
        ...(embedded
          ? { deploymentEvents: eventsNearLoss(audited.lostWindows, run, readEvents(embedded.home, EVENTS_READ)) }
          : {}),
        warnings: findings(audited, limit, exceeded),
        ...(opts.trace ? { traces: { batches: tracedCount, listed: traced } } : {}),
      };
      io.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
      return report.ok ? 0 : 1;
    } finally {
      await conn.close();
    }
  },
});
