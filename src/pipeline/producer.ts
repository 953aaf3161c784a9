import { encodeBatch, type StreamEvent } from './codec.js';
import { appendArgs, type AppendArgs } from './scripts/append.js';
import { partitionOf } from './keys.js';
import { DURABLE_DEFAULTS, pipelineByNode, type Routed } from '../redis/pipeline-by-node.js';
import { NotDurableError } from '../errors.js';
import type { ScriptClient } from './scripts/scripts.js';
import { INGEST, type Topology } from './topology.js';
import { sleep } from '../wait.js';
import { withDefaults } from '../defaults.js';
import type { BatchSpan, BatchTracer } from './batch-tracer.js';
import { BatchQueue } from './batch-queue.js';

export interface ProducerOptions {
  client: ScriptClient;
  topology: Topology;
  producerId: string;
  /** Events per stream entry. */
  batch?: number;
  /**
   * How long a partial batch may wait for more events (ms): bounds latency at low rates. 0: a partial
   * batch goes at the end of the current turn of the event loop, or when the partition's append in
   * flight returns (what gathered meanwhile goes as one batch).
   */
  lingerMs?: number;
  /** WAIT for one replica after each append. */
  durable?: boolean;
  /**
   * With `durable`: how long an append may wait for a replica (ms). An append that no replica
   * acknowledged by then ends the run: see `notDurable`.
   */
  durableTimeoutMs?: number;
  /** Attempts per batch before it is given up and counted as failed. */
  maxAttempts?: number;
  /** Events buffered or in flight above which `send` callers should wait for `drain()`. */
  highWater?: number;
  /** Spans around each append (tracing on); the batch's traceparent goes in its entry. */
  tracer?: BatchTracer | undefined;
}

export interface ProducerStats {
  sent: number;
  acked: number;
  /** Batches that an earlier, unanswered attempt had already appended (retries deduplicated). */
  deduplicated: number;
  errors: number;
  failed: number;
  /**
   * Events appended to a primary that no replica acknowledged in time (durable mode): not acked,
   * also counted in `failed` (they are lost if that primary fails before they replicate).
   */
  notDurable: number;
  /** seq ranges that were given up (their fate is unknown). */
  failedRanges: [number, number][];
}

/** The defaults of the producer's settings; the CLI's flags take theirs from here. */
export const PRODUCER_DEFAULTS = {
  batch: 100,
  lingerMs: 5,
  durable: false,
  durableTimeoutMs: DURABLE_DEFAULTS.timeoutMs,
  maxAttempts: 30,
  highWater: 200_000,
} as const;

type ResolvedProducerOptions = Required<Omit<ProducerOptions, 'tracer'>> & Pick<ProducerOptions, 'tracer'>;

interface PartitionBuffer {
  events: BatchQueue<StreamEvent>;
  since: number;
  inFlight: Promise<void> | undefined;
  /** The callers' traceparents of buffered events, by seq (only when `send` was given one). */
  parents?: [seq: number, traceparent: string][];
}

/**
 * The idempotent producer. Events get consecutive seqs; each partition's batches are appended one
 * at a time, in seq order, by a script that drops a batch whose last seq is not above the
 * partition's recorded mark for this producer. So a retry after a lost reply never duplicates,
 * and a batch is never overtaken by a later one of the same partition.
 */
export class Producer {
  readonly stats: ProducerStats = {
    sent: 0,
    acked: 0,
    deduplicated: 0,
    errors: 0,
    failed: 0,
    notDurable: 0,
    failedRanges: [],
  };
  /**
   * Set by the first append that no replica acknowledged in time (durable mode): the run should
   * stop, since every later append to that primary would wait the whole bound too.
   */
  notDurableError: NotDurableError | undefined;
  /** Called once, with `notDurableError`, when it is set. */
  onNotDurable: ((err: NotDurableError) => void) | undefined;
  private nextSeq = 1;
  private firstSeq = 1;
  private readonly buffers: PartitionBuffer[];
  private timer: NodeJS.Timeout | undefined;
  private readonly o: ResolvedProducerOptions;
  private readonly batch: number;
  private readonly linger: number;
  private waiters: (() => void)[] = [];
  /** Batches waiting for the next write. */
  private queued: { k: number; events: StreamEvent[]; done: () => void }[] = [];
  /** An end-of-turn task is scheduled (see `endOfTurn`). */
  private turnScheduled = false;
  /** The open span of each sampled batch in flight (tracing on), by its events. */
  private readonly spans = new WeakMap<StreamEvent[], BatchSpan>();
  /** The callers' traceparents of each batch that has any, by its events. */
  private readonly parentsOf = new WeakMap<StreamEvent[], string[]>();

