import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { NotDurableError } from '../src/errors.js';
import { MultiReader } from '../src/pipeline/worker/multi-reader.js';
import { commandCalls, redisWithConnection } from './helpers/redis.js';

const fixture = redisWithConnection();

describe('MultiReader', () => {
  it("durable: a turn's commands settle once the WAIT after them answered; with no replica, as not durable", async () => {
    const conn = fixture.conn.dedicated() as Redis;
    const control = fixture.conn.client() as Redis;
    const reader = new MultiReader(conn, control, 500, () => undefined);
    try {
      const key = `mr:${Date.now().toString(36)}`;
      const t0 = performance.now();
      const replies = await reader.read([], 1, [{ key, add: (p, done) => void (p as Redis).set(key, 'v', done!) }], {
        durable: true,
        durableTimeoutMs: 1000,
      });
      // No replica here, so WAIT answers with none until the bound (1 s): the command landed, not durably.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(950);
      expect(replies?.[0]?.[0]).toBeInstanceOf(NotDurableError);
      expect(replies?.[0]?.[1]).toBe('OK');
      expect(await control.get(key)).toBe('v');
    } finally {
      reader.close();
    }
  });

  it("without durable, the same turn settles with the command's reply, with no WAIT", async () => {
    const conn = fixture.conn.dedicated() as Redis;
    const control = fixture.conn.client() as Redis;
    const reader = new MultiReader(conn, control, 500, () => undefined);
    const waits = () => commandCalls(control, 'wait');
    try {
      const before = await waits();
      const key = `mr:${Date.now().toString(36)}`;
      const replies = await reader.read([], 1, [{ key, add: (p, done) => void (p as Redis).set(key, 'w', done!) }], {});
      expect(replies).toEqual([[null, 'OK']]);
      expect((await waits()) - before).toBe(0);
    } finally {
      reader.close();
    }
  });
});
