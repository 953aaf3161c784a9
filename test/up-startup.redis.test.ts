import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach, stateHome } from './helpers/cleanup.js';
import { finished, runCli, spawnCli } from './helpers/cli.js';
import { processesIn, randomBasePort } from './helpers/redis.js';

const cleanup = cleanupAfterEach();

/** redis-server and streamctl processes whose command line names `ports` (pids of the machine, not of a folder). */
function processesOnPorts(base: number): string[] {
  const out: string[] = [];
  for (const { cmd } of processesIn('/')) {
    for (let p = base; p < base + 50; p++) if (cmd.includes(`:${p}`) || cmd.includes(`:${p},`)) out.push(cmd);
  }
  return out;
}

/** A stage module that loads in `up` but fails in the worker process (as one reading a worker-only secret would). */
const WORKER_ONLY_FAILURE = `if (process.argv.includes('worker')) throw new Error('no licence in the worker');
export default { process: (batch) => batch };
`;

describe('a failed up leaves nothing running', () => {
  it.each([
    ['a malformed pipeline file', 2, 'stages: [\n', /not valid YAML/],
    [
      'a stage module that does not exist',
      1,
      'stages:\n  - name: a\n    use: ./nope.js\n',
      /stage "a": cannot load .*nope\.js: no such file/,
    ],
    [
      'a stage module that throws on import',
      1,
      'stages:\n  - name: a\n    use: ./boom.js\n',
      /stage "a": loading .*boom\.js failed: boom at import/,
    ],
  ])('%s: exit %i with the error, before any process starts', async (_, code, yaml, message) => {
    const dir = stateHome(cleanup);
    writeFileSync(join(dir, 'boom.js'), 'throw new Error("boom at import");\n');
    writeFileSync(join(dir, 'p.yaml'), yaml);
    const base = randomBasePort();
    const up = await runCli(
      ['up', '--detach', '--home', join(dir, 'state'), '--port', String(base), '--pipeline', 'p.yaml'],
      {
        cwd: dir,
      },
    );
    expect(up.code, up.stderr).toBe(code);
    expect(up.stderr).toMatch(message);
    // Checked before anything started: no redis-server was spawned, no state folder was made.
    expect(up.stderr).not.toMatch(/starting \d+ redis-server/);
    expect(existsSync(join(dir, 'state'))).toBe(false);
    expect(processesOnPorts(base)).toEqual([]);
  });

  it.each([['--detach'], ['--no-persist']])(
    'a worker that fails at start (%s): exit 1 naming the stage and its error; Redis, workers and supervisor stopped',
    async (flag) => {
      const dir = stateHome(cleanup);
      writeFileSync(join(dir, 'late.js'), WORKER_ONLY_FAILURE);
      writeFileSync(join(dir, 'p.yaml'), 'stages:\n  - name: late\n    use: ./late.js\n');
      const base = randomBasePort();
      const home = join(dir, 'state');
      const up = await runCli(
        ['up', '--standalone', flag, '--home', home, '--port', String(base), '--pipeline', 'p.yaml'],
        {
          cwd: dir,
        },
      );
      expect(up.code, up.stderr).toBe(1);
      expect(up.stderr).toMatch(/stage late: worker late#1 failed at start: .*no licence in the worker/);
      expect(up.stderr).toMatch(/starting 1 redis-server/);
      expect(processesIn(home)).toEqual([]);
      expect(processesOnPorts(base)).toEqual([]);
      expect(existsSync(join(home, 'deployment.json'))).toBe(false);
    },
  );

  it('Ctrl-C while a detached up starts: its background supervisor stops what it started, and up exits 1', async () => {
    const dir = stateHome(cleanup);
    const home = join(dir, 'state');
    const base = randomBasePort();
    const child = spawnCli(['up', '--detach', '--home', home, '--port', String(base)]);
    const done = finished(child);
    let stderr = '';
    // Interrupted in the middle of the start: once the nodes run and the cluster is forming.
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (c) => {
        stderr += c;
        if (stderr.includes('forming the cluster')) resolve();
      });
      child.once('exit', () => reject(new Error(`up ended before the cluster formed: ${stderr}`)));
    });
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/interrupted while the deployment started/);
    expect(processesIn(home)).toEqual([]);
    expect(processesOnPorts(base)).toEqual([]);
    expect(existsSync(join(home, 'deployment.json'))).toBe(false);
  });
});
