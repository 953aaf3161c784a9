import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Deployment } from '../src/embedded/deployment.js';
import { pairs, parseInfo } from '../src/redis/info.js';
import { waitFor } from '../src/wait.js';
import { cleanupAfterEach, stateHome } from './helpers/cleanup.js';
import { finished, runCli, spawnCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { randomBasePort } from './helpers/redis.js';

const cleanup = cleanupAfterEach();

async function cli(args: string[]) {
  const r = await runCli(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

/** Every ingest group of the deployment's node: its XINFO GROUPS fields and its stream's last id. */
async function ingestGroups(url: string) {
  const conn = await connectTo(url);
  try {
    const client = conn.client();
    const keys = (await client.keys('streamctl:*:ingest')).sort();
    return await Promise.all(
      keys.map(async (key) => {
        const stream = pairs(await client.call('XINFO', 'STREAM', key));
        const group = pairs(((await client.call('XINFO', 'GROUPS', key)) as unknown[])[0]);
        return { key, lastId: String(stream['last-generated-id']), group };
      }),
    );
  } finally {
    await conn.close();
  }
}

/** Starts `streamctl serve` and resolves with it once it printed its URL. */
function startServe(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawnCli(args);
  const done = finished(child);
  cleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve({ child, url: (JSON.parse(out.split('\n')[0]!) as { url: string }).url });
    });
    void done.then((r) => reject(new Error(`serve exited early with ${r.code}: ${r.stderr}`)));
  });
}

describe('lag after an AOF rewrite and a restart', () => {
  it('reads 0 once the groups were delivered everything: health, verify and serve agree', async () => {
    const dir = stateHome(cleanup);
    await cli(['up', '--detach', '--standalone', '--home', dir, '--port', String(randomBasePort())]);
    const { nodes } = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment;
    const url = `redis://127.0.0.1:${nodes[0]!.port}`;

    await cli(['produce', '--count', '20000', '--home', dir]);
    await cli(['verify', '--wait', '120s', '--home', dir]);
    const conn = await connectTo(url);
    try {
      await conn.client().bgrewriteaof();
      await waitFor(
        async () =>
          parseInfo(await conn.client().info('persistence')).aof_rewrite_in_progress === '0' &&
          parseInfo(await conn.client().info('persistence')).aof_rewrite_scheduled === '0'
            ? true
            : undefined,
        { timeoutMs: 60_000, onTimeout: () => new Error('the AOF rewrite did not finish in 60 s') },
      );
    } finally {
      await conn.close();
    }
    await cli(['produce', '--count', '20000', '--home', dir]);
    await cli(['verify', '--wait', '120s', '--home', dir]);
    await cli(['down', '--keep-data', '--home', dir]);
    await cli(['up', '--detach', '--standalone', '--home', dir]);

    // The state the bug came from: delivered to the end, and Redis still reports a lag.
    const groups = await ingestGroups(url);
    expect(groups.length).toBeGreaterThan(0);
    expect(groups.every((g) => g.group['last-delivered-id'] === g.lastId)).toBe(true);
    const redisLag = groups.reduce((n, g) => n + Number(g.group.lag ?? 0), 0);
    expect(redisLag, JSON.stringify(groups)).toBeGreaterThan(0);

    const health = JSON.parse((await cli(['health', '--json', '--home', dir])).stdout) as {
      stages: { stage: string; lag: number }[];
      groups: { lag: number | null }[];
    };
    expect(health.stages.map((s) => s.lag)).toEqual(health.stages.map(() => 0));
    expect(health.groups.every((g) => g.lag === 0)).toBe(true);

    // Without waiting: the stale lag kept verify for its whole --wait, and more for the audit.
    const t0 = Date.now();
    const verify = await runCli(['verify', '--wait', '30s', '--home', dir]);
    const elapsed = Date.now() - t0;
    expect(verify.stderr).not.toMatch(/not drained|waiting for the drain/);
    expect(elapsed).toBeLessThan(20_000);

    const serve = await startServe([
      'serve',
      '--home',
      dir,
      '--port',
      '0',
      '--json',
      '--max-lag',
      String(redisLag - 1),
    ]);
    const res = await fetch(`${serve.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: JSON.stringify({ key: 'after-restart' }),
    });
    expect(res.status).toBe(202);
    serve.child.kill('SIGINT');
  }, 400_000);
});
