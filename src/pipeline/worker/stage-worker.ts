import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import { pipelineByNode, type Reply, type Routed } from '../../redis/pipeline-by-node.js';
import { sleep } from '../../wait.js';
import { withScripts, type ScriptClient } from '../scripts/scripts.js';
import { HashLookup, type LookupStats } from '../services/lookup.js';
import { ModelStore } from '../services/model-store.js';
import { namespaceKeys } from '../keys.js';
import type { StageServices } from '../stage.js';
import { errorText } from './entries.js';
import {
  countLiveWorkers,
  publishHeartbeat,
  removeHeartbeat,
  type Heartbeat,
  type WorkerCounters,
} from './heartbeats.js';
import { MultiReader } from './multi-reader.js';
import { LeaseLost, OwnedPartition, type CommitPlan, type PartitionHost } from './owned-partition.js';
import {
  resolveWorkerOptions,
  WORKER_DEFAULTS,
  type ResolvedWorkerOptions,
  type WorkerOptions,
} from './worker-options.js';

/** The longest the serving loop sleeps when nothing wakes it. */
const MAX_IDLE_MS = 1000;

/**
 * Runs one stage for the partitions this worker owns. All Redis I/O of the stage happens here:
 * leases, batched reads, the stage's `process`, and one atomic commit per batch (outputs + acks +
 * state + dead letters, fenced by the lease).
 */
export class StageWorker implements PartitionHost {
  readonly id: string;
  readonly options: ResolvedWorkerOptions;
  readonly counters: WorkerCounters = {
    received: 0,
    sent: 0,
    emitted: 0,
    failed: 0,
    deadLettered: 0,
    batches: 0,
    notDurable: 0,
  };
  readonly client: ScriptClient;
  /** Shared by the partitions of this worker. */
  readonly services: StageServices;
  /** On a single Redis: one blocking read for all partitions (in a cluster each has its own). */
  readonly reader: MultiReader | undefined;
  private readonly runners = new Map<number, OwnedPartition>();
  private serving: Promise<void> | undefined;
  /** Set when something the loop waits for happened (a stream got entries, a partition came or goes). */
  private kicked = false;
  /** Ends the loop's idle wait (a plain callback: an AbortSignal costs an error object per wake). */
  private wakeUp: (() => void) | undefined;
  private readonly abort = new AbortController();
  private balancing: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private lastRate = { t: Date.now(), n: 0, rate: 0 };
  private readonly lookups = new Map<string, HashLookup>();
  /** The commits of the serving loop's previous turn, while it processes the next one. */
  private committing: Promise<void> | undefined;
  /** Partitions seen without any lease in the last balance round. */
  private orphans = new Set<number>();

