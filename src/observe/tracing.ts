import type { BatchSpan, BatchTracer, StageSpan } from '../pipeline/batch-tracer.js';
import type { TraceConfig } from './trace-config.js';

/** How long the end of a process waits for its last spans to be exported. */
const SHUTDOWN_MS = 3000;

/** A process's tracing, once started: the hooks the runtime calls, and the flush at the end. */
export interface Tracing {
  batches: BatchTracer;
  /** Exports what is buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

/** The OTLP exporter packages, by `OTEL_EXPORTER_OTLP_PROTOCOL`. */
const EXPORTERS = {
  'http/protobuf': () => import('@opentelemetry/exporter-trace-otlp-proto'),
  'http/json': () => import('@opentelemetry/exporter-trace-otlp-http'),
  grpc: () => import('@opentelemetry/exporter-trace-otlp-grpc'),
} as const;

/**
 * Starts tracing (the OpenTelemetry trace SDK, a batch span processor and the OTLP exporter of
 * the protocol `cfg` names, which reads the other `OTEL_EXPORTER_OTLP_*` variables itself) when
 * `cfg` enables it. When it does not, nothing is loaded: the SDK's modules are imported here only,
 * on demand. Only the trace SDK is loaded, not `@opentelemetry/sdk-node`: that one loads every
 * exporter of every signal, and the bigger heap made each garbage collection of the process dearer.
 */
export async function startTracing(cfg: TraceConfig, warn: (line: string) => void): Promise<Tracing | undefined> {
  if (!cfg.enabled) return undefined;
  const [base, resources, api, { OTLPTraceExporter }] = await Promise.all([
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/api'),
    EXPORTERS[cfg.protocol](),
  ]);
  const provider = new base.BasicTracerProvider({
    resource: resources
      .detectResources({ detectors: [resources.envDetector, resources.hostDetector, resources.processDetector] })
      .merge(resources.resourceFromAttributes({ 'service.name': cfg.serviceName })),
    // Roots are sampled below, before any span or attribute is made: at 1%, making and dropping a
    // span for every batch cost the producer about a tenth of its CPU per event.
    sampler: new base.ParentBasedSampler({ root: new base.AlwaysOnSampler() }),
    spanProcessors: [new base.BatchSpanProcessor(new OTLPTraceExporter())],
  });
  // Not registered globally, and no context manager: every span gets its parent passed in, and
  // one that tracks the active context (AsyncLocalStorage) would tax every promise of the process.
  const tracer = provider.getTracer('streamctl');
  /**
   * Where a batch's span hangs: a batch of one traced origin (an input batch, a caller) continues
   * its trace; a batch of several is a trace of its own, linked to each (the messaging conventions
   * for batches).
   */
  const lineage = (parents: NonNullable<ReturnType<typeof parseTraceparent>>[]) => ({
    parent: parents.length === 1 ? api.trace.setSpanContext(api.ROOT_CONTEXT, parents[0]!) : api.ROOT_CONTEXT,
    links: parents.length > 1 ? parents.map((context) => ({ context })) : [],
  });
  const traceparent = (s: { traceId: string; spanId: string; traceFlags: number }) =>
    `00-${s.traceId}-${s.spanId}-${s.traceFlags.toString(16).padStart(2, '0')}`;
  return {
    batches: {
      append(a): BatchSpan | undefined {
        const parents = (a.parents ?? []).map(parseTraceparent).filter((p) => p !== undefined);
        if (parents.length === 0 && Math.random() >= cfg.ratio) return undefined;
        const { parent, links } = lineage(parents);
        const span = tracer.startSpan(
          `send ${a.stream}`,
          {
            kind: api.SpanKind.PRODUCER,
            links,
            attributes: {
              'messaging.system': 'redis',
              'messaging.operation.type': 'send',
              'messaging.destination.name': a.stream,
              'messaging.batch.message_count': a.events,
              'streamctl.partition': a.partition,
              'streamctl.producer': a.producer,
              'streamctl.first_seq': a.firstSeq,
            },
          },
          parent,
        );
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
      process(a): StageSpan | undefined {
        const parents = a.parents.map(parseTraceparent).filter((p) => p !== undefined);
        if (parents.length === 0) return undefined;
        const { parent, links } = lineage(parents);
        const span = tracer.startSpan(
          `process ${a.stage}`,
          {
            kind: api.SpanKind.CONSUMER,
            links,
            attributes: {
              'messaging.system': 'redis',
              'messaging.operation.type': 'process',
              'messaging.destination.name': a.stream,
              'messaging.consumer.group.name': a.stage,
              'messaging.batch.message_count': a.events,
              'streamctl.stage': a.stage,
              'streamctl.partition': a.partition,
              'streamctl.entries': a.entryIds.length,
              'streamctl.entry_ids': a.entryIds.slice(0, 20),
              'streamctl.redelivered': a.recovering,
              ...(a.deliveries !== undefined ? { 'streamctl.deliveries': a.deliveries } : {}),
            },
          },
          parent,
        );
        if (!span.isRecording()) return undefined;
        let commit: ReturnType<typeof tracer.startSpan> | undefined;
        const error = (s: typeof span, err: unknown, message: string) => {
          s.recordException(err instanceof Error ? err : String(err));
          s.setStatus({ code: api.SpanStatusCode.ERROR, message });
        };
        return {
          traceparent: traceparent(span.spanContext()),
          failed(err) {
            span.addEvent('retry', { 'exception.message': err instanceof Error ? err.message : String(err) });
            error(span, err, 'the stage failed: redelivered');
            span.end();
          },
          committing(c) {
            span.setAttribute('streamctl.outputs', c.outputs);
            if (c.deadLettered > 0) span.addEvent('dead-lettered', { 'streamctl.events': c.deadLettered });
            commit = tracer.startSpan(
              `commit ${a.stage}`,
              {
                kind: api.SpanKind.CLIENT,
                attributes: { 'db.system.name': 'redis', 'streamctl.partition': a.partition },
              },
              api.trace.setSpan(api.ROOT_CONTEXT, span),
            );
          },
          committed(err) {
            if (err !== undefined && err !== null) {
              if (commit) error(commit, err, 'commit failed');
              error(span, err, 'commit failed');
            }
            commit?.end();
            span.end();
          },
        };
      },
    },
    async shutdown() {
      let timer: NodeJS.Timeout | undefined;
      const done = await Promise.race([
        provider.shutdown().then(
          () => true,
          () => false,
        ),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), SHUTDOWN_MS))),
      ]);
      clearTimeout(timer);
      // An unreachable collector would hold the exit for the exporter's whole retry budget.
      if (!done)
        warn(
          `tracing: the last spans were not exported within ${SHUTDOWN_MS / 1000}s; is the OTLP endpoint ${cfg.endpoint} up?`,
        );
    },
  };
}

/** A W3C traceparent as a span context of a remote parent; undefined when malformed. */
function parseTraceparent(
  tp: string,
): { traceId: string; spanId: string; traceFlags: number; isRemote: true } | undefined {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(tp);
  return m ? { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true } : undefined;
}
