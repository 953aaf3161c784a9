import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import type { Io } from '../cli/io.js';
import {
  batchOption,
  connectionOptions,
  jsonOption,
  namespaceOption,
  partitionsOption,
  traceOption,
} from '../cli/options.js';
import { startTracing, type Tracing } from '../observe/tracing.js';
import { traceConfig } from '../observe/trace-config.js';
import { PRODUCER_DEFAULTS } from '../pipeline/producer.js';
import { connect } from '../cli/target.js';
import { durationSchema, formatDuration } from '../duration.js';
import { startProgress } from '../progress.js';
import { UsageError } from '../errors.js';
import { namespaceKeys } from '../pipeline/keys.js';
import { newRunId, type RunRecord } from '../pipeline/runs.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { ENRICH_DEFAULTS } from '../pipeline/stages/enrich.js';
import { ensureTopology } from '../pipeline/topology.js';
import { metricKeyNames, metricWorkload } from '../workload/metric-workload.js';
import { readNdjsonWorkload, type NdjsonWorkload } from '../workload/ndjson-workload.js';
import { startProduceRun } from '../workload/produce-run.js';
import { syntheticReference, writeReference } from '../workload/reference.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...traceOption,
  rate: z.coerce
    .number()
    .min(0)
    .default(10_000)
    .describe('Events per second, paced open-loop against intended send times; 0 = as fast as possible')
    .meta({ valueName: 'R' }),
  count: z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .describe('Events to send (default 100000 unless --duration)')
    .meta({ valueName: 'N' }),
  duration: durationSchema().optional().describe('Send for this long, e.g. 30s').meta({ valueName: 'D' }),
  keys: z.coerce
    .number()
    .int()
    .positive()
    .default(1000)
    .describe('Distinct event keys (hosts/sensors)')
    .meta({ valueName: 'K' }),
  seed: z.coerce
    .number()
    .int()
    .default(1)
    .describe('Seed of the synthetic workload: the same seed gives the same events')
    .meta({ valueName: 'S' }),
  anomalyRate: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.01)
    .describe(
      'Fraction of events that are injected anomalies (spike, drop, level shift, error burst), labelled ' +
        'with ground truth',
    )
    .meta({ valueName: 'P' }),
  stepMs: z.coerce
    .number()
    .positive()
    .default(1)
    .describe(
      'Event time between consecutive synthetic events, in ms (event time is synthetic, so runs are reproducible)',
    )
    .meta({ valueName: 'MS' }),
  from: z
    .string()
    .optional()
    .describe(
      'Replay events from an NDJSON file (one JSON object with a "key" per line) instead of the synthetic workload',
    )
    .meta({ valueName: 'FILE' }),
  reference: z
    .boolean()
    .default(true)
    .describe(
      'Write seeded reference data (region, service, owner, tier) for the synthetic keys; --no-reference to keep yours',
    ),
  ...batchOption,
  linger: durationSchema()
    .prefault(`${PRODUCER_DEFAULTS.lingerMs}ms`)
    .describe('How long a partial batch waits for more events, e.g. 5ms')
    .meta({ valueName: 'MS' }),
  producerId: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/)
    .optional()
    .describe('Producer id (default: p-<run id>); reusing one continues its seqs')
    .meta({ valueName: 'ID' }),
  ...partitionsOption,
  durable: z.boolean().default(PRODUCER_DEFAULTS.durable).describe('WAIT for a replica to acknowledge every append'),
  durableTimeout: durationSchema()
    .prefault(`${PRODUCER_DEFAULTS.durableTimeoutMs}ms`)
    .describe(
      'With --durable: how long an append may wait for a replica; one not acknowledged by then ends the run ' +
        '(exit 1, NOT_DURABLE)',
    )
    .meta({ valueName: 'D' }),
  reset: z
    .boolean()
    .default(false)
    .describe('Delete every key of the namespace first (e.g. to change --partitions); stop its workers before'),
  ...jsonOption,
});

