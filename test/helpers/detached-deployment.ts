import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Deployment } from '../../src/embedded/deployment.js';
import { isNodeAlive } from '../../src/embedded/redis-server.js';
import type { Snapshot } from '../../src/observe/snapshot.js';
import { waitFor } from '../../src/wait.js';
import { finished, runCli, spawnCli, type CliResult } from './cli.js';
import { processesIn, randomBasePort, tempDir } from './redis.js';

/**
 * The embedded 3+3 cluster of a test file (`up --detach`, default pipeline), started before its
 * tests and stopped after them with `down`, which must leave nothing running: no node, no worker,
 * no supervisor.
 */
export function detachedDeployment(prefix: string, upArgs: string[] = []) {
  const tmp = tempDir(prefix);
  const dir = tmp.dir;
  let first: Deployment | undefined;

  beforeAll(async () => {
    const up = await runCli(['up', '--detach', '--json', '--home', dir, '--port', String(randomBasePort()), ...upArgs]);
    expect(up.code, up.stderr).toBe(0);
    first = JSON.parse(up.stdout) as Deployment;
  }, 60_000);

  afterAll(async () => {
    const down = await runCli(['down', '--home', dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(processesIn(dir)).toEqual([]);
    expect(first!.nodes.filter((n) => isNodeAlive(n.pid, n.port))).toEqual([]);
    tmp.remove();
  }, 60_000);

  /** `health --json` of the deployment. */
  async function health(): Promise<{ code: number | null; report: Snapshot }> {
    const h = await runCli(['health', '--json', '--home', dir]);
    return { code: h.code, report: JSON.parse(h.stdout) as Snapshot };
  }

  /** Starts `produce` for `seconds` at a steady `rate`, in the background. */
  function load(seconds: number, rate: number): Promise<CliResult> {
    return finished(
      spawnCli(['produce', '--home', dir, '--rate', String(rate), '--duration', `${seconds}s`, '--json']),
    );
  }

  /** `verify --json` of the latest run, which must exit 0. */
  async function verifyLatest() {
    const v = await runCli(['verify', '--home', dir, '--wait', '60s', '--json']);
    expect(v.code, v.stderr).toBe(0);
    return JSON.parse(v.stdout) as { lost: number; duplicates: number; produced: number; delivered: number };
  }

  return {
    dir,
    load,
    verifyLatest,
    /** The deployment as `up` printed it. */
    first: () => first!,
    /** The record as the supervisor keeps it now. */
    record: () => JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment,
    health,
    /** Waits until `health` says `check(report)` (and returns that report), or fails with the last one seen. */
    healthUntil(what: string, timeoutMs: number, check: (r: Snapshot, code: number | null) => boolean) {
      let last: Snapshot | undefined;
      return waitFor(
        async () => {
          const { report, code } = await health();
          last = report;
          return check(report, code) ? report : undefined;
        },
        {
          timeoutMs,
          intervalMs: 250,
          onTimeout: () => new Error(`${what} not seen in ${timeoutMs} ms; last health: ${JSON.stringify(last)}`),
        },
      );
    },
  };
}
