import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../src/wait.js';
import { CLI, runCli } from './helpers/cli.js';
import { detachedDeployment } from './helpers/detached-deployment.js';

const dep = detachedDeployment('streamctl-top-');
// A tmux server of this test's own (-L), so that a user's sessions are never touched.
const socket = `streamctl-top-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
const screen = (session = 'top') => tmux('capture-pane', '-t', session, '-p');

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

describe('streamctl top in a real terminal (tmux)', () => {
  it('shows the stage with a non-zero rate and the nodes under load, a killed primary in the events and the nodes, and q exits 0', async () => {
    const exitFile = join(dep.dir, 'top.exit');
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
    tmux(
      'new-session',
      '-d',
      '-s',
      'top',
      '-x',
      '120',
      '-y',
      '40',
      `env -u CI -u CONTINUOUS_INTEGRATION ${process.execPath} ${CLI} top --home ${dep.dir}; echo $? > ${exitFile}; sleep 600`,
    );
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
    await waitFor(async () => (existsSync(exitFile) ? true : undefined), {
      timeoutMs: 10_000,
      onTimeout: () => new Error(`top did not exit on q:\n${screen()}`),
    });
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('0');
    expect((await load).code).toBe(0);
  }, 120_000);
});