/** Events sent when neither --count nor --duration (nor --from) says how many. */
const DEFAULT_COUNT = 100_000;
function bar(fraction: number, width = 24): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(full)}${' '.repeat(width - full)}]`;
}

type Options = z.output<typeof options>;

export default defineCommand({
  name: 'produce',
  description:
    'Send metric events (synthetic, with labelled anomalies, or replayed from a file) into the pipeline ' +
    'at a rate, through the idempotent producer, and record the run for `verify`.',
  examples: [
    'streamctl produce --count 1000000 --rate 0',
    'streamctl produce --rate 5000 --duration 30s --keys 200 --anomaly-rate 0.02',
    'streamctl produce --from events.ndjson --rate 1000',
    'streamctl produce --count 10000 --json',
  ],
  options,
  async run(opts, io: Io) {
    const tracing = await startTracing(traceConfig(opts.traceSample, io.env, 'streamctl-producer'), (line) =>
      io.stderr.write(`${line}\n`),
    );
    try {
      return await produce(opts, io, tracing);
    } finally {
      // Exports the spans still buffered.
      await tracing?.shutdown();
    }
  },
});

async function produce(opts: Options, io: Io, tracing: Tracing | undefined): Promise<number> {
  const conn = await connect(opts, io);
  try {
    const client = withScripts(conn.client());
    const topology = await ensureTopology(client, opts.namespace, [], {
      partitions: opts.partitions,
      reset: opts.reset,
    });
    const runId = newRunId();
    const producerId = opts.producerId ?? `p-${runId}`;
    let file: NdjsonWorkload | undefined;
    if (opts.from) {
      try {
        file = await readNdjsonWorkload(opts.from);
      } catch (err) {
        throw new UsageError(
          'BAD_FROM',
          `--from: cannot read ${opts.from}: ${(err as Error).message}`,
          'give an NDJSON file with one JSON object (with a "key") per line',
        );
      }
    } else if (opts.reference) {
      await writeReference(
        client,
        namespaceKeys.lookupHash(opts.namespace, ENRICH_DEFAULTS.reference),
        syntheticReference(metricKeyNames(opts.keys), opts.seed),
      );
    }
    const total =
      opts.count ??
      (opts.duration !== undefined
        ? opts.rate > 0
          ? Math.floor((opts.rate * opts.duration) / 1000)
          : Infinity
        : file
          ? Infinity
          : DEFAULT_COUNT);
    const produced = await startProduceRun({
      client,
      topology,
      runId,
      producerId,
      batch: opts.batch,
      lingerMs: opts.linger,
      durable: opts.durable,
      durableTimeoutMs: opts.durableTimeout,
      tracer: tracing?.batches,
      source:
        file ??
        metricWorkload({ keys: opts.keys, seed: opts.seed, anomalyRate: opts.anomalyRate, stepMs: opts.stepMs }),
      rate: opts.rate,
      total,
      durationMs: opts.duration,
      signal: io.signal,
    });
    const t0 = performance.now();
    const stats = produced.stats;
    const figures = () => {
      const s = (performance.now() - t0) / 1000;
      const rate = stats.acked / Math.max(s, 0.001);
      const frac = Number.isFinite(total)
        ? stats.sent / total
        : opts.duration
          ? (s * 1000) / opts.duration
          : file && file.size > 0
            ? Math.min(1, file.stats.bytes / file.size)
            : 0;
      const eta = frac > 0 ? formatDuration(((1 - frac) * s * 1000) / frac) : '?';
      const text = `sent ${stats.sent.toLocaleString('en')}  acked ${stats.acked.toLocaleString('en')}  ${Math.round(rate).toLocaleString('en')} ev/s  ETA ${eta}`;
      return { frac, text };
    };
    const progress = startProgress(io.stderr, {
      line: () => {
        const f = figures();
        return `produce: ${Math.round(f.frac * 100)}%  ${f.text}`;
      },
      redraw: opts.json
        ? undefined
        : () => {
            const f = figures();
            return `${bar(f.frac)} ${Math.round(f.frac * 100)}%  ${f.text}   `;
          },
    });
    let run: RunRecord;
    try {
      run = await produced.done;
    } finally {
      progress.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    if (file) {
      await file.close();
      for (const m of file.malformed.slice(0, 10)) io.stderr.write(`${opts.from}:${m.line}: skipped: ${m.reason}\n`);
      if (file.stats.malformed > 10) io.stderr.write(`... and ${file.stats.malformed - 10} more malformed line(s)\n`);
    }
    const notDurable = produced.notDurable();
    const result = {
      run: runId,
      producer: producerId,
      namespace: opts.namespace,
      partitions: topology.partitions,
      sent: stats.sent,
      acked: stats.acked,
      errors: stats.errors,
      failed: stats.failed,
      ...(opts.durable ? { notDurable: stats.notDurable } : {}),
      deduplicated: stats.deduplicated,
      firstSeq: run.firstSeq,
      lastSeq: run.lastSeq,
      durationMs: Math.round(seconds * 1000),
      rate: Math.round(stats.acked / Math.max(seconds, 0.001)),
      ...(notDurable ? { error: notDurable.toJSON() } : {}),
      ...(file ? { malformed: file.stats.malformed, malformedLines: file.malformed.slice(0, 100) } : {}),
    };
    io.stdout.write(
      opts.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : `run ${runId}: sent ${result.sent.toLocaleString('en')}, acked ${result.acked.toLocaleString('en')}, errors ${result.errors}, failed ${result.failed}${opts.durable ? `, not durable ${stats.notDurable}` : ''} in ${seconds.toFixed(1)}s (${result.rate.toLocaleString('en')} ev/s)\ncheck it with: streamctl verify --run ${runId}\n`,
    );
    // With --json the error is part of the one result document.
    if (notDurable && !opts.json) throw notDurable;
    if (notDurable) return notDurable.exitCode;
    // Malformed input lines were reported and skipped; the user must know the run is not their whole file.
    return result.failed > 0 || (file?.stats.malformed ?? 0) > 0 ? 1 : 0;
  } finally {
    await conn.close();
  }
}
