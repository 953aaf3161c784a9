import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ControlEndpoint } from '../src/embedded/control-protocol.js';
import { isPidAlive } from '../src/pid.js';
import { isNodeAlive } from '../src/embedded/redis-server.js';
import type { DeploymentEvent } from '../src/observe/snapshot.js';
import { waitFor } from '../src/wait.js';
import { runCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

/**
 * The supervisor of the embedded 3+3 cluster (one per file, detached, default pipeline), faulted
 * under load by real signals: it must bring back what died, say so in `health`, and lose nothing.
 */
const deployment = detachedDeployment('streamctl-supervision-');
const { dir, record, health, healthUntil } = deployment;

const events = () =>
  readFileSync(join(dir, 'events.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as DeploymentEvent);

const load = (seconds: number) => deployment.load(seconds, 4000);
const { verifyLatest } = deployment;

describe('a supervised 3+3 deployment under load', () => {
  it('SIGKILL of a worker: a new worker process is live, health reports the restart, verify: lost 0, duplicates 0', async () => {
    const produced = load(12);
    const victim = record().workers!.find((w) => w.name === 'analyze#1')!;
    // Under load: the worker has taken partitions and counts events before it is killed.
    await healthUntil('the worker busy', 20_000, (r) =>
      r.workers.some((w) => w.pid === victim.pid && w.live && w.received > 0),
    );
    const t0 = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    const report = await healthUntil('a new live worker in its slot', 30_000, (r) => {
      const slot = r.deployment?.processes.find((p) => p.name === 'analyze#1');
      return Boolean(slot?.pid && slot.pid !== victim.pid && r.workers.some((w) => w.pid === slot.pid && w.live));
    });
    const tookMs = Date.now() - t0;
    const slot = report.deployment!.processes.find((p) => p.name === 'analyze#1')!;
    expect(slot).toMatchObject({ state: 'running', alive: true, restarts: 1 });
    expect(slot.lastExit?.reason).toBe('signal SIGKILL');
    expect(isPidAlive(slot.pid!)).toBe(true);
    const slotEvents = events().filter((e) => e.process === 'analyze#1');
    expect(slotEvents.map((e) => e.kind)).toEqual(['exit', 'restart']);
    const readyMs = Date.parse(slotEvents[1]!.time) - Date.parse(slotEvents[0]!.time);
    console.log(
      `worker SIGKILL: the new worker ready ${readyMs} ms after the exit; seen live by health in ${tookMs} ms`,
    );

    expect((await produced).code).toBe(0);
    const v = await verifyLatest();
    expect(v.produced).toBeGreaterThan(0);
    expect([v.lost, v.duplicates]).toEqual([0, 0]);
  }, 120_000);

  it('SIGKILL of a primary: failover, the node restarted and back as a replica, health ok with no command', async () => {
    const produced = load(15);
    const victim = record().nodes.find((n) => n.role === 'primary' && isNodeAlive(n.pid, n.port))!;
    const address = `127.0.0.1:${victim.port}`;
    await healthUntil('load on the cluster', 20_000, (r) => r.workers.some((w) => w.live && w.received > 0));
    const t0 = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    await healthUntil('the node down', 10_000, (r) => r.nodes.some((n) => n.address === address && !n.up));
    const report = await healthUntil('the node back as a replica and status ok', 60_000, (r, code) => {
      const n = r.nodes.find((x) => x.address === address);
      return code === 0 && r.status === 'ok' && n?.up === true && n.role === 'replica';
    });
    console.log(`primary SIGKILL: back as a replica, health ok in ${Date.now() - t0} ms`);
    const node = report.deployment!.processes.find((p) => p.name === address)!;
    expect(node).toMatchObject({ kind: 'node', role: 'primary', alive: true, restarts: 1 });
    expect(node.pid).not.toBe(victim.pid);
    expect(node.lastExit?.reason).toBe('signal SIGKILL');
    expect(report.slots?.covered).toBe(16384);
    expect(
      events()
        .filter((e) => e.process === address)
        .map((e) => e.kind),
    ).toEqual(['exit', 'failover', 'restart']);

    const p = await produced;
    expect(p.code, p.stdout + p.stderr).toBe(0);
    const v = await verifyLatest();
    expect([v.lost, v.duplicates]).toEqual([0, 0]);
  }, 150_000);

  it('the control channel restarts a named node on request, and refuses a malformed or unauthenticated one', async () => {
    const endpoint = JSON.parse(readFileSync(join(dir, 'control.json'), 'utf8')) as ControlEndpoint;
    const target = record().nodes.find((n) => n.role === 'replica' && isNodeAlive(n.pid, n.port))!;
    const post = (body: string, token: string | null) =>
      fetch(endpoint.url, {
        method: 'POST',
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
        body,
      });
    const restart = JSON.stringify({ v: 1, kind: 'restart', process: String(target.port) });
    const unauthenticated = await post(restart, null);
    expect(unauthenticated.status).toBe(401);
    expect((await post(restart, 'x'.repeat(48))).status).toBe(401);
    const malformed = await post('{"v":1,"kind":"restart"}', endpoint.token);
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ ok: false, error: { code: 'MALFORMED' } });
    // None of them touched the node.
    expect(isNodeAlive(target.pid, target.port)).toBe(true);
    expect(record().nodes.find((n) => n.port === target.port)!.pid).toBe(target.pid);

    const r = await runCli(['restart', String(target.port), '--home', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      started: [`127.0.0.1:${target.port}`],
      stopped: [`127.0.0.1:${target.port}`],
    });
    const now = record().nodes.find((n) => n.port === target.port)!;
    expect(now.pid).not.toBe(target.pid);
    expect(isNodeAlive(target.pid, target.port)).toBe(false);
    expect(isNodeAlive(now.pid, now.port)).toBe(true);
    await healthUntil('status ok after the restart', 30_000, (rep, code) => code === 0 && rep.status === 'ok');
    const unknown = await runCli(['restart', 'nope#9', '--home', dir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no process "nope#9"/);
  }, 90_000);

  it('with its supervisor killed and a node dead, up repairs the deployment instead of refusing', async () => {
    const before = record();
    const node = before.nodes.find((n) => n.role === 'replica' && isNodeAlive(n.pid, n.port))!;
    process.kill(before.supervisorPid!, 'SIGKILL');
    process.kill(node.pid, 'SIGKILL');
    // Without their supervisor the workers drain and exit on their own.
    await waitFor(async () => (before.workers!.some((w) => isPidAlive(w.pid)) ? undefined : true), {
      timeoutMs: 20_000,
      onTimeout: () => new Error('the workers outlived their supervisor'),
    });
    const down = await health();
    expect(down.code).toBe(1);
    expect(down.report.deployment?.supervisor).toMatchObject({ pid: before.supervisorPid, alive: false });

    const up = await runCli(['up', '--detach', '--home', dir]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(
      new RegExp(`repairing the deployment .*starting 1 dead node\\(s\\) again \\(ports ${node.port}\\)`),
    );
    const after = record();
    expect(after.supervisorPid).not.toBe(before.supervisorPid);
    expect(isNodeAlive(after.nodes.find((n) => n.port === node.port)!.pid, node.port)).toBe(true);
    // The live nodes were kept as they were.
    for (const n of before.nodes.filter((x) => x.port !== node.port))
      expect(after.nodes.find((x) => x.port === n.port)!.pid).toBe(n.pid);
    await healthUntil(
      'status ok with two live workers',
      30_000,
      (r, code) => code === 0 && r.stages[0]?.liveWorkers === 2,
    );
  }, 90_000);
});
