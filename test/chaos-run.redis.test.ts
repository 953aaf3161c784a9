import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { isStopped } from '../src/chaos/process-signals.js';
import { scenariosDir } from '../src/chaos/scenario/builtin.js';
import type { ScenarioReport } from '../src/chaos/scenario/live-run.js';
import { runCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

/**
 * `chaos run` on the embedded 3+3 cluster (one per file, detached, default pipeline): built-in
 * scenarios shortened to about 20 s, and an abort.
 */
const deployment = detachedDeployment('streamctl-chaos-run-');
const { dir, healthUntil } = deployment;

/** A built-in scenario with its load shortened to `seconds` and its faults moved to `atS`. */
function shortened(name: string, seconds: number, atS: number): string {
  const s = parseYaml(readFileSync(join(scenariosDir(), `${name}.yaml`), 'utf8')) as {
    load: { duration: string };
    method: { at: string }[];
  };
  s.load.duration = `${seconds}s`;
  for (const m of s.method) m.at = `${atS}s`;
  const file = join(dir, `${name}-short.yaml`);
  writeFileSync(file, stringify(s));
  return file;
}

async function run(file: string, extra: string[] = []) {
  const json = join(dir, `${Date.now()}.json`);
  const r = await runCli(['chaos', 'run', file, '--home', dir, '--json', json, ...extra]);
  expect(existsSync(json), r.stderr).toBe(true);
  return { ...r, report: JSON.parse(readFileSync(json, 'utf8')) as ScenarioReport };
}

const healthOk = () =>
  healthUntil('health ok', 60_000, (r, code) => code === 0 && r.status === 'ok' && r.slots?.covered === 16384);

describe('chaos run on the 3+3 cluster', () => {
  it('worker-crash, shortened: passed (exit 0), the kill and the restart on the timeline, nothing lost or duplicated', async () => {
    const { code, stdout, stderr, report } = await run(shortened('worker-crash', 20, 8));
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(report.verdict).toBe('passed');
    expect(report.final).toMatchObject({ lost: 0, duplicates: 0, undelivered: 0 });
    expect(report.final!.produced).toBeGreaterThan(30_000);
    expect(report.recoveryMs).toBeDefined();
    const kinds = report.timeline.map((e) => `${e.kind} ${e.text}`);
    expect(kinds.some((t) => /^deployment exit analyze#\d: pid \d+: signal SIGKILL/.test(t))).toBe(true);
    expect(kinds.some((t) => /^deployment restart analyze#\d/.test(t))).toBe(true);
    // The revert reports the restarted worker, not the killed one the supervisor had not yet seen exit.
    const kill = report.faults[0] as { applied: string; reverted: string };
    const killed = /SIGKILL to pid (\d+)/.exec(kill.applied)![1];
    const back = /back as pid (\d+)/.exec(kill.reverted)![1];
    expect(back).not.toBe(killed);
    expect(report.seconds.length).toBeGreaterThanOrEqual(19);
    expect(stdout).toMatch(/^scenario .*worker-crash-short\.yaml: PASSED \(exit 0\)/m);
    expect(stdout).toMatch(/PER SECOND/);
    await healthOk();
  }, 120_000);

  it('primary-crash, shortened: the failover on the timeline with its time, lost events (if any) beside it, no duplicate', async () => {
    const html = join(dir, 'primary-crash.html');
    const { code, stdout, stderr, report } = await run(shortened('primary-crash', 24, 8), ['--html', html]);
    expect([0, 1], `${stdout}\n${stderr}`).toContain(code);
    expect(report.verdict).not.toBe('invalid');
    expect(report.final!.duplicates).toBe(0);
    const failover = report.timeline.find((e) => e.kind === 'deployment' && /^failover 127\.0\.0\.1:\d+/.test(e.text));
    expect(failover, JSON.stringify(report.timeline)).toBeDefined();
    expect(failover!.atMs).toBeGreaterThan(8000);
    expect(stdout).toMatch(/deployment +failover 127\.0\.0\.1:\d+: its replica took over/);
    if (report.final!.lost > 0) {
      expect(report.nearLoss!.events.some((e) => e.kind === 'failover')).toBe(true);
      expect(stdout).toMatch(/lost seqs: .*\n {2}deployment events beside them/);
    }
    console.log(
      `primary-crash (24 s): ${report.verdict}, lost ${report.final!.lost}, unavailability ${report.unavailabilityMs} ms, recovery ${report.recoveryMs} ms, failover at ${failover!.atMs} ms`,
    );
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/^<!DOCTYPE html>/);
    expect(page).toContain('failover 127.0.0.1');
    await healthOk();
  }, 150_000);

  it('two kills of the same worker slot in one run: the second is aimed at the process that runs then, not the first one', async () => {
    const file = join(dir, 'twice.yaml');
    writeFileSync(
      file,
      [
        'title: the same worker killed twice',
        'load: { rate: 1000, duration: 16s, warmup: 2s }',
        'method:',
        '  - { fault: kill-worker, at: 4s, stage: analyze }',
        '  - { fault: kill-worker, at: 9s, stage: analyze }',
        'gates:',
        '  after: [{ metric: duplicates, max: 0 }, { metric: lost, max: 0 }]',
      ].join('\n'),
    );
    const { code, report, stdout } = await run(file);
    expect(code, stdout).toBe(0);
    const exits = report.timeline.filter(
      (e) => e.kind === 'deployment' && /^exit analyze#1: pid \d+: signal SIGKILL/.test(e.text),
    );
    expect(exits.map((e) => e.text.match(/pid (\d+)/)![1])).toHaveLength(2);
    expect(new Set(exits.map((e) => e.text.match(/pid (\d+)/)![1])).size).toBe(2);
    await healthOk();
  }, 120_000);

  it('an abort: an impossible gate with abort: true stops the run within a tick, the paused node runs again, exit 3, report written', async () => {
    const file = join(dir, 'abort.yaml');
    writeFileSync(
      file,
      [
        'title: abort on an impossible gate',
        'load: { rate: 1000, duration: 30s, warmup: 2s }',
        'method:',
        '  - { fault: pause-node, at: 5s, for: 20s, role: replica, random: true, seed: 2 }',
        'gates:',
        '  during:',
        '    - { metric: lag, max: -1, abort: true }',
      ].join('\n'),
    );
    const t0 = Date.now();
    const html = join(dir, 'abort.html');
    const { code, report, stdout } = await run(file, ['--html', html]);
    expect(code, stdout).toBe(3);
    expect(report.verdict).toBe('aborted');
    expect(report.reason).toMatch(/during gate lag <= -1 failed/);
    const abort = report.timeline.find((e) => e.kind === 'abort')!;
    expect(abort.atMs).toBeLessThan(7000);
    const fault = report.faults[0]!;
    expect('seen' in fault && fault.seen).toBe(true);
    const pid = 'seen' in fault ? fault.target.pid! : 0;
    expect(isStopped(pid)).toBe(false);
    // The 20 s pause ended at the abort: the hold was cut short.
    expect(Date.now() - t0).toBeLessThan(25_000);
    expect(existsSync(html)).toBe(true);
    const list = await runCli(['chaos', 'list', '--home', dir, '--json']);
    expect(JSON.parse(list.stdout)).toEqual({ faults: [] });
    await healthOk();
  }, 120_000);
});
