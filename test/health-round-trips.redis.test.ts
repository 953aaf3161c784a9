import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectSnapshot } from '../src/observe/collect-snapshot.js';
import { topSampler } from '../src/observe/top-sampler.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import type { RedisClient } from '../src/redis/connection.js';
import { connectTo } from './helpers/io.js';
import { RoundTripCounter } from './helpers/proxy.js';
import { startRedis, type TestServer } from './helpers/redis.js';

let server: TestServer;
let proxy: RoundTripCounter;
beforeAll(async () => {
  server = await startRedis();
  proxy = new RoundTripCounter(server.port);
  await proxy.start();
});
afterAll(async () => {
  await proxy?.stop();
  await server?.stop();
});

/**
 * A namespace of two stages over `partitions` partitions: per partition the ingest stream (group a,
 * two entries pending with a consumer), stage a's output (group b) and the dead-letter stream with a
 * record of each stage, as the commit script writes them.
 */
async function fill(client: RedisClient, ns: string, partitions: number): Promise<void> {
  const { keys } = await ensureTopology(client, ns, [{ name: 'a' }, { name: 'b' }], { partitions });
  await Promise.all(
    Array.from({ length: partitions }, async (_, k) => {
      const ingest = keys.stream(k, 'ingest');
      for (let i = 0; i < 3; i++) await client.xadd(ingest, '*', 'v', String(i));
      await client.xreadgroup('GROUP', 'a', 'c1', 'COUNT', 2, 'STREAMS', ingest, '>');
      for (const stage of ['a', 'b'])
        await client.xadd(keys.dlq(k), '*', 'origin', '1-0', 'stage', stage, 'error', 'boom', 'deliveries', '3');
    }),
  );
}

/** A snapshot taken through the proxy, and the round trips it took (its connections made, not reused). */
async function measured(ns: string): Promise<{ snapshot: Snapshot; roundTrips: number }> {
  const conn = await connectTo(`redis://127.0.0.1:${proxy.port}`);
  try {
    const before = proxy.roundTrips;
    const snapshot = await collectSnapshot(conn, ns);
    return { snapshot, roundTrips: proxy.roundTrips - before };
  } finally {
    await conn.close();
  }
}

describe('the snapshot of a namespace', () => {
  it('takes as many round trips for 72 streams as for 12: every command of a step in one pipeline', async () => {
    const direct = await connectTo(server.url);
    try {
      await fill(direct.client(), 'small', 4);
      await fill(direct.client(), 'large', 24);
    } finally {
      await direct.close();
    }
    const small = await measured('small');
    const large = await measured('large');
    for (const [{ snapshot }, partitions] of [
      [small, 4],
      [large, 24],
    ] as const) {
      expect(snapshot.streams).toHaveLength(3 * partitions);
      expect(snapshot.groups).toHaveLength(2 * partitions);
      expect(snapshot.groups.filter((g) => g.group === 'a').every((g) => g.pending === 2 && g.lag === 1)).toBe(true);
      expect(snapshot.groups.find((g) => g.group === 'a')!.consumers).toEqual([
        expect.objectContaining({ name: 'c1', pending: 2 }),
      ]);
      expect([...snapshot.stages].sort((x, y) => x.stage.localeCompare(y.stage))).toEqual([
        { stage: 'a', liveWorkers: 0, lag: partitions, pending: 2 * partitions, deadLetters: partitions },
        { stage: 'b', liveWorkers: 0, lag: 0, pending: 0, deadLetters: partitions },
      ]);
    }
    // Connecting (its handshake), the nodes, the streams with the heartbeats, the dead letters, and
    // (groups a are behind) the entries near their streams' end, counted.
    expect(small.roundTrips).toBeLessThanOrEqual(5);
    expect(large.roundTrips).toBe(small.roundTrips);
  });

  it("costs top's refresh a bounded number of commands, growing with the streams only", async () => {
    const conn = await connectTo(server.url);
    const calls = async () => {
      const stats = String(await conn.client().info('commandstats'));
      return [...stats.matchAll(/calls=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
    };
    try {
      const perRefresh = async (ns: string) => {
        const sample = topSampler(conn, ns, () => undefined);
        await sample(); // the first refresh also finds the topology and the newest alerts
        const before = await calls();
        await sample();
        // Less the INFO that read the counts before.
        return (await calls()) - before - 1;
      };
      const small = await perRefresh('small');
      const large = await perRefresh('large');
      // Measured: 29 for 12 streams and 149 for 72 (two commands a stream); the bounds are twice that.
      expect(small).toBeGreaterThan(0);
      expect(small).toBeLessThanOrEqual(60);
      expect(large).toBeLessThanOrEqual(small + (72 - 12) * 4);
    } finally {
      await conn.close();
    }
  });
});
