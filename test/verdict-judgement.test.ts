import { describe, expect, it } from 'vitest';
import { eventsNearLoss, LOSS_MARGIN_MS } from '../src/embedded/events-near-loss.js';
import { judgeDeadLetterGrowth, judgePipeline } from '../src/observe/judge.js';
import type { DeploymentEvent, StageHealth } from '../src/observe/snapshot.js';
import { snapshot as baseSnapshot } from './helpers/snapshot.js';
import { overDeadLetterLimit, parseDeadLetterLimit } from '../src/pipeline/dead-letter-limit.js';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const at = (s: number, kind: DeploymentEvent['kind'], process: string, reason?: string): DeploymentEvent => ({
  time: new Date(T0 + s * 1000).toISOString(),
  kind,
  process,
  ...(reason ? { reason } : {}),
});

describe('eventsNearLoss', () => {
  const log = [
    at(-600, 'start', 'supervisor'),
    at(100, 'exit', '127.0.0.1:7001', 'signal SIGKILL'),
    at(103, 'failover', '127.0.0.1:7004', 'promoted in place of 127.0.0.1:7001'),
    at(104, 'restart', '127.0.0.1:7001'),
    at(400, 'restart', 'enrich#1'),
  ];

  it('picks the events near the send times of the lost seqs, dated by their surviving neighbours', () => {
    const near = eventsNearLoss(
      [{ seqs: [500, 523], after: T0 + 99_000, before: T0 + 99_500 }],
      { startedAt: T0 - 300_000, endedAt: T0 + 500_000 },
      log,
    );
    expect(near.basis).toBe('sent');
    expect(near.events.map((e) => e.kind)).toEqual(['exit', 'failover', 'restart']);
    expect(near.from).toBe(T0 + 99_000 - LOSS_MARGIN_MS);
    expect(near.to).toBe(T0 + 99_500 + LOSS_MARGIN_MS);
  });

  it('takes each range on its own: events between two far-apart ranges are left out', () => {
    const near = eventsNearLoss(
      [
        { seqs: [1, 1], after: T0 - 620_000, before: T0 - 610_000 },
        { seqs: [900, 901], after: T0 + 395_000 },
      ],
      { startedAt: T0 - 700_000 },
      log,
    );
    expect(near.events.map((e) => e.process)).toEqual(['supervisor', 'enrich#1']);
  });

  it('falls back to the events within the run when no lost range can be dated', () => {
    const near = eventsNearLoss([{ seqs: [1, 9] }], { startedAt: T0 + 50_000, endedAt: T0 + 200_000 }, log);
    expect(near).toMatchObject({ basis: 'run', from: T0 + 50_000, to: T0 + 200_000 });
    expect(near.events.map((e) => e.kind)).toEqual(['exit', 'failover', 'restart']);
  });

  it('ends a run still going at now', () => {
    const near = eventsNearLoss([], { startedAt: T0 + 350_000 }, log, { now: T0 + 450_000 });
    expect(near.events).toEqual([log[4]]);
  });
});

describe('parseDeadLetterLimit / overDeadLetterLimit', () => {
  it('reads a count or a percentage', () => {
    expect(parseDeadLetterLimit('0')).toEqual({ count: 0 });
    expect(parseDeadLetterLimit('25')).toEqual({ count: 25 });
    expect(parseDeadLetterLimit('0.5%')).toEqual({ percent: 0.5 });
    expect(parseDeadLetterLimit('100%')).toEqual({ percent: 100 });
    for (const bad of ['', 'x', '-1', '1.5', '101%', '5 %%', '%']) expect(parseDeadLetterLimit(bad)).toBeUndefined();
  });

  it('is exceeded only above the limit', () => {
    expect(overDeadLetterLimit({ count: 0 }, 0, 100)).toBe(false);
    expect(overDeadLetterLimit({ count: 0 }, 1, 100)).toBe(true);
    expect(overDeadLetterLimit({ percent: 1 }, 1, 100)).toBe(false);
    expect(overDeadLetterLimit({ percent: 1 }, 2, 100)).toBe(true);
    expect(overDeadLetterLimit({ percent: 0 }, 0, 0)).toBe(false);
  });
});

const snapshot = (stages: StageHealth[]) => baseSnapshot({ stages, warnings: [], problems: [] });

const stage = (name: string, deadLetters: number): StageHealth => ({
  stage: name,
  liveWorkers: 1,
  lag: 0,
  pending: 0,
  deadLetters,
});

describe('dead letters in health', () => {
  it('warns DEAD_LETTERS for each stage with any, and stays ok', () => {
    const r = snapshot([stage('a', 0), stage('b', 7)]);
    judgePipeline(r);
    expect(r.status).toBe('ok');
    expect(r.warnings).toEqual([
      {
        code: 'DEAD_LETTERS',
        stage: 'b',
        message: 'stage b has 7 dead-letter records: see `streamctl dlq list --stage b`',
      },
    ]);
  });

  it('with --watch, a stage whose dead letters grew is warned DEAD_LETTERS_GROWING instead', () => {
    const before = snapshot([stage('a', 3), stage('b', 7), stage('c', 0)]);
    judgePipeline(before);
    const now = snapshot([stage('a', 3), stage('b', 9), stage('c', 2), stage('d', 5)]);
    judgePipeline(now);
    judgeDeadLetterGrowth(now, before);
    expect(now.warnings.map((w) => [w.code, w.stage])).toEqual([
      ['DEAD_LETTERS', 'a'],
      ['DEAD_LETTERS_GROWING', 'b'],
      ['DEAD_LETTERS_GROWING', 'c'],
      ['DEAD_LETTERS', 'd'],
    ]);
    expect(now.warnings[1]!.message).toBe(
      'stage b has 2 more dead-letter records since the last refresh (7 -> 9): see `streamctl dlq list --stage b`',
    );
  });
});
