import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isPidAlive as pidAlive } from '../src/pid.js';
import { findFreePorts } from '../src/embedded/ports.js';
import { isNodeAlive, startNode } from '../src/embedded/redis-server.js';
import { waitFor } from '../src/wait.js';
import type { Deployment } from '../src/embedded/deployment.js';
import { cleanupAfterEach, stateHome } from './helpers/cleanup.js';
import { finished, runCli, spawnCli } from './helpers/cli.js';
import { killProcessesIn, processesIn, randomBasePort, REDIS_SERVER, tempDir } from './helpers/redis.js';

const cleanup = cleanupAfterEach();
const home = () => stateHome(cleanup);

function health(dir: string) {
  return runCli(['health', '--json', '--home', dir]);
}

describe.each([
  { name: '3+3 cluster', args: [] as string[], nodes: 6, primaries: 3, mode: 'cluster' },
  { name: 'standalone', args: ['--standalone'], nodes: 1, primaries: 1, mode: 'standalone' },
])('up --detach / health / down: $name', ({ args, nodes, primaries, mode }) => {
  it('comes up healthy, is found with no flags, and leaves no process behind', async () => {
    const dir = home();
    const t0 = Date.now();
    const up = await runCli(['up', '--detach', '--json', '--home', dir, '--port', String(randomBasePort()), ...args]);
    const upMs = Date.now() - t0;
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(upMs).toBeLessThan(30_000); // generous on a shared machine; the bench figure is in the README
    const d = JSON.parse(up.stdout) as Deployment;
    expect(d.nodes).toHaveLength(nodes);
    expect(d.nodes.every((n) => isNodeAlive(n.pid, n.port))).toBe(true);

    const h = await health(dir);
    expect(h.code).toBe(0);
    const report = JSON.parse(h.stdout);
    expect(report.status).toBe('ok');
    expect(report.mode).toBe(mode);
    expect(report.nodes).toHaveLength(nodes);
    expect(
      report.nodes.filter((n: { role: string }) => n.role === 'primary'),
      JSON.stringify(report.nodes),
    ).toHaveLength(primaries);
    if (mode === 'cluster') expect(report.slots.covered).toBe(16384);

    const again = await runCli(['up', '--detach', '--home', dir, ...args]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already running/);

    const recorded = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment;
    expect(recorded.workers?.map((w) => w.stage)).toEqual(['analyze', 'analyze']);
    expect(recorded.workers!.every((w) => pidAlive(w.pid))).toBe(true);

    const down = await runCli(['down', '--home', dir]);
    expect(down.code).toBe(0);
    expect(d.nodes.some((n) => isNodeAlive(n.pid, n.port))).toBe(false);
    expect(recorded.workers!.filter((w) => pidAlive(w.pid))).toEqual([]);
    expect(existsSync(join(dir, 'deployment.json'))).toBe(false);
  });
});

/** Starts a foreground `up` and resolves once it says it is running, with its deployment record. */
async function foregroundUp(dir: string, args: string[]) {
  const child = spawnCli(['up', '--home', dir, '--port', String(randomBasePort()), '--no-persist', ...args]);
  const done = finished(child);
  cleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  const out = { stderr: '' };
  child.stderr!.on('data', (c) => (out.stderr += c));
  // The foreground up says when it is running: wait for that line rather than for a time.
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', () => out.stderr.includes('Ctrl-C stops it') && resolve());
    child.once('exit', (code) => reject(new Error(`up exited early with ${code}: ${out.stderr}`)));
  });
  const d = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment;
  return { child, done, out, d };
}

