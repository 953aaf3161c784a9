import type { BatchSpan, BatchTracer } from '../pipeline/batch-tracer.js';
import type { TraceConfig } from './trace-config.js';

/** A process's tracing, once started: the hooks the runtime calls, and the flush at the end. */
export interface Tracing {
  batches: BatchTracer;
  /** Exports what is buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK (OTLP exporter as the `OTEL_EXPORTER_OTLP_*` variables say; no
 * metrics, logs or instrumentations of its own) when `cfg` enables tracing. When it does not,
 * nothing is loaded: the SDK's modules are imported here only, on demand.
 */
export async function startTracing(cfg: TraceConfig): Promise<Tracing | undefined> {
  if (!cfg.enabled) return undefined;
  const [{ NodeSDK }, base, api] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/api'),
  ]);
  const sdk = new NodeSDK({
    serviceName: cfg.serviceName,
    sampler: new base.ParentBasedSampler({ root: new base.TraceIdRatioBasedSampler(cfg.ratio) }),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  const tracer = api.trace.getTracer('streamctl');
  const traceparent = (s: { traceId: string; spanId: string; traceFlags: number }) =>
    `00-${s.traceId}-${s.spanId}-${s.traceFlags.toString(16).padStart(2, '0')}`;
  return {
    batches: {
      append(a): BatchSpan | undefined {
        const span = tracer.startSpan(`send ${a.stream}`, {
          kind: api.SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'redis',
            'messaging.operation.type': 'send',
            'messaging.destination.name': a.stream,
            'messaging.batch.message_count': a.events,
            'streamctl.partition': a.partition,
            'streamctl.producer': a.producer,
            'streamctl.first_seq': a.firstSeq,
          },
        });
        if (!span.isRecording()) return undefined;
        return {
          traceparent: traceparent(span.spanContext()),
          retry(error) {
            span.addEvent('retry', { 'exception.message': error instanceof Error ? error.message : String(error) });
          },
          end(r) {
            if ('error' in r) {
              span.recordException(r.error instanceof Error ? r.error : String(r.error));
              span.setStatus({ code: api.SpanStatusCode.ERROR, message: 'given up' });
            } else if (r.entryId === null) span.setAttribute('streamctl.deduplicated', true);
            else span.setAttribute('messaging.message.id', r.entryId);
            span.end();
          },
        };
      },
    },
    shutdown: () => sdk.shutdown(),
  };
}
