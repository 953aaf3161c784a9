import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from '../../redis/connection.js';
import { CODEC_VERSION, CodecError, decodeEntry, encodeBatch, type StreamEvent } from '../codec.js';
import { consumerGroup } from '../backlog.js';
import { withScripts, type ScriptClient } from '../scripts/scripts.js';
import { MultiReader } from './multi-reader.js';
import { pipelineByNode, type Reply, type Routed } from '../../redis/pipeline-by-node.js';
import { HashLookup, type LookupOptions, type LookupStats } from '../services/lookup.js';
import { ModelStore } from '../services/model-store.js';
import type { Stage, StageContext, StageFactory, StageServices } from '../stage.js';
import type { StageStreams, Topology } from '../topology.js';
import { sleep } from '../../wait.js';

/** Events per output entry: bounded so one entry stays well under Redis's limits and quick to copy. */
const MAX_EVENTS_PER_ENTRY = 1000;
/** A heartbeat older than this marks its worker dead. */
export const HEARTBEAT_STALE_MS = 3000;

export interface WorkerCounters {
  received: number;
  sent: number;
  /** Events sent to other streams with ctx.emit (e.g. alerts). */
  emitted: number;
  failed: number;
  deadLettered: number;
  batches: number;
}

/** What a worker publishes in `<ns>:workers` every second. */
export interface Heartbeat extends WorkerCounters {
  id: string;
  stage: string;
  pid: number;
  host: string;
  startedAt: number;
  ts: number;
  owned: number[];
  rate: number;
  lookup?: LookupStats;
  metricsPort?: number;
}

export interface WorkerOptions {
  conn: RedisConnection;
  topology: Topology;
  stage: StageStreams & { maxDeliveries: number; params: Record<string, unknown> };
  factory: StageFactory;
  workerId?: string;
  /** Stream entries per read (each holds many events). */
  batchEntries?: number;
  blockMs?: number;
  leaseTtlMs?: number;
  /** WAIT for one replica after every commit. */
  durable?: boolean;
  metricsPort?: number;
  /** Cache and breaker settings of `ctx.services.lookup`. */
  lookup?: LookupOptions;
  log?: (message: string) => void;
  /** Called after each committed batch, with its duration; the metrics layer hooks in here. */
  onBatch?: (info: { partition: number; events: number; outputs: number; ms: number }) => void;
}

type Entry = [id: Buffer, fields: Buffer[]];

interface DeadLetter {
  /** How many events it holds (1 for an undecodable entry). */
  events: number;
  origin: string;
  error: string;
  deliveries: number;
  batch: Buffer | '';
  raw: string;
}

class LeaseLost extends Error {}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function errorText(err: unknown): string {
  return (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).slice(0, 1000);
}

/**
 * Runs one stage for the partitions this worker owns. All Redis I/O of the stage happens here:
 * leases, batched reads on a dedicated connection per partition, the stage's `process`, and one
 * atomic commit per batch (outputs + acks + state + dead letters, fenced by the lease).
 */
export class StageWorker {
  readonly id: string;
  readonly counters: WorkerCounters = { received: 0, sent: 0, emitted: 0, failed: 0, deadLettered: 0, batches: 0 };
  private readonly client: ScriptClient;
  private readonly runners = new Map<number, OwnedPartition>();
  private serving: Promise<void> | undefined;
  /** Set when something the loop waits for happened (a stream got entries, a partition came or goes). */
  private kicked = false;
  /** Ends the loop's idle wait (a plain callback: an AbortSignal costs an error object per wake). */
  private wakeUp: (() => void) | undefined;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private lastRate = { t: Date.now(), n: 0, rate: 0 };
  private readonly lookups = new Map<string, HashLookup>();
  /** @internal the commits of the serving loop's previous turn, while it processes the next one. */
  committing: Promise<void> | undefined;
  /** Partitions seen without any lease in the last balance round. */
  private orphans = new Set<number>();
  /** Shared by the partitions of this worker. */
  readonly services: StageServices;
  /** @internal on a single Redis: one blocking read for all partitions (in a cluster each has its own). */
  readonly reader: MultiReader | undefined;

