import type { Cluster, Redis } from 'ioredis';
import type { Reply, Routed } from '../../redis/pipeline-by-node.js';
import { NotDurableError } from '../../errors.js';
import { consumerGroup } from '../backlog.js';
import { CODEC_VERSION, encodeBatch, type StreamEvent } from '../codec.js';
import { commitArgs, type CommitArgs, type DeadLetter } from '../scripts/commit.js';
import { scriptErrorCode, SCRIPT_ERRORS } from '../scripts/script-errors.js';
import type { ScriptClient } from '../scripts/scripts.js';
import type { StageServices } from '../stage.js';
import { decodeEntries, errorText, traceParents, type Entry } from './entries.js';
import type { StageSpan } from '../batch-tracer.js';
import type { WorkerCounters } from './heartbeats.js';
import type { ReadTarget } from './multi-reader.js';
import { StageRunner } from './stage-runner.js';
import type { ResolvedWorkerOptions } from './worker-options.js';

/** Events per output entry: bounded so one entry stays well under Redis's limits and quick to copy. */
const MAX_EVENTS_PER_ENTRY = 1000;
/** The longest wait before recovery retries an entry that failed. */
const MAX_BACKOFF_MS = 1000;
const MIN_BACKOFF_MS = 25;

/** Thrown when a partition finds its lease gone: it was logged already, and the partition is given up. */
export class LeaseLost extends Error {}

/** What a partition needs from the worker that owns it. */
export interface PartitionHost {
  /** The worker's id: its consumer name in the stage's group. */
  readonly id: string;
  readonly options: ResolvedWorkerOptions;
  /** The shared client for commits, claims and state reads. */
  readonly client: ScriptClient;
  readonly counters: WorkerCounters;
  readonly services: StageServices;
  /** Wakes the worker's loop: a read came back, or the partition stops. */
  wake(): void;
  /** Resolves once the commits of the loop's previous turn have settled. */
  commitsInFlight(): Promise<void>;
  /** Sends commits in as few socket writes as possible. */
  sendCommits(commands: Routed[]): Promise<Reply[]>;
}

/** A processed batch, ready to commit: the script's keys and arguments, and what to count once it lands. */
export interface CommitPlan extends CommitArgs {
  snapshot: Buffer | undefined;
  /** The output events (`onBatch` reads their times). */
  outputs: StreamEvent[];
  emitted: number;
  dead: DeadLetter[];
  /** Input events of the batch, for `onBatch`. */
  events: number;
  /** When its processing started. */
  t0: number;
  /** The partition's read generation when the batch was processed. */
  generation: number;
  /** The batch's span, when its input was traced. */
  span: StageSpan | undefined;
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function encodeAll(events: StreamEvent[]): Buffer[] {
  return chunks(events, MAX_EVENTS_PER_ENTRY).map(encodeBatch);
}

/**
 * One owned partition: its lease, its reads, its stage (a StageRunner) and the commits and
 * recovery of its batches. It does no looping of its own: the worker's loop reads, processes and
 * commits the batches of all its partitions together, so that partitions ready at the same moment
 * share socket writes.
 */
export class OwnedPartition implements ReadTarget {
  stopping = false;
  lost = false;
  /** Init and state load done. */
  opened = false;
  /** Pending entries (a previous owner's, or of a failed batch) come before new ones. */
  recovering = true;
  /** Not before this time (performance.now()) is recovery tried again after a 'retry'. */
  retryAt = 0;
  private backoff = 0;
  /** The next batch: new entries read with XREAD, not yet delivered to the group. */
  private ready: Entry[] | undefined;
  /** An XREAD on this partition's own connection is outstanding. */
  private reading = false;
  /** Bumped to drop an outstanding read whose entries are no longer the next ones (a failed batch). */
  private generation = 0;
  /** This partition's own blocking connection, in a cluster (a single Redis reads all partitions on one). */
  private reader: Redis | Cluster | undefined;
  /** The id after which the group's next new entry comes: where a wait for new entries starts. */
  private lastSeen: string | undefined;
  private readonly runner: StageRunner;
  private readonly input: string;
  private readonly group: string;
  readonly lease: string;
  private readonly stateKey: string;
  private readonly dlq: string;
  private readonly output: string;

  constructor(
    private readonly host: PartitionHost,
    readonly partition: number,
    readonly token: string,
  ) {
    const { stage, topology, factory } = host.options;
    const keys = topology.keys;
    this.group = stage.name;
    this.input = keys.stream(partition, stage.input);
    this.lease = keys.lease(stage.name, partition);
    this.stateKey = keys.state(partition, stage.name);
    this.dlq = keys.dlq(partition);
    this.output = keys.stream(partition, stage.output);
    this.runner = new StageRunner({
      factory,
      params: stage.params,
      stage: stage.name,
      partition,
      namespace: keys.ns,
      services: host.services,
      client: host.client,
      stateKey: this.stateKey,
    });
  }

