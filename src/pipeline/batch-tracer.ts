/**
 * Spans around the runtime's record batches, given to the producer (and the worker) from outside
 * (`src/observe/tracing.ts`), so that the pipeline never imports OpenTelemetry and costs nothing
 * when tracing is off. A batch's W3C `traceparent` travels in its stream entry (field `tc`), so that
 * a sampled batch is one trace from its origin to the sink.
 */
export interface BatchTracer {
  /** A span for the append of one producer batch, or undefined when the batch is not sampled. */
  append(a: {
    stream: string;
    partition: number;
    events: number;
    producer: string;
    firstSeq: number;
  }): BatchSpan | undefined;
}

/** An open span of one batch. */
export interface BatchSpan {
  /** The W3C traceparent of the span, to carry in the batch's entry. */
  readonly traceparent: string;
  /** Another attempt: the previous one failed with `error`. */
  retry(error: unknown): void;
  /** Ends the span: appended as `entryId` (null: a retry of an append that had landed), or given up. */
  end(r: { entryId: string | null } | { error: unknown }): void;
}

/** The entry field that carries a batch's traceparent. */
export const TRACE_FIELD = 'tc';