  constructor(readonly opts: WorkerOptions) {
    this.id = opts.workerId ?? `${opts.stage.name}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.client = withScripts(opts.conn.client());
    if (!(this.client as Cluster).isCluster) {
      this.reader = new MultiReader(
        withScripts(opts.conn.dedicated()) as Redis,
        this.client as Redis,
        opts.blockMs ?? 500,
        () => this.wake(),
      );
    }
    const models = new ModelStore(this.client, opts.topology.keys.ns);
    this.services = {
      lookup: (hash, fields) => {
        let l = this.lookups.get(hash);
        if (!l)
          this.lookups.set(hash, (l = new HashLookup(this.client, `${opts.topology.keys.ns}:${hash}`, opts.lookup)));
        return l.get(fields);
      },
      models: {
        latestVersion: (n) => models.latestVersion(n),
        latest: (n) => models.latest(n),
        save: (n, b) => models.save(n, b),
      },
    };
  }

  /** Lookup statistics summed over the hashes this worker's stages used. */
  lookupStats(): LookupStats {
    const total: LookupStats = { hits: 0, misses: 0, degraded: 0, failures: 0, breaker: 'closed', breakerOpened: 0 };
    for (const l of this.lookups.values()) {
      total.hits += l.stats.hits;
      total.misses += l.stats.misses;
      total.degraded += l.stats.degraded;
      total.failures += l.stats.failures;
      total.breakerOpened += l.stats.breakerOpened;
      if (l.stats.breaker !== 'closed') total.breaker = l.stats.breaker;
    }
    return total;
  }

  get leaseTtlMs(): number {
    return this.opts.leaseTtlMs ?? 3000;
  }

  /** Partitions owned right now. */
  get owned(): number[] {
    return [...this.runners.keys()].sort((a, b) => a - b);
  }

  /** Starts balancing and processing; returns at once. */
  start(): void {
    this.loop = this.balanceLoop();
    this.serving = this.serve().catch((err) => this.opts.log?.(`worker loop: ${errorText(err)}`));
  }

  private heartbeat(): Heartbeat {
    const now = Date.now();
    if (now - this.lastRate.t >= 1000) {
      this.lastRate = {
        t: now,
        n: this.counters.received,
        rate: ((this.counters.received - this.lastRate.n) * 1000) / (now - this.lastRate.t),
      };
    }
    return {
      id: this.id,
      stage: this.opts.stage.name,
      pid: process.pid,
      host: hostname(),
      startedAt: this.startedAt,
      ts: now,
      ...this.counters,
      owned: this.owned,
      rate: Math.round(this.lastRate.rate),
      ...(this.lookups.size ? { lookup: this.lookupStats() } : {}),
      ...(this.opts.metricsPort ? { metricsPort: this.opts.metricsPort } : {}),
    };
  }

  private async liveWorkers(): Promise<number> {
    const all = await this.client.hgetall(this.opts.topology.keys.workers);
    const now = Date.now();
    let live = 0;
    for (const [id, json] of Object.entries(all)) {
      try {
        const hb = JSON.parse(json) as Heartbeat;
        if (hb.stage === this.opts.stage.name && now - hb.ts < HEARTBEAT_STALE_MS) live++;
        // Long-dead entries are removed by whoever notices them first.
        else if (now - hb.ts > 60_000) await this.client.hdel(this.opts.topology.keys.workers, id);
      } catch {
        await this.client.hdel(this.opts.topology.keys.workers, id);
      }
    }
    return Math.max(1, live);
  }

  /** Every 500 ms: heartbeat, renew leases, and take or give partitions to balance the live workers. */
  private async balanceLoop(): Promise<void> {
    const { keys, partitions } = this.opts.topology;
    const stage = this.opts.stage.name;
    const signal = this.abort.signal;
    // Start the scan at a worker-specific offset so that workers starting together rarely collide.
    const offset = parseInt(this.id.slice(-6), 16) % partitions || 0;
    while (!signal.aborted) {
      try {
        await this.client.hset(keys.workers, this.id, JSON.stringify(this.heartbeat()));
        // Concurrently, so one slow reply does not delay the other renewals toward expiry.
        await Promise.all(
          [...this.runners].map(async ([k, r]) => {
            if (!(await this.client.streamctlLeaseRenew(keys.lease(stage, k), r.token, this.leaseTtlMs)))
              r.lose('lease expired');
          }),
        );
        const target = Math.ceil(partitions / (await this.liveWorkers()));
        const active = [...this.runners.values()].filter((r) => !r.stopping);
        if (active.length > target && this.orphans.size === 0) {
          for (const r of active.sort((a, b) => b.partition - a.partition).slice(0, active.length - target)) r.stop();
        }
        // Under the target, take any free partition. Over it, take one only if it stayed free for a
        // whole round: its owner died, and waiting for its heartbeat to go stale would add seconds
        // to the takeover. The balance evens out once the dead worker is seen as dead.
        const orphansNow = new Set<number>();
        const others = Array.from({ length: partitions }, (_, i) => (i + offset) % partitions).filter(
          (k) => !this.runners.has(k),
        );
        const free = await Promise.all(others.map(async (k) => (await this.client.exists(keys.lease(stage, k))) === 0));
        for (const [i, k] of others.entries()) {
          if (signal.aborted || !free[i]) continue;
          if (this.runners.size >= target && !this.orphans.has(k)) {
            orphansNow.add(k);
            continue;
          }
          const token = `${this.id}:${randomBytes(4).toString('hex')}`;
          const ok = await this.client.set(keys.lease(stage, k), token, 'PX', this.leaseTtlMs, 'NX');
          if (ok) this.startRunner(k, token);
        }
        this.orphans = orphansNow;
      } catch (err) {
        this.opts.log?.(`balance: ${errorText(err)}`);
      }
      await sleep(500, signal);
    }
  }

  private startRunner(k: number, token: string): void {
    this.runners.set(k, new OwnedPartition(this, k, token));
    this.wake();
  }

  /** @internal wakes the loop: a partition's stream got entries, or a partition came or goes. */
  wake(): void {
    this.kicked = true;
    this.wakeUp?.();
  }

  /** Resolves at the next wake (at once if there was one since the last), or after `ms`. */
  private async idle(ms: number): Promise<void> {
    if (!this.kicked) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        this.wakeUp = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wakeUp = undefined;
    }
    this.kicked = false;
  }

  /** Waits for the previous turn's commits to be settled. */
  private async settleCommits(): Promise<void> {
    await this.committing;
    this.committing = undefined;
  }

  /** Gives a partition up after its failure or stop; the balance loop may take it again. */
  private async retire(r: OwnedPartition, err?: unknown): Promise<void> {
    if (err !== undefined && !(err instanceof LeaseLost))
      this.opts.log?.(`partition ${r.partition}: ${errorText(err)}`);
    this.runners.delete(r.partition);
    await r.close();
  }

  /**
   * The one loop of all owned partitions. The partitions' next entries come with XREAD BLOCK (the
   * wait and the data in one round trip); the loop runs the stage on every batch that came, in
   * turn, then sends all their commits together. A commit delivers its batch's entries to the group
   * and acknowledges them, fenced by the lease.
   * - On a single Redis one XREAD covers all the partitions. Once caught up (the last read came back
   *   short), the turn's commits and the next XREAD go in one write on that connection: a socket
   *   write costs about as much as a small batch (at 10,000 events/s, workers' CPU 51-53% against
   *   54-56%, p99 17-19 ms against 20-27). Through a backlog the next read goes ahead while the
   *   batches are processed, and the commits on the other connection (merging there cost 15-20% of
   *   the max rate).
   * - In a cluster each partition has its own read, sent ahead, and the commits go in one pipeline
   *   per node, settled while the next turn runs.
   * Recovery (pending entries after a takeover or a failed batch) runs a partition at a time, with
   * its own commits.
   */
  private async serve(): Promise<void> {
    const signal = this.abort.signal;
    const batch = this.opts.batchEntries ?? 50;
    for (;;) {
      // Opening, recovery, positioning and giving up follow from what was committed.
      if ([...this.runners.values()].some((r) => r.stopping || !r.opened || r.recovering || r.needsPosition))
        await this.settleCommits();
      for (const r of [...this.runners.values()]) {
        try {
          if (r.stopping) await this.retire(r);
          else if (!r.opened) await r.open();
        } catch (err) {
          await this.retire(r, err);
        }
      }
      if (signal.aborted && this.runners.size === 0) return this.settleCommits();
      const now = performance.now();
      let nextRetry = Infinity;
      for (const r of [...this.runners.values()]) {
        if (!r.recovering || r.stopping || !r.opened) continue;
        if (r.retryAt > now) {
          nextRetry = Math.min(nextRetry, r.retryAt);
          continue;
        }
        try {
          await r.recoverStep();
          if (r.recovering) nextRetry = Math.min(nextRetry, r.retryAt);
        } catch (err) {
          await this.retire(r, err);
        }
      }
      // Each partition reads its share of a batch, so that a turn's events (and memory) stay about
      // one batch whatever the number of partitions owned.
      const count = Math.max(1, Math.ceil(batch / Math.max(1, this.runners.size)));
      for (const r of [...this.runners.values()]) {
        if (!r.needsPosition) continue;
        try {
          await r.position();
        } catch (err) {
          await this.retire(r, err);
        }
      }
      const ready = [...this.runners.values()].filter((r) => r.hasBatch && !r.recovering && !r.stopping);
      const batches = ready.map((r) => [r, r.take()] as const);
      // In a cluster the next reads start now (read ahead), while these batches are processed. On a
      // single Redis too when a read came back full (a backlog: the next read will not wait);
      // otherwise the next read goes after them, in the same write as their commits.
      if (!this.reader) for (const r of this.runners.values()) r.read(count);
      else if (batches.some(([, entries]) => entries.length >= count)) this.reader.read(this.runners.values(), count);
      if (ready.length === 0) {
        this.reader?.read(this.runners.values(), count);
        await this.idle(Math.max(0, Math.min(nextRetry - performance.now(), 1000)));
        continue;
      }
      const commits: { r: OwnedPartition; plan: CommitPlan }[] = [];
      for (const [r, entries] of batches) {
        try {
          const plan = await r.process(entries, false);
          if (plan) commits.push({ r, plan });
        } catch (err) {
          await this.settleCommits();
          await this.retire(r, err);
        }
      }
      await this.settleCommits();
      // A commit of the previous turn may have failed meanwhile: that partition's new batch followed
      // from a state that did not land, and is dropped.
      const valid = commits.filter(({ r, plan }) => this.runners.get(r.partition) === r && r.current(plan));
      const commands = valid.map(({ r, plan }) => r.commitCommand(plan));
      const sent =
        this.reader?.read(this.runners.values(), count, commands, this.opts.durable ?? false) ??
        this.sendCommits(commands);
      this.committing = this.settleAll(valid, sent);
    }
  }

  /** Counts a turn's commits once their replies are in, or gives up the partitions whose commit failed. */
  private async settleAll(commits: { r: OwnedPartition; plan: CommitPlan }[], sent: Promise<Reply[]>): Promise<void> {
    if (commits.length === 0) return;
    const results = await sent;
    for (const [i, { r, plan }] of commits.entries()) {
      try {
        await r.settle(plan, results[i]![0]);
      } catch (err) {
        await this.retire(r, err);
      }
    }
    this.wake();
  }

  /** @internal commits in one pipeline per node (with WAIT for a replica when durable). */
  sendCommits(commands: Routed[]): Promise<Reply[]> {
    return pipelineByNode(this.client, commands, { durable: this.opts.durable ?? false });
  }

  /** @internal the commit and read client shared by the runners. */
  get shared(): ScriptClient {
    return this.client;
  }

  /**
   * Stops gracefully: no new reads, in-flight batches finish and commit, leases are released.
   * After 3/4 of `timeoutMs` the blocking connections are cut.
   */
  async stop(timeoutMs = 10_000): Promise<void> {
    this.abort.abort();
    for (const r of this.runners.values()) r.stop();
    this.wake();
    const force = setTimeout(() => {
      for (const r of this.runners.values()) r.kill();
    }, timeoutMs * 0.75);
    try {
      await this.loop;
      await this.serving;
      this.reader?.close();
      await this.client.hdel(this.opts.topology.keys.workers, this.id).catch(() => undefined);
    } finally {
      clearTimeout(force);
    }
  }
}

/** A commit ready to send: the script's keys and arguments, and what to count once it landed. */
interface CommitPlan {
  keys: string[];
  args: (string | Buffer | number)[];
  snapshot: Buffer | undefined;
  outputs: number;
  emitted: number;
  dead: DeadLetter[];
  /** Input events of the batch and when its processing started, for `onBatch`. */
  events: number;
  /** The partition's read generation when the batch was processed. */
  generation: number;
  t0: number;
}

/**
 * One owned partition: its stage instance, state, and the steps of its batches. It does no looping
 * of its own: the worker's loop reads, processes and commits the batches of all its partitions
 * together, so that partitions ready at the same moment share socket writes.
 */
class OwnedPartition {
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
  private readonly stage: Stage;
  private readonly ctx: StageContext;
  private committedState: Buffer | undefined;
  /** Events the stage emitted to other streams during the current batch. */
  private emitted = new Map<string, StreamEvent[]>();
  /** The id after which the group's next new entry comes: where a wait for new entries starts. */
  private lastSeen: string | undefined;

  constructor(
    private readonly w: StageWorker,
    readonly partition: number,
    readonly token: string,
  ) {
    this.stage = w.opts.factory(w.opts.stage.params);
    this.ctx = {
      stage: w.opts.stage.name,
      partition,
      namespace: w.opts.topology.keys.ns,
      params: w.opts.stage.params,
      emit: (stream, events) => {
        const list = this.emitted.get(stream);
        if (list) list.push(...events);
        else this.emitted.set(stream, [...events]);
      },
      services: w.services,
    };
  }

  private emittedCount(): number {
    let n = 0;
    for (const l of this.emitted.values()) n += l.length;
    return n;
  }

  /** Drops emitted events beyond the first `keep` of each stream (a failed event's emissions). */
  private truncateEmitted(marks: Map<string, number>): void {
    for (const [stream, list] of this.emitted) list.length = marks.get(stream) ?? 0;
  }

  private get keys() {
    return this.w.opts.topology.keys;
  }
  private get input(): string {
    return this.keys.stream(this.partition, this.w.opts.stage.input);
  }
  private get group(): string {
    return this.w.opts.stage.name;
  }
  get lease(): string {
    return this.keys.lease(this.group, this.partition);
  }

  stop(): void {
    this.stopping = true;
    this.w.wake();
  }
  lose(why: string): void {
    this.w.opts.log?.(`partition ${this.partition}: ${why}`);
    this.lost = true;
    this.stopping = true;
    this.w.wake();
  }
  /** Cuts the blocking connection (a forced stop). */
  kill(): void {
    this.stopping = true;
    this.reader?.disconnect();
  }

  async open(): Promise<void> {
    await this.stage.init?.(this.ctx);
    await this.loadState();
    this.opened = true;
  }

  /** Gives the partition back: the lease is released unless it was lost, the blocking connection closed. */
  async close(): Promise<void> {
    this.stopping = true;
    if (!this.lost) await this.w.shared.streamctlLeaseRelease(this.lease, this.token).catch(() => undefined);
    this.reader?.disconnect();
  }

  private async loadState(): Promise<void> {
    const key = this.keys.state(this.partition, this.group);
    if (this.stage.state) {
      const entries = await this.w.shared.hgetallBuffer(key);
      const names = Object.keys(entries);
      this.stage.state.load(names.length ? new Map(names.map((n) => [n, entries[n]!])) : undefined, this.ctx);
      return;
    }
    if (!this.stage.restore) return;
    const state = (await this.w.shared.getBuffer(key)) ?? undefined;
    this.committedState = state;
    this.stage.restore(state, this.ctx);
  }

  /** Back to the last committed state: kept in memory for snapshots, read again for entry state. */
  private async rollback(): Promise<void> {
    if (this.stage.state) await this.loadState();
    else this.stage.restore?.(this.committedState, this.ctx);
  }

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

  async position(): Promise<void> {
    this.lastSeen = await this.lastDelivered();
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
    this.reader ??= this.w.opts.conn.dedicated();
    (this.reader as Redis)
      .xreadBuffer('COUNT', count, 'BLOCK', this.w.opts.blockMs ?? 500, 'STREAMS', next.stream, next.from)
      .then(
        (reply) => {
          this.received(next.generation, (reply as [Buffer, Entry[]][] | null)?.[0]?.[1]);
          this.w.wake();
        },
        // A failed read (connection cut, failover) is not an error of the partition: the loop reads again.
        () => {
          this.received(next.generation, undefined);
          this.w.wake();
        },
      );
  }

  /** The id after which the group's next new entry comes. */
  private async lastDelivered(): Promise<string> {
    return String((await consumerGroup(this.w.shared, this.input, this.group))?.['last-delivered-id'] ?? '0-0');
  }

  /** Forgets what was read ahead: the next read starts from the group's next new entry again. */
  private forgetReads(): void {
    this.generation++;
    this.ready = undefined;
    this.lastSeen = undefined;
  }

  /**
   * A batch that was only read (not delivered) failed in the stage: deliver its entries to the group
   * (fenced) so that recovery takes them over with delivery counts, as any failed batch.
   */
  private async deliver(count: number): Promise<void> {
    try {
      await this.w.shared.streamctlReadBuffer(this.lease, this.input, this.token, this.group, this.w.id, count);
    } catch (err) {
      if (/LEASE_LOST/.test(String((err as Error).message))) {
        this.lose('lease lost after a failed batch');
        throw new LeaseLost();
      }
      throw err;
    }
  }

  /** Decodes entries; undecodable ones become dead letters at once (retrying cannot fix them). */
  private decode(entries: Entry[], deliveries: (id: string) => number): { events: StreamEvent[]; bad: DeadLetter[] } {
    const events: StreamEvent[] = [];
    const bad: DeadLetter[] = [];
    for (const [id, fields] of entries) {
      try {
        for (const e of decodeEntry(fields)) events.push(e);
      } catch (err) {
        if (!(err instanceof CodecError)) throw err;
        // Text fields as text, binary ones as base64, so the original entry can be rebuilt.
        const raw = JSON.stringify(
          fields.map((f) => (isUtf8(f) ? f.toString('utf8') : { b64: f.toString('base64') })),
        ).slice(0, 65_536);
        bad.push({
          events: 1,
          origin: id.toString(),
          error: errorText(err),
          deliveries: deliveries(id.toString()),
          batch: '',
          raw,
        });
      }
    }
    return { events, bad };
  }

  /**
   * Runs the stage on entries as one batch. A throw from the stage rolls its state back and gives
   * undefined: the entries stay pending and go through recovery.
   */
  async process(entries: Entry[], recovering: boolean): Promise<CommitPlan | undefined> {
    const t0 = performance.now();
    const { events, bad } = this.decode(entries, () => 1);
    this.w.counters.received += events.length;
    let outputs: StreamEvent[];
    this.emitted = new Map();
    try {
      outputs = events.length ? await this.stage.process(events, this.ctx) : [];
    } catch (err) {
      this.w.counters.failed += events.length;
      this.emitted = new Map();
      // The previous batch's commit may be in flight: the state to go back to is the one after it.
      await this.w.committing;
      await this.rollback();
      if (!recovering) {
        this.w.opts.log?.(`partition ${this.partition}: batch failed (${errorText(err)}); redelivering`);
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
    );
  }

  /** Processes and commits one batch alone (recovery: the entries are pending already). */
  private async processAndCommit(entries: Entry[]): Promise<boolean> {
    const plan = await this.process(entries, true);
    if (!plan) return false;
    await this.send(plan);
    return true;
  }

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
      this.backoff = Math.min(1000, Math.max(25, this.backoff * 2));
      this.retryAt = performance.now() + this.backoff;
    } else this.backoff = 0;
  }

  /** @returns 'done' when nothing is pending, 'more' after progress, 'retry' when an entry must wait. */
  private async recover(): Promise<'done' | 'more' | 'retry'> {
    // XAUTOCLAIM (fenced by the lease) counts a delivery per claim and drops entries deleted from
    // the stream itself.
    let claimed: (Entry | null)[];
    try {
      [, claimed] = (await this.w.shared.streamctlClaimBuffer(
        this.lease,
        this.input,
        this.token,
        this.group,
        this.w.id,
        this.w.opts.batchEntries ?? 50,
      )) as [Buffer, (Entry | null)[]];
    } catch (err) {
      if (/LEASE_LOST/.test(String((err as Error).message))) {
        this.lose('lease lost before claiming');
        throw new LeaseLost();
      }
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
      if (deliveries < this.w.opts.stage.maxDeliveries) return 'retry';
      await this.isolate(entry, deliveries);
    }
    return 'more';
  }

  private async deliveries(entries: Entry[]): Promise<Map<string, number>> {
    const first = entries[0]![0].toString();
    const last = entries[entries.length - 1]![0].toString();
    const rows = (await this.w.shared.xpending(this.input, this.group, first, last, entries.length + 10)) as [
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
    const { events, bad } = this.decode([entry], () => deliveries);
    const outputs: StreamEvent[] = [];
    const failed: { event: StreamEvent; error: string }[] = [];
    this.emitted = new Map();
    const passed: StreamEvent[] = [];
    for (const e of events) {
      const before = this.stage.state ? undefined : this.stage.snapshot?.(this.ctx);
      const marks = new Map([...this.emitted].map(([k, v]) => [k, v.length]));
      try {
        outputs.push(...(await this.stage.process([e], this.ctx)));
        passed.push(e);
      } catch (err) {
        failed.push({ event: e, error: errorText(err) });
        if (this.stage.state) {
          // Entry state cannot be copied cheaply: back to the committed state, then the events
          // that went through, again, one by one as before.
          await this.rollback();
          this.emitted = new Map();
          outputs.length = 0;
          for (const p of passed) outputs.push(...(await this.stage.process([p], this.ctx)));
        } else {
          this.stage.restore?.(before === undefined ? undefined : Buffer.from(before), this.ctx);
          this.truncateEmitted(marks);
        }
      }
    }
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
    await this.send(this.plan([id], outputs, bad, events.length, t0, false));
  }

  /** Builds the commit of a processed batch: outputs, emitted events, acks, state changes, dead letters. */
  private plan(
    ids: string[],
    outputs: StreamEvent[],
    dead: DeadLetter[],
    events: number,
    t0: number,
    take: boolean,
  ): CommitPlan {
    const keys = this.keys;
    const k = this.partition;
    const commitKeys = [
      this.lease,
      this.input,
      keys.state(k, this.group),
      keys.dlq(k),
      keys.stream(k, this.w.opts.stage.output),
    ];
    const args: (string | Buffer | number)[] = [
      this.token,
      this.group,
      String(CODEC_VERSION),
      ...(take ? ['take', this.w.id] : ['ack']),
      ids.length,
      ...ids,
    ];
    const batches: [number, Buffer][] = chunks(outputs, MAX_EVENTS_PER_ENTRY).map((c) => [5, encodeBatch(c)]);
    for (const [stream, list] of this.emitted) {
      if (list.length === 0) continue;
      commitKeys.push(keys.stream(k, stream));
      for (const c of chunks(list, MAX_EVENTS_PER_ENTRY)) batches.push([commitKeys.length, encodeBatch(c)]);
    }
    args.push(batches.length);
    for (const [keyIndex, b] of batches) args.push(keyIndex, b);
    const snapshot = this.stage.state ? undefined : this.stage.snapshot?.(this.ctx);
    if (this.stage.state) {
      const { set, del } = this.stage.state.changes(this.ctx);
      args.push('hash', set.length);
      for (const [field, value] of set) args.push(field, value);
      args.push(del.length, ...del);
    } else if (snapshot === undefined) args.push(this.stage.snapshot ? 'del' : '-', '');
    else args.push('set', snapshot);
    args.push(dead.length);
    for (const d of dead) args.push(d.origin, this.group, d.error, String(d.deliveries), d.batch, d.raw);
    const emitted = this.emittedCount();
    this.emitted = new Map();
    return {
      keys: commitKeys,
      args,
      snapshot: snapshot === undefined ? undefined : Buffer.isBuffer(snapshot) ? snapshot : Buffer.from(snapshot),
      outputs: outputs.length,
      emitted,
      dead,
      events,
      t0,
      generation: this.generation,
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
    const [[err]] = (await this.w.sendCommits([this.commitCommand(plan)])) as [Reply];
    await this.settle(plan, err);
  }

  /**
   * Counts a landed commit. A commit that failed throws: on a lost lease the new owner redoes the
   * batch; on any other error the commit may or may not have happened, so the state is read back
   * from Redis (the truth) and what is still pending is redone by recovery.
   */
  async settle(plan: CommitPlan, err: Error | null): Promise<void> {
    if (err && /STALE_READ/.test(err.message)) {
      // Not the group's next entries (trimmed, or delivered by someone): back to the committed
      // state, and recovery takes over whatever is pending.
      this.w.opts.log?.(`partition ${this.partition}: ${err.message}; recovering`);
      this.forgetReads();
      this.recovering = true;
      await this.rollback();
      return;
    }
    if (err) {
      if (/LEASE_LOST/.test(err.message)) {
        this.lose('lease lost at commit; the new owner redoes the batch');
        throw new LeaseLost();
      }
      await this.loadState().catch(() => this.rollback().catch(() => undefined));
      throw err;
    }
    if (plan.snapshot !== undefined) this.committedState = plan.snapshot;
    const c = this.w.counters;
    c.sent += plan.outputs;
    c.emitted += plan.emitted;
    c.batches++;
    for (const d of plan.dead) c.deadLettered += d.events;
    this.w.opts.onBatch?.({
      partition: this.partition,
      events: plan.events,
      outputs: plan.outputs,
      ms: performance.now() - plan.t0,
    });
  }
}
