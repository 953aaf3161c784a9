import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Deployment } from '../src/embedded/deployment.js';
import { isPidAlive } from '../src/pid.js';
import type { Snapshot } from '../src/observe/snapshot.js';
import { waitFor } from '../src/wait.js';
import { cleanupAfterEach, stateHome } from './helpers/cleanup.js';
import { runCli } from './helpers/cli.js';
import { randomBasePort } from './helpers/redis.js';

const cleanup = cleanupAfterEach();

describe('--restart never', () => {
  it('leaves a dead worker down and says so; up then repairs the deployment instead of refusing', async () => {
    const dir = stateHome(cleanup);
    const args = ['--home', dir];
    const up = await runCli([
      'up',
      '--detach',
      '--standalone',
      '--pipeline',
      'passthrough',
      '--restart',
      'never',
      '--port',
      String(randomBasePort()),
      ...args,
    ]);
    expect(up.code, up.stderr).toBe(0);
    const record = () => JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment;
    const victim = record().workers![0]!;
    process.kill(victim.pid, 'SIGKILL');

    const slot = await waitFor(
      async () => {
        const w = record().workers!.find((x) => x.name === victim.name);
        return w?.state === 'gave-up' ? w : undefined;
      },
      { timeoutMs: 15_000, onTimeout: () => new Error(`${victim.name} never marked as given up`) },
    );
    expect(slot.lastExit?.reason).toBe('signal SIGKILL');
    expect(slot.restarts).toBe(0);
    const h = await runCli(['health', '--json', ...args]);
    const report = JSON.parse(h.stdout) as Snapshot;
    const view = report.deployment!.processes.find((p) => p.name === victim.name)!;
    expect(view).toMatchObject({ state: 'gave-up', alive: false, pid: null });
    const events = readFileSync(join(dir, 'events.log'), 'utf8');
    expect(events).toContain(`"kind":"gave-up","process":"${victim.name}","reason":"not restarted: --restart never"`);

    const again = await runCli(['up', '--detach', ...args]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`started ${victim.name} again`);
    const back = record().workers!.find((x) => x.name === victim.name)!;
    expect(back.state).toBe('running');
    expect(isPidAlive(back.pid)).toBe(true);
    expect(back.pid).not.toBe(victim.pid);
  }, 60_000);
});
