import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { durationSchema } from '../duration.js';
import { startHttpIngest } from '../ingest/http-ingest.js';
import { INGEST_DEFAULTS } from '../ingest/ingest-options.js';
import { connectionOptions, jsonOption, namespaceOption, pipelineOption, traceOption } from '../cli/options.js';
import { startTracing } from '../observe/tracing.js';
import { traceConfig } from '../observe/trace-config.js';
import { loadPipeline } from '../pipeline/definition.js';
import { withScripts } from '../pipeline/scripts/scripts.js';
import { ensureTopology } from '../pipeline/topology.js';
import { connect } from '../cli/target.js';

const options = z.object({
  ...connectionOptions,
  ...namespaceOption,
  ...pipelineOption,
  ...traceOption,
  port: z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(8080)
    .describe('HTTP port; 0 picks a free one')
    .meta({ valueName: 'PORT' }),
  host: z
    .string()
    .min(1)
    .default(INGEST_DEFAULTS.host)
    .describe('Address to listen on (0.0.0.0 to accept from other machines)')
    .meta({ valueName: 'HOST' }),
  maxBody: z.coerce
    .number()
    .int()
    .min(1)
    .default(INGEST_DEFAULTS.maxBodyBytes)
    .describe('Largest request body in bytes: larger ones get 413')
    .meta({ valueName: 'BYTES' }),
  maxLag: z.coerce
    .number()
    .int()
    .min(0)
    .default(INGEST_DEFAULTS.maxLag)
    .describe(
      'Pipeline lag (undelivered stream entries, all stages) above which POST /events gets 503 with Retry-After',
    )
    .meta({ valueName: 'N' }),
  batch: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(INGEST_DEFAULTS.batch)
    .describe('Events per stream entry')
    .meta({ valueName: 'B' }),
  linger: durationSchema()
    .prefault(`${INGEST_DEFAULTS.lingerMs}ms`)
    .describe('How long a partial batch waits for more events, e.g. 5ms')
    .meta({ valueName: 'MS' }),
  ...jsonOption,
});

export default defineCommand({
  name: 'serve',
  description:
    'Accept events over HTTP (POST /events, a JSON array or NDJSON, each with a "key") into the pipeline ' +
    'through the idempotent producer, until Ctrl-C; the run is recorded for `verify`.',
  examples: [
    'streamctl serve',
    'streamctl serve --port 9000 --max-lag 50000',
    'curl -X POST --data-binary @events.ndjson -H "content-type: application/x-ndjson" http://127.0.0.1:8080/events',
  ],
  options,
  async run(opts, io) {
    const { definition } = loadPipeline(opts.pipeline, io.cwd);
    const conn = await connect(opts, io);
    const tracing = await startTracing(traceConfig(opts.traceSample, io.env, 'streamctl-serve'), (line) =>
      io.stderr.write(`${line}\n`),
    );
    try {
      const client = withScripts(conn.client());
      const topology = await ensureTopology(client, opts.namespace, definition.stages, {
        partitions: definition.partitions,
      });
      const t0 = performance.now();
      const server = await startHttpIngest({
        client,
        topology,
        host: opts.host,
        port: opts.port,
        maxBodyBytes: opts.maxBody,
        maxLag: opts.maxLag,
        batch: opts.batch,
        lingerMs: opts.linger,
        log: (m) => io.stderr.write(`serve: ${m}\n`),
        tracer: tracing?.batches,
      });
      if (opts.json)
        io.stdout.write(
          `${JSON.stringify({ url: server.url, events: `${server.url}/events`, run: server.runId, producer: server.producerId })}\n`,
        );
      else
        io.stdout.write(
          `serving on ${server.url} (POST /events, GET /healthz, GET /metrics)\nrun ${server.runId} (producer ${server.producerId}); Ctrl-C stops\n`,
        );
      await new Promise<void>((resolve) =>
        io.signal.aborted ? resolve() : io.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      const run = await server.close();
      const s = server.stats();
      const result = {
        run: run.id,
        producer: run.producer,
        namespace: opts.namespace,
        requests: s.requests,
        rejected: s.rejected,
        accepted: s.accepted,
        sent: run.sent,
        acked: run.acked,
        failed: run.failed,
        firstSeq: run.firstSeq,
        lastSeq: run.lastSeq,
        durationMs: Math.round(performance.now() - t0),
      };
      io.stdout.write(
        opts.json
          ? `${JSON.stringify(result, null, 2)}\n`
          : `run ${run.id}: ${s.requests.toLocaleString('en')} request(s), ${s.rejected.toLocaleString('en')} rejected, accepted ${s.accepted.toLocaleString('en')} event(s), acked ${run.acked.toLocaleString('en')}, failed ${run.failed}\ncheck it with: streamctl verify --run ${run.id}\n`,
      );
      return run.failed > 0 ? 1 : 0;
    } finally {
      await conn.close();
      await tracing?.shutdown();
    }
  },
});