  private log(message: string): void {
    this.host.options.log(`partition ${this.partition}: ${message}`);
  }

  stop(): void {
    this.stopping = true;
    this.host.wake();
  }

  lose(why: string): void {
    this.log(why);
    this.lost = true;
    this.stopping = true;
    this.host.wake();
  }

  /** Cuts the blocking connection (a forced stop). */
  kill(): void {
    this.stopping = true;
    this.reader?.disconnect();
  }

  async open(): Promise<void> {
    await this.runner.open();
    this.opened = true;
  }

  /** Gives the partition back: the lease is released unless it was lost, the blocking connection closed. */
  async close(): Promise<void> {
    this.stopping = true;
    if (!this.lost) await this.host.client.streamctlLeaseRelease(this.lease, this.token).catch(() => undefined);
    this.reader?.disconnect();
  }

  // Reads ------------------------------------------------------------------------------------------

  /** Whether a batch has been read and waits for the loop. */
  get hasBatch(): boolean {
    return this.ready !== undefined;
  }

  /** Takes the batch read. */
  take(): Entry[] {
    const entries = this.ready!;
    this.ready = undefined;
    return entries;
  }

  /** Whether the next read needs the group's position first (after opening or recovery). */
  get needsPosition(): boolean {
    return this.lastSeen === undefined && this.opened && !this.recovering && !this.stopping;
  }

  /** Reads where the group's next new entry comes: after its last delivered id. */
  async position(): Promise<void> {
    const group = await consumerGroup(this.host.client, this.input, this.group);
    this.lastSeen = String(group?.['last-delivered-id'] ?? '0-0');
  }

  /**
   * What to read next: this partition's stream from the last entry read, or undefined when it
   * has a batch waiting, a read outstanding, or is not reading (recovery, stopping). Marks the
   * read outstanding; `received` ends it.
   */
  nextRead(): { stream: string; from: string; generation: number } | undefined {
    if (this.reading || this.ready || this.stopping || this.recovering || !this.opened || this.lastSeen === undefined)
      return undefined;
    this.reading = true;
    return { stream: this.input, from: this.lastSeen, generation: this.generation };
  }

  /** The end of a read: its entries become the next batch, unless a failed batch made them stale. */
  received(generation: number, entries: Entry[] | undefined): void {
    this.reading = false;
    if (generation === this.generation && entries?.length) {
      this.ready = entries;
      this.lastSeen = entries[entries.length - 1]![0].toString();
    }
  }

  /**
   * Reads the next up to `count` new entries with a plain XREAD on this partition's own connection
   * (in a cluster, where one XREAD cannot span partitions), blocking until there are some: one round
   * trip that both waits and brings the data. Nothing is delivered to the group by a read (it needs
   * no lease): the commit delivers exactly these entries, under the lease, or refuses (STALE_READ).
   */
  read(count: number): void {
    const next = this.nextRead();
    if (!next) return;
    this.reader ??= this.host.options.conn.dedicated();
    (this.reader as Redis)
      .xreadBuffer('COUNT', count, 'BLOCK', this.host.options.blockMs, 'STREAMS', next.stream, next.from)
      .then(
        (reply) => {
          this.received(next.generation, (reply as [Buffer, Entry[]][] | null)?.[0]?.[1]);
          this.host.wake();
        },
        // A failed read (connection cut, failover) is not an error of the partition: the loop reads again.
        () => {
          this.received(next.generation, undefined);
          this.host.wake();
        },
      );
  }

  /** Forgets what was read ahead: the next read starts from the group's next new entry again. */
  private forgetReads(): void {
    this.generation++;
    this.ready = undefined;
    this.lastSeen = undefined;
  }

  /** Whether `err` says the lease is lost; if so, the partition is given up (`lose`). */
  private leaseLost(err: unknown, when: string): boolean {
    if (scriptErrorCode(err) !== SCRIPT_ERRORS.leaseLost) return false;
    this.lose(`lease lost ${when}`);
    return true;
  }

  /**
   * A batch that was only read (not delivered) failed in the stage: deliver its entries to the group
   * (fenced) so that recovery takes them over with delivery counts, as any failed batch.
   */
  private async deliver(count: number): Promise<void> {
    try {
      await this.host.client.streamctlReadBuffer(this.lease, this.input, this.token, this.group, this.host.id, count);
    } catch (err) {
      if (this.leaseLost(err, 'after a failed batch')) throw new LeaseLost();
      throw err;
    }
  }