  constructor(opts: ProducerOptions) {
    const o = (this.o = withDefaults<ResolvedProducerOptions>(PRODUCER_DEFAULTS, opts));
    this.batch = o.batch;
    this.linger = o.lingerMs;
    this.buffers = Array.from({ length: o.topology.partitions }, () => ({
      events: new BatchQueue<StreamEvent>(),
      since: 0,
      inFlight: undefined,
    }));
  }

  /** The first seq this producer used in this run. */
  get first(): number {
    return this.firstSeq;
  }
  /** The last seq handed out. */
  get last(): number {
    return this.nextSeq - 1;
  }
  /** Events buffered or in flight. */
  get backlog(): number {
    return this.stats.sent - this.stats.acked - this.stats.failed;
  }

  /** Continues above the highest seq this producer id ever appended, so reused ids stay idempotent. */
  async init(): Promise<void> {
    const { keys, partitions } = this.o.topology;
    const marks = await Promise.all(
      Array.from({ length: partitions }, (_, k) => this.o.client.hget(keys.seq(k), this.o.producerId)),
    );
    this.nextSeq = Math.max(0, ...marks.map((m) => Number(m ?? 0))) + 1;
    this.firstSeq = this.nextSeq;
    if (this.linger > 0) this.timer = setInterval(() => this.flushLingering(), Math.max(1, Math.min(this.linger, 10)));
  }

  /** Queues one event; returns its seq. Call `drain()` when `backlog` exceeds the high-water mark. */
  send(key: string, data: Buffer, ts: number, parent?: string): number {
    const seq = this.nextSeq++;
    const k = partitionOf(key, this.o.topology.partitions);
    const b = this.buffers[k]!;
    if (parent !== undefined && this.o.tracer) (b.parents ??= []).push([seq, parent]);
    if (b.events.length === 0) b.since = performance.now();
    b.events.push({ key, producer: this.o.producerId, seq, ts, data });
    this.stats.sent++;
    if (b.events.length >= this.batch) this.flush(k);
    else if (this.linger === 0) this.scheduleTurn();
    return seq;
  }

  get highWater(): number {
    return this.o.highWater;
  }

