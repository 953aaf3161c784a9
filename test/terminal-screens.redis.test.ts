import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../src/wait.js';
import { CLI, runCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

/**
 * The live screens in a real terminal (tmux): `bench` and `chaos run` drawing their progress, then
 * `streamctl top` under load and a primary kill. One embedded 3+3 cluster for the file.
 */
const dep = detachedDeployment('streamctl-screens-');
// A tmux server of this test's own (-L), so that a user's sessions are never touched.
const socket = `streamctl-screens-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
/** The pane's text; with `history`, the lines scrolled off it too. */
const screen = (session = 'top', history = false) =>
  tmux('capture-pane', '-t', session, '-p', ...(history ? ['-S', '-500'] : []));
/** Runs a streamctl command in a new 120x40 session (without CI, so that Ink draws), its exit code to a file. */
function inTerminal(session: string, args: string): string {
  const exitFile = join(dep.dir, `${session}.exit`);
  tmux(
    'new-session',
    '-d',
    '-s',
    session,
    '-x',
    '120',
    '-y',
    '40',
    `env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} ${CLI} ${args} --home ${dep.dir}; echo $? > ${exitFile}; sleep 600`,
  );
  return exitFile;
}
async function exitCode(file: string, timeoutMs: number, session: string): Promise<string> {
  await waitFor(async () => (existsSync(file) ? true : undefined), {
    timeoutMs,
    onTimeout: () => new Error(`${session} did not end in ${timeoutMs} ms:\n${screen(session)}`),
  });
  return readFileSync(file, 'utf8').trim();
}

afterAll(() => {
  try {
    tmux('kill-server');
  } catch {
    // already gone
  }
});

function until(what: string, timeoutMs: number, check: (s: string) => boolean, session = 'top'): Promise<string> {
  let last = '';
  return waitFor(
    async () => {
      last = screen(session);
      return check(last) ? last : undefined;
    },
    {
      timeoutMs,
      intervalMs: 250,
      onTimeout: () => new Error(`${what} not on the screen in ${timeoutMs} ms:\n${last}`),
    },
  );
}

describe('bench and chaos run draw their progress in a real terminal (tmux)', () => {
  it('bench: the phase against the plan, the events sent, the stage at its rate; then the report', async () => {
    const exit = inTerminal('bench', 'bench --duration 8s --rate 2000 --no-calibrate');
    await until(
      'SENDING with events sent and the stage at a non-zero rate',
      30_000,
      (s) => {
        const sent = /SENDING\s+[\d.]+s of 8\.0s[\s\S]*sent ([\d,]+)/.exec(s);
        const rate = /^analyze\s+2\/2\s+([\d,]+)/m.exec(s);
        return Boolean(
          sent && rate && Number(sent[1]!.replace(/,/g, '')) > 0 && Number(rate[1]!.replace(/,/g, '')) > 0,
        );
      },
      'bench',
    );
    expect(await exitCode(exit, 60_000, 'bench')).toBe('0');
    const end = screen('bench', true);
    // The last frame stays, with the run's last phase; the report follows it.
    expect(end).toMatch(/streamctl bench analyze\s+DONE/);
    expect(end).toMatch(/audit: delivered [\d,]+, lost 0, duplicates 0/);
    tmux('kill-session', '-t', 'bench');
  }, 90_000);

  it('chaos run: the phase, the gates so far, the nodes and the fault in its lines; the last frame has every gate', async () => {
    const file = join(dep.dir, 'live-screen.yaml');
    writeFileSync(
      file,
      [
        'title: live-screen',
        'load: { rate: 1000, duration: 12s, keys: 200, warmup: 2s }',
        'steady_state: [{ metric: lag, max: 5000 }]',
        'method: [{ fault: kill-worker, at: 5s }]',
        'gates:',
        '  during: [{ metric: dead_letters, max: 0 }]',
        '  after: [{ metric: lost, max: 0 }, { metric: duplicates, max: 0 }]',
        'rollbacks: [heal, repair]',
      ].join('\n'),
    );
    const exit = inTerminal('chaos', `chaos run ${file}`);
    await until(
      'the fault phase, gates held, the nodes and the kill in the lines',
      30_000,
      (s) =>
        /streamctl chaos run .*live-screen\.yaml: live-screen\s+(FAULTS|AFTER THE FAULTS)/.test(s) &&
        /gates: [1-9]\d* held, 0 failed/.test(s) &&
        s.split('\n').filter((l) => /^127\.0\.0\.1:\d+\s+(primary|replica)\s+up/.test(l)).length === 6 &&
        /kill-worker/.test(s),
      'chaos',
    );
    expect(await exitCode(exit, 90_000, 'chaos')).toBe('0');
    const end = screen('chaos', true);
    // The steady-state gate, the during checks and both after gates: the last one is an after gate.
    expect(end).toMatch(/DONE[\s\S]*gates: \d+ held, 0 failed\s+last: after duplicates 0 <= 0: ok/);
    expect(end).toMatch(/scenario .*live-screen\.yaml: PASSED \(exit 0\)/);
    tmux('kill-session', '-t', 'chaos');
    await dep.healthUntil('health ok', 60_000, (r, code) => code === 0 && r.status === 'ok');
  }, 120_000);
});

describe('streamctl top in a real terminal (tmux)', () => {
  it('shows the stage with a non-zero rate and the nodes under load, a killed primary in the events and the nodes, and q exits 0', async () => {
    // Ink draws nothing before it unmounts when CI is set: there top prints plain snapshots instead.
    tmux(
      'new-session',
      '-d',
      '-s',
      'ci',
      '-x',
      '120',
      '-y',
      '40',
      `CI=true ${process.execPath} ${CLI} top --home ${dep.dir}`,
    );
    await until('a plain snapshot with CI set', 15_000, (s) => /^analyze\s+2\/2/m.test(s), 'ci');
    tmux('kill-session', '-t', 'ci');
    const exitFile = inTerminal('top', 'top');
    const load = dep.load(30, 2000);
    const nodes = dep.record().nodes;
    await until('the stage at a non-zero rate and every node', 30_000, (s) => {
      const rate = /^analyze\s+2\/2\s+([\d,]+)/m.exec(s);
      return rate !== null && Number(rate[1]!.replace(/,/g, '')) > 0 && nodes.every((n) => s.includes(`:${n.port} `));
    });

    const primary = nodes.find((n) => n.role === 'primary')!;
    const kill = await runCli(['chaos', 'kill-node', '--node', String(primary.port), '--home', dep.dir]);
    expect(kill.code, kill.stderr).toBe(0);
    const after = await until('the kill in the events and the nodes table', 30_000, (s) => {
      const exit = new RegExp(`exit\\s+127\\.0\\.0\\.1:${primary.port}\\s+pid \\d+: signal`).test(s);
      const row = new RegExp(`127\\.0\\.0\\.1:${primary.port}\\s+(replica|primary)\\s+(up|DOWN).*was primary`).test(s);
      // kill-node is a chaos fault: recorded while it lasts (until the node is back), then gone.
      const fault = new RegExp(`(fault|healed)\\s+127\\.0\\.0\\.1:${primary.port}`).test(s);
      return exit && row && fault;
    });
    expect(after).toMatch(/END-TO-END LATENCY/);

    tmux('send-keys', '-t', 'top', 'q');
    expect(await exitCode(exitFile, 10_000, 'top')).toBe('0');
    expect((await load).code).toBe(0);
  }, 120_000);
});
