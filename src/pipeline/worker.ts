import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import type { RedisConnection } from '../redis/connection.js';
import { CODEC_VERSION, CodecError, decodeEntry, encodeBatch, type StreamEvent } from './codec.js';
import { pairs } from '../redis/info.js';
import { withScripts, type ScriptClient } from './scripts.js';
import { HashLookup, type LookupOptions, type LookupStats } from './lookup.js';
import { ModelStore } from './model-store.js';
import type { Stage, StageContext, StageFactory, StageServices } from './stage.js';
import type { StageStreams, Topology } from './topology.js';
import { sleep } from '../sleep.js';

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
  private readonly runners = new Map<number, PartitionRunner>();
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private lastRate = { t: Date.now(), n: 0, rate: 0 };
  private readonly lookups = new Map<string, HashLookup>();
  /** Partitions seen without any lease in the last balance round. */
  private orphans = new Set<number>();
  /** Shared by the partitions of this worker. */
  readonly services: StageServices;

  constructor(readonly opts: WorkerOptions) {
    this.id = opts.workerId ?? `${opts.stage.name}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.client = withScripts(opts.conn.client());
    const models = new ModelStore(this.client, opts.topology.keys.ns);
    this.services = {
      lookup: (hash, fields) => {
        let l = this.lookups.get(hash);
        if (!l) this.lookups.set(hash, (l = new HashLookup(this.client, `${opts.topology.keys.ns}:${hash}`, opts.lookup)));
        return l.get(fields);
      },
      models: { latestVersion: (n) => models.latestVersion(n), latest: (n) => models.latest(n), save: (n, b) => models.save(n, b) },
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
  }

  private heartbeat(): Heartbeat {
    const now = Date.now();
    if (now - this.lastRate.t >= 1000) {
      this.lastRate = { t: now, n: this.counters.received, rate: ((this.counters.received - this.lastRate.n) * 1000) / (now - this.lastRate.t) };
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
            if (!(await this.client.streamctlLeaseRenew(keys.lease(stage, k), r.token, this.leaseTtlMs))) r.lose('lease expired');
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
        const others = Array.from({ length: partitions }, (_, i) => (i + offset) % partitions).filter((k) => !this.runners.has(k));
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
    const r = new PartitionRunner(this, k, token);
    this.runners.set(k, r);
    r.done = r.run().then(
      () => void this.runners.delete(k),
      (err) => {
        this.opts.log?.(`partition ${k}: ${errorText(err)}`);
        this.runners.delete(k);
      },
    );
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
    const force = setTimeout(() => {
      for (const r of this.runners.values()) r.kill();
    }, timeoutMs * 0.75);
    try {
      await this.loop;
      await Promise.all([...this.runners.values()].map((r) => r.done));
      await this.client.hdel(this.opts.topology.keys.workers, this.id).catch(() => undefined);
    } finally {
      clearTimeout(force);
    }
  }
}

/** The loop of one owned partition. */
class PartitionRunner {
  stopping = false;
  private lost = false;
  done: Promise<void> = Promise.resolve();
  private readonly reader: Redis | Cluster;
  private readonly stage: Stage;
  private readonly ctx: StageContext;
  private committedState: Buffer | undefined;
  private readonly stop$ = new AbortController();
  /** Events the stage emitted to other streams during the current batch. */
  private emitted = new Map<string, StreamEvent[]>();

  constructor(
    private readonly w: StageWorker,
    readonly partition: number,
    readonly token: string,
  ) {
    this.reader = w.opts.conn.dedicated();
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

  stop(): void {
    this.stopping = true;
  }
  lose(why: string): void {
    this.w.opts.log?.(`partition ${this.partition}: ${why}`);
    this.lost = true;
    this.stopping = true;
  }
  kill(): void {
    this.stopping = true;
    this.stop$.abort();
    this.reader.disconnect();
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

  async run(): Promise<void> {
    try {
      await this.stage.init?.(this.ctx);
      await this.loadState();
      let recovering = true; // a previous owner may have left pending entries: they come first
      let backoff = 0;
      while (!this.stopping) {
        if (recovering) {
          const r = await this.recover();
          if (r === 'done') recovering = false;
          else if (r === 'retry') {
            backoff = Math.min(1000, Math.max(25, backoff * 2));
            await sleep(backoff, this.stop$.signal);
          } else backoff = 0;
          continue;
        }
        const entries = await this.read();
        if (!entries || entries.length === 0) continue;
        if (!(await this.processAndCommit(entries, false))) recovering = true;
      }
    } catch (err) {
      if (!(err instanceof LeaseLost) && !this.stop$.signal.aborted) throw err;
    } finally {
      if (!this.lost) await this.w.shared.streamctlLeaseRelease(this.keys.lease(this.group, this.partition), this.token).catch(() => undefined);
      this.reader.disconnect();
    }
  }

  /** The id after which the group's next new entry comes: where a wait for new entries starts. */
  private lastSeen: string | undefined;

  /**
   * Reads new entries through the fenced read script; when there are none, waits on the stream
   * itself (XREAD BLOCK on this partition's own connection) for an entry after the last one seen.
   */
  private async read(): Promise<Entry[] | undefined> {
    const keys = this.keys;
    const count = this.w.opts.batchEntries ?? 50;
    const fetch = async () => {
      let reply: [Buffer, Entry[]][] | null;
      try {
        reply = (await this.w.shared.streamctlReadBuffer(keys.lease(this.group, this.partition), this.input, this.token, this.group, this.w.id, count)) as [Buffer, Entry[]][] | null;
      } catch (err) {
        if (/LEASE_LOST/.test(String((err as Error).message))) {
          this.lose('lease lost before reading');
          throw new LeaseLost();
        }
        throw err;
      }
      const entries = reply?.[0]?.[1];
      if (entries?.length) this.lastSeen = entries[entries.length - 1]![0].toString();
      return entries;
    };
    const entries = await fetch();
    if (entries?.length) return entries;
    if (this.lastSeen === undefined) {
      const groups = ((await this.w.shared.call('XINFO', 'GROUPS', this.input)) as unknown[]).map(pairs);
      this.lastSeen = String(groups.find((g) => String(g.name) === this.group)?.['last-delivered-id'] ?? '0-0');
    }
    await (this.reader as Redis).xread('COUNT', 1, 'BLOCK', this.w.opts.blockMs ?? 500, 'STREAMS', this.input, this.lastSeen);
    return this.stopping ? undefined : fetch();
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
        const raw = JSON.stringify(fields.map((f) => (isUtf8(f) ? f.toString('utf8') : { b64: f.toString('base64') }))).slice(0, 65_536);
        bad.push({ events: 1, origin: id.toString(), error: errorText(err), deliveries: deliveries(id.toString()), batch: '', raw });
      }
    }
    return { events, bad };
  }

  /**
   * Processes entries as one batch and commits. A throw from the stage rolls its state back and
   * returns false: the entries stay pending and go through recovery.
   */
  private async processAndCommit(entries: Entry[], recovering: boolean): Promise<boolean> {
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
      await this.rollback();
      if (!recovering) this.w.opts.log?.(`partition ${this.partition}: batch failed (${errorText(err)}); redelivering`);
      return false;
    }
    await this.commit(entries.map(([id]) => id.toString()), outputs, bad);
    this.w.opts.onBatch?.({ partition: this.partition, events: events.length, outputs: outputs.length, ms: performance.now() - t0 });
    return true;
  }

  /**
   * Takes over every pending entry of the partition (left by a previous owner or a failed batch),
   * first as one batch, then entry by entry; an entry past maxDeliveries is split event by event
   * and its failing events are dead-lettered.
   * @returns 'done' when nothing is pending, 'more' after progress, 'retry' when an entry must wait.
   */
  private async recover(): Promise<'done' | 'more' | 'retry'> {
    // XAUTOCLAIM (fenced by the lease) counts a delivery per claim and drops entries deleted from
    // the stream itself.
    let claimed: (Entry | null)[];
    try {
      [, claimed] = (await this.w.shared.streamctlClaimBuffer(
        this.keys.lease(this.group, this.partition), this.input, this.token, this.group, this.w.id, this.w.opts.batchEntries ?? 50,
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
    if (await this.processAndCommit(live, true)) return 'more';

    const counts = await this.deliveries(live);
    for (const entry of live) {
      const id = entry[0].toString();
      if (await this.processAndCommit([entry], true)) continue;
      const deliveries = counts.get(id) ?? 1;
      if (deliveries < this.w.opts.stage.maxDeliveries) return 'retry';
      await this.isolate(entry, deliveries);
    }
    return 'more';
  }

  private async deliveries(entries: Entry[]): Promise<Map<string, number>> {
    const first = entries[0]![0].toString();
    const last = entries[entries.length - 1]![0].toString();
    const rows = (await this.w.shared.xpending(this.input, this.group, first, last, entries.length + 10)) as [string, string, number, number][];
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
      bad.push({ events: failed.length, origin: id, error: failed[0]!.error, deliveries, batch: encodeBatch(failed.map((f) => f.event)), raw: '' });
    }
    await this.commit([id], outputs, bad);
    this.w.opts.onBatch?.({ partition: this.partition, events: events.length, outputs: outputs.length, ms: performance.now() - t0 });
  }

  private async commit(ids: string[], outputs: StreamEvent[], dead: DeadLetter[]): Promise<void> {
    const keys = this.keys;
    const k = this.partition;
    const commitKeys = [keys.lease(this.group, k), this.input, keys.state(k, this.group), keys.dlq(k), keys.stream(k, this.w.opts.stage.output)];
    const args: (string | Buffer | number)[] = [this.token, this.group, String(CODEC_VERSION), ids.length, ...ids];
    const batches: [number, Buffer][] = chunks(outputs, MAX_EVENTS_PER_ENTRY).map((c) => [5, encodeBatch(c)]);
    for (const [stream, events] of this.emitted) {
      if (events.length === 0) continue;
      commitKeys.push(keys.stream(k, stream));
      for (const c of chunks(events, MAX_EVENTS_PER_ENTRY)) batches.push([commitKeys.length, encodeBatch(c)]);
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
    try {
      if (this.w.opts.durable) {
        const pipeline = this.w.shared.pipeline() as unknown as { streamctlCommit(...a: unknown[]): { call(...a: unknown[]): { exec(): Promise<[Error | null, unknown][]> } } };
        const [[err]] = (await pipeline.streamctlCommit(commitKeys.length, ...commitKeys, ...args).call('WAIT', 1, 1000).exec()) as [[Error | null, unknown]];
        if (err) throw err;
      } else {
        await this.w.shared.streamctlCommit(commitKeys.length, ...commitKeys, ...args);
      }
    } catch (err) {
      if (/LEASE_LOST/.test(String((err as Error).message))) {
        this.lose('lease lost at commit; the new owner redoes the batch');
        throw new LeaseLost();
      }
      // The commit may or may not have happened: the state in Redis is the truth, and what is
      // still pending is redone by recovery.
      await this.loadState().catch(() => this.rollback().catch(() => undefined));
      throw err;
    }
    if (snapshot !== undefined) this.committedState = Buffer.isBuffer(snapshot) ? snapshot : Buffer.from(snapshot);
    this.w.counters.sent += outputs.length;
    this.w.counters.emitted += this.emittedCount();
    this.emitted = new Map();
    this.w.counters.batches++;
    for (const d of dead) this.w.counters.deadLettered += d.events;
  }
}
