import type { StreamEvent } from './codec.js';

/** A lookup's answer for a field it could not ask Redis about now (the breaker is open, or Redis failed). */
export const DEGRADED = Symbol('degraded');

/** What a lookup answers per field: the value, null (no such field), or DEGRADED (unknown now). */
export type LookupResult = Map<string, string | null | typeof DEGRADED>;

/** One version of a model in the namespace's model store. */
export interface StoredModel {
  version: number;
  bytes: Buffer;
}

/**
 * Redis-backed services the worker offers to stages, so that a stage never holds a client: the
 * worker owns the connections, the caching and the failure handling.
 */
export interface StageServices {
  /** Fields of the hash `<namespace>:<hash>`, through an LRU with TTL and a circuit breaker. */
  lookup(hash: string, fields: Iterable<string>): Promise<LookupResult>;
  /** Versioned models shared by every worker of the namespace. */
  models: {
    latestVersion(name: string): Promise<number>;
    latest(name: string): Promise<StoredModel | undefined>;
    save(name: string, bytes: Buffer): Promise<number>;
  };
}

/** What a stage is told about the batch it processes. */
export interface StageContext {
  /** The stage's name in the pipeline. */
  stage: string;
  partition: number;
  namespace: string;
  /** The stage's `params` from the pipeline file. */
  params: Record<string, unknown>;
  /**
   * Sends events to another stream of this partition (e.g. `alerts`); they commit atomically with
   * the batch, and are discarded if the batch fails.
   */
  emit(stream: string, events: StreamEvent[]): void;
  services: StageServices;
}

/** What changed in a stage's entry state since the last commit. */
export interface StateChanges {
  /** Entries written (name, value). */
  set: [string, Buffer | string][];
  /** Entries removed. */
  del: string[];
}

/**
 * State kept as named entries (a Redis hash per partition), so that a commit carries only the
 * entries a batch changed, not the whole state: the cost of a commit follows the batch, not the
 * state's size, which keeps small batches (low rates, low latency) cheap.
 */
export interface EntryState {
  /** The changes since the last call (or since `load`), forgetting them. */
  changes(ctx: StageContext): StateChanges;
  /** Replaces the state with these committed entries (none: a fresh start); no changes are pending after it. */
  load(entries: Map<string, Buffer> | undefined, ctx: StageContext): void;
}

/**
 * A stage: a plain object. The worker loop owns all Redis I/O: it reads a batch, calls `process`,
 * and commits the outputs, the input acks and the stage's state snapshot in one atomic step.
 *
 * - `process` returns the events to pass on; an empty array filters the batch. A throw marks the
 *   batch failed: it is redelivered, then dead-lettered event by event after maxDeliveries.
 * - `snapshot`/`restore` carry per-partition state: the snapshot taken after a batch commits with
 *   it, and a new owner of the partition restores it, so state is exactly once. `state` does the
 *   same by entries, committing only what each batch changed; a stage has one or the other.
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
  /** Instead of snapshot/restore: state as entries, committed by change (see EntryState). */
  state?: EntryState;
}

/** Makes the stage instance of one partition. */
export type StageFactory = (params: Record<string, unknown>) => Stage;