  // Batches ----------------------------------------------------------------------------------------

  /**
   * Runs the stage on entries as one batch. A throw from the stage rolls its state back and gives
   * undefined: the entries stay pending and go through recovery.
   */
  async process(entries: Entry[], recovering: boolean): Promise<CommitPlan | undefined> {
    const t0 = performance.now();
    const { events, bad } = decodeEntries(entries, () => 1);
    this.host.counters.received += events.length;
    const span = this.traced(entries, events.length, recovering);
    let outputs: StreamEvent[];
    try {
      outputs = await this.runner.process(events);
    } catch (err) {
      span?.failed(err);
      this.host.counters.failed += events.length;
      // The previous batch's commit may be in flight: the state to go back to is the one after it.
      await this.host.commitsInFlight();
      await this.runner.rollback();
      if (!recovering) {
        this.log(`batch failed (${errorText(err)}); redelivering`);
        this.forgetReads();
        this.recovering = true;
        await this.deliver(entries.length);
      }
      return undefined;
    }
    return this.plan(
      entries.map(([id]) => id.toString()),
      outputs,
      bad,
      events.length,
      t0,
      !recovering,
      span,
    );
  }

  /** The span of a batch whose input entries carry a trace context, when tracing is on. */
  private traced(entries: Entry[], events: number, recovering: boolean, deliveries?: number): StageSpan | undefined {
    const tracer = this.host.options.tracer;
    if (!tracer) return undefined;
    const parents = traceParents(entries);
    if (parents.length === 0) return undefined;
    return tracer.process({
      stage: this.group,
      partition: this.partition,
      stream: this.input,
      entryIds: entries.map(([id]) => id.toString()),
      events,
      parents,
      recovering,
      deliveries,
    });
  }

  /** Builds the commit of a processed batch: outputs, emitted events, acks, state changes, dead letters. */
  private plan(
    ids: string[],
    outputs: StreamEvent[],
    dead: DeadLetter[],
    events: number,
    t0: number,
    take: boolean,
    span: StageSpan | undefined,
  ): CommitPlan {
    const { keys } = this.host.options.topology;
    const done = this.runner.finishBatch();
    const emitted: [string, Buffer[]][] = [];
    for (const [stream, list] of done.emitted) emitted.push([keys.stream(this.partition, stream), encodeAll(list)]);
    const args = commitArgs(
      { lease: this.lease, input: this.input, state: this.stateKey, dlq: this.dlq, output: this.output },
      {
        token: this.token,
        group: this.group,
        codecVersion: CODEC_VERSION,
        consumer: take ? this.host.id : undefined,
        ids,
        outputs: encodeAll(outputs),
        emitted,
        state: done.state,
        dead,
        traceparent: span?.traceparent,
      },
    );
    span?.committing({ outputs: outputs.length, deadLettered: dead.reduce((n, d) => n + d.events, 0) });
    return {
      ...args,
      snapshot: done.snapshot,
      outputs,
      emitted: done.emittedCount,
      dead,
      events,
      t0,
      generation: this.generation,
      span,
    };
  }

  /** Whether a planned commit still follows from what this partition committed (no failure since). */
  current(plan: CommitPlan): boolean {
    return plan.generation === this.generation && !this.stopping && !this.recovering;
  }

  /** The commit, for the worker's pipeline. */
  commitCommand(plan: CommitPlan): Routed {
    return {
      key: this.lease,
      add: (p, done) => {
        // ioredis takes a trailing callback for the reply of this one command of the pipeline.
        const args: unknown[] = [plan.keys.length, ...plan.keys, ...plan.args, ...(done ? [done] : [])];
        (p as unknown as { streamctlCommit(...a: unknown[]): unknown }).streamctlCommit(...args);
      },
    };
  }

  /** Sends one commit alone (recovery). */
  private async send(plan: CommitPlan): Promise<void> {
    const [[err]] = (await this.host.sendCommits([this.commitCommand(plan)])) as [Reply];
    await this.settle(plan, err);
  }

