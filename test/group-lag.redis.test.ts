import { describe, expect, it } from 'vitest';
import { collectSnapshot } from '../src/observe/collect-snapshot.js';
import { groupLag, NEAR_END } from '../src/pipeline/group-lag.js';
import { pairs } from '../src/redis/info.js';
import { redisWithConnection } from './helpers/redis.js';

/**
 * A group's lag when Redis's own figure carries a constant error, as `entries-read` keeps after a
 * restart from a rewritten AOF: here made with XSETID ENTRIESADDED, which moves `entries-added`
 * the same way.
 */
const r = redisWithConnection();

async function phantomGroup(key: string, entries: number, read: number) {
  const c = r.conn.client();
  for (let i = 0; i < entries; i++) await c.xadd(key, '*', 'n', String(i));
  await c.xgroup('CREATE', key, 'g', '0');
  await c.xreadgroup('GROUP', 'g', 'c', 'COUNT', read, 'STREAMS', key, '>');
  const last = (await c.xrevrange(key, '+', '-', 'COUNT', 1))[0]![0];
  await c.call('XSETID', key, last, 'ENTRIESADDED', 20_000 + entries);
  const g = pairs(((await c.call('XINFO', 'GROUPS', key)) as unknown[])[0]);
  return { g, last };
}

describe('group lag near the end of a stream', () => {
  it('a group slightly behind reads its true lag, not the phantom one Redis reports', async () => {
    const key = 'lagtest:{0}:ingest';
    const { g, last } = await phantomGroup(key, 100, 95);
    expect(Number(g.lag)).toBe(20_005);
    const lag = await groupLag(r.conn.client(), key, {
      lag: Number(g.lag),
      lastDeliveredId: String(g['last-delivered-id']),
      lastId: last,
      length: 100,
    });
    expect(lag).toBe(5);
    const snap = await collectSnapshot(r.conn, 'lagtest');
    expect(snap.groups.find((x) => x.stream === key)?.lag).toBe(5);
  });

  it('a group further behind than NEAR_END keeps Redis figure (the count would read the backlog)', async () => {
    const key = 'lagtest2:{0}:ingest';
    const { g, last } = await phantomGroup(key, 100, 100 - NEAR_END - 4);
    const lag = await groupLag(r.conn.client(), key, {
      lag: Number(g.lag),
      lastDeliveredId: String(g['last-delivered-id']),
      lastId: last,
      length: 100,
    });
    expect(lag).toBe(Math.min(Number(g.lag), 100));
  });
});
