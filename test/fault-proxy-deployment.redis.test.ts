import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { DoctorReport } from '../src/chaos/doctor.js';
import type { ActiveFault } from '../src/chaos/fault.js';
import { sendControl } from '../src/embedded/control-client.js';
import { CONTROL_VERSION } from '../src/embedded/control-protocol.js';
import { waitFor } from '../src/wait.js';
import { CLI, finished, runCli, spawnCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

/**
 * The embedded 3+3 cluster with a fault proxy in front of every node (`up --fault-proxy`): every
 * streamctl client goes through the proxies, and a network fault on one proxy slows that node only.
 */
const deployment = detachedDeployment('streamctl-fault-proxy-', ['--fault-proxy']);
const { dir, record } = deployment;

/** The round trip of one PING through `port` (a raw socket: no client library in the way), ms. */
function pingMs(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = connect(port, '127.0.0.1', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      if (d.toString() !== '+PONG\r\n') reject(new Error(`unexpected answer ${JSON.stringify(d.toString())}`));
      else resolve(performance.now() - t0);
    });
    s.once('error', reject);
  });
}

describe('up --fault-proxy', () => {
  it('records a proxy per node, and commands connect through them', async () => {
    const d = record();
    expect(d.nodes.every((n) => typeof n.proxyPort === 'number' && n.proxyPort !== n.port)).toBe(true);
    for (const n of d.nodes) expect(await pingMs(n.proxyPort!)).toBeLessThan(1000);
    const p = await runCli(['produce', '--home', dir, '--count', '5000', '--rate', '0']);
    expect(p.code, p.stderr).toBe(0);
    const v = await deployment.verifyLatest();
    expect([v.produced, v.lost, v.duplicates]).toEqual([5000, 0, 0]);
  }, 60_000);

  it('no bypass: every client each node lists (but replication and the checker) comes from its proxy', async () => {
    const produced = deployment.load(6, 2000);
    await deployment.healthUntil('load on the cluster', 20_000, (r) => r.workers.some((w) => w.live && w.rate > 0));
    const d = record();
    let clients = 0;
    for (const n of d.nodes) {
      // The checker connects straight to the node, and leaves itself out by its id.
      const checker = new Redis({ port: n.port, lazyConnect: true, maxRetriesPerRequest: 0 });
      await checker.connect();
      try {
        const me = Number(await checker.call('CLIENT', 'ID'));
        const listed = async () =>
          String(await checker.call('CLIENT', 'LIST'))
            .trim()
            .split('\n')
            .map((l) => Object.fromEntries(l.split(' ').map((kv) => kv.split('=') as [string, string])))
            .filter((c) => Number(c.id) !== me && !/[SM]/.test(c.flags ?? ''));
        // The clients listed before the proxy's own list and still there after it were open while the
        // proxy listed its connections: each must be one of them (a client that connects or closes
        // meanwhile, as the load's do, proves nothing either way).
        const before = await listed();
        const proxies = await sendControl(dir, { v: CONTROL_VERSION, kind: 'proxies' });
        const after = new Set((await listed()).map((c) => c.id));
        const others = before.filter((c) => after.has(c.id));
        const proxied = new Set(
          (proxies.find((p) => p.node.endsWith(`:${n.port}`))!.stats as { connections: { upstreamPorts: number[] } })
            .connections.upstreamPorts,
        );
        const around = others.filter((c) => !proxied.has(Number(c.addr!.split(':').pop())));
        expect(around, `clients of ${n.port} not from its proxy`).toEqual([]);
        clients += others.length;
      } finally {
        checker.disconnect();
      }
    }
    // The workers, the supervisor and the producer are clients of every primary at least.
    expect(clients).toBeGreaterThanOrEqual(3 * 3);
    const p = await produced;
    expect(p.code, p.stderr).toBe(0);
  }, 60_000);

  it('latency 50 ms each way on one primary: a PING through its proxy takes >= 100 ms, through another it does not; the fault reverts', async () => {
    const d = record();
    const primary = d.nodes.find((n) => n.role === 'primary')!;
    const other = d.nodes.find((n) => n !== primary)!;
    const child = spawnCli([
      'chaos',
      'latency',
      '--node',
      String(primary.port),
      '--ms',
      '50',
      '--for',
      '60s',
      '--home',
      dir,
    ]);
    const done = finished(child);
    const fault = await waitFor(
      async () => {
        const l = await runCli(['chaos', 'list', '--home', dir, '--json']);
        return (JSON.parse(l.stdout) as { faults: ActiveFault[] }).faults[0];
      },
      { timeoutMs: 20_000, onTimeout: () => new Error('the latency fault was not recorded') },
    );
    expect(fault).toMatchObject({ kind: 'latency', params: { ms: 50 } });
    await waitFor(async () => ((await pingMs(primary.proxyPort!)) >= 100 ? true : undefined), {
      timeoutMs: 10_000,
      onTimeout: () => new Error('no latency seen through the proxy'),
    });
    for (let i = 0; i < 3; i++) expect(await pingMs(primary.proxyPort!)).toBeGreaterThanOrEqual(100);
    expect(await pingMs(other.proxyPort!)).toBeLessThan(100);
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/latency .*: seen after \d+ms: it acted on \d+ bytes/);
    expect(r.stderr).toMatch(/reverted: removed from the proxy/);
    expect(await pingMs(primary.proxyPort!)).toBeLessThan(100);
  }, 90_000);

  it('chaos doctor --json: as root every fault works here; as nobody, the process, network and kernel faults do not, each with why', async () => {
    const asRoot = await runCli(['chaos', 'doctor', '--home', dir, '--json']);
    expect(asRoot.code, asRoot.stderr).toBe(0);
    const root = JSON.parse(asRoot.stdout) as DoctorReport;
    expect(root.root).toBe(true);
    const works = (r: DoctorReport) => Object.fromEntries(r.rows.map((x) => [x.kind, x.works]));
    expect(works(root)).toMatchObject({
      'kill-node': true,
      'pause-worker': true,
      'restart-node': true,
      failover: true,
      'client-pause': true,
      latency: true,
      blackhole: true,
      // .ci/run installs nftables; the deployment's processes run in cgroups of their own as root.
      drop: true,
      loss: true,
      partition: true,
    });
    // The same command as an unprivileged user: setpriv drops to nobody.
    const nobody = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(
        'setpriv',
        [
          '--reuid',
          'nobody',
          '--regid',
          'nogroup',
          '--clear-groups',
          process.execPath,
          CLI,
          'chaos',
          'doctor',
          '--home',
          dir,
          '--json',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(nobody.code, nobody.stderr).toBe(0);
    const unprivileged = JSON.parse(nobody.stdout) as DoctorReport;
    expect(unprivileged.root).toBe(false);
    expect(works(unprivileged)).toMatchObject({
      'kill-node': false,
      'pause-worker': false,
      latency: false,
      'client-pause': true,
      drop: false,
      partition: false,
    });
    for (const row of unprivileged.rows.filter((r) => !r.works)) expect(row.why.length).toBeGreaterThan(10);
    expect(unprivileged.rows.find((r) => r.kind === 'kill-node')!.why).not.toBe(
      root.rows.find((r) => r.kind === 'kill-node')!.why,
    );
  }, 60_000);
});
