import { describe, expect, it } from 'vitest';
import type { ActiveFault } from '../src/chaos/fault.js';
import type { FaultOutcome, HealOutcome } from '../src/chaos/inject.js';
import { isStopped } from '../src/chaos/process-signals.js';
import { waitFor } from '../src/wait.js';
import { finished, runCli, spawnCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

/**
 * `streamctl chaos` on the embedded 3+3 cluster (one per file, detached, default pipeline) under a
 * light load: each fault is applied, seen to take effect and reverted, and the data stays whole.
 */
const deployment = detachedDeployment('streamctl-chaos-');
const { dir, healthUntil } = deployment;

const load = (seconds: number) => deployment.load(seconds, 1000);
const { verifyLatest } = deployment;

async function chaosList(): Promise<(ActiveFault & { holderAlive: boolean })[]> {
  const l = await runCli(['chaos', 'list', '--home', dir, '--json']);
  expect(l.code, l.stderr).toBe(0);
  return (JSON.parse(l.stdout) as { faults: (ActiveFault & { holderAlive: boolean })[] }).faults;
}

const healthOk = () =>
  healthUntil('health ok', 60_000, (r, code) => code === 0 && r.status === 'ok' && r.slots?.covered === 16384);

interface Case {
  name: string;
  args: string[];
  /** What the check must have seen. */
  seen: RegExp;
  /** What the revert must say. */
  reverted: RegExp;
  /** A primary kill may lose acknowledged writes (asynchronous replication): reported, not failed. */
  mayLose?: boolean;
}

const cases: Case[] = [
  { name: 'kill-worker', args: ['kill-worker', '--stage', 'analyze'], seen: /is gone/, reverted: /back as pid \d+/ },
  {
    name: 'pause-worker past its lease: fenced',
    args: ['pause-worker', '--for', '6s', '--random', '--seed', '4'],
    seen: /stopped \(state T\)/,
    reverted: /fenced: it gave up \d+ partition\(s\) whose lease ran out/,
  },
  {
    name: 'restart-node',
    args: ['restart-node', '--role', 'replica', '--random', '--seed', '2'],
    seen: /replaced by pid \d+/,
    reverted: /cluster ok/,
  },
  { name: 'failover', args: ['failover', '--random', '--seed', '3'], seen: /is a primary now/, reverted: /cluster ok/ },
  {
    name: 'client-pause',
    args: ['client-pause', '--role', 'primary', '--random', '--seed', '1', '--for', '2s'],
    seen: /a write from a new client waited/,
    reverted: /CLIENT UNPAUSE.*cluster ok/,
  },
  {
    name: 'pause-node',
    args: ['pause-node', '--role', 'replica', '--random', '--seed', '1', '--for', '3s'],
    seen: /stopped \(state T\)/,
    reverted: /SIGCONT.*cluster ok/,
  },
  {
    name: 'kill-node of a replica',
    args: ['kill-node', '--role', 'replica', '--random', '--seed', '5'],
    seen: /is gone/,
    reverted: /back as pid \d+ \(restarted by the supervisor\).*cluster ok/,
  },
  {
    name: 'kill-node of a primary',
    args: ['kill-node', '--role', 'primary', '--random', '--seed', '6'],
    seen: /is gone/,
    reverted: /back as pid \d+ \(restarted by the supervisor\).*cluster ok/,
    mayLose: true,
  },
];

describe('chaos faults on the 3+3 cluster under load', () => {
  it.each(cases)(
    '$name: applied, seen, reverted; verify duplicates 0',
    async (c) => {
      const produced = load(6);
      await healthUntil('load on the cluster', 20_000, (r) => r.workers.some((w) => w.live && w.rate > 0));
      const run = await runCli(['chaos', ...c.args, '--home', dir, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const [fault, ...more] = (JSON.parse(run.stdout) as { faults: FaultOutcome[] }).faults;
      expect(more).toEqual([]);
      expect(fault!.seen).toBe(true);
      expect(fault!.evidence).toMatch(c.seen);
      expect(fault!.revertError).toBeUndefined();
      expect(fault!.reverted).toMatch(c.reverted);
      expect(await chaosList()).toEqual([]);

      const p = await produced;
      if (!c.mayLose) expect(p.code, p.stderr).toBe(0);
      const v = await verifyLatest();
      expect(v.produced).toBeGreaterThan(0);
      expect(v.duplicates).toBe(0);
      if (c.mayLose)
        console.log(`chaos ${c.args.join(' ')}: lost ${v.lost} of ${v.produced} (asynchronous replication)`);
      else expect(v.lost).toBe(0);
      await healthOk();
    },
    120_000,
  );
});

describe('a fault that cannot be applied', () => {
  it('kill-node of a node that does not exist: exit 2 with a hint naming the nodes, nothing recorded or touched', async () => {
    const pids = deployment.record().nodes.map((n) => n.pid);
    const r = await runCli(['chaos', 'kill-node', '--node', '127.0.0.1:1', '--home', dir]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/--node 127\.0\.0\.1:1: no such node .*\(nodes: 127\.0\.0\.1:\d+ (primary|replica)/);
    expect(r.stderr).toMatch(/hint: name a node as host:port or its port/);
    expect(await chaosList()).toEqual([]);
    expect(deployment.record().nodes.map((n) => n.pid)).toEqual(pids);
  });
});

describe('a lasting fault whose chaos process dies or is interrupted', () => {
  /** Starts `chaos pause-node --for 60s` on a replica and waits until its node is seen stopped. */
  async function pausedReplica() {
    const child = spawnCli(['chaos', 'pause-node', '--role', 'replica', '--random', '--for', '60s', '--home', dir]);
    const done = finished(child);
    const fault = await waitFor(
      async () => {
        const [f] = await chaosList();
        return f?.target.pid && isStopped(f.target.pid) ? f : undefined;
      },
      { timeoutMs: 20_000, onTimeout: () => new Error('the pause-node fault was not recorded and applied') },
    );
    return { child, done, fault };
  }

  it('SIGKILLed in the middle: chaos list shows the fault, chaos heal resumes the node, health returns to ok', async () => {
    const { child, done, fault } = await pausedReplica();
    child.kill('SIGKILL');
    await done;
    const [listed, ...others] = await chaosList();
    expect(others).toEqual([]);
    expect(listed).toMatchObject({ id: fault.id, kind: 'pause-node', holderAlive: false });
    expect(isStopped(fault.target.pid!)).toBe(true);

    const heal = await runCli(['chaos', 'heal', '--home', dir, '--json']);
    expect(heal.code, heal.stderr).toBe(0);
    const [healed] = (JSON.parse(heal.stdout) as { healed: HealOutcome[] }).healed;
    expect(healed).toMatchObject({ fault: { id: fault.id } });
    expect(healed!.reverted).toMatch(/SIGCONT/);
    expect(isStopped(fault.target.pid!)).toBe(false);
    expect(await chaosList()).toEqual([]);
    await healthOk();
  }, 120_000);

  it('Ctrl-C in the middle: the node is resumed at once, the record removed, exit 130', async () => {
    const { child, done, fault } = await pausedReplica();
    const t0 = Date.now();
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/reverted: sent SIGCONT/);
    expect(Date.now() - t0).toBeLessThan(45_000);
    expect(isStopped(fault.target.pid!)).toBe(false);
    expect(await chaosList()).toEqual([]);
    await healthOk();
  }, 120_000);
});
