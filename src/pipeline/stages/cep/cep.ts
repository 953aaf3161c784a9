import { UsageError } from '../../../errors.js';
import type { Stage } from '../../stage.js';
import { CepEngine } from './engine.js';
import type { CepEvent } from './event.js';
import { isMetricRecord, recordCepFields } from '../metric-record.js';
import { cepRulesSchema, DEFAULT_RULES, type CepRule } from './rules.js';

/** The stream of each partition where alerts go. */
export const ALERTS = 'alerts';

/**
 * The rules of a cep stage from its params: `params.rules`, or the defaults without them.
 * @throws UsageError PIPELINE_INVALID naming the rule field and the problem.
 */
export function cepRules(params: Record<string, unknown>): readonly CepRule[] {
  if (params.rules === undefined) return DEFAULT_RULES;
  const r = cepRulesSchema.safeParse(params.rules);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = ['params', 'rules', ...issue.path]
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .slice(1);
  throw new UsageError(
    'PIPELINE_INVALID',
    `cep stage: ${path}: ${issue.message}`,
    'fix the rules of the cep stage in the pipeline file',
  );
}

/** Defaults of the cep stage's params other than the rules. */
export const CEP_DEFAULTS = {
  // As enrich's, for the same reason (see ENRICH_DEFAULTS).
  maxKeys: 2_500,
};

function parseMaxKeys(params: Record<string, unknown>): number {
  const maxKeys = params.maxKeys ?? CEP_DEFAULTS.maxKeys;
  if (typeof maxKeys === 'number' && Number.isInteger(maxKeys) && maxKeys >= 1) return maxKeys;
  throw new UsageError(
    'PIPELINE_INVALID',
    `cep stage: params.maxKeys: must be a positive integer, not ${String(maxKeys)}`,
    'fix the params of the cep stage in the pipeline file',
  );
}

/**
 * Built-in `cep`: complex event processing on event time (rules from `params.rules`, or the
 * defaults). Events pass through unchanged; alerts go to the partition's `alerts` stream in the same
 * commit, and the rule state is partition state, committed with each batch. A key's state expires
 * with its rules' windows in event time; `params.maxKeys` caps the keys holding state per partition.
 */
export function cep(params: Record<string, unknown>): Stage {
  const engine = new CepEngine(cepRules(params), { maxKeys: parseMaxKeys(params) });
  return {
    name: 'cep',
    process(batch, ctx) {
      const events: CepEvent[] = batch.map((e) => {
        if (isMetricRecord(e.data)) {
          const r = recordCepFields(e.data);
          const ev: CepEvent = {
            id: `${e.producer}:${e.seq}`,
            key: e.key,
            time: r.time,
            type: r.type,
            value: r.value,
            anomaly: r.anomaly,
          };
          if (r.score !== null) ev.score = r.score;
          if (r.z !== null) ev.z = r.z;
          return ev;
        }
        const d = JSON.parse(e.data.toString()) as Record<string, unknown>;
        return {
          id: `${e.producer}:${e.seq}`,
          key: e.key,
          time: Number(d.time ?? e.ts),
          type: String(d.type ?? ''),
          value: Number(d.value),
          ...(typeof d.score === 'number' ? { score: d.score } : {}),
          anomaly: d.anomaly === true,
          ...(typeof d.z === 'number' ? { z: d.z } : {}),
        };
      });
      // The events were made here, with only the engine's fields: it keeps them without a copy.
      const alerts = engine.process(events, true);
      if (alerts.length) {
        ctx.emit(
          ALERTS,
          alerts.map((a) => ({
            key: a.key,
            producer: `cep:${ctx.stage}`,
            seq: 0,
            ts: a.time,
            data: Buffer.from(JSON.stringify(a)),
          })),
        );
      }
      return batch;
    },
    // Entry state: a commit carries the touched keys and the new pending events, not the whole state.
    state: { changes: () => engine.changes(), load: (entries) => engine.load(entries) },
  };
}
