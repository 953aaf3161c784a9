import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { scenariosDir } from '../src/chaos/scenario/builtin.js';
import type { ScenarioReport } from '../src/chaos/scenario/live-run.js';
import type { FaultOutcome } from '../src/chaos/inject.js';
import type { ActiveFault } from '../src/chaos/fault.js';
import type { Deployment } from '../src/embedded/deployment.js';
import { isNodeAlive } from '../src/embedded/redis-server.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { waitFor } from '../src/wait.js';
import { privateNetns, type PrivateNetns } from './helpers/netns.js';
import { processesIn, randomBasePort, tempDir } from './helpers/redis.js';

/**
 * Kernel faults (nftables) on the embedded 3+3 cluster, run as root inside a private network
 * namespace: the deployment, the faults and their tables live in it, and go with it.
 */
const tmp = tempDir('streamctl-kernel-');
const dir = tmp.dir;
let ns: PrivateNetns;
let first: Deployment;

/** streamctl's tables in a ruleset (`nft list tables`). */
const ours = (listing: string) => listing.match(/streamctl_\S+/g) ?? [];
const tablesInside = async () => ours((await ns.run('nft', ['list', 'tables'])).stdout);

async function chaos(args: string[]) {
  const r = await ns.cli(['chaos', ...args, '--home', dir, '--json']);
  return { ...r, doc: r.stdout ? (JSON.parse(r.stdout) as { faults: FaultOutcome[] }) : undefined };
}

const primaries = () => first.nodes.filter((n) => n.role === 'primary');

async function healthOk(): Promise<Snapshot> {
  let last = '';
  return waitFor(
    async () => {
      const h = await ns.cli(['health', '--json', '--home', dir]);
      last = h.stdout;
      const s = JSON.parse(h.stdout) as Snapshot;
      return h.code === 0 && s.status === 'ok' ? s : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500, onTimeout: () => new Error(`health not ok in 60 s: ${last}`) },
  );
}

/** A built-in scenario shortened: its load to `seconds` at `rate`, its faults at `atS` for `forS`. */
function shortened(name: string, o: { seconds: number; rate: number; atS: number; forS: number }): string {
  const s = parseYaml(readFileSync(join(scenariosDir(), `${name}.yaml`), 'utf8')) as {
    load: { duration: string; rate: number };
    method: { at: string; for: string }[];
  };
  s.load.duration = `${o.seconds}s`;
  s.load.rate = o.rate;
  for (const m of s.method) Object.assign(m, { at: `${o.atS}s`, for: `${o.forS}s` });
  const file = join(dir, `${name}-short.yaml`);
  writeFileSync(file, stringify(s));
  return file;
}

async function runScenario(file: string, extra: string[] = []) {
  const json = join(dir, `${Date.now()}.json`);
  const r = await ns.cli(['chaos', 'run', file, '--home', dir, '--json', json, ...extra]);
  expect(existsSync(json), r.stderr).toBe(true);
  return { ...r, report: JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport };
}

beforeAll(async () => {
  ns = await privateNetns();
  const up = await ns.cli(['up', '--detach', '--json', '--home', dir, '--port', String(randomBasePort())]);
  expect(up.code, up.stderr).toBe(0);
  first = JSON.parse(up.stdout) as Deployment;
}, 60_000);

