import { render } from 'ink-testing-library';
import { createElement } from 'react';
import { describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/observe/snapshot.js';
import { bar, sparkline } from '../src/ui/format.js';
import { quantile, windowIncrease } from '../src/ui/latency.js';
import { TopApp } from '../src/ui/top-app.js';
import { TopScreen } from '../src/ui/top-screen.js';
import { emptyView, nextView, type TopView } from '../src/ui/top-view.js';
import { waitFor } from '../src/wait.js';
import { A, deployment, healthyNodes, node, snapshot, worker } from './helpers/snapshot.js';

/** A deployment running the default pipeline's stage with two workers at `rate` events/s each. */
function running(extra: Partial<Snapshot> = {}, rate = 1000): Snapshot {
  return snapshot({
    workers: [
      { ...worker('analyze-a', 11), rate },
      { ...worker('analyze-b', 12), rate },
    ],
    stages: [{ stage: 'analyze', liveWorkers: 2, configuredWorkers: 2, lag: 0, pending: 3, deadLetters: 0 }],
    deployment: deployment({
      configured: { analyze: 2 },
      events: [{ time: '2026-12-06T10:00:00.000Z', kind: 'start', process: 'supervisor', reason: 'pid 42' }],
    }),
    ...extra,
  });
}

function frameOf(view: TopView, columns = 100, rows = 30): string {
  const screen = createElement(TopScreen, {
    view,
    columns,
    rows,
    paused: false,
    color: false,
    focus: 'events',
    scroll: 0,
  });
  const r = render(screen);
  const frame = r.lastFrame() ?? '';
  r.unmount();
  return frame;
}

const view = (...snaps: Snapshot[]) => snaps.reduce((v, s) => nextView(v, { snapshot: s }), emptyView('/tmp/home'));

describe('top: the panels on fixture snapshots', () => {
  it('healthy: status, the stage with its rate, every node up, the supervisor start', () => {
    const f = frameOf(view(running(), running({}, 1500)));
    expect(f).toContain('OK');
    expect(f).toMatch(/analyze\s+2\/2\s+3,000 /);
    for (const n of healthyNodes()) expect(f).toMatch(new RegExp(`${n.address}\\s+${n.role}\\s+up`));
    expect(f).toContain('start    supervisor');
    // The rate's history: two samples, the second the highest.
    expect(f).toContain(sparkline([2000, 3000], 38).trim());
  });

  it('a stage behind: its lag shows', () => {
    const behind = running();
    behind.stages[0]!.lag = 52_345;
    behind.status = 'degraded';
    behind.problems = [{ code: 'LAG', message: 'stage analyze is 52,345 entries behind' }];
    const f = frameOf(view(behind));
    expect(f).toMatch(/analyze\s+2\/2\s+2,000 .*52,345/);
    expect(f).toContain('DEGRADED');
    expect(f).toContain('! stage analyze is 52,345 entries behind');
  });

  it('a node down: DOWN, and how it changed', () => {
    const nodes = healthyNodes();
    nodes[0] = node(7000, 'primary', { up: false, change: `was primary, down; its replica ${A(7003)} promoted` });
    nodes[3] = node(7003, 'primary', { slots: 5461 });
    const f = frameOf(view(running({ nodes, status: 'degraded' })));
    expect(f).toMatch(/127\.0\.0\.1:7000\s+primary\s+DOWN.*its replica 127\.0\.0\.1:7003 promoted/);
    expect(f).toMatch(/127\.0\.0\.1:7003\s+primary\s+up/);
  });

  it('a worker restarting: 1 of 2 live, and its exit and restart in the events', () => {
    const s = running();
    s.workers = [s.workers[0]!];
    s.stages[0]!.liveWorkers = 1;
    s.deployment!.events.push(
      { time: '2026-12-06T10:00:05.000Z', kind: 'exit', process: 'analyze#2', reason: 'signal SIGKILL' },
      { time: '2026-12-06T10:00:06.000Z', kind: 'restart', process: 'analyze#2', reason: 'pid 99' },
    );
    const f = frameOf(view(s));
    expect(f).toMatch(/analyze\s+1\/2\s+1,000/);
    expect(f).toContain('exit     analyze#2  signal SIGKILL');
    expect(f).toContain('restart  analyze#2  pid 99');
  });

  it('no data yet: waiting, and no stage', () => {
    const f = frameOf(emptyView('/tmp/home'));
    expect(f).toContain('WAITING');
    expect(f).toContain('no stage yet');
  });

  it('fits 80x24 with every node and the stage', () => {
    const events = Array.from({ length: 40 }, (_, i) => ({
      time: `2026-12-06T10:00:${String(i).padStart(2, '0')}.000Z`,
      kind: 'restart' as const,
      process: 'analyze#1',
      reason: `pid ${100 + i}`,
    }));
    const s = running();
    s.deployment!.events = events;
    const lines = frameOf(view(s), 80, 24).split('\n');
    expect(lines.length).toBeLessThanOrEqual(24);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(lines.join('\n')).toContain('analyze');
    expect(lines.filter((l) => l.includes('127.0.0.1:70'))).toHaveLength(6);
    // The newest event is on screen.
    expect(lines.join('\n')).toContain('pid 139');
  });

  it("latency: p50 and p99 over the last minute from the workers' histogram; alerts in their feed", () => {
    const at = (sec: number) => `2026-12-06T10:00:${String(sec).padStart(2, '0')}.000Z`;
    // One worker's histogram.
    const buckets = (under10ms: number, under1s: number, all: number) =>
      new Map([
        [
          'analyze-a',
          new Map([
            [0.01, under10ms],
            [1, under1s],
            [Infinity, all],
          ]),
        ],
      ]);
    let v = nextView(emptyView('/tmp/home'), { snapshot: running({ checkedAt: at(0) }), latency: buckets(0, 0, 0) });
    expect(v.latency.at(-1)).toEqual({ p50: undefined, p99: undefined });
    // 100 events since: 90 under 10 ms, 10 between 10 ms and 1 s.
    v = nextView(v, {
      snapshot: running({ checkedAt: at(5) }),
      latency: buckets(90, 100, 100),
      alerts: [{ time: Date.parse(at(4)), rule: 'spike-then-drop', key: 'host-7', kind: 'spike' }],
    });
    const p = v.latency.at(-1)!;
    expect(p.p50).toBeCloseTo(0.01 * (50 / 90), 5);
    expect(p.p99).toBeCloseTo(0.01 + (1 - 0.01) * 0.9, 5);
    const f = frameOf(v);
    expect(f).toContain('END-TO-END LATENCY');
    expect(f).toMatch(/p50 .* 5\.6 ms/);
    expect(f).toMatch(/p99 .* 901\.0 ms/);
    expect(f).toMatch(/10:00:04 spike-then-drop\s+host-7 spike/);
  });

  it('a chaos fault applied and healed, among the deployment events', () => {
    const s = running();
    s.deployment!.events.push(
      {
        time: '2026-12-06T10:00:02.000Z',
        kind: 'fault',
        process: '127.0.0.1:7001 (primary, pid 7)',
        reason: 'pause-node',
      },
      {
        time: '2026-12-06T10:00:09.000Z',
        kind: 'healed',
        process: '127.0.0.1:7001 (primary, pid 7)',
        reason: 'pause-node',
      },
    );
    const f = frameOf(view(s));
    expect(f).toMatch(/10:00:02 fault\s+127\.0\.0\.1:7001 \(primary, pid 7\)\s+pause-node/);
    expect(f).toMatch(/10:00:09 healed\s+127\.0\.0\.1:7001/);
  });

  it('quantile: as histogram_quantile, and nothing from no observation', () => {
    const b = new Map([
      [0.1, 50],
      [1, 100],
      [Infinity, 100],
    ]);
    expect(quantile(0.5, b)).toBeCloseTo(0.1, 6);
    expect(quantile(0.75, b)).toBeCloseTo(0.55, 6);
    expect(quantile(0.5, new Map([[Infinity, 0]]))).toBeUndefined();
  });

  it('the latency window: increases per worker, a restart counts from 0, a worker seen once adds nothing', () => {
    const h = (fast: number, all: number) =>
      new Map([
        [0.01, fast],
        [Infinity, all],
      ]);
    const readings = [
      // A has a long history before the window; B is not there yet.
      new Map([['A', h(1000, 5000)]]),
      new Map([['A', h(1100, 5100)]]),
      // A was killed: gone from this reading; B is its restart, seen for the first time with a few events.
      new Map([['B', h(0, 7)]]),
      new Map([['B', h(20, 27)]]),
      // B restarted again in place (same key, counts from 0).
      new Map([['B', h(5, 5)]]),
    ];
    const w = windowIncrease(readings);
    // A: +100 (all fast); B: +20 (+20 fast), then 5 (5 fast) after its reset; B's first 7 and A's history are outside.
    expect(w.get(Infinity)).toBe(100 + 20 + 5);
    expect(w.get(0.01)).toBe(100 + 20 + 5);
    // One reading: no increase yet.
    expect(windowIncrease([new Map([['A', h(1, 1)]])]).size).toBe(0);
  });

  it('format: bars and sparklines scale', () => {
    expect(bar(50, 100, 10)).toBe('█████░░░░░');
    expect(bar(200, 100, 4)).toBe('████');
    expect(sparkline([0, 5, 10], 3)).toBe('▁▄█');
    expect(sparkline([], 3)).toBe('   ');
  });
});

describe('top: the container', () => {
  it('refreshes from its sample, p pauses (no more samples), q exits', async () => {
    let calls = 0;
    const app = render(
      createElement(TopApp, {
        sample: async () => {
          calls++;
          return { snapshot: running({}, 100 * calls) };
        },
        intervalMs: 20,
        target: '/tmp/home',
        color: false,
      }),
    );
    await waitFor(async () => (calls >= 3 && app.lastFrame()?.includes('analyze') ? true : undefined), {
      timeoutMs: 5000,
      onTimeout: () => new Error(`no refreshes: ${app.lastFrame()}`),
    });
    app.stdin.write('p');
    await waitFor(async () => (app.lastFrame()?.includes('PAUSED') ? true : undefined), {
      timeoutMs: 5000,
      onTimeout: () => new Error(`not paused: ${app.lastFrame()}`),
    });
    const paused = calls;
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toBeLessThanOrEqual(paused + 1);
    // Unpaused it refreshes again; q ends the app: no refresh after it.
    app.stdin.write('p');
    await waitFor(async () => (calls > paused + 1 ? true : undefined), {
      timeoutMs: 5000,
      onTimeout: () => new Error('no refresh after unpausing'),
    });
    app.stdin.write('q');
    await new Promise((r) => setTimeout(r, 50));
    const quit = calls;
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toBe(quit);
    app.unmount();
  });

  it('tab moves the focus to the alerts feed, and the arrows scroll the focused feed only', async () => {
    const s = running();
    s.deployment!.events = Array.from({ length: 40 }, (_, i) => ({
      time: `2026-12-06T10:00:${String(i).padStart(2, '0')}.000Z`,
      kind: 'restart' as const,
      process: 'analyze#1',
      reason: `pid ${100 + i}`,
    }));
    const alerts = Array.from({ length: 40 }, (_, i) => ({
      time: Date.parse(s.checkedAt) + i,
      rule: 'spike',
      key: `k${i}`,
      kind: 'spike',
    }));
    let first = true;
    const app = render(
      createElement(TopApp, {
        sample: async () => {
          const a = first ? alerts : [];
          first = false;
          return { snapshot: s, alerts: a };
        },
        intervalMs: 60_000,
        target: '/tmp/home',
        color: false,
      }),
    );
    const frame = async (want: RegExp) =>
      waitFor(async () => (want.test(app.lastFrame() ?? '') ? app.lastFrame()! : undefined), {
        timeoutMs: 5000,
        onTimeout: () => new Error(`not ${want}: ${app.lastFrame()}`),
      });
    await frame(/ALERTS \(40 of 40\)/);
    app.stdin.write('\t');
    app.stdin.write('\u001B[A');
    const f = await frame(/ALERTS \(39 of 40\)/);
    expect(f).toContain('EVENTS (40 of 40)');
    app.unmount();
  });
});
