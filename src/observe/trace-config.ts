import { UsageError } from '../errors.js';

/**
 * Whether a process traces, and how: from `--trace-sample` and the standard OpenTelemetry
 * variables (an OTLP endpoint set turns tracing on; `OTEL_SDK_DISABLED=true` turns it off; the
 * sampler and its ratio, the service name and the exporter's protocol and endpoint are honoured, the
 * last two by the SDK itself).
 */
export interface TraceConfig {
  enabled: boolean;
  /** The share of root batches sampled (a batch that continues a sampled trace is sampled). */
  ratio: number;
  serviceName: string;
  /** Where spans go (the SDK reads the variables itself; this names it in messages). */
  endpoint: string;
  /** The OTLP exporter's protocol (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, `OTEL_EXPORTER_OTLP_PROTOCOL`). */
  protocol: OtlpProtocol;
  /** Why tracing is on or off, in words (for `--help` and logs). */
  why: string;
}

/** The OTLP protocols an exporter is loaded for; the first is the default, as the specification says. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** The OTLP/HTTP exporter's endpoint when no variable names one. */
const DEFAULT_ENDPOINT = 'http://localhost:4318';

const RATIO_SAMPLERS = new Set(['traceidratio', 'parentbased_traceidratio']);

function envRatio(env: Record<string, string | undefined>): number | undefined {
  const sampler = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  if (!sampler) return undefined;
  if (sampler === 'always_off' || sampler === 'parentbased_always_off') return 0;
  if (sampler === 'always_on' || sampler === 'parentbased_always_on') return 1;
  if (RATIO_SAMPLERS.has(sampler)) {
    const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
    return Number.isFinite(arg) ? Math.min(1, Math.max(0, arg)) : 1;
  }
  return undefined;
}

/** The exporter's protocol; an unknown one is a usage error, not silently another protocol. */
function otlpProtocol(env: Record<string, string | undefined>): OtlpProtocol {
  const name = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const given = env[name]?.trim().toLowerCase();
  if (!given) return OTLP_PROTOCOLS[0];
  const known = OTLP_PROTOCOLS.find((p) => p === given);
  if (known) return known;
  throw new UsageError(
    'BAD_OTLP_PROTOCOL',
    `${name}=${env[name]} is not an OTLP protocol`,
    `set ${name} to one of ${OTLP_PROTOCOLS.join(', ')}, or unset it (default ${OTLP_PROTOCOLS[0]})`,
  );
}

/**
 * The tracing of one process.
 * @param sample `--trace-sample`, when given: it wins over the sampler variables.
 * @param defaultService the service name when `OTEL_SERVICE_NAME` does not give one.
 */
export function traceConfig(
  sample: number | undefined,
  env: Record<string, string | undefined>,
  defaultService: string,
): TraceConfig {
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || defaultService;
  const given = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const endpoint = given || DEFAULT_ENDPOINT;
  const protocol = otlpProtocol(env);
  const off = (why: string): TraceConfig => ({ enabled: false, ratio: 0, serviceName, endpoint, protocol, why });
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return off('OTEL_SDK_DISABLED=true');
  if (sample !== undefined)
    return sample > 0
      ? { enabled: true, ratio: sample, serviceName, endpoint, protocol, why: `--trace-sample ${sample}` }
      : off('--trace-sample 0');
  if (!given) return off('no --trace-sample and no OTEL_EXPORTER_OTLP_ENDPOINT');
  const ratio = envRatio(env) ?? 1;
  return ratio > 0
    ? { enabled: true, ratio, serviceName, endpoint, protocol, why: `OTLP endpoint ${endpoint}` }
    : off(`OTEL_TRACES_SAMPLER=${env.OTEL_TRACES_SAMPLER}`);
}
