import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/observe/snapshot.js';
import { bar } from '../src/ui/format.js';
import { RunApp } from '../src/ui/run-app.js';
import { RunScreen, type RunScreenProps } from '../src/ui/run-screen.js';
import { countFigures, startStatus, type RunStatus } from '../src/ui/run-status.js';
import { emptyView, nextView } from '../src/ui/top-view.js';
import { waitFor } from '../src/wait.js';
import { deployment, snapshot, worker } from './helpers/snapshot.js';

const NOW = Date.parse('2026-12-06T10:00:30.000Z');

function running(rate: number): Snapshot {
  return snapshot({
    workers: [{ ...worker('analyze-a', 11), rate }],
    stages: [{ stage: 'analyze', liveWorkers: 1, configuredWorkers: 1, lag: 12, pending: 3, deadLetters: 0 }],
    deployment: deployment({ configured: { analyze: 1 }, events: [] }),
  });
}

function frameOf(p: Partial<RunScreenProps> & Pick<RunScreenProps, 'status'>): string {
  const r = render(
    createElement(RunScreen, {
      view: nextView(emptyView('x'), { snapshot: running(2000) }),
      lines: [],
      now: NOW,
      columns: 100,
      rows: 30,
      color: false,
      nodes: false,
      ...p,
    }),
  );
  const frame = r.lastFrame() ?? '';
  r.unmount();
  return frame;
}

const sending: RunStatus = {
  ...startStatus('bench analyze', NOW - 15_000),
  phase: 'sending',
  plannedMs: 30_000,
  figures: countFigures([
    ['sent', 30_000],
    ['backlog', 1234],
    ['unknown', undefined],
  ]),
};

describe('the live screen of a long run (bench, chaos run)', () => {
  it('bench: the phase, the time against the plan with its bar, the figures, the stage rate and the run lines', () => {
    const f = frameOf({ status: sending, lines: ['calibrating...', 'sending 60,000 events at 2,000/s for 30s...'] });
    expect(f).toMatch(/streamctl bench analyze\s+SENDING\s+15\.0s of 30\.0s/);
    expect(f).toContain(`${bar(15, 30, 30)}  sent 30,000   backlog 1,234`);
    expect(f).not.toContain('unknown');
    expect(f).toMatch(/analyze\s+1\/1\s+2,000 /);
    expect(f).toContain('sending 60,000 events at 2,000/s for 30s...');
    // No gates line and no nodes table for a bench.
    expect(f).not.toContain('gates:');
    expect(f).not.toContain('NODE');
  });

  it('chaos run: the gates so far with the last one, and the nodes', () => {
    const f = frameOf({
      status: {
        ...sending,
        title: 'chaos run primary-crash',
        phase: 'faults',
        gates: { held: 7, failed: 1, last: 'during lag 9000 <= 5000: FAILED' },
      },
      nodes: true,
    });
    expect(f).toMatch(/streamctl chaos run primary-crash\s+FAULTS/);
    expect(f).toContain('gates: 7 held, 1 failed   last: during lag 9000 <= 5000: FAILED');
    expect(f).toMatch(/127\.0\.0\.1:7000\s+primary\s+up/);
  });

  it('no data yet: no stage, no latency, no line', () => {
    const f = frameOf({ status: startStatus('bench analyze', NOW), view: emptyView('x') });
    expect(f).toMatch(/STARTING\s+0ms/);
    expect(f).toContain('no stage yet');
    expect(f).toContain('none yet');
  });

  it('fits 80x24 with the nodes and many lines, the newest line on screen', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `line ${i}`);
    const f = frameOf({
      status: { ...sending, gates: { held: 1, failed: 0, last: undefined } },
      lines,
      nodes: true,
      columns: 80,
      rows: 24,
    });
    const rows = f.split('\n');
    expect(rows.length).toBeLessThanOrEqual(24);
    for (const r of rows) expect(r.length).toBeLessThanOrEqual(80);
    expect(f).toContain('line 99');
    expect(rows.filter((r) => r.includes('127.0.0.1:70'))).toHaveLength(6);
  });

  it('the container redraws the status as it changes and refreshes the pipeline from its sample', async () => {
    let status: RunStatus = { ...sending, startedAt: Date.now() };
    const lines: string[] = [];
    let samples = 0;
    const app = render(
      createElement(RunApp, {
        status: () => status,
        lines: () => lines,
        sample: async () => ({ snapshot: running(1000 * ++samples) }),
        intervalMs: 20,
        color: false,
        nodes: false,
      }),
    );
    await waitFor(
      async () => (samples >= 3 && /analyze\s+1\/1\s+[3-9],000/.test(app.lastFrame() ?? '') ? true : undefined),
      {
        timeoutMs: 5000,
        onTimeout: () => new Error(`no refresh: ${app.lastFrame()}`),
      },
    );
    status = { ...status, phase: 'waiting for the drain', figures: countFigures([['backlog', 7]]) };
    lines.push('waiting for the pipeline to drain...');
    await waitFor(async () => (app.lastFrame()?.includes('WAITING FOR THE DRAIN') ? true : undefined), {
      timeoutMs: 5000,
      onTimeout: () => new Error(`status not redrawn: ${app.lastFrame()}`),
    });
    expect(app.lastFrame()).toContain('backlog 7');
    expect(app.lastFrame()).toContain('waiting for the pipeline to drain...');
    app.unmount();
  });
});
