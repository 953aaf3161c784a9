import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { durationSchema } from '../duration.js';
import { renderTable } from '../table.js';
import { connectionOptions, jsonOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { audit, type AuditReport } from '../pipeline/audit.js';
import { waitDrained } from '../pipeline/backlog.js';
import { DetectionQualityTracker, type DetectionQuality } from '../workload/detection-quality.js';
import { loadPipeline } from '../pipeline/definition.js';
import { loadRun } from '../pipeline/runs.js';
import { ensureTopology } from '../pipeline/topology.js';
import { connect } from '../cli/target.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  run: z.string().optional().describe('Run id (default: the latest run)').meta({ valueName: 'ID' }),
  wait: durationSchema()
    .prefault('30s')
    .describe('Wait up to this long for the pipeline to drain before reconciling, e.g. 60s; 0 = no wait')
    .meta({ valueName: 'D' }),
  ...jsonOption,
});

/** The shape of `streamctl verify --json`: the audit, and the detection quality when the events carry ground truth. */
type VerifyReport = AuditReport & { quality?: DetectionQuality };

function render(r: VerifyReport): string {
  const lines = [
    `run ${r.run} (producer ${r.producer}): ${r.ok ? 'OK' : 'FAILED'}${r.drained ? '' : ' (pipeline not drained)'}`,
    renderTable(
      ['PRODUCED', 'DELIVERED', 'LOST', 'DUPLICATES', 'UNEXPECTED', 'OUT-OF-ORDER KEYS', 'DEAD-LETTERED', 'UNKNOWN'],
      [
        [r.produced, r.delivered, r.lost, r.duplicates, r.unexpected, r.outOfOrderKeys, r.deadLettered, r.unknown].map(
          (v) => v.toLocaleString('en'),
        ),
      ],
    ),
  ];
  if (r.quality) {
    const q = r.quality;
    lines.push(
      '',
      `detection: precision ${q.precision}  recall ${q.recall}  F1 ${q.f1}  ROC AUC ${q.auc}  (${q.anomalies} anomalies, ${q.flagged} flagged, of ${q.events} events)`,
      `unscored (key warming up or no model yet): ${q.unscored} events, ${q.unscoredAnomalies} of them anomalies (counted as missed)`,
      `recall by kind: ${Object.entries(q.recallByKind)
        .map(([k, v]) => `${k} ${v.recall} (${v.detected}/${v.anomalies})`)
        .join(', ')}`,
    );
  }
  if (r.lostRanges.length)
    lines.push(`lost seqs: ${r.lostRanges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')}`);
  lines.push(
    '',
    renderTable(
      ['STAGE', 'PENDING', 'LAG'],
      r.pending.map((p) => [p.stage, String(p.pending), String(p.lag)]),
    ),
  );
  return `${lines.join('\n')}\n`;
}

export default defineCommand({
  name: 'verify',
  description:
    'Audit a produce run: reconcile what the producer appended with what reached the sink and the ' +
    'dead-letter streams. Exit 1 when anything was lost or duplicated.',
  examples: ['streamctl verify', 'streamctl verify --run lq3k2-a1b2c3 --wait 60s --json'],
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
      const audited = await audit(client, topology, run, { onDelivered: (e) => quality.add(e.data) });
      const q = quality.result();
      const report: VerifyReport = { ...audited, ...(q ? { quality: q } : {}) };
      io.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : render(report));
      return report.ok ? 0 : 1;
    } finally {
      await conn.close();
    }
  },
});
