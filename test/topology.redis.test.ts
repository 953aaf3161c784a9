import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotOf } from '../src/redis/slots.js';
import { Keys, partitionOf } from '../src/pipeline/keys.js';
import { runCli } from './helpers/cli.js';
import { startRedis, type TestServer } from './helpers/redis.js';

let server: TestServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

describe('topology', () => {
  it('a different partition count on an existing namespace exits 2 unless --reset', async () => {
    const base = ['produce', '--redis', server.url, '-n', 'topo', '--count', '100', '--json'];
    expect((await runCli([...base, '--partitions', '8'])).code).toBe(0);
    const mismatch = await runCli([...base, '--partitions', '4']);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/has 8 partitions, not 4/);
    expect(mismatch.stderr).toMatch(/--reset/);
    const reset = await runCli([...base, '--partitions', '4', '--reset']);
    expect(reset.code).toBe(0);
    expect(JSON.parse(reset.stdout).partitions).toBe(4);
  });

  it('spreads partitions evenly over the slot space and keeps all keys of a partition in one slot', () => {
    for (const p of [1, 3, 16, 64]) {
      const keys = new Keys('ns', p);
      for (let k = 0; k < p; k++) {
        const slot = slotOf(keys.stream(k, 'ingest'));
        expect(slot).toBeGreaterThanOrEqual(Math.floor((k * 16384) / p));
        expect(slot).toBeLessThan(Math.floor(((k + 1) * 16384) / p));
        for (const other of [keys.dlq(k), keys.state(k, 's'), keys.seq(k), keys.lease('s', k), keys.stream(k, 'out')])
          expect(slotOf(other)).toBe(slot);
      }
      expect(new Set(keys.tags).size).toBe(p);
    }
  });

  it('routes a key always to the same partition', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`key-${i}`, 16)]!++;
    expect(partitionOf('host-0042', 16)).toBe(partitionOf('host-0042', 16));
    expect(Math.min(...counts)).toBeGreaterThan(800);
  });
});
