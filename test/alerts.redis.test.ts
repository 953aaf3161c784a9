import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CODEC_VERSION, encodeBatch } from '../src/pipeline/codec.js';
import { Keys } from '../src/pipeline/keys.js';
import { CLI } from './helpers/cli.js';
import { redisWithConnection } from './helpers/redis.js';

const env = redisWithConnection();

describe('streamctl alerts', () => {
  // Regression: the CLI exited right after writing, and on Linux a pipe takes writes
  // asynchronously, so a consumer of `--json` got the first 64 KiB and silently missed the rest.
  it('prints every alert through a pipe, however much there is', async () => {
    const ns = 'alerts-pipe';
    const keys = new Keys(ns, 4);
    const client = env.conn.client();
    await client.hset(keys.meta, 'partitions', '4');
    const perPartition = 1500;
    for (let k = 0; k < 4; k++) {
      const events = Array.from({ length: perPartition }, (_, i) => {
        const alert = {
          id: `anomaly-burst|host-${k}-${i}|0|1`,
          rule: 'anomaly-burst',
          kind: 'count',
          key: `host-${k}-${i}`,
          windowStart: 0,
          windowEnd: 1,
          evidence: ['p1:1', 'p1:2', 'p1:3'],
          time: 1_700_000_000_000 + i,
        };
        return {
          key: alert.key,
          producer: 'cep:cep',
          seq: 0,
          ts: alert.time,
          data: Buffer.from(JSON.stringify(alert)),
        };
      });
      await client.xadd(keys.stream(k, 'alerts'), '*', 'v', String(CODEC_VERSION), 'b', encodeBatch(events));
    }
    // Through a shell pipe to a reader that starts late (as a busy `| jq` does): the pipe fills,
    // and what the CLI wrote after that must still arrive. The delay is the scenario, not a wait.
    const r = spawnSync(
      'sh',
      [
        '-c',
        `"${process.execPath}" "${CLI}" alerts --redis ${env.server.url} -n ${ns} --limit 100000 --json | (sleep 1; wc -lc)`,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    const [lines, bytes] = r.stdout.trim().split(/\s+/).map(Number);
    expect(bytes).toBeGreaterThan(4 * 65_536);
    expect(lines).toBe(4 * perPartition);
  });
});
