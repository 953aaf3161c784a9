import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { buildProgram, kebab, main, optionFor, parseOptions } from '../src/cli/program.js';
import { defineCommand } from '../src/cli/command.js';
import { UsageError } from '../src/errors.js';
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
  const code = await main(argv, t.io);
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

describe('kebab', () => {
  it.each([
    ['json', 'json'],
    ['tlsCa', 'tls-ca'],
    ['nodeTimeout', 'node-timeout'],
    ['waitHealthy', 'wait-healthy'],
    ['redisServer', 'redis-server'],
  ])('%s -> %s', (key, flag) => {
    expect(kebab(key)).toBe(flag);
  });
});

describe('optionFor', () => {
  it('a boolean with default true becomes --no-x', () => {
    const opt = optionFor('persist', { type: 'boolean', default: true, description: 'AOF' });
    expect(opt.flags).toBe('--no-persist');
    expect(opt.negate).toBe(true);
    expect(opt.attributeName()).toBe('persist');
  });

  it('a boolean with default false stays --x and takes no value', () => {
    const opt = optionFor('keepData', { type: 'boolean', default: false });
    expect(opt.flags).toBe('--keep-data');
    expect(opt.negate).toBe(false);
    expect(opt.required || opt.optional).toBe(false);
  });

  it('honours short, valueName and env', () => {
    const opt = optionFor('namespace', { type: 'string', short: '-n', valueName: 'NAME', env: 'STREAMCTL_NS' });
    expect(opt.flags).toBe('-n, --namespace <NAME>');
    expect(opt.short).toBe('-n');
    expect(opt.description).toContain('[env: STREAMCTL_NS]');
    expect(opt.required).toBe(true);
  });

  it('a preset makes the value optional', () => {
    const opt = optionFor('watch', { type: 'number', preset: '2', valueName: 'SECONDS', short: '-w' });
    expect(opt.flags).toBe('-w, --watch [SECONDS]');
    expect(opt.presetArg).toBe('2');
    expect(opt.optional).toBe(true);
  });

  it('chooses N for numbers and VALUE otherwise, and adds the default to the description', () => {
    expect(optionFor('count', { type: 'integer' }).flags).toBe('--count <N>');
    expect(optionFor('rate', { type: 'number' }).flags).toBe('--rate <N>');
    expect(optionFor('name', { type: 'string' }).flags).toBe('--name <VALUE>');
    expect(optionFor('port', { type: 'integer', default: 7000, description: 'First port' }).description).toBe(
      'First port (default: 7000)',
    );
  });

  it('passes enums as choices and hides hidden options', () => {
    const opt = optionFor('format', { type: 'string', enum: ['text', 'json'] });
    expect(opt.argChoices).toEqual(['text', 'json']);
    expect(optionFor('debug', { type: 'string', hidden: true }).hidden).toBe(true);
  });

  it('a boolean may carry an env variable', () => {
    expect(optionFor('insecure', { type: 'boolean', default: false, env: 'X_INSECURE' }).description).toContain(
      '[env: X_INSECURE]',
    );
  });
});

describe('buildProgram: options come from the zod schemas', () => {
  const program = buildProgram(testIo().io, () => undefined);
  const sub = (name: string) => program.commands.find((c) => c.name() === name)!;
  const option = (cmd: string, long: string) => sub(cmd).options.find((o) => o.long === long)!;

  it('registers every command in help order', () => {
    expect(program.commands.map((c) => c.name())).toEqual([
      'up',
      'down',
      'health',
      'worker',
      'produce',
      'verify',
      'dlq',
      'reference',
      'alerts',
      'train',
      'serve',
      'bench',
    ]);
  });

  it('maps .meta() of the real commands', () => {
    expect(option('health', '--namespace').flags).toBe('-n, --namespace <NAME>');
    expect(option('health', '--watch').flags).toBe('-w, --watch [SECONDS]');
    expect(option('health', '--watch').presetArg).toBe('2');
    expect(option('health', '--redis').description).toContain('STREAMCTL_REDIS_URL');
    expect(option('health', '--wait-healthy').flags).toBe('--wait-healthy <TIMEOUT>');
    expect(option('up', '--home').description).toContain('[env: STREAMCTL_HOME]');
    expect(option('up', '--redis-server').description).toContain('[env: STREAMCTL_REDIS_SERVER]');
    expect(option('up', '--primaries').flags).toBe('--primaries <N>');
  });

  it('turns up --persist (default true) into --no-persist', () => {
    expect(option('up', '--no-persist').negate).toBe(true);
    expect(sub('up').options.some((o) => o.long === '--persist')).toBe(false);
  });
});

describe('parseOptions', () => {
  const command = defineCommand({
    name: 'demo',
    description: 'demo',
    options: z.object({
      nodeTimeout: z.coerce.number().int().min(100).default(2000),
      keepData: z.boolean().default(false),
    }),
    run: async () => 0,
  });

  it('returns the parsed options with defaults', () => {
    expect(parseOptions(command, { nodeTimeout: '500' })).toEqual({ nodeTimeout: 500, keepData: false });
  });

  it('throws BAD_OPTION naming the flag in kebab case, with exit 2', () => {
    let caught: unknown;
    try {
      parseOptions(command, { nodeTimeout: 'abc' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const e = caught as UsageError;
    expect(e.code).toBe('BAD_OPTION');
    expect(e.exitCode).toBe(2);
    expect(e.message).toContain('--node-timeout');
    expect(e.message).not.toContain('nodeTimeout');
    expect(e.message).toContain('(got "abc")');
    expect(e.hint).toContain('streamctl demo --help');
  });

  it('names the flag for a value out of range', () => {
    expect(() => parseOptions(command, { nodeTimeout: '5' })).toThrow(/--node-timeout/);
  });
});