  constructor(opts: WorkerOptions) {
    this.options = resolveWorkerOptions(opts);
    const o = this.options;
    this.id = opts.workerId ?? `${o.stage.name}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.client = withScripts(o.conn.client());
    if (!(this.client as Cluster).isCluster) {
      this.reader = new MultiReader(withScripts(o.conn.dedicated()) as Redis, this.client as Redis, o.blockMs, () =>
        this.wake(),
      );
    }
    const ns = o.topology.keys.ns;
    const models = new ModelStore(this.client, ns);
    this.services = {
      lookup: (hash, fields) => {
        let l = this.lookups.get(hash);
        if (!l) this.lookups.set(hash, (l = new HashLookup(this.client, namespaceKeys.lookupHash(ns, hash), o.lookup)));
        return l.get(fields);
      },
      models: {
        latestVersion: (n) => models.latestVersion(n),
        latest: (n) => models.latest(n),
        save: (n, b) => models.save(n, b),
      },
    };
  }

  /** The stage this worker runs. */
  get stage(): string {
    return this.options.stage.name;
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

  /** Partitions owned right now. */
  get owned(): number[] {
    return [...this.runners.keys()].sort((a, b) => a - b);
  }

  /** Starts balancing and processing; returns at once. */
  start(): void {
    this.balancing = this.balanceLoop();
    this.serving = this.serve().catch((err) => this.options.log(`worker loop: ${errorText(err)}`));
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
      stage: this.stage,
      pid: process.pid,
      host: hostname(),
      startedAt: this.startedAt,
      ts: now,
      ...this.counters,
      owned: this.owned,
      rate: Math.round(this.lastRate.rate),
      ...(this.lookups.size ? { lookup: this.lookupStats() } : {}),
      ...(this.options.metricsPort ? { metricsPort: this.options.metricsPort } : {}),
    };
  }

  /** Every balance round: heartbeat, renew leases, and take or give partitions to balance the live workers. */
  private async balanceLoop(): Promise<void> {
    const { topology, leaseTtlMs, balanceMs } = this.options;
    const { keys, partitions } = topology;
    const stage = this.stage;
    const signal = this.abort.signal;
    // Start the scan at a worker-specific offset so that workers starting together rarely collide.
    const offset = parseInt(this.id.slice(-6), 16) % partitions || 0;
    while (!signal.aborted) {
      try {
        await publishHeartbeat(this.client, keys.ns, this.heartbeat());
        // Concurrently, so one slow reply does not delay the other renewals toward expiry.
        await Promise.all(
          [...this.runners].map(async ([k, r]) => {
            if (!(await this.client.streamctlLeaseRenew(keys.lease(stage, k), r.token, leaseTtlMs)))
              r.lose('lease expired');
          }),
        );
        const target = Math.ceil(partitions / (await countLiveWorkers(this.client, keys.ns, stage)));
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
          const ok = await this.client.set(keys.lease(stage, k), token, 'PX', leaseTtlMs, 'NX');
          if (ok) this.startRunner(k, token);
        }
        this.orphans = orphansNow;
      } catch (err) {
        this.options.log(`balance: ${errorText(err)}`);
      }
      await sleep(balanceMs, signal);
    }
  }

  private startRunner(k: number, token: string): void {
    this.runners.set(k, new OwnedPartition(this, k, token));
    this.wake();
  }

  /** Wakes the loop: a partition's stream got entries, or a partition came or goes. */
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

  /** The previous turn's commits, settled. */
  async commitsInFlight(): Promise<void> {
    await this.committing;
  }

  /** Waits for the previous turn's commits to be settled. */
  private async settleCommits(): Promise<void> {
    await this.committing;
    this.committing = undefined;
  }

  /** Gives a partition up after its failure or stop; the balance loop may take it again. */
  private async retire(r: OwnedPartition, err?: unknown): Promise<void> {
    if (err !== undefined && !(err instanceof LeaseLost))
      this.options.log(`partition ${r.partition}: ${errorText(err)}`);
    this.runners.delete(r.partition);
    await r.close();
  }

  /**
   * The one loop of all owned partitions. The partitions' next entries come with XREAD BLOCK (the
   * wait and the data in one round trip); the loop runs the stage on every batch that came, in
   * turn, then sends all their commits together. A commit delivers its batch's entries to the group
   * and acknowledges them, fenced by the lease.
   * - On a single Redis one XREAD covers all the partitions. Once caught up (the last read came back
   *   short), the turn's commits and the next XREAD go in one write on that connection, since a
   *   socket write costs about as much as a small batch. Through a backlog the next read goes ahead
   *   while the batches are processed, and the commits on the other connection, so that reading
   *   never waits for the commits (docs/PERFORMANCE.md has the figures of both choices).
   * - In a cluster each partition has its own read, sent ahead, and the commits go in one pipeline
   *   per node, settled while the next turn runs.
   * Recovery (pending entries after a takeover or a failed batch) runs a partition at a time, with
   * its own commits.
   */
  private async serve(): Promise<void> {
    const signal = this.abort.signal;
    const { batchEntries, durable, durableTimeoutMs } = this.options;
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
      const count = Math.max(1, Math.ceil(batchEntries / Math.max(1, this.runners.size)));
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
        await this.idle(Math.max(0, Math.min(nextRetry - performance.now(), MAX_IDLE_MS)));
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
        this.reader?.read(this.runners.values(), count, commands, { durable, durableTimeoutMs }) ??
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

  /** Commits in one pipeline per node (with WAIT for a replica when durable). */
  sendCommits(commands: Routed[]): Promise<Reply[]> {
    const { durable, durableTimeoutMs } = this.options;
    return pipelineByNode(this.client, commands, { durable, durableTimeoutMs });
  }

  /**
   * Stops gracefully: no new reads, in-flight batches finish and commit, leases are released.
   * After 3/4 of `timeoutMs` the blocking connections are cut.
   */
  async stop(timeoutMs: number = WORKER_DEFAULTS.shutdownTimeoutMs): Promise<void> {
    this.abort.abort();
    for (const r of this.runners.values()) r.stop();
    this.wake();
    const force = setTimeout(() => {
      for (const r of this.runners.values()) r.kill();
    }, timeoutMs * 0.75);
    try {
      await this.balancing;
      await this.serving;
      this.reader?.close();
      await removeHeartbeat(this.client, this.options.topology.keys.ns, this.id).catch(() => undefined);
    } finally {
      clearTimeout(force);
    }
  }
}
