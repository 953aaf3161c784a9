import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultOutcome } from '../src/chaos/inject.js';
import type { Deployment } from '../src/embedded/deployment.js';
import { isNodeAlive } from '../src/embedded/redis-server.js';
import type { RedisConnection } from '../src/redis/connection.js';
import { runCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { processesIn, randomBasePort, startRedis, tempDir, type TestServer } from './helpers/redis.js';

/**
 * Where chaos may act: on a Redis that streamctl did not start only what Redis offers, confirmed
 * with --yes, and nothing is touched when a fault cannot be applied; on an embedded deployment under
 * `--restart never`, the revert itself brings a killed process back.
 */
describe('chaos against a Redis that streamctl did not start', () => {
  let server: TestServer;
  let conn: RedisConnection;
  const home = tempDir('streamctl-chaos-external-');
  beforeAll(async () => {
    server = await startRedis();
    conn = await connectTo(server.url);
  });
  afterAll(async () => {
    await conn.close();
    await server.stop();
    home.remove();
  });

  it.each([
    { args: ['kill-node', '--node', 'PORT'], code: 'NOT_HERE', hint: /chaos failover.*chaos client-pause/ },
    { args: ['pause-worker'], code: 'NOT_HERE', hint: /drop --redis/ },
    { args: ['client-pause', '--node', '1'], code: 'UNKNOWN_NODE', hint: /host:port or its port/ },
    { args: ['client-pause', '--for', '1s'], code: 'CONFIRM_FAULT', hint: /--yes/ },
    { args: ['failover', '--yes'], code: 'NOT_CLUSTER', hint: /cluster/ },
    { args: ['kill-node', '--for', '2s'], code: 'BAD_OPTION', hint: /takes --node, --role, --random, --seed/ },
  ])('chaos $args.0 ($code): exit 2 with a hint, nothing touched', async ({ args, hint }) => {
    const r = await runCli([
      'chaos',
      ...args.map((a) => (a === 'PORT' ? String(server.port) : a)),
      '--redis',
      server.url,
      '--home',
      home.dir,
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toMatch(hint);
    expect(isNodeAlive(server.node.pid, server.port)).toBe(true);
    // Not paused, nothing written: a write answers at once and is the only key.
    expect(await conn.client().set('probe', '1')).toBe('OK');
    expect(await conn.client().dbsize()).toBe(1);
    await conn.client().del('probe');
    const list = await runCli(['chaos', 'list', '--home', home.dir, '--json']);
    expect(JSON.parse(list.stdout)).toEqual({ faults: [] });
  });

  it('client-pause --yes: applied, seen, reverted by CLIENT UNPAUSE', async () => {
    const r = await runCli([
      'chaos',
      'client-pause',
      '--for',
      '1s',
      '--mode',
      'write',
      '--yes',
      '--redis',
      server.url,
      '--home',
      home.dir,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [f] = (JSON.parse(r.stdout) as { faults: FaultOutcome[] }).faults;
    expect(f).toMatchObject({ kind: 'client-pause', seen: true, target: { port: server.port } });
    expect(f!.reverted).toMatch(/CLIENT UNPAUSE/);
    expect(await conn.client().set('after', '1')).toBe('OK');
  });
});

describe('chaos on an embedded deployment under --restart never', () => {
  const home = tempDir('streamctl-chaos-never-');
  let d: Deployment;
  beforeAll(async () => {
    const up = await runCli([
      'up',
      '--detach',
      '--standalone',
      '--restart',
      'never',
      '--json',
      '--home',
      home.dir,
      '--port',
      String(randomBasePort()),
    ]);
    expect(up.code, up.stderr).toBe(0);
    d = JSON.parse(up.stdout) as Deployment;
  }, 60_000);
  afterAll(async () => {
    const down = await runCli(['down', '--home', home.dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(processesIn(home.dir)).toEqual([]);
    home.remove();
  }, 60_000);

  it.each([
    { kind: 'kill-worker', target: 'worker' },
    { kind: 'kill-node', target: 'node' },
  ])(
    '$kind: the supervisor gives up on it, the revert starts it (one copy), health ok',
    async ({ kind }) => {
      const r = await runCli(['chaos', kind, '--random', '--home', home.dir, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const [f] = (JSON.parse(r.stdout) as { faults: FaultOutcome[] }).faults;
      expect(f!.seen).toBe(true);
      expect(f!.reverted).toMatch(/back as pid \d+ \(started by the heal\)/);
      const h = await runCli(['health', '--home', home.dir, '--json']);
      expect(h.code, h.stdout).toBe(0);
      const report = JSON.parse(h.stdout) as {
        deployment: { processes: { kind: string; alive: boolean; state: string; pid: number }[] };
      };
      const procs = report.deployment.processes;
      expect(procs.every((p) => p.alive && p.state === 'running')).toBe(true);
      // One process per slot, and the supervisor: no second copy was started beside the supervisor's.
      const pids = processesIn(home.dir).map((p) => p.pid);
      for (const p of procs) expect(pids).toContain(p.pid);
      expect(pids).toHaveLength(procs.length + 1);
      expect(d.nodes).toHaveLength(1);
    },
    60_000,
  );
});

describe('chaos with no deployment in the state folder', () => {
  const home = tempDir('streamctl-chaos-none-');
  afterAll(() => home.remove());

  it('a fault exits 2 saying there is nothing to act on; heal drops a recorded fault of a deployment that is gone', async () => {
    const r = await runCli(['chaos', 'latency', '--ms', '10', '--home', home.dir]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/no Redis to talk to/);
    expect(r.stderr).toMatch(/chaos doctor/);

    // A fault recorded by a process that died with the deployment it acted on.
    mkdirSync(join(home.dir, 'faults'));
    writeFileSync(
      join(home.dir, 'faults', 'pause-node-x.json'),
      JSON.stringify({
        id: 'pause-node-x',
        kind: 'pause-node',
        target: { type: 'node', address: '127.0.0.1:1', host: '127.0.0.1', port: 1, role: 'replica', pid: 1 },
        params: {},
        durationMs: 60_000,
        appliedAt: new Date().toISOString(),
        by: 1,
        source: 'embedded deployment',
        urls: [],
      }),
    );
    const heal = await runCli(['chaos', 'heal', '--home', home.dir]);
    expect(heal.code, heal.stderr).toBe(0);
    expect(heal.stdout).toMatch(/pause-node 127\.0\.0\.1:1 .*reverted: the embedded deployment is not running/);
    const list = await runCli(['chaos', 'list', '--home', home.dir, '--json']);
    expect(JSON.parse(list.stdout)).toEqual({ faults: [] });
  });
});
