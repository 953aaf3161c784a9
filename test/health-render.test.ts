import { describe, expect, it } from 'vitest';
import { renderHealth } from '../src/health/render.js';
import { mergeDeployment } from '../src/observe/merge-deployment.js';
import type { DeploymentEvent, NodeHealth, Snapshot, SupervisedProcess } from '../src/observe/snapshot.js';
import { A, deployment, formed, healthyNodes, snapshot, worker, workerSlot } from './helpers/snapshot.js';

/** The rows of the table under `title`, each split into its cells (two spaces or more apart). */
function table(text: string, title: string): string[][] {
  const lines = text.split('\n');
  const rows: string[][] = [];
  for (const line of lines.slice(lines.indexOf(title) + 1)) {
    if (!line.startsWith('  ') || line.startsWith('   ') || /^ {2}\S+: /.test(line)) break;
    rows.push(line.trim().split(/\s{2,}/));
  }
  return rows;
}

/** The cell of column `column` in the row whose first cell is `first`. */
function cell(rows: string[][], first: string, column: string): string | undefined {
  return rows.find((r) => r[0] === first)?.[rows[0]!.indexOf(column)];
}

/** The embedded cluster after its first primary died and its replica took over, with a deployment. */
function afterFailover(): Snapshot {
  const nodes: NodeHealth[] = healthyNodes().map((n) => ({ ...n, usedMemory: 850_000_000, connectedClients: 14 }));
  nodes[0] = { ...healthyNodes()[0]!, up: false, error: 'connection refused', slots: 0, flags: ['master', 'fail'] };
  nodes[3] = { ...nodes[3]!, role: 'primary', slots: 5461, flags: ['master'], primaryAddress: undefined };
  for (const n of nodes.slice(4)) Object.assign(n, { linkStatus: 'up', lagBytes: 0 });
  const processes: SupervisedProcess[] = formed().map((p) => ({ ...p, pid: 1_234_567 }));
  processes[0] = { ...processes[0]!, pid: null, alive: false, state: 'restarting', restarts: 1 };
  const events: DeploymentEvent[] = Array.from({ length: 7 }, (_, i) => ({
    time: `2026-12-06T10:00:0${i}.123Z`,
    kind: 'ready',
    process: `analyze#${i}`,
  }));
  events.push({ time: '2026-12-06T10:00:09.000Z', kind: 'exit', process: A(7000), reason: 'signal SIGKILL' });
  const s = snapshot({
    status: 'degraded',
    nodes,
    workers: [worker('analyze-vm-1-aaaaaa', 500), { ...worker('analyze-vm-2-bbbbbb', 501, false), lastSeenMs: 61_000 }],
    stages: [
      { stage: 'analyze', liveWorkers: 1, lag: 10, pending: 2, deadLetters: 1234, deadLettersEstimated: true },
      { stage: 'enrich', liveWorkers: 0, lag: 0, pending: 0, deadLetters: 0 },
    ],
  });
  return mergeDeployment(
    s,
    deployment({
      processes: [
        ...processes,
        workerSlot('analyze#0', 'analyze', 500, { restarts: 2 }),
        workerSlot('analyze#1', 'analyze', 501),
      ],
      configured: { analyze: 2 },
      events,
    }),
  );
}

describe('the health page', () => {
  const text = renderHealth(afterFailover(), false);

  it('fits 100 columns', () => {
    const wide = text.split('\n').filter((l) => l.length > 100 && !l.includes('/metrics'));
    expect(wide).toEqual([]);
  });

  it("NODES: each node's pid and restarts, and below the table what changed and why a node is down", () => {
    const nodes = table(text, 'NODES');
    expect(nodes[0]).toEqual([
      'ADDRESS',
      'ROLE',
      'UP',
      'PID',
      'RESTARTS',
      'PRIMARY',
      'LAG',
      'MEMORY',
      'CLIENTS',
      'SLOTS',
    ]);
    expect(nodes.find((r) => r[0] === A(7000))).toEqual([
      A(7000),
      'primary',
      'down',
      '-',
      '1',
      '-',
      '-',
      '-',
      '-',
      '0',
    ]);
    expect(cell(nodes, A(7003), 'PID')).toBe('1234567');
    expect(text).toContain(
      `  ${A(7000)}: fail; connection refused; was primary, down; its replica ${A(7003)} promoted`,
    );
    expect(text).toContain(`  ${A(7003)}: was replica of ${A(7000)}, now primary`);
    expect(text).not.toContain(`  ${A(7001)}: `);
  });

  it('STAGES: live of configured workers, dead letters (~ when estimated) and restarts', () => {
    const stages = table(text, 'STAGES');
    expect(stages[0]).toEqual(['STAGE', 'LIVE/CONFIGURED', 'LAG', 'PENDING', 'DEAD LETTERS', 'RESTARTS']);
    expect(stages.find((r) => r[0] === 'analyze')).toEqual(['analyze', '1/2', '10', '2', '~1234', '2']);
    expect(stages.find((r) => r[0] === 'enrich')).toEqual(['enrich', '0', '0', '0', '0', '-']);
  });

  it('WORKERS: a dead worker shows no owned partitions and no rate', () => {
    const workers = table(text, 'WORKERS');
    expect(cell(workers, 'analyze-vm-1-aaaaaa', 'OWNED')).toBe('8');
    expect(cell(workers, 'analyze-vm-1-aaaaaa', 'RATE')).toBe('0/s');
    expect(cell(workers, 'analyze-vm-2-bbbbbb', 'STATE')).toBe('dead 1m01s');
    expect(cell(workers, 'analyze-vm-2-bbbbbb', 'OWNED')).toBe('-');
    expect(cell(workers, 'analyze-vm-2-bbbbbb', 'RATE')).toBe('-');
  });

  it('DEPLOYMENT: the supervisor, what is not running, and the last five events', () => {
    const at = text.indexOf('DEPLOYMENT  /tmp/home');
    expect(at).toBeGreaterThan(0);
    const lines = text.slice(at).trimEnd().split('\n');
    expect(lines[1]).toBe('  supervisor pid 42 running, restart on-failure, control /tmp/home/control.sock');
    expect(lines[2]).toBe(`  not running: ${A(7000)} (restarting, 1 restarts)`);
    const events = lines.slice(3).map((l) => l.trim().split(/\s{2,}/));
    expect(events[0]).toEqual(['TIME (UTC)', 'EVENT', 'PROCESS', 'REASON']);
    expect(events.slice(1).map((e) => e[2])).toEqual(['analyze#3', 'analyze#4', 'analyze#5', 'analyze#6', A(7000)]);
    expect(events[5]).toEqual(['2026-12-06 10:00:09', 'exit', A(7000), 'signal SIGKILL']);
  });

  it('without a deployment: no PID, RESTARTS or DEPLOYMENT, live workers alone', () => {
    const plain = renderHealth(
      snapshot({ stages: [{ stage: 'analyze', liveWorkers: 2, lag: 0, pending: 0, deadLetters: 0 }] }),
      false,
    );
    expect(table(plain, 'NODES')[0]).toEqual(['ADDRESS', 'ROLE', 'UP', 'PRIMARY', 'LAG', 'MEMORY', 'CLIENTS', 'SLOTS']);
    expect(table(plain, 'STAGES')).toEqual([
      ['STAGE', 'LIVE WORKERS', 'LAG', 'PENDING', 'DEAD LETTERS'],
      ['analyze', '2', '0', '0', '0'],
    ]);
    expect(plain).not.toContain('DEPLOYMENT');
  });
});
