import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/program.js';
import { commandsFor, loadCommands } from '../src/commands/index.js';
import { testIo } from './helpers/io.js';

const temps: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'streamctl-cli-test-'));
  temps.push(dir);
  return dir;
}

beforeEach(() => {
  // commander reads option env variables from process.env: keep the runner's environment out.
  for (const name of ['STREAMCTL_REDIS_URL', 'STREAMCTL_HOME', 'STREAMCTL_REDIS_SERVER', 'STREAMCTL_DEBUG'])
    vi.stubEnv(name, undefined);
});

afterEach(() => {
  vi.unstubAllEnvs();
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function run(argv: string[], opts: Parameters<typeof testIo>[0] = {}) {
  const t = testIo(opts);
  const code = await main(argv, t.io, await commandsFor(argv));
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

describe('main: usage', () => {
  it('--help exits 0 and lists the commands', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: streamctl');
    for (const name of ['up', 'down', 'health']) expect(r.stdout).toMatch(new RegExp(`^\\s+${name}\\b`, 'm'));
  });

  it('<command> --help exits 0 and shows the options and examples', async () => {
    const r = await run(['health', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--wait-healthy <TIMEOUT>');
    expect(r.stdout).toContain('-n, --namespace <NAME>');
    expect(r.stdout).toContain('Examples:');
  });

  it('--version exits 0 and prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('an unknown option exits 2 naming it', async () => {
    const r = await run(['health', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bogus');
    expect(r.stderr).toContain('streamctl --help');
  });

  it('an unknown command exits 2 naming it', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('frobnicate');
  });

  it('up --primaries abc exits 2 naming --primaries', async () => {
    const r = await run(['up', '--primaries', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--primaries');
    expect(r.stderr).toContain('"abc"');
    expect(r.stderr).toContain('streamctl up --help');
  });

  it('up --replicas 9 exits 2 naming --replicas', async () => {
    const r = await run(['up', '--replicas', '9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--replicas');
  });

  it('health --wait-healthy soon exits 2 naming --wait-healthy', async () => {
    const r = await run(['health', '--wait-healthy', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--wait-healthy');
    expect(r.stderr).toContain('soon');
  });

  it('a bad option with --json also prints the error as JSON on stdout', async () => {
    const r = await run(['health', '--json', '--namespace', 'bad name']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as { error: { code: string; exitCode: number; message: string } };
    expect(out.error.code).toBe('BAD_OPTION');
    expect(out.error.exitCode).toBe(2);
    expect(out.error.message).toContain('--namespace');
  });

  it('so does `--json -` of an option that takes a file; `--json FILE` keeps stdout free of it', async () => {
    const r = await run(['bench', '--json', '-', '--rate', 'fast']);
    expect(r.code).toBe(2);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('BAD_OPTION');
    const f = await run(['bench', '--json', join(tempDir(), 'out.json'), '--rate', 'fast']);
    expect(f.code).toBe(2);
    expect(f.stdout).toBe('');
    expect(f.stderr).toContain('--rate');
  });
});

describe('main: no Redis to talk to', () => {
  it('health with no --redis, no STREAMCTL_REDIS_URL and an empty --home exits 1 with NO_REDIS', async () => {
    const home = tempDir();
    const r = await run(['health', '--home', home]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('streamctl up --detach');
    expect(r.stderr).toContain(home);
    const j = await run(['health', '--json', '--home', home]);
    expect(j.code).toBe(1);
    expect((JSON.parse(j.stdout) as { error: { code: string } }).error.code).toBe('NO_REDIS');
  });

  // commander's Option.env() reads process.env, not io.env; the CLI reads the variables from the
  // Io itself, so that a test's (or an embedding program's) environment is the one that counts.
  it('reads STREAMCTL_HOME from the Io environment, not from process.env', async () => {
    const home = tempDir();
    const cwd = tempDir();
    vi.stubEnv('STREAMCTL_HOME', join(cwd, 'from-process-env'));
    const r = await run(['health', '--json'], { env: { STREAMCTL_HOME: home }, cwd });
    expect(r.code).toBe(1);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('NO_REDIS');
    expect(err.message).toContain(`in ${home}`);
    expect(err.message).not.toContain('from-process-env');
  });

  it('a bad STREAMCTL_REDIS_URL in the Io environment is a usage error that hides the password', async () => {
    const r = await run(['health', '--home', tempDir()], {
      env: { STREAMCTL_REDIS_URL: 'redis://u:env-secret-pw@h:99999' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--redis');
    expect(r.stderr).not.toContain('env-secret-pw');
  });
});

describe('flags come from the zod schemas', () => {
  /** The help text with its line wrapping undone. */
  const help = async (command: string) => {
    const r = await run([command, '--help']);
    expect(r.code).toBe(0);
    return r.stdout.replace(/\s+/g, ' ');
  };

  it('registers every command, in help order', async () => {
    const r = await run(['--help']);
    const names = [...r.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(names.filter((n) => n !== 'help')).toEqual([
      'up',
      'down',
      'health',
      'top',
      'restart',
      'scale',
      'worker',
      'produce',
      'verify',
      'dlq',
      'reference',
      'alerts',
      'train',
      'serve',
      'bench',
      'chaos',
    ]);
  });

  it('loads only the command the first argument names; every command for anything else', async () => {
    const all = await loadCommands();
    for (const c of all) expect((await commandsFor([c.name, '--json'])).map((x) => x.name)).toEqual([c.name]);
    for (const argv of [[], ['--help'], ['--version'], ['helth'], ['help', 'health'], ['constructor']])
      expect((await commandsFor(argv)).map((c) => c.name)).toEqual(all.map((c) => c.name));
  });

  it('camelCase keys become kebab-case flags; a boolean with default true becomes --no-x, one with default false takes no value', async () => {
    const up = await help('up');
    expect(up).toContain('--no-persist');
    expect(up).not.toMatch(/--persist\b/);
    expect(up).toMatch(/--keep-data\s/);
    expect(up).toContain('--node-timeout <MS>');
    expect(up).toContain('--redis-server <PATH>');
  });

  it('numbers take N, values their valueName; defaults and env variables are in the description', async () => {
    const up = await help('up');
    expect(up).toContain('--primaries <N>');
    expect(up).toMatch(/--port <BASE> [^-]*\(default: 7000\)/);
    expect(up).toContain('[env: STREAMCTL_HOME]');
    expect(up).toContain('[env: STREAMCTL_REDIS_SERVER]');
    expect(await help('health')).toContain('STREAMCTL_REDIS_URL');
  });

  it('honours short flags and presets (a value that may be left out)', async () => {
    const health = await help('health');
    expect(health).toContain('-n, --namespace <NAME>');
    expect(health).toContain('-w, --watch [SECONDS]');
    expect(await help('bench')).toContain('--json [FILE]');
  });

  it('an enum lists its choices, and may be the first argument', async () => {
    const dlq = await help('dlq');
    expect(dlq).toContain('"list", "replay", "purge"');
    const r = await run(['dlq', 'frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('frobnicate');
  });
});

describe('option values are validated by the schema', () => {
  it('a bad value exits 2 with BAD_OPTION naming the flag in kebab case, the value and where to look', async () => {
    const r = await run(['up', '--node-timeout', 'abc', '--json']);
    expect(r.code).toBe(2);
    const e = (JSON.parse(r.stdout) as { error: { code: string; exitCode: number; hint: string } }).error;
    expect(e).toMatchObject({ code: 'BAD_OPTION', exitCode: 2 });
    expect(e.hint).toContain('streamctl up --help');
    expect(r.stderr).toContain('--node-timeout');
    expect(r.stderr).not.toContain('nodeTimeout');
    expect(r.stderr).toContain('(got "abc")');
  });

  it('names the flag for a value out of range', async () => {
    const r = await run(['up', '--node-timeout', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--node-timeout');
  });
});
