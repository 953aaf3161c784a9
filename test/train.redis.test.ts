import { describe, expect, it } from 'vitest';
import { ModelStore } from '../src/pipeline/services/model-store.js';
import { runCli } from './helpers/cli.js';
import { redisWithConnection } from './helpers/redis.js';

const env = redisWithConnection();

describe('streamctl train from the namespace', () => {
  it('trains the fused default pipeline from the raw events of its input, computing the enrich statistics itself', async () => {
    const ns = 'train-fused';
    const produced = await runCli([
      'produce',
      '--redis',
      env.server.url,
      '-n',
      ns,
      '--count',
      '60000',
      '--rate',
      '0',
      '--keys',
      '200',
      '--json',
    ]);
    expect(produced.code, produced.stderr).toBe(0);
    const r = await runCli(['train', '--redis', env.server.url, '-n', ns, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      model: string;
      version: number;
      rows: number;
      calibrationRows: number;
      calibrated: boolean;
    };
    // 200 keys warm up in 20 events each; the 56,000 after that fill both samples.
    expect(j).toMatchObject({ model: 'detect', version: 1, rows: 4096, calibrationRows: 40960, calibrated: true });
    expect((await new ModelStore(env.conn.client(), ns).latest('detect'))?.version).toBe(1);

    // The same steps as stages: detect reads `enriched`, which nothing has written yet.
    const staged = await runCli(['train', '--redis', env.server.url, '-n', ns, '--pipeline', 'staged', '--json']);
    expect(staged.code, staged.stderr).toBe(2);
    expect(staged.stderr).toMatch(/only 0 training row/);
    const unknown = await runCli(['train', '--redis', env.server.url, '-n', ns, '--stage', 'nope']);
    expect(unknown.code, unknown.stderr).toBe(2);
    expect(unknown.stderr).toMatch(/no stage or step "nope"/);
  });
});
