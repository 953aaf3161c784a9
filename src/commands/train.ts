import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { connectionOptions, jsonOption, namespaceOption, pipelineOption } from '../cli/options.js';
import { connect } from '../cli/target.js';
import { UsageError } from '../errors.js';
import { loadPipeline } from '../pipeline/definition.js';
import { ModelStore } from '../pipeline/services/model-store.js';
import { DETECT_DEFAULTS, encodeModel, trainModel, type DetectParams } from '../pipeline/stages/detect.js';
import { ENRICH_DEFAULTS } from '../pipeline/stages/enrich.js';
import { ensureTopology } from '../pipeline/topology.js';
import { rowsFromFile, rowsFromStreams } from '../workload/training-rows.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  from: z
    .string()
    .optional()
    .describe(
      'NDJSON file of metric events ({"key","value",...} per line) to train on; default: the events already ' +
        'enriched in the namespace',
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

export default defineCommand({
  name: 'train',
  description:
    "Train the detect stage's Isolation Forest ahead of time (from a file of metric events, or from the " +
    "events already in the namespace: the detect stage's input, or the raw input of a fused stage with " +
    'the enrich statistics computed on the way) and store it as the newest model version.',
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
        rows = await rowsFromStreams(client, topology, topology.stages.find((s) => s.name === def.name)!.input, want);
      }
      if (rows.length < 16) {
        throw new UsageError(
          'TOO_FEW_ROWS',
          `only ${rows.length} training row(s) found`,
          opts.from
            ? `give a longer file (keys need ${ENRICH_DEFAULTS.warmup} events to warm up)`
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