afterAll(async () => {
  const down = await ns.cli(['down', '--home', dir]);
  expect(down.code, down.stderr).toBe(0);
  expect(processesIn(dir)).toEqual([]);
  expect(first.nodes.filter((n) => isNodeAlive(n.pid, n.port))).toEqual([]);
  // down removes the deployment's cgroups with its processes.
  expect(existsSync(join(first.cgroups!.mount, first.cgroups!.path))).toBe(false);
  await ns.close();
  // Nothing of ours ever reached the host's ruleset.
  expect(ours(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' }))).toEqual([]);
  tmp.remove();
}, 60_000);

describe('kernel faults in a private network namespace (3+3)', () => {
  it('every process of the deployment runs in a cgroup of its own', () => {
    expect(first.cgroups).toBeDefined();
    for (const n of first.nodes)
      expect(readFileSync(`/proc/${n.pid}/cgroup`, 'utf8')).toContain(`${first.cgroups!.path}/nodes/node-${n.port}\n`);
    const workers = (JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment).workers!;
    expect(workers.length).toBeGreaterThan(0);
    for (const w of workers)
      expect(readFileSync(`/proc/${w.pid}/cgroup`, 'utf8')).toMatch(
        new RegExp(`${first.cgroups!.path}/workers/${w.stage}-\\d+\\n`),
      );
  });

  it('drop and reject on a primary for every client: seen acting on packets, reverted, no table left', async () => {
    const port = String(primaries()[0]!.port);
    const dropped = await chaos(['drop', '--node', port, '--for', '2s']);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.doc!.faults[0]).toMatchObject({ kind: 'drop', seen: true });
    expect(dropped.doc!.faults[0]!.evidence).toMatch(/^it dropped \d+ packet/);
    expect(dropped.doc!.faults[0]!.reverted).toMatch(/deleted; 6 nodes up, cluster ok/);
    const reset = await chaos(['reject', '--node', port, '--for', '2s']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.doc!.faults[0]!.evidence).toMatch(/^it answered \d+ packet\(s\) with a reset/);
    expect(await tablesInside()).toEqual([]);
    await healthOk();
  }, 60_000);

  it("loss scoped to one worker: the rules match that worker's sockets and drop some of its packets", async () => {
    const port = String(primaries()[1]!.port);
    const r = await chaos(['loss', '--node', port, '--stage', 'analyze', '--percent', '30', '--for', '4s']);
    expect(r.code, r.stderr).toBe(0);
    const f = r.doc!.faults[0]!;
    expect(f.params.workers).toEqual([expect.stringMatching(/^analyze#\d+$/)]);
    const m = /^it dropped (\d+) of (\d+) packet/.exec(f.evidence!);
    expect(m, f.evidence).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    // The worker polls its partitions; a probe from this process is not in its cgroup and is not counted.
    expect(f.applied).toMatch(/between 127\.0\.0\.1:\d+ and worker analyze#\d+/);
    expect(await tablesInside()).toEqual([]);
  }, 60_000);

  it('kill -9 of the process holding a kernel fault, then chaos heal: the table is gone', async () => {
    const holder = ns.spawnCli(['chaos', 'drop', '--node', String(primaries()[2]!.port), '--for', '5m', '--home', dir]);
    const exited = new Promise((r) => holder.once('exit', r));
    await waitFor(async () => ((await tablesInside()).length === 1 ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 100,
      onTimeout: () => new Error('the fault never created its table'),
    });
    holder.kill('SIGKILL');
    await exited;
    const list = await ns.cli(['chaos', 'list', '--home', dir, '--json']);
    const recorded = (JSON.parse(list.stdout) as { faults: (ActiveFault & { holderAlive: boolean })[] }).faults;
    expect(recorded).toMatchObject([{ kind: 'drop', holderAlive: false }]);
    expect(await tablesInside()).toHaveLength(1);
    const heal = await ns.cli(['chaos', 'heal', '--home', dir]);
    expect(heal.code, heal.stderr).toBe(0);
    expect(heal.stdout).toMatch(/drop .*: reverted: table inet streamctl_drop_\S+ deleted/);
    expect(await tablesInside()).toEqual([]);
    await healthOk();
  }, 90_000);

  it('isolated-primary, shortened, --durable: the majority flags it failed and fails over, it rejoins as a replica, nothing lost', async () => {
    const { code, stdout, stderr, report } = await runScenario(
      shortened('isolated-primary', { seconds: 22, rate: 1000, atS: 6, forS: 8 }),
      ['--durable'],
    );
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(report.verdict).toBe('passed');
    expect(report.load.durable).toBe(true);
    expect(report.final).toMatchObject({ lost: 0, duplicates: 0, undelivered: 0 });
    const b = report.splitBrain!;
    expect(b.seenAfterMs).toBeGreaterThan(0);
    expect(b.rejoined).toMatch(/rejoined as a replica of 127\.0\.0\.1:\d+/);
    expect(b.lost).toBe(0);
    expect(stdout).toMatch(/SPLIT BRAIN\n.*flagged failed by the majority/);
    await healthOk();
  }, 150_000);

  it('isolated-primary, shortened: the split-brain window and the writes lost in it are in the report', async () => {
    const { code, stdout, stderr, report } = await runScenario(
      shortened('isolated-primary', { seconds: 22, rate: 1000, atS: 6, forS: 8 }),
    );
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(report.final).toMatchObject({ duplicates: 0, undelivered: 0 });
    const b = report.splitBrain!;
    expect(b.rejoined).toMatch(/rejoined as a replica/);
    expect(b.lost).toBe(report.final!.lost);
    // The acknowledged writes that the cut-off primary took and dropped: sent after the cut, and
    // before its failure was agreed (plus a node timeout for it to see itself in the minority).
    if (b.lost > 0) {
      expect(b.lostSentMs![0]).toBeGreaterThanOrEqual(-1000);
      expect(b.lostSentMs![1]).toBeLessThan(b.seenAfterMs! + 10_000);
      expect(stdout).toMatch(/acknowledged writes lost: [\d,]+, sent from/);
    } else expect(stdout).toMatch(/acknowledged writes lost: none/);
    await healthOk();
  }, 150_000);

  it('lossy-network, shortened: 5% loss on every primary at once, nothing lost or duplicated', async () => {
    const { code, stdout, stderr, report } = await runScenario(
      shortened('lossy-network', { seconds: 16, rate: 1000, atS: 5, forS: 6 }),
    );
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(report.final).toMatchObject({ lost: 0, duplicates: 0, undelivered: 0 });
    const f = report.faults[0] as FaultOutcome;
    expect(f.seen).toBe(true);
    expect(f.applied.match(/5% of the packets dropped/g)).toHaveLength(3);
    expect(await tablesInside()).toEqual([]);
  }, 120_000);
});
