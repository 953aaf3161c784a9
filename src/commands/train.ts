import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { UsageError } from '../errors.js';
import { connectionOptions, jsonOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { decodeEntry } from '../pipeline/codec.js';
import { loadPipeline } from '../pipeline/definition.js';
import { ModelStore } from '../pipeline/services/model-store.js';
import { DETECT_DEFAULTS, encodeModel, features, trainModel, type DetectParams } from '../pipeline/stages/detect.js';
import { ENRICH_DEFAULTS, observe } from '../pipeline/stages/enrich.js';
import { isMetricRecord, recordFeatures } from '../pipeline/stages/metric-record.js';
import { ensureTopology } from '../pipeline/topology.js';
import { connect } from '../cli/target.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  from: z
    .string()
    .optional()
    .describe(
      'NDJSON file of metric events ({"key","value",...} per line) to train on; default: the events already enriched in the namespace',
    )
    .meta({ valueName: 'FILE' }),
  rows: z.coerce
    .number()
    .int()
    .min(16)
    .max(1_000_000)
    .default(4096)
    .describe('Training rows: the first ROWS events whose key has warmed up')
    .meta({ valueName: 'ROWS' }),
  calibrate: z.coerce
    .number()
    .int()
    .min(0)
    .max(10_000_000)
    .default(40_960)
    .describe('Further rows whose scores set the threshold (0: the training rows)')
    .meta({ valueName: 'ROWS' }),
  stage: z
    .string()
    .default('detect')
    .describe('The detect stage whose model and parameters to use')
    .meta({ valueName: 'NAME' }),
  ...jsonOption,
});

/**
 * Feature rows from events in arrival order. Raw events (`{key, value}`) get the enrich statistics
 * computed on the way, as the enrich stage would; events that enrich already saw carry them.
 */
class RowCollector {
  readonly rows: number[][] = [];
  private readonly stats = new Map<string, Parameters<typeof observe>[0]>();
  constructor(readonly limit: number) {}

  get full(): boolean {
    return this.rows.length >= this.limit;
  }

  add(d: Record<string, unknown>): void {
    if (this.full) return;
    if (d.z !== undefined || d.ready !== undefined) {
      const f = features(d);
      if (f) this.rows.push(f);
      return;
    }
    const value = Number(d.value);
    if (typeof d.key !== 'string' || !Number.isFinite(value)) return;
    let s = this.stats.get(d.key);
    if (!s) this.stats.set(d.key, (s = { n: 0, mean: 0, v: 0, last: 0, out: 0, recent: [] }));
    const f = features({ ...observe(s, value, ENRICH_DEFAULTS) });
    if (f) this.rows.push(f);
  }

  addRecord(data: Buffer): void {
    if (this.full) return;
    const f = features(recordFeatures(data));
    if (f) this.rows.push(f);
  }
}

/** Feature rows from an NDJSON file. */
async function rowsFromFile(path: string, limit: number): Promise<number[][]> {
  const rows = new RowCollector(limit);
  let line = 0;
  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  try {
    for await (const text of rl) {
      line++;
      if (!text.trim()) continue;
      let d: Record<string, unknown>;
      try {
        d = JSON.parse(text) as typeof d;
      } catch {
        throw new UsageError(
          'BAD_FROM',
          `${path}:${line}: not JSON`,
          'one JSON object per line with "key" and "value"',
        );
      }
      rows.add(d);
      if (rows.full) break;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError('BAD_FROM', `--from: cannot read ${path}: ${(err as Error).message}`, 'check the file');
  } finally {
    rl.close();
  }
  return rows.rows;
}

export default defineCommand({
  name: 'train',
  description:
    "Train the detect stage's Isolation Forest ahead of time (from a file of metric events, or from the events already in the namespace: the detect stage's input, or the raw input of a fused stage with the enrich statistics computed on the way) and store it as the newest model version.",
  examples: ['streamctl train --from events.ndjson', 'streamctl train --rows 8192 --json'],
  options,
  async run(opts, io) {
    const { definition } = loadPipeline(opts.pipeline, io.cwd);
    // The detect stage, or the detect step of a fused stage (whose input then holds raw events).
    const def =
      definition.stages.find((s) => s.name === opts.stage) ??
      definition.stages.find((s) => s.steps?.some((step) => step.name === opts.stage));
    if (!def)
      throw new UsageError(
        'UNKNOWN_STAGE',
        `--stage: no stage or step "${opts.stage}" in the pipeline`,
        'name the detect stage (or step) with --stage',
      );
    const params = def.steps ? def.steps.find((step) => step.name === opts.stage)!.params : def.params;
    const p: DetectParams = { ...DETECT_DEFAULTS, ...(params as Partial<DetectParams>) };
    const conn = await connect(opts, io);
    try {
      const client = conn.client();
      let rows: number[][];
      const want = opts.rows + opts.calibrate;
      if (opts.from) rows = await rowsFromFile(opts.from, want);
      else {
        const topology = await ensureTopology(client, opts.namespace, definition.stages, {
          partitions: definition.partitions,
        });
        const input = topology.stages.find((s) => s.name === def.name)!.input;
        const collector = new RowCollector(want);
        for (let k = 0; k < topology.partitions && !collector.full; k++) {
          const entries = (await client.xrangeBuffer(
            topology.keys.stream(k, input),
            '-',
            '+',
            'COUNT',
            Math.ceil(want / topology.partitions / 50) + 1,
          )) as [Buffer, Buffer[]][];
          for (const [, fields] of entries) {
            for (const e of decodeEntry(fields)) {
              if (isMetricRecord(e.data)) collector.addRecord(e.data);
              else collector.add(JSON.parse(e.data.toString()) as Record<string, unknown>);
            }
          }
        }
        rows = collector.rows;
      }
      if (rows.length < 16) {
        throw new UsageError(
          'TOO_FEW_ROWS',
          `only ${rows.length} training row(s) found`,
          opts.from
            ? 'give a longer file (keys need 20 events to warm up)'
            : 'run some events through enrich first, or use --from FILE',
        );
      }
      const t0 = performance.now();
      const training = rows.slice(0, opts.rows);
      const calibration = rows.length > opts.rows ? rows.slice(opts.rows) : training;
      const model = trainModel(training, p, calibration);
      const ms = performance.now() - t0;
      const version = await new ModelStore(client, opts.namespace).save(p.model, encodeModel(model));
      const result = {
        model: p.model,
        version,
        rows: training.length,
        calibrationRows: calibration.length,
        calibrated: model.calibrated,
        trees: model.forest.trees,
        subsample: model.forest.subsample,
        threshold: model.threshold,
        trainMs: Math.round(ms),
      };
      io.stdout.write(
        opts.json
          ? `${JSON.stringify(result, null, 2)}\n`
          : `model "${p.model}" v${version}: ${training.length} rows (threshold from ${calibration.length}), ${result.trees} trees, threshold ${model.threshold.toFixed(4)} (trained in ${result.trainMs} ms)\n`,
      );
      return 0;
    } finally {
      await conn.close();
    }
  },
});
