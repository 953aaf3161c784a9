/**
 * `npm run bench -- detection`: the default pipeline's detection quality on the synthetic workload,
 * per seed. For each seed: a redis-server of its own, two `analyze` workers of the default pipeline,
 * `produce --count N --rate 0 --anomaly-rate 0.01 --seed S` over 1,000 keys, then `verify --json`:
 * precision and recall over every event, the forest's ROC AUC, the unscored events, and each
 * scoring source's figures.
 *
 *   npm run bench -- detection [--seeds 1,2,3] [--events 200000] [--port 28100]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEntry } from '../src/embedded/cli-entry.js';
import { stopNode } from '../src/embedded/redis-server.js';
import type { DetectionQuality } from '../src/workload/detection-quality.js';
import { cliJson } from './cli-json.js';
import { startStandaloneRedis } from './standalone-redis.js';

const WORKERS = 2;

export async function benchDetection(o: { seeds: number[]; events: number; port: number }): Promise<void> {
  const rows: { seed: number; q: DetectionQuality }[] = [];
  for (const seed of o.seeds) {
    const dir = mkdtempSync(join(tmpdir(), 'streamctl-detection-'));
    const { node: redis, url } = await startStandaloneRedis(o.port, dir);
    const ns = `detection-${seed}`;
    const workers: ChildProcess[] = [];
    try {
      for (let i = 0; i < WORKERS; i++)
        workers.push(
          spawn(
            process.execPath,
            [cliEntry(), 'worker', '--stage', 'analyze', '--pipeline', 'default', '--redis', url, '-n', ns, '--quiet'],
            { stdio: 'ignore' },
          ),
        );
      const common = ['--redis', url, '-n', ns];
      cliJson([
        'produce',
        ...common,
        '--count',
        String(o.events),
        '--rate',
        '0',
        '--anomaly-rate',
        '0.01',
        '--keys',
        '1000',
        '--seed',
        String(seed),
        '--json',
      ]);
      const v = cliJson<{ delivered: number; lost: number; quality?: DetectionQuality }>([
        'verify',
        ...common,
        '--pipeline',
        'default',
        '--wait',
        '180s',
        '--json',
      ]);
      if (!v.quality) throw new Error(`seed ${seed}: verify reported no detection quality`);
      const q = v.quality;
      rows.push({ seed, q });
      const src = Object.entries(q.bySource)
        .map(([name, s]) => `${name} ${s.events} events p ${s.precision} r ${s.recall} auc ${s.auc}`)
        .join('; ');
      console.log(
        `seed ${seed}: precision ${q.precision}  recall ${q.recall}  forest AUC ${q.auc}  unscored ${q.unscored} (${((100 * q.unscored) / q.events).toFixed(2)}%)  (${src})`,
      );
      console.log(
        `  recall by kind: ${Object.entries(q.recallByKind)
          .map(([kind, k]) => `${kind} ${k.recall} (${k.detected}/${k.anomalies})`)
          .join(', ')}`,
      );
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r(null) : w.once('exit', r)))));
      await stopNode(redis);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const min = (f: (q: DetectionQuality) => number) => Math.min(...rows.map((r) => f(r.q)));
  console.log(
    `worst of ${rows.length} seeds: precision ${min((q) => q.precision)}, recall ${min((q) => q.recall)}, forest AUC ${min((q) => q.auc)}, unscored ${Math.max(...rows.map((r) => r.q.unscored / r.q.events)).toFixed(4)} of the events`,
  );
}