describe('foreground up', () => {
  it('stops every redis-server promptly after SIGINT, workers drained first', async () => {
    const { child, done, out, d } = await foregroundUp(home(), []);
    expect(d.nodes).toHaveLength(6);
    expect(d.workers).toHaveLength(2);
    const t0 = Date.now();
    child.kill('SIGINT');
    const result = await done;
    expect(result.code).toBe(0);
    const ms = Date.now() - t0;
    console.log(`foreground up: everything stopped ${ms} ms after SIGINT`);
    // A generous bound (a second or two on a quiet machine): an up that ignored SIGINT never ends.
    expect(ms).toBeLessThan(20_000);
    expect(d.nodes.filter((n) => isNodeAlive(n.pid, n.port))).toEqual([]);
    expect(d.workers!.filter((w) => pidAlive(w.pid))).toEqual([]);
    // Workers drain before Redis stops.
    expect(out.stderr.indexOf('draining the stage workers')).toBeLessThan(out.stderr.indexOf('stopping Redis'));
  });

  it('SIGHUP (its terminal closed) stops it cleanly, as Ctrl-C does', async () => {
    const { child, done, d } = await foregroundUp(home(), ['--standalone', '--pipeline', 'passthrough']);
    expect(d.workers).toHaveLength(3);
    child.kill('SIGHUP');
    expect((await done).code).toBe(0);
    expect(d.nodes.filter((n) => isNodeAlive(n.pid, n.port))).toEqual([]);
    expect(d.workers!.filter((w) => pidAlive(w.pid))).toEqual([]);
  });

  it('restarts a worker that dies and says so; Ctrl-C then stops the new one too', async () => {
    const { child, done, out, d } = await foregroundUp(home(), ['--standalone', '--pipeline', 'passthrough']);
    const victim = d.workers![0]!;
    process.kill(victim.pid, 'SIGKILL');
    const restarted = await waitFor(async () => /(\S+#1): restart \(pid (\d+)\)/.exec(out.stderr) ?? undefined, {
      timeoutMs: 30_000,
      onTimeout: () => new Error(`no restart reported: ${out.stderr}`),
    });
    expect(out.stderr).toContain(`${restarted[1]}: exit (pid ${victim.pid}: signal SIGKILL)`);
    const pid = Number(restarted[2]);
    expect(pidAlive(pid)).toBe(true);
    child.kill('SIGINT');
    expect((await done).code).toBe(0);
    expect(pidAlive(pid)).toBe(false);
    expect(d.nodes.filter((n) => isNodeAlive(n.pid, n.port))).toEqual([]);
  });

  it('killed without a chance to stop them (SIGKILL), its workers notice, drain and exit on their own', async () => {
    // Its redis-server stays: the state folder's cleanup runs `down`.
    const { child, done, d } = await foregroundUp(home(), ['--standalone', '--pipeline', 'passthrough']);
    expect(d.workers!.filter((w) => pidAlive(w.pid))).toHaveLength(3);
    child.kill('SIGKILL');
    await done;
    await waitFor(async () => (d.workers!.some((w) => pidAlive(w.pid)) ? undefined : true), {
      timeoutMs: 15_000,
      onTimeout: () =>
        new Error(
          `workers still running after their up died: ${d
            .workers!.filter((w) => pidAlive(w.pid))
            .map((w) => w.pid)
            .join(', ')}`,
        ),
    });
  });
});

describe('keep-data', () => {
  it('restarts a standalone node from its AOF after down --keep-data', async () => {
    const dir = home();
    const port = String(randomBasePort());
    expect((await runCli(['up', '--standalone', '--detach', '--home', dir, '--port', port])).code).toBe(0);
    const d = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment;
    const { Redis } = await import('ioredis');
    const r = new Redis({ port: d.nodes[0]!.port, lazyConnect: true });
    await r.connect();
    await r.set('streamctl:kept', 'yes');
    r.disconnect();
    expect((await runCli(['down', '--keep-data', '--home', dir])).code).toBe(0);
    const up = await runCli(['up', '--standalone', '--detach', '--json', '--home', dir]);
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout).resumed).toBe(true);
    const r2 = new Redis({ port: d.nodes[0]!.port, lazyConnect: true });
    await r2.connect();
    expect(await r2.get('streamctl:kept')).toBe('yes');
    r2.disconnect();
    const mismatch = await runCli(['down', '--keep-data', '--home', dir]).then(() =>
      runCli(['up', '--detach', '--home', dir]),
    );
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/--fresh/);
  });
});

describe('missing redis-server', () => {
  it('exits 1 with install hints', async () => {
    const dir = home();
    const r = await runCli(['up', '--detach', '--home', dir], { env: { PATH: '/nonexistent' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/redis-server was not found/);
    expect(r.stderr).toMatch(/apt-get install redis-server/);
    expect(r.stderr).toMatch(/--redis/);
  });
});

describe('test state folders', () => {
  it('a redis-server left running inside one is found and killed at its removal, so a missed stop cannot outlive the suite', async () => {
    const tmp = tempDir('streamctl-home-');
    cleanup(() => tmp.remove());
    const [port] = await findFreePorts(randomBasePort(), 1, false);
    const node = await startNode({
      bin: REDIS_SERVER,
      port: port!,
      dir: join(tmp.dir, 'nodes', String(port)),
      cluster: false,
      persist: false,
      nodeTimeoutMs: 2000,
      detached: true,
    });
    expect(processesIn(tmp.dir).map((p) => p.pid)).toEqual([node.pid]);
    // What the folder's removal does first (it also names them on stderr, a leak's report).
    expect(killProcessesIn(tmp.dir).map((p) => p.pid)).toEqual([node.pid]);
    await waitFor(async () => (isNodeAlive(node.pid, node.port) ? undefined : true), {
      timeoutMs: 5000,
      onTimeout: () => new Error(`redis-server pid ${node.pid} still runs after SIGKILL`),
    });
    expect(processesIn(tmp.dir)).toEqual([]);
  });
});