  /**
   * Counts a landed commit. A commit that failed throws: on a lost lease the new owner redoes the
   * batch; on any other error the commit may or may not have happened, so the state is read back
   * from Redis (the truth) and what is still pending is redone by recovery.
   */
  async settle(plan: CommitPlan, err: Error | null): Promise<void> {
    plan.span?.committed(err ?? undefined);
    if (err && scriptErrorCode(err) === SCRIPT_ERRORS.staleRead) {
      // Not the group's next entries (trimmed, or delivered by someone): back to the committed
      // state, and recovery takes over whatever is pending.
      this.log(`${err.message}; recovering`);
      this.forgetReads();
      this.recovering = true;
      await this.runner.rollback();
      return;
    }
    if (err instanceof NotDurableError)
      this.host.counters.notDurable = (this.host.counters.notDurable ?? 0) + plan.events;
    if (err) {
      if (this.leaseLost(err, 'at commit; the new owner redoes the batch')) throw new LeaseLost();
      await this.runner.load().catch(() => this.runner.rollback().catch(() => undefined));
      throw err;
    }
    this.runner.committed(plan.snapshot);
    const c = this.host.counters;
    c.sent += plan.outputs.length;
    c.emitted += plan.emitted;
    c.batches++;
    for (const d of plan.dead) c.deadLettered += d.events;
    this.host.options.onBatch({
      partition: this.partition,
      events: plan.events,
      outputs: plan.outputs.length,
      ms: performance.now() - plan.t0,
      outputEvents: plan.outputs,
    });
  }

  // Recovery ---------------------------------------------------------------------------------------

  /**
   * One step of recovery: takes over pending entries (left by a previous owner or a failed batch),
   * first as one batch, then entry by entry; an entry past maxDeliveries is split event by event
   * and its failing events are dead-lettered. Ends recovery when nothing is pending.
   */
  async recoverStep(): Promise<void> {
    const r = await this.recover();
    if (r === 'done') {
      this.recovering = false;
      this.lastSeen = undefined;
    } else if (r === 'retry') {
      this.backoff = Math.min(MAX_BACKOFF_MS, Math.max(MIN_BACKOFF_MS, this.backoff * 2));
      this.retryAt = performance.now() + this.backoff;
    } else this.backoff = 0;
  }

  /** @returns 'done' when nothing is pending, 'more' after progress, 'retry' when an entry must wait. */
  private async recover(): Promise<'done' | 'more' | 'retry'> {
    // XAUTOCLAIM (fenced by the lease) counts a delivery per claim and drops entries deleted from
    // the stream itself.
    let claimed: (Entry | null)[];
    try {
      [, claimed] = (await this.host.client.streamctlClaimBuffer(
        this.lease,
        this.input,
        this.token,
        this.group,
        this.host.id,
        this.host.options.batchEntries,
      )) as [Buffer, (Entry | null)[]];
    } catch (err) {
      if (this.leaseLost(err, 'before claiming')) throw new LeaseLost();
      throw err;
    }
    const live = claimed.filter((e): e is Entry => Array.isArray(e) && Array.isArray(e[1]));
    if (live.length === 0) return 'done';
    if (await this.processAndCommit(live)) return 'more';

    const counts = await this.deliveries(live);
    for (const entry of live) {
      const id = entry[0].toString();
      if (await this.processAndCommit([entry])) continue;
      const deliveries = counts.get(id) ?? 1;
      if (deliveries < this.host.options.stage.maxDeliveries) return 'retry';
      await this.isolate(entry, deliveries);
    }
    return 'more';
  }

  /** Processes and commits one batch alone (recovery: the entries are pending already). */
  private async processAndCommit(entries: Entry[]): Promise<boolean> {
    const plan = await this.process(entries, true);
    if (!plan) return false;
    await this.send(plan);
    return true;
  }

  /** How many times each of these pending entries was delivered. */
  private async deliveries(entries: Entry[]): Promise<Map<string, number>> {
    const first = entries[0]![0].toString();
    const last = entries[entries.length - 1]![0].toString();
    const rows = (await this.host.client.xpending(this.input, this.group, first, last, entries.length + 10)) as [
      string,
      string,
      number,
      number,
    ][];
    return new Map(rows.map(([id, , , n]) => [id, Number(n)]));
  }

  /** Processes a poisoned entry event by event; the events that still fail go to the DLQ. */
  private async isolate(entry: Entry, deliveries: number): Promise<void> {
    const t0 = performance.now();
    const id = entry[0].toString();
    const { events, bad } = decodeEntries([entry], () => deliveries);
    const span = this.traced([entry], events.length, true, deliveries);
    const { outputs, failed } = await this.runner.isolate(events);
    if (failed.length) {
      bad.push({
        events: failed.length,
        origin: id,
        error: failed[0]!.error,
        deliveries,
        batch: encodeBatch(failed.map((f) => f.event)),
        raw: '',
      });
    }
    await this.send(this.plan([id], outputs, bad, events.length, t0, false, span));
  }
}
