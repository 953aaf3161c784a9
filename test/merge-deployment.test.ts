import { describe, expect, it } from 'vitest';
import { mergeDeployment } from '../src/observe/merge-deployment.js';
import type { Snapshot, StageHealth } from '../src/observe/snapshot.js';
import { A, deployment, formed, healthyNodes, snapshot, worker, workerSlot } from './helpers/snapshot.js';

const byAddress = (s: Snapshot, port: number) => s.nodes.find((n) => n.address === A(port))!;
const stage = (s: Snapshot, name: string) => s.stages.find((x) => x.stage === name)!;

describe('mergeDeployment: nodes', () => {
  it("fills each node's pid, restarts, last exit and recorded role, matched by address; no change when as formed", () => {
    const processes = formed();
    processes[1] = {
      ...processes[1]!,
      restarts: 2,
      lastExit: { at: '2026-12-06T09:59:00.000Z', reason: 'signal SIGKILL' },
    };
    const d = deployment({ processes });
    const out = mergeDeployment(snapshot(), d);
    expect(out.deployment).toBe(d);
    expect(byAddress(out, 7000)).toMatchObject({ pid: 100, restarts: 0, was: 'primary' });
    expect(byAddress(out, 7001)).toMatchObject({
      pid: 101,
      restarts: 2,
      lastExit: { reason: 'signal SIGKILL' },
      was: 'primary',
    });
    expect(byAddress(out, 7004)).toMatchObject({ pid: 104, was: 'replica' });
    expect(out.nodes.map((n) => n.change)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(out.status).toBe('ok');
  });

  it('a primary that died and whose replica took its slots: down, its replica promoted; the replica now primary', () => {
    const nodes = healthyNodes();
    nodes[0] = { ...nodes[0]!, up: false, error: 'connection refused', slots: 0, flags: ['master', 'fail'] };
    nodes[3] = { ...nodes[3]!, role: 'primary', slots: 5461, flags: ['master'], primaryAddress: undefined };
    const processes = formed();
    processes[0] = { ...processes[0]!, pid: null, alive: false, state: 'restarting', restarts: 1 };
    const out = mergeDeployment(snapshot({ nodes, status: 'degraded' }), deployment({ processes }));
    expect(byAddress(out, 7000).change).toBe('was primary, down; its replica 127.0.0.1:7003 promoted');
    expect(byAddress(out, 7000).pid).toBeUndefined();
    expect(byAddress(out, 7003).change).toBe('was replica of 127.0.0.1:7000, now primary');
    expect(byAddress(out, 7001).change).toBeUndefined();
  });

  it('a primary down whose replica did not take over says so', () => {
    const nodes = healthyNodes();
    nodes[0] = { ...nodes[0]!, up: false, error: 'connection refused' };
    const out = mergeDeployment(snapshot({ nodes }), deployment());
    expect(byAddress(out, 7000).change).toBe('was primary, down; its replica 127.0.0.1:7003 not promoted');
  });

  it('an old primary back as a replica, a replica down, a replica following another primary', () => {
    const nodes = healthyNodes();
    nodes[0] = { ...nodes[0]!, role: 'replica', slots: 0, primaryAddress: A(7003) };
    nodes[3] = { ...nodes[3]!, role: 'primary', slots: 5461, primaryAddress: undefined };
    nodes[4] = { ...nodes[4]!, up: false, error: 'connection refused' };
    nodes[5] = { ...nodes[5]!, primaryAddress: A(7001) };
    const out = mergeDeployment(snapshot({ nodes }), deployment());
    expect(byAddress(out, 7000).change).toBe('was primary, now replica of 127.0.0.1:7003');
    expect(byAddress(out, 7004).change).toBe('was replica of 127.0.0.1:7001, down');
    expect(byAddress(out, 7005).change).toBe('was replica of 127.0.0.1:7002, now replica of 127.0.0.1:7001');
  });

  it('a standalone node that is down was a primary', () => {
    const s = snapshot({
      mode: 'standalone',
      cluster: null,
      slots: null,
      status: 'down',
      nodes: [{ id: null, address: A(7000), role: 'primary', up: false, error: 'connection refused', flags: [] }],
    });
    const out = mergeDeployment(s, deployment({ processes: [formed()[0]!] }));
    expect(out.nodes[0]!.change).toBe('was primary, down');
    expect(out.status).toBe('down');
  });

  it('leaves the snapshot it was given unchanged', () => {
    const s = snapshot({
      workers: [worker('w1', 500)],
      stages: [{ stage: 'analyze', liveWorkers: 1, lag: 0, pending: 0 }],
    });
    const before = structuredClone(s);
    mergeDeployment(
      s,
      deployment({
        configured: { analyze: 2, other: 1 },
        processes: [...formed(), workerSlot('analyze#1', 'analyze', 500)],
      }),
    );
    expect(s).toEqual(before);
  });
});

describe('mergeDeployment: workers and stages', () => {
  const analyze = (extra: Partial<StageHealth> = {}): StageHealth => ({
    stage: 'analyze',
    liveWorkers: 2,
    lag: 0,
    pending: 0,
    deadLetters: 0,
    ...extra,
  });

  it("gives each worker its slot's restarts (matched by pid), each stage its configured count and its slots' restarts", () => {
    const processes = [
      ...formed(),
      workerSlot('analyze#0', 'analyze', 500, { restarts: 1 }),
      workerSlot('analyze#1', 'analyze', 501, { restarts: 3 }),
    ];
    const s = snapshot({
      workers: [worker('w0', 500), worker('w1', 501), worker('elsewhere', 9)],
      stages: [analyze()],
    });
    const out = mergeDeployment(s, deployment({ processes, configured: { analyze: 2 } }));
    expect(out.workers.map((w) => w.restarts)).toEqual([1, 3, undefined]);
    expect(stage(out, 'analyze')).toEqual({ ...analyze(), configuredWorkers: 2, restarts: 4 });
    expect(out.problems).toEqual([]);
    expect(out.status).toBe('ok');
  });

  it('a stage with fewer live workers than configured is understaffed: a problem, status degraded', () => {
    const s = snapshot({
      workers: [worker('w0', 500), worker('w1', 501, false)],
      stages: [analyze({ liveWorkers: 1 })],
    });
    const out = mergeDeployment(s, deployment({ configured: { analyze: 2 } }));
    expect(out.problems).toEqual([
      { code: 'STAGE_UNDERSTAFFED', message: 'stage analyze has 1 of 2 configured workers live' },
    ]);
    expect(out.status).toBe('degraded');
  });

  it('a configured stage that left no trace in Redis gets a row, and is understaffed', () => {
    const out = mergeDeployment(
      snapshot({ stages: [analyze()] }),
      deployment({ configured: { analyze: 2, enrich: 1 } }),
    );
    expect(stage(out, 'enrich')).toEqual({
      stage: 'enrich',
      liveWorkers: 0,
      lag: 0,
      pending: 0,
      deadLetters: 0,
      configuredWorkers: 1,
      restarts: 0,
    });
    expect(out.problems.map((p) => p.code)).toEqual(['STAGE_UNDERSTAFFED']);
  });

  it('judges no stage understaffed when the snapshot could not read the workers', () => {
    const down = mergeDeployment(snapshot({ status: 'down' }), deployment({ configured: { analyze: 2 } }));
    expect(stage(down, 'analyze')).toEqual({
      stage: 'analyze',
      liveWorkers: 0,
      lag: 0,
      pending: 0,
      configuredWorkers: 2,
      restarts: 0,
    });
    expect(down.problems).toEqual([]);
    const unread = snapshot({ warnings: [{ code: 'HEARTBEATS_UNREADABLE', message: 'm' }] });
    expect(mergeDeployment(unread, deployment({ configured: { analyze: 2 } })).problems).toEqual([]);
  });
});

describe('mergeDeployment: the supervisor', () => {
  it('a recorded supervisor that is not running is a warning; the status stays', () => {
    const d = deployment({ supervisor: { pid: 42, alive: false, restart: 'on-failure' } });
    const out = mergeDeployment(snapshot(), d);
    expect(out.warnings).toEqual([
      expect.objectContaining({ code: 'SUPERVISOR_GONE', message: expect.stringContaining('pid 42') }),
    ]);
    expect(out.status).toBe('ok');
    expect(mergeDeployment(snapshot(), deployment({ supervisor: null })).warnings).toEqual([]);
  });

  it('a process the supervisor gave up on is a problem naming it', () => {
    const processes = formed();
    processes[2] = {
      ...processes[2]!,
      pid: null,
      alive: false,
      state: 'gave-up',
      restarts: 5,
      lastExit: { at: '2026-12-06T09:58:00.000Z', reason: 'exit code 1' },
    };
    processes.push(workerSlot('analyze#1', 'analyze', null, { state: 'gave-up', restarts: 5 }));
    const out = mergeDeployment(snapshot(), deployment({ processes }));
    expect(out.problems).toEqual([
      {
        code: 'PROCESS_GAVE_UP',
        node: A(7002),
        message:
          'the supervisor gave up restarting node 127.0.0.1:7002 after 5 restarts (last exit: exit code 1 at 2026-12-06T09:58:00.000Z)',
      },
      { code: 'PROCESS_GAVE_UP', message: 'the supervisor gave up restarting worker analyze#1 after 5 restarts' },
    ]);
    expect(out.status).toBe('degraded');
  });
});
