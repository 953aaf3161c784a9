import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { durationSchema } from '../duration.js';
import { UsageError } from '../errors.js';
import {
  connectionOptions,
  localPortOption,
  namespaceOption,
  partitionsOption,
  pipelineOption,
  traceOption,
} from '../cli/options.js';
import { startTracing } from '../observe/tracing.js';
import { traceConfig } from '../observe/trace-config.js';
import { WORKER_DEFAULTS } from '../pipeline/worker/worker-options.js';
import { loadPipeline, resolveStage } from '../pipeline/definition.js';
import { ensureTopology } from '../pipeline/topology.js';
import { StageWorker } from '../pipeline/worker/stage-worker.js';
import { connect } from '../cli/target.js';
import { SUPERVISOR_PID_ENV, untilStopped } from '../embedded/worker-processes.js';
import { startMetricsServer, type MetricsServer } from '../observe/metrics-server.js';
import { stageLag, WorkerMetrics } from '../observe/metrics.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  ...traceOption,
  stage: z.string().describe('The stage to run (a name from the pipeline)').meta({ valueName: 'NAME' }),
  concurrency: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe('Workers of the stage in this process')
    .meta({ valueName: 'N' }),
  ...partitionsOption,
  batch: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(WORKER_DEFAULTS.batchEntries)
    .describe('Stream entries per read (each holds many events)')
    .meta({ valueName: 'N' }),
  leaseTtl: durationSchema()
    .prefault(`${WORKER_DEFAULTS.leaseTtlMs / 1000}s`)
    .describe("Partition lease time to live: how soon a dead worker's partitions move")
    .meta({ valueName: 'D' }),
  shutdownTimeout: durationSchema()
    .prefault(`${WORKER_DEFAULTS.shutdownTimeoutMs / 1000}s`)
    .describe('On SIGTERM, finish in-flight batches within this; force after 3/4 of it')
    .meta({ valueName: 'D' }),
  durable: z.boolean().default(WORKER_DEFAULTS.durable).describe('WAIT for a replica after every commit'),
  durableTimeout: durationSchema()
    .prefault(`${WORKER_DEFAULTS.durableTimeoutMs}ms`)
    .describe(
      'With --durable: how long a commit may wait for a replica; one not acknowledged by then fails ' +
        '(NOT_DURABLE, counted as notDurable) and its partition is taken again',
    )
    .meta({ valueName: 'D' }),
  metricsPort: localPortOption(
    'Port of the Prometheus endpoint (GET /metrics, /healthz) on 127.0.0.1; 0 picks a free port, shown in `health`',
  ),
  quiet: z.boolean().default(false).describe('No status line'),
});

export default defineCommand({
  name: 'worker',
  description:
    'Run the workers of one pipeline stage in this process until SIGTERM/Ctrl-C (or, when a foreground ' +
    '`streamctl up` started it, until that process is gone), then drain and stop.',
  examples: [
    'streamctl worker --stage stage1',
    'streamctl worker --stage enrich --concurrency 4 --pipeline streamctl.yaml',
  ],
  options,
  async run(opts, io) {
    const { definition, file } = loadPipeline(opts.pipeline, io.cwd);
    const def = definition.stages.find((s) => s.name === opts.stage);
    if (!def)
      throw new UsageError(
        'UNKNOWN_STAGE',
        `--stage: no stage "${opts.stage}" in ${file ?? 'the default pipeline'} (stages: ${definition.stages.map((s) => s.name).join(', ')})`,
        'pick one of the listed stages',
      );
    const factory = await resolveStage(def, file, io.cwd);
    // Bad stage params (e.g. cep rules) fail here, before any lease is taken.
    factory(def.params);
    const conn = await connect(opts, io);
    const workers: StageWorker[] = [];
    let server: MetricsServer | undefined;
    // A batch is traced when its input entries carry a trace context: sampling is decided at the origin.
    const tracing = await startTracing(traceConfig(opts.traceSample, io.env, 'streamctl-worker'), (line) =>
      io.stderr.write(`${line}\n`),
    );
    try {
      const topology = await ensureTopology(conn.client(), opts.namespace, definition.stages, {
        partitions: opts.partitions ?? definition.partitions,
      });
      const streams = topology.stages.find((s) => s.name === def.name)!;
      const log = (m: string) => io.stderr.write(`[${def.name}] ${m}\n`);
      // Before any lease is taken, so a busy port fails cleanly.
      const metrics = new WorkerMetrics({ lag: (stage) => stageLag(conn.client(), topology, stage) });
      server = await startMetricsServer({ source: metrics, port: opts.metricsPort });
      for (let i = 0; i < opts.concurrency; i++) {
        const w = new StageWorker({
          conn,
          topology,
          factory,
          log,
          stage: { ...streams, maxDeliveries: def.maxDeliveries, params: def.params },
          batchEntries: opts.batch,
          leaseTtlMs: opts.leaseTtl,
          durable: opts.durable,
          durableTimeoutMs: opts.durableTimeout,
          onBatch: metrics.onBatch(def.name, { sink: def.name === definition.stages.at(-1)!.name }),
          metricsPort: server.port,
          tracer: tracing?.batches,
        });
        metrics.attach(w);
        w.start();
        workers.push(w);
      }
      io.ready?.();
      log(`metrics on ${server.url}`);
      log(
        `${opts.concurrency} worker(s) on ${topology.partitions} partitions of "${opts.namespace}" (${streams.input} -> ${streams.output})`,
      );
      const status = opts.quiet
        ? undefined
        : setInterval(() => {
            const c = workers.reduce(
              (a, w) => ({
                received: a.received + w.counters.received,
                sent: a.sent + w.counters.sent,
                dead: a.dead + w.counters.deadLettered,
                owned: a.owned + w.owned.length,
              }),
              { received: 0, sent: 0, dead: 0, owned: 0 },
            );
            log(`owned ${c.owned}  received ${c.received}  sent ${c.sent}  dead-lettered ${c.dead}`);
          }, 1000);
      const supervisor = Number(io.env[SUPERVISOR_PID_ENV]);
      if (
        (await untilStopped(io.signal, Number.isInteger(supervisor) && supervisor > 0 ? supervisor : undefined)) ===
        'supervisor gone'
      ) {
        log(`the streamctl process that started this worker (pid ${supervisor}) is gone`);
      }
      if (status) clearInterval(status);
      log('draining...');
      await Promise.all(workers.map((w) => w.stop(opts.shutdownTimeout)));
      log('stopped');
      return 0;
    } finally {
      await server?.close();
      await conn.close();
      await tracing?.shutdown();
    }
  },
});
