import { z } from 'zod';
import { DEFAULT_HOME } from '../embedded/deployment.js';
import { PRODUCER_DEFAULTS } from '../pipeline/producer.js';
import { DEFAULT_PARTITIONS } from '../pipeline/topology.js';

/** Where the embedded deployment keeps its state. */
export const homeOption = {
  home: z
    .string()
    .default(DEFAULT_HOME)
    .describe('State folder of the embedded deployment: its record, data and logs')
    .meta({ valueName: 'DIR', env: 'STREAMCTL_HOME' }),
};

/** A port to listen on, on 127.0.0.1; 0 (the default) picks a free one. */
export function localPortOption(description: string) {
  return z.coerce.number().int().min(0).max(65_535).default(0).describe(description).meta({ valueName: 'PORT' });
}

/** Options of every command that talks to Redis. */
export const connectionOptions = {
  redis: z
    .string()
    .optional()
    .describe(
      'Redis URL; several comma-separated URLs are cluster seeds: redis://[user:password@]host:port, ' +
        'rediss:// for TLS. Default: STREAMCTL_REDIS_URL, else the embedded deployment',
    )
    .meta({ valueName: 'URL' }),
  tlsCa: z
    .string()
    .optional()
    .describe('CA certificate (PEM) that signed the rediss:// server certificate')
    .meta({ valueName: 'FILE' }),
  tlsInsecure: z.boolean().default(false).describe('Accept any TLS server certificate (tests only)'),
  redisMap: z
    .string()
    .optional()
    .describe(
      'Connect to other addresses than the cluster nodes announce: ANNOUNCED_HOST:PORT=HOST:PORT,... ' +
        '(a proxy per node, a NAT); redirections follow the map',
    )
    .meta({ valueName: 'MAP' }),
  ...homeOption,
};

/** The key namespace: every key streamctl writes starts with it. */
export const namespaceOption = {
  namespace: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, _ . or -')
    .default('streamctl')
    .describe('Key namespace: every key starts with "<namespace>:"')
    .meta({ valueName: 'NAME', short: '-n' }),
};

export const jsonOption = {
  json: z.boolean().default(false).describe('Print machine-readable JSON instead of text'),
};

/** `--trace-sample`: OpenTelemetry tracing of the record batches (`src/observe/trace-config.ts`). */
export const traceOption = {
  traceSample: z.coerce
    .number()
    .min(0)
    .max(1)
    .optional()
    .describe(
      'Trace this share of record batches (0-1) with OpenTelemetry, exported over OTLP as the OTEL_EXPORTER_OTLP_* ' +
        'variables say (default http://localhost:4318); without it, tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT is set',
    )
    .meta({ valueName: 'RATIO' }),
};

/** `--json` for a command whose results may also go to a file: `--json` alone is stdout. */
export const jsonFileOption = {
  json: z
    .string()
    .optional()
    .describe('Write the results as JSON to FILE (or stdout with no FILE)')
    .meta({ valueName: 'FILE', preset: '-' }),
};

export type ConnectionOptions = {
  redis?: string | undefined;
  tlsCa?: string | undefined;
  tlsInsecure: boolean;
  redisMap?: string | undefined;
  home: string;
};

/** Partitions of a namespace that does not exist yet. */
export const partitionsOption = {
  partitions: z.coerce
    .number()
    .int()
    .min(1)
    .max(1024)
    .optional()
    .describe(
      `Partitions of a new namespace (default: ${DEFAULT_PARTITIONS.single} on a single Redis, ${DEFAULT_PARTITIONS.cluster} on a cluster; ` +
        'an existing namespace keeps its own); the most workers a stage can use',
    )
    .meta({ valueName: 'P' }),
};

/** Events per stream entry of the producer. */
export const batchOption = {
  batch: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(PRODUCER_DEFAULTS.batch)
    .describe('Events per stream entry')
    .meta({ valueName: 'B' }),
};

/** Where the pipeline definition comes from. */
export const pipelineOption = {
  pipeline: z
    .string()
    .optional()
    .describe(
      'Pipeline file, or a built-in pipeline: "default" (enrich -> detect -> cep fused into one stage), ' +
        '"staged" (the same as three stages) or "passthrough" (three passthrough stages). Default: ' +
        './streamctl.yaml if present, else "default"',
    )
    .meta({ valueName: 'FILE' }),
};