  /** Resolves once the backlog is under half the high-water mark. */
  drain(): Promise<void> {
    if (this.backlog < this.highWater / 2) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  private flushLingering(): void {
    const now = performance.now();
    this.buffers.forEach((b, k) => {
      if (b.events.length > 0 && !b.inFlight && now - b.since >= this.linger) this.flush(k);
    });
  }

  private flush(k: number): void {
    const b = this.buffers[k]!;
    // The run is ending: what was not sent yet is given up rather than each batch waiting the bound.
    if (this.notDurableError && b.events.length > 0 && !b.inFlight) this.giveUp(b.events.takeAll());
    // One batch in flight per partition keeps appends in seq order (the mark only moves forward).
    if (b.inFlight || b.events.length === 0) return;
    const full = b.events.length >= this.batch;
    const events = b.events.take(this.batch);
    if (b.parents?.length) this.takeParents(b, events);
    b.since = performance.now();
    // A full batch goes at once on its own: at high rates every partition keeps one append in
    // flight, each sent again as soon as it returns. With no linger, partial batches wait for the
    // end of the turn and go together (at low rates the writes are what costs); with a linger, a
    // timer flushes them, each on its own (grouping them measured slower for `produce`).
    b.inFlight = (
      full || this.linger > 0
        ? this.sendAlone(k, events)
        : new Promise<void>((done) => {
            this.queued.push({ k, events, done });
            this.scheduleTurn();
          })
    ).finally(() => {
      b.inFlight = undefined;
      // With no linger, what gathered while this append was in flight goes at once.
      if (b.events.length >= this.batch || (this.linger === 0 && b.events.length > 0)) this.flush(k);
      if (this.waiters.length && this.backlog < this.highWater / 2) for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Moves the callers' traceparents of the events of a batch from its buffer to the batch. */
  private takeParents(b: PartitionBuffer, events: StreamEvent[]): void {
    const last = events[events.length - 1]!.seq;
    const mine = new Set<string>();
    while (b.parents!.length && b.parents![0]![0] <= last) mine.add(b.parents!.shift()![1]);
    if (mine.size) this.parentsOf.set(events, [...mine]);
  }

  private scheduleTurn(): void {
    if (this.turnScheduled) return;
    this.turnScheduled = true;
    setImmediate(() => this.endOfTurn());
  }

  /**
   * With no linger, at the end of a turn of the event loop: the partial batches go, together with
   * those queued during the turn, one write per Redis node.
   */
  private endOfTurn(): void {
    // Still marked scheduled while flushing: the flushes queue their batches for the send below.
    this.buffers.forEach((b, k) => {
      if (b.events.length > 0) this.flush(k);
    });
    this.turnScheduled = false;
    void this.sendQueued();
  }

  private appendCommand(args: AppendArgs): Routed {
    return {
      key: args[0],
      add: (p, done) =>
        void (p as unknown as { streamctlAppend(...a: unknown[]): unknown }).streamctlAppend(
          ...args,
          ...(done ? [done] : []),
        ),
    };
  }

  /** A batch on its primary, unacknowledged by any replica within the bound: given up, not retried. */
  private notDurable(events: StreamEvent[], err: NotDurableError): void {
    this.stats.notDurable += events.length;
    this.giveUp(events);
    if (this.notDurableError) return;
    this.notDurableError = err;
    this.onNotDurable?.(err);
  }

  private giveUp(events: StreamEvent[], error: unknown = 'given up'): void {
    this.spans.get(events)?.end({ error });
    this.stats.failed += events.length;
    this.stats.failedRanges.push([events[0]!.seq, events[events.length - 1]!.seq]);
  }

  private landed(events: StreamEvent[], id: unknown): void {
    this.spans.get(events)?.end({ entryId: id === null ? null : String(id) });
    if (id === null) this.stats.deduplicated++;
    this.stats.acked += events.length;
  }

  private argsOf(k: number, events: StreamEvent[]): AppendArgs {
    const { keys } = this.o.topology;
    const stream = keys.stream(k, INGEST);
    const span = this.o.tracer?.append({
      stream,
      partition: k,
      events: events.length,
      producer: this.o.producerId,
      firstSeq: events[0]!.seq,
      parents: this.parentsOf.get(events),
    });
    if (span) this.spans.set(events, span);
    return appendArgs(
      stream,
      keys.seq(k),
      this.o.producerId,
      events[events.length - 1]!.seq,
      encodeBatch(events),
      span?.traceparent,
    );
  }

  /** Sends the queued batches together; one that fails is retried on its own. */
  private async sendQueued(): Promise<void> {
    const batch = this.queued.splice(0);
    if (batch.length === 0) return;
    const args = batch.map((q) => this.argsOf(q.k, q.events));
    const { durable, durableTimeoutMs } = this.o;
    const replies = await pipelineByNode(
      this.o.client,
      args.map((a) => this.appendCommand(a)),
      { durable, durableTimeoutMs },
    );
    await Promise.all(
      batch.map(async (q, i) => {
        const [err, id] = replies[i]!;
        if (err instanceof NotDurableError) this.notDurable(q.events, err);
        else if (err) {
          this.spans.get(q.events)?.retry(err);
          this.stats.errors++;
          await this.append(q.events, args[i]!, 2);
        } else this.landed(q.events, id);
        q.done();
      }),
    );
  }

  private sendAlone(k: number, events: StreamEvent[]): Promise<void> {
    return this.append(events, this.argsOf(k, events), 1);
  }

  /**
   * Appends one batch alone, retrying; a retry of a batch that did land is dropped by the script.
   * In durable mode the wait for a replica is retried within the bound by `pipelineByNode` (the
   * batch is on the primary already), so a batch that was not durable in time is not appended again.
   */
  private async append(events: StreamEvent[], args: AppendArgs, firstAttempt: number): Promise<void> {
    const attempts = this.o.maxAttempts;
    for (let attempt = firstAttempt; ; attempt++) {
      if (attempt > attempts || this.notDurableError) {
        this.giveUp(events);
        return;
      }
      if (attempt > 1) await sleep(Math.min(1000, 20 * 2 ** (attempt - 1)));
      try {
        let id: unknown;
        if (this.o.durable) {
          const [[err, res]] = (await pipelineByNode(this.o.client, [this.appendCommand(args)], {
            durable: true,
            durableTimeoutMs: this.o.durableTimeoutMs,
          })) as [[Error | null, unknown]];
          if (err instanceof NotDurableError) return this.notDurable(events, err);
          if (err) throw err;
          id = res;
        } else {
          id = await this.o.client.streamctlAppend(...args);
        }
        this.landed(events, id);
        return;
      } catch (err) {
        this.spans.get(events)?.retry(err);
        this.stats.errors++;
      }
    }
  }

  /** Sends every buffered event and waits for all appends to finish. */
  async flushAll(): Promise<void> {
    for (;;) {
      this.buffers.forEach((_, k) => this.flush(k));
      const pending = this.buffers.map((b) => b.inFlight).filter(Boolean);
      if (pending.length === 0 && this.buffers.every((b) => b.events.length === 0)) return;
      await Promise.all(pending);
    }
  }

  async close(): Promise<void> {
    await this.flushAll();
    if (this.timer) clearInterval(this.timer);
  }
}
