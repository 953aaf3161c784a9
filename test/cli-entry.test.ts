import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from './helpers/cli.js';

describe('the built CLI entry', () => {
  it('runs by itself (executable, with its shebang), as npx streamctl runs it', () => {
    const r = spawnSync(CLI, ['--version'], { encoding: 'utf8' });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('runs through npx in the project folder', () => {
    const r = spawnSync('npx', ['--no-install', 'streamctl', '--help'], {
      encoding: 'utf8',
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: streamctl/);
  });
});
