import type { StreamEvent } from './codec.js';

/** What a stage is told about the batch it processes. */
export interface StageContext {
  /** The stage's name in the pipeline. */
  stage: string;
  partition: number;
  /** The stage's `params` from the pipeline file. */
  params: Record<string, unknown>;
}

/**
 * A stage: a plain object. The worker loop owns all Redis I/O: it reads a batch, calls `process`,
 * and commits the outputs, the input acks and the stage's state snapshot in one atomic step.
 *
 * - `process` returns the events to pass on; an empty array filters the batch. A throw marks the
 *   batch failed: it is redelivered, then dead-lettered event by event after maxDeliveries.
 * - `snapshot`/`restore` carry per-partition state: the snapshot taken after a batch commits with
 *   it, and a new owner of the partition restores it, so state is exactly once.
 *
 * A stage object serves one partition at a time when its module exports a factory
 * (`(params) => stage`); a plain exported object is shared and must key any state by partition.
 */
export interface Stage {
  name: string;
  init?(ctx: StageContext): void | Promise<void>;
  process(batch: StreamEvent[], ctx: StageContext): StreamEvent[] | Promise<StreamEvent[]>;
  snapshot?(ctx: StageContext): Buffer | string | undefined;
  restore?(state: Buffer | undefined, ctx: StageContext): void;
}

/** Makes the stage instance of one partition. */
export type StageFactory = (params: Record<string, unknown>) => Stage;
