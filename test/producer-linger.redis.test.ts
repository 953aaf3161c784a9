import type { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { decodeEntry, type StreamEvent } from '../src/pipeline/codec.js';
import { partitionOf } from '../src/pipeline/keys.js';
import { Producer } from '../src/pipeline/producer.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { ensureTopology, type Topology } from '../src/pipeline/topology.js';
import type { RedisClient } from '../src/redis/connection.js';
import { waitFor } from '../src/wait.js';
import { cleanupAfterEach } from './helpers/cleanup.js';
import { connectTo } from './helpers/io.js';
import { commandCalls, redisWithConnection } from './helpers/redis.js';

const fixture = redisWithConnection();
const cleanup = cleanupAfterEach();
let nsCounter = 0;

function newNamespace(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${nsCounter++}`;
}

/** The entries of partition k's ingest stream, each as its events, in stream order. */
async function ingestEntries(client: RedisClient, topology: Topology, k: number): Promise<StreamEvent[][]> {
  const entries = (await client.xrangeBuffer(topology.keys.stream(k, 'ingest'), '-', '+')) as [Buffer, Buffer[]][];
  return entries.map(([, fields]) => decodeEntry(fields));
}

describe('Producer with lingerMs 0', () => {
  it('a synchronous burst over many partitions: all acked after flushAll, each partition in seq order, no entry over the batch size', async () => {
    const client = fixture.conn.client();
    const topology = await ensureTopology(client, newNamespace('burst'), [], { partitions: 16 });
    const producer = new Producer({ client: withScripts(client), topology, producerId: 'p1', batch: 100, lingerMs: 0 });
    await producer.init();
    const count = 3000;
    const sent: StreamEvent[] = [];
    for (let i = 0; i < count; i++) {
      const key = `key-${i % 487}`;
      const data = Buffer.from(`event ${i}`);
      const seq = producer.send(key, data, 1_700_000_000_000 + i);
      sent.push({ key, producer: 'p1', seq, ts: 1_700_000_000_000 + i, data });
    }
    expect(producer.stats.sent).toBe(count);
    await producer.flushAll();
    expect(producer.stats).toMatchObject({ sent: count, acked: count, failed: 0, errors: 0, deduplicated: 0 });
    expect(producer.backlog).toBe(0);
    expect(producer.last - producer.first + 1).toBe(count);

    const bySeq = new Map(sent.map((e) => [e.seq, e]));
    const seen = new Set<number>();
    for (let k = 0; k < 16; k++) {
      const entries = await ingestEntries(client, topology, k);
      expect(entries.length, `partition ${k}`).toBeGreaterThan(0);
      for (const entry of entries) expect(entry.length).toBeLessThanOrEqual(100);
      const events = entries.flat();
      // In seq order within the partition, each event where its key routes, with its own data.
      const seqs = events.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      for (const e of events) {
        expect(partitionOf(e.key, 16)).toBe(k);
        expect(seen.has(e.seq)).toBe(false);
        seen.add(e.seq);
        const original = bySeq.get(e.seq)!;
        expect({ key: e.key, data: e.data.toString(), ts: e.ts, producer: e.producer }).toEqual({
          key: original.key,
          data: original.data.toString(),
          ts: original.ts,
          producer: 'p1',
        });
      }
    }
    expect(seen.size).toBe(count);
    await producer.close();
  });

  it('partial batches go at the end of the event-loop turn, without flushAll: one entry per partition, all of a turn in one socket write', async () => {
    // A client of its own, so that the writes counted are the producer's.
    const conn = await connectTo(fixture.server.url);
    cleanup(() => conn.close());
    const client = withScripts(conn.client());
    const topology = await ensureTopology(client, newNamespace('turn'), [], { partitions: 8 });
    const producer = new Producer({ client, topology, producerId: 'p1', batch: 100, lingerMs: 0 });
    await producer.init();
    const socket = (client as unknown as { stream: Socket }).stream;
    const writes = [vi.spyOn(socket, '_write'), vi.spyOn(socket, '_writev')];
    cleanup(() => writes.forEach((w) => w.mockRestore()));
    // Three events per partition, in one synchronous burst.
    const keys = Array.from({ length: 8 }, (_, k) => {
      const out: string[] = [];
      for (let i = 0; out.length < 3; i++) if (partitionOf(`key-${i}`, 8) === k) out.push(`key-${i}`);
      return out;
    });
    for (const round of [0, 1, 2])
      for (let k = 0; k < 8; k++) producer.send(keys[k]![round]!, Buffer.from(`${k}/${round}`), Date.now());
    // No flushAll, no linger timer: the batches must go by themselves.
    await waitFor(async () => (producer.stats.acked === 24 ? true : undefined), {
      timeoutMs: 5000,
      intervalMs: 10,
      onTimeout: () => new Error(`acked ${producer.stats.acked} of 24 without a flush`),
    });
    const socketWrites = writes.reduce((n, w) => n + w.mock.calls.length, 0);
    for (let k = 0; k < 8; k++) {
      const entries = await ingestEntries(client, topology, k);
      // The partition's three events in one entry (not one entry per event), in seq order.
      expect(entries.map((e) => e.map((x) => x.data.toString()))).toEqual([[`${k}/0`, `${k}/1`, `${k}/2`]]);
    }
    // The eight partitions' batches in one socket write (a single Redis).
    expect(socketWrites).toBe(1);
    await producer.close();
  });

  it("durable: the turn's appends are not acknowledged when no replica answers their WAIT", async () => {
    const client = fixture.conn.client();
    const topology = await ensureTopology(client, newNamespace('durable'), [], { partitions: 4 });
    const producer = new Producer({
      client: withScripts(client),
      topology,
      producerId: 'p1',
      batch: 100,
      lingerMs: 0,
      durable: true,
      durableTimeoutMs: 1000,
    });
    await producer.init();
    const waits = () => commandCalls(client, 'wait');
    const before = await waits();
    const keys = [0, 1].map((k) => {
      for (let i = 0; ; i++) if (partitionOf(`key-${i}`, 4) === k) return `key-${i}`;
    });
    const t0 = performance.now();
    for (const key of keys) producer.send(key, Buffer.from(key), Date.now());
    await producer.flushAll();
    // This Redis has no replica, so WAIT answers with none, again and again until the bound (1 s):
    // the appends are on the primary, but not durable, so not acked.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
    expect(producer.stats).toMatchObject({ acked: 0, notDurable: 2, failed: 2 });
    // Both partitions' appends in one write, so their WAITs are the one connection's: WAIT issued again
    // within the bound, not once per append.
    expect((await waits()) - before).toBeGreaterThan(1);
    expect((await waits()) - before).toBeLessThan(10);
    await producer.close();
  });

  it('one partition, a burst of 250 with batch 100: entries of at most 100 events, in seq order', async () => {
    const client = fixture.conn.client();
    const topology = await ensureTopology(client, newNamespace('one'), [], { partitions: 1 });
    const producer = new Producer({ client: withScripts(client), topology, producerId: 'p1', batch: 100, lingerMs: 0 });
    await producer.init();
    const seqs = Array.from({ length: 250 }, (_, i) => producer.send(`k${i % 7}`, Buffer.from(String(i)), Date.now()));
    await producer.close();
    expect(producer.stats).toMatchObject({ sent: 250, acked: 250, failed: 0 });
    const entries = await ingestEntries(client, topology, 0);
    const sizes = entries.map((e) => e.length);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(250);
    // Full batches while an append is in flight, the rest at the end: no fragments.
    expect(sizes).toEqual([100, 100, 50]);
    expect(entries.flat().map((e) => e.seq)).toEqual(seqs);
    expect(entries.flat().map((e) => e.data.toString())).toEqual(Array.from({ length: 250 }, (_, i) => String(i)));
  });
});
