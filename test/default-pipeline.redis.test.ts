import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditReport } from '../src/pipeline/audit.js';
import type { DetectionQuality } from '../src/workload/detection-quality.js';
import type { AlertQuality } from '../src/workload/alert-quality.js';
import { DEFAULT_RULES } from '../src/pipeline/stages/cep/rules.js';
import { runCli } from './helpers/cli.js';
import { startWorker, stopWorkers, type WorkerProcess } from './helpers/pipeline.js';
import { startRedis, type TestServer } from './helpers/redis.js';

let server: TestServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

describe('the default pipeline: enrich -> detect -> cep, fused', () => {
  it('delivers everything, detects the injected anomalies, and raises alerts', async () => {
    const ns = 'quality';
    const workers: WorkerProcess[] = ['analyze', 'analyze'].map((s) =>
      startWorker(s, server.url, ns, ['--pipeline', 'default']),
    );
    try {
      const produced = await runCli([
        'produce',
        '--redis',
        server.url,
        '-n',
        ns,
        '--count',
        '300000',
        '--rate',
        '0',
        '--keys',
        '500',
        '--anomaly-rate',
        '0.01',
        '--seed',
        '11',
        '--json',
      ]);
      expect(produced.code, produced.stderr).toBe(0);
      const verified = await runCli([
        'verify',
        '--redis',
        server.url,
        '-n',
        ns,
        '--pipeline',
        'default',
        '--wait',
        '90s',
        '--json',
      ]);
      const r = JSON.parse(verified.stdout) as AuditReport & { quality?: DetectionQuality; alerts?: AlertQuality };
      expect(r).toMatchObject({
        produced: 300000,
        delivered: 300000,
        lost: 0,
        duplicates: 0,
        outOfOrderKeys: 0,
        drained: true,
      });
      const q = r.quality!;
      console.info(
        `detection on 300,000 events: precision ${q.precision}, recall ${q.recall}, AUC ${q.auc}, unscored ${q.unscored}, by kind ${JSON.stringify(q.recallByKind)}`,
      );
      expect(q.anomalies).toBeGreaterThan(2500);
      expect(q.auc).toBeGreaterThanOrEqual(0.95);
      expect(q.precision).toBeGreaterThanOrEqual(0.8);
      expect(q.recall).toBeGreaterThanOrEqual(0.8);
      // Scored from a key's second value: only the first value of each of the 500 keys, and a few
      // before a type's spread is known, go unscored (from the 8th value, 4,000 would).
      expect(q.unscored).toBeLessThan(0.01 * q.events);
      for (const kind of ['spike', 'drop', 'level_shift', 'error_burst'])
        expect(q.recallByKind[kind]!.anomalies).toBeGreaterThan(0);

      // Each built-in rule against the episodes it is for. Bounds far below what the rules give (see the README), which a
      // rule that no longer finds its episodes, or a broken judgement, misses.
      const a = r.alerts!;
      console.info(`alerts on 300,000 events: ${JSON.stringify(a)}`);
      expect(a.rules.map((q) => q.rule)).toEqual(DEFAULT_RULES.map((rule) => rule.name));
      for (const q of a.rules) {
        expect(q.alerts, q.rule).toBeGreaterThan(20);
        expect(q.precision, q.rule).toBeGreaterThanOrEqual(0.5);
        expect(q.coverage, q.rule).toBeGreaterThanOrEqual(0.5);
      }
      // Episodes of the kinds the rules are for (level shifts, error bursts); the single-event ones apart.
      expect(a.episodes).toBeGreaterThan(300);
      expect(a.coverage).toBeGreaterThan(0.5);
      expect(Object.keys(a.unaimed).sort()).toEqual(['drop', 'spike']);
      expect(a.otherRuns).toBe(0);

      const alerts = await runCli(['alerts', '--redis', server.url, '-n', ns, '--json']);
      const rules = new Set(
        alerts.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { rule: string }).rule),
      );
      expect(rules.has('anomaly-burst')).toBe(true);
    } finally {
      await stopWorkers(workers);
    }
  }, 180_000);
});
