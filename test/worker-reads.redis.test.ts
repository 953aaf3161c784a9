import { beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { audit, type AuditReport } from '../src/pipeline/audit.js';
import { CODEC_VERSION, decodeBatch, decodeEntry, encodeBatch, type StreamEvent } from '../src/pipeline/codec.js';
import { Keys, partitionOf } from '../src/pipeline/keys.js';
import { Producer } from '../src/pipeline/producer.js';
import type { RunRecord } from '../src/pipeline/runs.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import type { StageFactory } from '../src/pipeline/stage.js';
import { passthrough } from '../src/pipeline/stages/passthrough.js';
import { ensureTopology, type Topology } from '../src/pipeline/topology.js';
import { StageWorker } from '../src/pipeline/worker/stage-worker.js';
import { pairs } from '../src/redis/info.js';
import type { RedisClient, RedisConnection } from '../src/redis/connection.js';
import { deploymentUrls } from '../src/embedded/deployment.js';
import { waitFor } from '../src/wait.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { connectTo } from './helpers/io.js';
import { redisWithConnection, startTestDeployment } from './helpers/redis.js';

const fixture = redisWithConnection();
const cleanup = cleanupAfterEach();
let nsCounter = 0;
let logs: string[] = [];
beforeEach(() => {
  logs = [];
});

/** A namespace of its own for each test. */
function newNamespace(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${nsCounter++}`;
}

/** The i-th key (in a fixed enumeration) that routes to partition k. */
function keysOf(k: number, partitions: number, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) if (partitionOf(`key-${i}`, partitions) === k) out.push(`key-${i}`);
  return out;
}

/** Starts an in-process worker for the (only) stage of `topology`; stopped after the test. */
function startStageWorker(
  conn: RedisConnection,
  topology: Topology,
  opts: {
    factory?: StageFactory;
    maxDeliveries?: number;
    blockMs?: number;
    batchEntries?: number;
    leaseTtlMs?: number;
  } = {},
): StageWorker {
  const w = new StageWorker({
    conn,
    topology,
    factory: opts.factory ?? passthrough,
    stage: { ...topology.stages[0]!, maxDeliveries: opts.maxDeliveries ?? 5, params: {} },
    batchEntries: opts.batchEntries ?? 50,
    blockMs: opts.blockMs ?? 500,
    leaseTtlMs: opts.leaseTtlMs ?? 3000,
    log: (m) => logs.push(`[${w.id}] ${m}`),
  });
  w.start();
  cleanup(() => w.stop(4000));
  return w;
}

/** Sends the events through an idempotent producer with lingerMs 0 and returns the run to audit. */
async function produce(
  client: RedisClient,
  topology: Topology,
  events: { key: string; data: string }[],
  producerId: string,
  batch = 20,
): Promise<RunRecord> {
  const producer = new Producer({ client: withScripts(client), topology, producerId, batch, lingerMs: 0 });
  await producer.init();
  const startedAt = Date.now();
  for (const e of events) producer.send(e.key, Buffer.from(e.data), Date.now());
  await producer.close();
  expect(producer.stats).toMatchObject({ sent: events.length, acked: events.length, failed: 0 });
  return {
    id: `run-${producerId}`,
    kind: 'produce',
    producer: producerId,
    status: 'done',
    startedAt,
    endedAt: Date.now(),
    partitions: topology.partitions,
    rate: 0,
    firstSeq: producer.first,
    lastSeq: producer.last,
    sent: producer.stats.sent,
    acked: producer.stats.acked,
    errors: producer.stats.errors,
    failed: 0,
    failedRanges: [],
  };
}

/** Polls the audit until `done` holds for it. */
function auditUntil(
  client: RedisClient,
  topology: Topology,
  run: RunRecord,
  done: (r: AuditReport) => boolean,
  what: string,
  timeoutMs = 20_000,
): Promise<AuditReport> {
  let last: AuditReport | undefined;
  return waitFor(
    async () => {
      last = await audit(client, topology, run);
      return done(last) ? last : undefined;
    },
    {
      timeoutMs,
      intervalMs: 50,
      onTimeout: (e) => new Error(`${what}: ${JSON.stringify(last)} ${String(e ?? '')}\n${logs.slice(-20).join('\n')}`),
    },
  );
}

function waitOwned(w: StageWorker, owned: number[], timeoutMs = 10_000): Promise<true> {
  return waitFor(async () => (JSON.stringify(w.owned) === JSON.stringify(owned) ? true : undefined), {
    timeoutMs,
    intervalMs: 20,
    onTimeout: () =>
      new Error(`worker owns ${JSON.stringify(w.owned)}, not ${JSON.stringify(owned)}\n${logs.slice(-20).join('\n')}`),
  });
}

/** The group's summary of XINFO GROUPS for one stream. */
async function groupInfo(client: RedisClient, stream: string, group: string): Promise<Record<string, unknown>> {
  const groups = ((await client.call('XINFO', 'GROUPS', stream)) as unknown[]).map(pairs);
  const g = groups.find((x) => String(x.name) === group);
  if (!g) throw new Error(`no group ${group} on ${stream}`);
  return g;
}

async function pendingCount(client: RedisClient, stream: string, group: string): Promise<number> {
  return Number(((await client.xpending(stream, group)) as [number, ...unknown[]])[0]);
}

/** Events of a stream, in stream order. */
async function streamEvents(client: RedisClient, stream: string): Promise<StreamEvent[]> {
  const entries = (await client.xrangeBuffer(stream, '-', '+')) as [Buffer, Buffer[]][];
  return entries.flatMap(([, fields]) => decodeEntry(fields));
}

/** Clients blocked in XREAD right now, with the seconds since they sent it. */
async function blockedReads(client: RedisClient): Promise<{ id: string; idle: number }[]> {
  const list = String(await client.call('CLIENT', 'LIST'));
  return list
    .split('\n')
    .filter(Boolean)
    .map(
      (line) =>
        Object.fromEntries(
          line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
        ) as Record<string, string>,
    )
    .filter((c) => c.cmd === 'xread' && (c.flags ?? '').includes('b'))
    .map((c) => ({ id: c.id!, idle: Number(c.idle) }));
}

/** Waits until exactly one client is blocked in an XREAD sent less than `maxIdle` seconds ago. */
function oneFreshBlockedRead(client: RedisClient, maxIdle: number): Promise<{ id: string; idle: number }> {
  let last: unknown;
  return waitFor(
    async () => {
      const b = await blockedReads(client);
      last = b;
      return b.length === 1 && b[0]!.idle < maxIdle ? b[0] : undefined;
    },
    {
      timeoutMs: 10_000,
      intervalMs: 20,
      onTimeout: () => new Error(`expected one fresh blocked XREAD, saw ${JSON.stringify(last)}`),
    },
  );
}

/** Calls of CLIENT UNBLOCK the server has answered so far. */
async function unblockCalls(client: RedisClient): Promise<number> {
  const info = String(await client.call('INFO', 'commandstats'));
  const m = /^cmdstat_client\|unblock:calls=(\d+)/m.exec(info);
  return m ? Number(m[1]) : 0;
}

describe("commit.lua 'take' mode", () => {
  it("delivers and acks exactly the group's next entries under the lease; refuses other ids (STALE_READ) and a wrong lease (LEASE_LOST)", async () => {
    const client = withScripts(fixture.conn.client());
    const ns = newNamespace('take');
    const keys = new Keys(ns, 1);
    const group = 'stage';
    const [lease, input, state, dlq, output] = [
      keys.lease(group, 0),
      keys.stream(0, 'ingest'),
      keys.state(0, group),
      keys.dlq(0),
      keys.stream(0, 'out'),
    ];
    await client.set(lease, 'token-1');
    await client.xgroup('CREATE', input, group, '0', 'MKSTREAM');
    const event = (seq: number): StreamEvent => ({
      key: 'k',
      producer: 'p',
      seq,
      ts: 1_700_000_000_000 + seq,
      data: Buffer.from(`e${seq}`),
    });
    const ids: string[] = [];
    for (let seq = 1; seq <= 3; seq++)
      ids.push((await client.xadd(input, '*', 'v', String(CODEC_VERSION), 'b', encodeBatch([event(seq)])))!);

    const out = encodeBatch([event(1), event(2)]);
    /** A commit in mode 'take' with one output batch, a state value and, optionally, a dead letter. */
    const take = (token: string, takeIds: string[], opts: { state?: string; dead?: boolean } = {}) =>
      client.streamctlCommit(
        5,
        lease,
        input,
        state,
        dlq,
        output,
        token,
        group,
        String(CODEC_VERSION),
        'take',
        'consumer-1',
        takeIds.length,
        ...takeIds,
        1,
        '',
        5,
        out,
        ...(opts.state === undefined ? ['-', ''] : ['set', opts.state]),
        ...(opts.dead ? [1, takeIds[0] ?? '0-0', group, 'Error: x', '1', '', 'raw'] : [0]),
      );

    // The right ids, the first two: delivered to the group and acknowledged in one step.
    expect(await take('token-1', ids.slice(0, 2), { state: 'S1' })).toBe(2);
    expect(await pendingCount(client, input, group)).toBe(0);
    expect(await groupInfo(client, input, group)).toMatchObject({ 'last-delivered-id': ids[1], pending: 0 });
    const written = (await client.xrangeBuffer(output, '-', '+')) as [Buffer, Buffer[]][];
    expect(written).toHaveLength(1);
    expect(decodeEntry(written[0]![1]).map((e) => e.seq)).toEqual([1, 2]);
    expect(await client.get(state)).toBe('S1');

    // A lease held by someone else: nothing moves, not even the group's position.
    await expect(take('token-2', [ids[2]!], { state: 'S2', dead: true })).rejects.toThrow(/LEASE_LOST/);
    expect(await groupInfo(client, input, group)).toMatchObject({ 'last-delivered-id': ids[1], pending: 0 });
    expect(await client.xlen(output)).toBe(1);
    expect(await client.xlen(dlq)).toBe(0);
    expect(await client.get(state)).toBe('S1');

    // Ids that are not the group's next ones (an entry already delivered): STALE_READ, and no
    // output, state or dead letter is written.
    await expect(take('token-1', [ids[0]!], { state: 'S3', dead: true })).rejects.toThrow(/STALE_READ/);
    expect(await client.xlen(output)).toBe(1);
    expect(await client.xlen(dlq)).toBe(0);
    expect(await client.get(state)).toBe('S1');
    // As documented, what the script delivered while checking stays pending, for recovery.
    expect(await groupInfo(client, input, group)).toMatchObject({ 'last-delivered-id': ids[2], pending: 1 });

    // More ids than the group has new entries (the one left is pending now, not new): STALE_READ too.
    await expect(take('token-1', [ids[2]!])).rejects.toThrow(/STALE_READ/);
    expect(await client.xlen(output)).toBe(1);

    // Recovery acknowledges the pending entry in mode 'ack'.
    const ack = await client.streamctlCommit(
      5,
      lease,
      input,
      state,
      dlq,
      output,
      'token-1',
      group,
      String(CODEC_VERSION),
      'ack',
      1,
      ids[2]!,
      0,
      '',
      '-',
      '',
      0,
    );
    expect(ack).toBe(1);
    expect(await pendingCount(client, input, group)).toBe(0);
  });
});

describe('one worker, all partitions on a single Redis', () => {
  it('delivers every event of a lingerMs 0 producer exactly once, in key order, with nothing pending', async () => {
    const client = fixture.conn.client();
    const ns = newNamespace('multi');
    const topology = await ensureTopology(client, ns, [{ name: 'pass' }], { partitions: 8 });
    // A small batch: reads of one or two entries per partition, so many turns, each sending its
    // commits and the next read in one write.
    const w = startStageWorker(fixture.conn, topology, { batchEntries: 8 });
    expect(w.reader).toBeDefined();
    await waitOwned(w, [0, 1, 2, 3, 4, 5, 6, 7]);

    const events = Array.from({ length: 4000 }, (_, i) => ({ key: `k${i % 211}`, data: JSON.stringify({ i }) }));
    const run = await produce(client, topology, events, `p-${ns}`);
    // Every partition got events.
    for (let k = 0; k < 8; k++) expect(await client.xlen(topology.keys.stream(k, 'ingest'))).toBeGreaterThan(0);

    const report = await auditUntil(
      client,
      topology,
      run,
      (r) => r.drained && r.delivered === r.produced,
      'not all delivered',
    );
    expect(report).toMatchObject({
      produced: 4000,
      delivered: 4000,
      lost: 0,
      duplicates: 0,
      unexpected: 0,
      outOfOrderKeys: 0,
      deadLettered: 0,
      drained: true,
    });
    for (let k = 0; k < 8; k++) expect(await pendingCount(client, topology.keys.stream(k, 'ingest'), 'pass')).toBe(0);
    // Each event was committed once: no batch was redone.
    expect(w.counters).toMatchObject({ sent: 4000, failed: 0, deadLettered: 0 });
    expect(logs.filter((l) => /STALE_READ|batch failed/.test(l))).toEqual([]);
  });
});

describe('a turn on a single Redis', () => {
  it('reads ahead through a backlog; once caught up, sends its commits and the next read in one write on the read connection', async () => {
    const client = fixture.conn.client();
    const ns = newNamespace('onewrite');
    const topology = await ensureTopology(client, ns, [{ name: 'pass' }], { partitions: 4 });
    // MONITOR names the connection of every command.
    const monitor = await (client as Redis).duplicate().monitor();
    cleanup(() => void monitor.disconnect());
    const seen: { cmd: string; take: boolean; source: string }[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const cmd = String(args[0]).toLowerCase();
      if (cmd === 'xread' || cmd === 'evalsha' || cmd === 'eval')
        seen.push({ cmd, take: args.includes('take') && args.some((a) => String(a).includes(ns)), source });
    });
    // A backlog before the worker starts: its reads come back full (10 entries per partition).
    const backlog = Array.from({ length: 800 }, (_, i) => ({ key: `k${i % 37}`, data: `b${i}` }));
    const run = await produce(client, topology, backlog, `p-${ns}`, 5);
    const w = startStageWorker(fixture.conn, topology, { batchEntries: 40 });
    await auditUntil(
      client,
      topology,
      run,
      (r) => r.drained && r.delivered === backlog.length,
      'backlog not delivered',
    );
    const backlogPhase = seen.length;
    // Then one event at a time, each delivered before the next: every read comes back short.
    for (let i = 0; i < 12; i++) {
      const one = await produce(client, topology, [{ key: `t${i}`, data: `t${i}` }], `p-${ns}-t${i}`);
      await auditUntil(client, topology, one, (r) => r.delivered === 1, `event t${i} not delivered`);
    }
    expect(w.counters.sent).toBe(backlog.length + 12);
    const readers = new Set(seen.filter((c) => c.cmd === 'xread').map((c) => c.source));
    expect(readers.size).toBe(1);
    const reader = [...readers][0];
    const backlogCommits = seen.slice(0, backlogPhase).filter((c) => c.take);
    const caughtUpCommits = seen.slice(backlogPhase).filter((c) => c.take);
    // Reading ahead, the read connection is blocked in the next read: commits go on the other one.
    expect(backlogCommits.some((c) => c.source !== reader)).toBe(true);
    expect(caughtUpCommits.length).toBeGreaterThanOrEqual(12);
    expect(caughtUpCommits.filter((c) => c.source !== reader)).toEqual([]);
  });
});

describe('the single XREAD of all partitions (blockMs 30 s)', () => {
  const BLOCK_MS = 30_000;

  it('covers every owned partition: an event to any of them is delivered without waiting for the block to end', async () => {
    const client = fixture.conn.client();
    const ns = newNamespace('cover');
    const topology = await ensureTopology(client, ns, [{ name: 'pass' }], { partitions: 4 });
    const w = startStageWorker(fixture.conn, topology, { blockMs: BLOCK_MS });
    await waitOwned(w, [0, 1, 2, 3]);
    for (let k = 0; k < 4; k++) {
      // One connection blocks for all four partitions, and its read is recent: without an event
      // it would go on for at least another 25 s.
      await oneFreshBlockedRead(client, 5);
      const run = await produce(client, topology, [{ key: keysOf(k, 4, 1)[0]!, data: `to ${k}` }], `p-${ns}-${k}`);
      const t0 = performance.now();
      await auditUntil(client, topology, run, (r) => r.delivered === 1, `event to partition ${k} not delivered`, 5000);
      expect(performance.now() - t0).toBeLessThan(2000);
      expect((await streamEvents(client, topology.keys.stream(k, 'out'))).map((e) => e.data.toString())).toEqual([
        `to ${k}`,
      ]);
    }
  });

  it('a partition taken while the read is blocked ends it with CLIENT UNBLOCK, and its backlog flows at once', async () => {
    const client = fixture.conn.client();
    const ns = newNamespace('unblock');
    const topology = await ensureTopology(client, ns, [{ name: 'pass' }], { partitions: 4 });
    // Partition 3 is held by someone else for now.
    const foreign = topology.keys.lease('pass', 3);
    await client.set(foreign, 'someone-else:1', 'PX', 60_000);
    const w = startStageWorker(fixture.conn, topology, { blockMs: BLOCK_MS });
    expect(w.reader).toBeDefined();
    await waitOwned(w, [0, 1, 2]);
    // A backlog on partition 3, which nobody serves.
    const events = keysOf(3, 4, 5).flatMap((key) => [0, 1, 2, 3].map((i) => ({ key, data: `${key}/${i}` })));
    const run = await produce(client, topology, events, `p-${ns}`);
    // The worker is blocked in its read of partitions 0-2, sent less than 5 s ago (so it would
    // block 25 s more); partition 3 still has nothing delivered.
    const blocked = await oneFreshBlockedRead(client, 5);
    expect((await audit(client, topology, run)).delivered).toBe(0);
    const unblocksBefore = await unblockCalls(client);

    // The lease is freed: the worker takes partition 3 within a balance round (500 ms).
    await client.del(foreign);
    const t0 = performance.now();
    const report = await auditUntil(
      client,
      topology,
      run,
      (r) => r.drained && r.delivered === events.length,
      'backlog of the partition taken not delivered',
      10_000,
    );
    const ms = performance.now() - t0;
    expect(report).toMatchObject({
      produced: events.length,
      delivered: events.length,
      lost: 0,
      duplicates: 0,
      outOfOrderKeys: 0,
    });
    expect(w.owned).toEqual([0, 1, 2, 3]);
    expect(ms).toBeLessThan(3000);
    expect(await unblockCalls(client)).toBeGreaterThan(unblocksBefore);
    // The blocked read was ended (not left to run out): the reader now blocks in a newer read.
    const after = await oneFreshBlockedRead(client, 5);
    expect(after.id).toBe(blocked.id);
    expect((await streamEvents(client, topology.keys.stream(3, 'out'))).length).toBe(events.length);
  });
});

describe('a stage that throws on one event, on the fast path', () => {
  it('the batch read with XREAD fails, recovery takes it over: the poisoned event is dead-lettered after maxDeliveries, the others of its entry delivered once', async () => {
    const MAX_DELIVERIES = 3;
    const client = fixture.conn.client();
    const ns = newNamespace('poison');
    const topology = await ensureTopology(client, ns, [{ name: 'picky' }], { partitions: 2 });
    const picky: StageFactory = () => ({
      name: 'picky',
      process(batch) {
        for (const e of batch) if (e.data.toString().startsWith('poison')) throw new Error(`poison ${e.seq}`);
        return batch;
      },
    });
    const w = startStageWorker(fixture.conn, topology, {
      factory: picky,
      maxDeliveries: MAX_DELIVERIES,
      batchEntries: 4,
    });
    await waitOwned(w, [0, 1]);
    // Idle, blocked in its read: the events below come through the XREAD fast path.
    await oneFreshBlockedRead(client, 5);

    // Partition 0: 30 events in entries of 10, the 16th poisoned (in the middle of the second
    // entry); partition 1: 20 clean events.
    const k0 = keysOf(0, 2, 3);
    const k1 = keysOf(1, 2, 3);
    const events = [
      ...Array.from({ length: 30 }, (_, i) => ({ key: k0[i % 3]!, data: i === 15 ? `poison ${i}` : `ok ${i}` })),
      ...Array.from({ length: 20 }, (_, i) => ({ key: k1[i % 3]!, data: `ok ${30 + i}` })),
    ];
    const run = await produce(client, topology, events, `p-${ns}`, 10);
    const ingest0 = (await client.xrangeBuffer(topology.keys.stream(0, 'ingest'), '-', '+')) as [Buffer, Buffer[]][];
    expect(ingest0.map(([, f]) => decodeEntry(f).length)).toEqual([10, 10, 10]);
    const poisonedEntry = ingest0[1]![0].toString();
    const poison = decodeEntry(ingest0[1]![1]).find((e) => e.data.toString().startsWith('poison'))!;
    expect(poison).toBeDefined();

    const report = await auditUntil(
      client,
      topology,
      run,
      (r) => r.drained && r.delivered + r.deadLettered === r.produced,
      'not settled',
    );
    expect(report).toMatchObject({
      produced: 50,
      delivered: 49,
      deadLettered: 1,
      lost: 0,
      duplicates: 0,
      unexpected: 0,
      outOfOrderKeys: 0,
    });

    // The failure was on a batch read with XREAD (the fast path), not on a redelivery.
    expect(logs.some((l) => l.includes(`partition 0: batch failed (Error: poison ${poison.seq}); redelivering`))).toBe(
      true,
    );
    expect(logs.some((l) => /partition 1: batch failed/.test(l))).toBe(false);

    // Nothing pending, and every other event of partition 0 (those of the poisoned entry too) is in
    // the output exactly once.
    for (let k = 0; k < 2; k++) {
      expect(await pendingCount(client, topology.keys.stream(k, 'ingest'), 'picky')).toBe(0);
      expect(await groupInfo(client, topology.keys.stream(k, 'ingest'), 'picky')).toMatchObject({ pending: 0, lag: 0 });
    }
    const out0 = (await streamEvents(client, topology.keys.stream(0, 'out'))).map((e) => e.seq);
    const expected0 = ingest0
      .flatMap(([, f]) => decodeEntry(f))
      .map((e) => e.seq)
      .filter((s) => s !== poison.seq);
    expect([...out0].sort((a, b) => a - b)).toEqual(expected0);
    expect(new Set(out0).size).toBe(out0.length);
    expect(out0).not.toContain(poison.seq);
    expect((await streamEvents(client, topology.keys.stream(1, 'out'))).map((e) => e.seq)).toHaveLength(20);

    // The dead letter: the poisoned event alone, from its entry, after maxDeliveries deliveries.
    const dead = (await client.xrangeBuffer(topology.keys.dlq(0), '-', '+')) as [Buffer, Buffer[]][];
    expect(dead).toHaveLength(1);
    const record = pairs(dead[0]![1].map((b, i) => (i % 2 === 0 ? b.toString() : b)));
    expect(String(record.origin)).toBe(poisonedEntry);
    expect(String(record.stage)).toBe('picky');
    expect(String(record.error)).toBe(`Error: poison ${poison.seq}`);
    expect(Number(String(record.deliveries))).toBe(MAX_DELIVERIES);
    expect(decodeBatch(record.b as Buffer).map((e) => e.seq)).toEqual([poison.seq]);
    expect(await client.xlen(topology.keys.dlq(1))).toBe(0);
    expect(w.counters).toMatchObject({ sent: 49, deadLettered: 1 });
  });
});

describe('a snapshot stage whose batch fails once on the fast path', () => {
  // serve() processes a turn's batches while the previous turn's commits are in flight; a batch
  // that throws must roll back to the state after the batch whose commit is in flight (it lands),
  // not to the last settled one, or that batch's effect is lost when the failed batch is redone.
  it('keeps the effect of the batch whose commit was in flight: the state counts every event once', async () => {
    const client = fixture.conn.client();
    const ns = newNamespace('snap');
    const topology = await ensureTopology(client, ns, [{ name: 'count' }], { partitions: 1 });
    let failedOnce = false;
    const counting: StageFactory = () => {
      let count = 0;
      return {
        name: 'count',
        async process(batch) {
          // The batch with the flaky event fails at once, the first time only.
          if (!failedOnce && batch.some((e) => e.data.toString() === 'flaky')) {
            failedOnce = true;
            throw new Error('transient');
          }
          // Other batches take a while (a lookup, say): the next batch's read returns meanwhile,
          // so it is processed right after this batch's commit is sent, before its reply.
          await new Promise((r) => setTimeout(r, 100));
          count += batch.length;
          return batch;
        },
        snapshot: () => String(count),
        restore: (state) => void (count = state ? Number(state.toString()) : 0),
      };
    };
    // A backlog first, in entries of 5 events; then one entry per read.
    const events = Array.from({ length: 40 }, (_, i) => ({ key: 'k', data: i === 20 ? 'flaky' : 'ok' }));
    const run = await produce(client, topology, events, `p-${ns}`, 5);
    const w = startStageWorker(fixture.conn, topology, { factory: counting, batchEntries: 1 });
    const report = await auditUntil(
      client,
      topology,
      run,
      (r) => r.drained && r.delivered === r.produced,
      'not all delivered',
    );
    expect(report).toMatchObject({ produced: 40, delivered: 40, duplicates: 0, lost: 0 });
    expect(failedOnce).toBe(true);
    expect(logs.some((l) => /partition 0: batch failed \(Error: transient\); redelivering/.test(l))).toBe(true);
    // Every event was delivered once, so the committed count must be 40 (it is 35 with the bug).
    expect(w.counters.sent).toBe(40);
    expect(Number(await client.get(topology.keys.state(0, 'count')))).toBe(40);
  });
});

describe('a 3-primary cluster', () => {
  it('two workers, each partition read on its own connection: every event delivered exactly once', async () => {
    const d = await startTestDeployment({ mode: 'cluster', primaries: 3, replicas: 0 });
    cleanup(() => d.stop());
    const url = deploymentUrls(d.deployment).join(',');
    const conns = await Promise.all([connectTo(url), connectTo(url), connectTo(url)]);
    for (const c of conns) cleanup(() => c.close());
    const [admin, c1, c2] = conns as [RedisConnection, RedisConnection, RedisConnection];
    expect(admin.mode).toBe('cluster');
    const client = admin.client();
    const ns = newNamespace('cluster');
    const topology = await ensureTopology(client, ns, [{ name: 'pass' }], { partitions: 6 });
    const w1 = startStageWorker(c1, topology, { batchEntries: 12 });
    const w2 = startStageWorker(c2, topology, { batchEntries: 12 });
    expect(w1.reader).toBeUndefined();
    expect(w2.reader).toBeUndefined();
    // Balanced: three partitions each.
    await waitFor(async () => (w1.owned.length === 3 && w2.owned.length === 3 ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 50,
      onTimeout: () =>
        new Error(`not balanced: ${JSON.stringify([w1.owned, w2.owned])}\n${logs.slice(-20).join('\n')}`),
    });
    expect([...w1.owned, ...w2.owned].sort()).toEqual([0, 1, 2, 3, 4, 5]);

    const events = Array.from({ length: 3000 }, (_, i) => ({ key: `k${i % 157}`, data: JSON.stringify({ i }) }));
    const run = await produce(client, topology, events, `p-${ns}`, 25);
    const report = await auditUntil(
      client,
      topology,
      run,
      (r) => r.drained && r.delivered === r.produced,
      'not all delivered',
      30_000,
    );
    expect(report).toMatchObject({
      produced: 3000,
      delivered: 3000,
      lost: 0,
      duplicates: 0,
      unexpected: 0,
      outOfOrderKeys: 0,
      drained: true,
    });
    // Both workers did part of the work, and no batch was committed twice.
    expect(w1.counters.sent).toBeGreaterThan(0);
    expect(w2.counters.sent).toBeGreaterThan(0);
    expect(w1.counters.sent + w2.counters.sent).toBe(3000);
    for (let k = 0; k < 6; k++) expect(await pendingCount(client, topology.keys.stream(k, 'ingest'), 'pass')).toBe(0);
  }, 60_000);
});
