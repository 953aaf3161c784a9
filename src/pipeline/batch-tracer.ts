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
    /** The traceparents of the callers whose events the batch holds (`serve`): continued, or linked. */
    parents?: string[] | undefined;
  }): BatchSpan | undefined;
  /**
   * A span for one stage batch, built from input entries of which `parents` (their traceparents)
   * were traced: the child of the one, or, from several, linked to each. Undefined when none was.
   */
  process(a: {
    stage: string;
    partition: number;
    stream: string;
    entryIds: string[];
    events: number;
    parents: string[];
    /** Taken over from the pending entries (after a failure or from a previous owner). */
    recovering: boolean;
    /** How many times the entry was delivered, when known (an entry processed alone in recovery). */
    deliveries?: number | undefined;
  }): StageSpan | undefined;
}

/** An open span of one stage batch: its processing, then its commit. */
export interface StageSpan {
  /** The W3C traceparent of the span, carried by the batch's outputs. */
  readonly traceparent: string;
  /** The stage failed on the batch: it goes back to be redelivered. Ends the span. */
  failed(error: unknown): void;
  /** The commit starts, with `outputs` events out and `deadLettered` events to the dead-letter stream. */
  committing(c: { outputs: number; deadLettered: number }): void;
  /** The commit's outcome. Ends the span. */
  committed(error: unknown): void;
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
