import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { audit } from '../src/pipeline/audit.js';
import { PASSTHROUGH_PIPELINE } from '../src/pipeline/definition.js';
import { loadRun } from '../src/pipeline/runs.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import type { Deployment } from '../src/embedded/deployment.js';
import { waitFor, withTimeout } from '../src/wait.js';
import { cleanupAfterEach, stateHome } from './helpers/cleanup.js';
import { finished, runCli, spawnCli, type CliResult } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { startWorker, stopWorkers, type WorkerProcess } from './helpers/pipeline.js';
import { randomBasePort, startRedis } from './helpers/redis.js';
import { namespaceKeys } from '../src/pipeline/keys.js';

const cleanup = cleanupAfterEach();
const home = () => stateHome(cleanup);

/** Starts a foreground command and resolves with its output once `ready` holds for it (or rejects if it exits first). */
function startUntil(
  args: string[],
  ready: (out: { stdout: string; stderr: string }) => boolean,
): Promise<{ child: ChildProcess; done: Promise<CliResult>; out: { stdout: string; stderr: string } }> {
  const child = spawnCli(args);
  const done = finished(child);
  cleanup(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  const out = { stdout: '', stderr: '' };
  return new Promise((resolve, reject) => {
    const check = () => ready(out) && resolve({ child, done, out });
    child.stdout!.on('data', (c) => {
      out.stdout += c;
      check();
    });
    child.stderr!.on('data', (c) => {
      out.stderr += c;
      check();
    });
    child.once('exit', (code) => reject(new Error(`${args[0]} exited early with ${code}: ${out.stderr}`)));
  });
}

/** Live processes whose command line contains `text` (Linux /proc). */
function processesNaming(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(text)) found.push(`${pid}: ${cmd}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function postNdjson(url: string, events: unknown[]): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: events.map((e) => JSON.stringify(e)).join('\n'),
  });
}

describe('up --http', () => {
  it('serves HTTP ingest in the foreground: a POST reaches out (verify: lost 0), and Ctrl-C closes the ingest before the workers', async () => {
    const dir = home();
    const { child, done, out } = await startUntil(
      [
        'up',
        '--standalone',
        '--no-persist',
        '--quiet',
        '--home',
        dir,
        '--port',
        String(randomBasePort()),
        '--pipeline',
        'passthrough',
        '--http',
        '0',
      ],
      // Both lines: stdout and stderr are separate pipes, and either may be read first.
      (o) => o.stderr.includes('Ctrl-C stops it') && o.stdout.includes('HTTP ingest on'),
    );
    const m = /HTTP ingest on (http:\/\/127\.0\.0\.1:\d+): POST (\S+) \(run (\S+);/.exec(out.stdout);
    expect(m, out.stdout).not.toBeNull();
    const [, url, eventsUrl, runId] = m!;
    expect(eventsUrl).toBe(`${url}/events`);

    const events = Array.from({ length: 250 }, (_, i) => ({ key: `host-${i % 17}`, i }));
    const res = await postNdjson(eventsUrl!, events);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 250 });

    // The run record is saved every second while serving, and the workers take a moment: wait for
    // the events to reach `out`. verify then audits the run as it stands (it would wait for a run
    // still recording to end).
    const d = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')) as Deployment;
    const conn = await connectTo(`redis://127.0.0.1:${d.nodes[0]!.port}`);
    try {
      const topology = await ensureTopology(conn.client(), 'streamctl', PASSTHROUGH_PIPELINE.stages);
      await waitFor(
        async () => {
          const run = await loadRun(conn.client(), topology.keys, runId!);
          return run.acked === 250 && (await audit(conn.client(), topology, run)).delivered === 250 ? true : undefined;
        },
        { timeoutMs: 20_000, onTimeout: () => new Error('the accepted events never all reached out') },
      );
    } finally {
      await conn.close();
    }
    const verify = await runCli([
      'verify',
      '--home',
      dir,
      '--pipeline',
      'passthrough',
      '--run',
      runId!,
      '--wait',
      '0',
      '--json',
    ]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({
      run: runId,
      ok: true,
      produced: 250,
      delivered: 250,
      lost: 0,
      duplicates: 0,
    });

    child.kill('SIGINT');
    const result = await done;
    expect(result.code, out.stderr).toBe(0);
    expect(out.stderr).toMatch(
      new RegExp(`http ingest run ${runId}: 1 request\\(s\\), accepted 250 event\\(s\\), failed 0`),
    );
    expect(out.stderr.indexOf('closing the HTTP ingest')).toBeGreaterThan(-1);
    expect(out.stderr.indexOf('closing the HTTP ingest')).toBeLessThan(
      out.stderr.indexOf('draining the stage workers'),
    );
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('--json prints the ingest URL and run; with --no-workers it still serves', async () => {
    const dir = home();
    const { child, done, out } = await startUntil(
      [
        'up',
        '--standalone',
        '--no-persist',
        '--no-workers',
        '--json',
        '--home',
        dir,
        '--port',
        String(randomBasePort()),
        '--http',
        '0',
      ],
      (o) => {
        try {
          JSON.parse(o.stdout);
          return true;
        } catch {
          return false;
        }
      },
    );
    const j = JSON.parse(out.stdout) as {
      http: { url: string; events: string; run: string; producer: string };
      workers?: unknown[];
    };
    expect(j.http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(j.http.events).toBe(`${j.http.url}/events`);
    expect(j.workers).toBeUndefined();
    const health = (await (await fetch(`${j.http.url}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ status: 'ok', run: j.http.run, producer: j.http.producer });
    expect((await postNdjson(j.http.events, [{ key: 'a' }])).status).toBe(202);
    child.kill('SIGINT');
    expect((await done).code).toBe(0);
  });

  it('a busy --http port exits 2 naming --http, and leaves no redis-server or worker behind', async () => {
    const dir = home();
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    cleanup(() => new Promise<void>((r) => busy.close(() => r())));
    const port = (busy.address() as AddressInfo).port;
    const r = await runCli([
      'up',
      '--standalone',
      '--no-persist',
      '--home',
      dir,
      '--port',
      String(randomBasePort()),
      '--pipeline',
      'passthrough',
      '--http',
      String(port),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already in use/);
    expect(r.stderr).toMatch(/--http/);
    const redisPort = Number(/redis-server process on ports (\d+)/.exec(r.stderr)?.[1]);
    expect(redisPort, r.stderr).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/started 3 stage worker process/);
    expect(existsSync(join(dir, 'deployment.json'))).toBe(false);
    // Nothing answers on the Redis port, and no process (redis-server or worker) names it any more.
    await expect(
      new Promise((resolve, reject) => {
        const s = connect(redisPort, '127.0.0.1', () => resolve(s.end()));
        s.once('error', reject);
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    expect(processesNaming(`127.0.0.1:${redisPort}`)).toEqual([]);
  });

  it('refuses --detach with exit 2 and a hint, before starting anything', async () => {
    const dir = home();
    const r = await runCli(['up', '--standalone', '--detach', '--http', '8080', '--home', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--detach/);
    expect(r.stderr).toMatch(/streamctl serve/);
    expect(existsSync(join(dir, 'deployment.json'))).toBe(false);
  });
});

describe('bench --http', () => {
  it('drives the in-process ingest, then a running serve (--http-url), with autocannon: http figures and a clean audit', async () => {
    const server = await startRedis();
    cleanup(() => server.stop());
    const ns = 'benchhttp';
    const workers: WorkerProcess[] = ['stage1', 'stage2', 'stage3'].map((s) => startWorker(s, server.url, ns));
    cleanup(() => stopWorkers(workers));
    const conn = await connectTo(server.url);
    cleanup(() => conn.close());
    await waitFor(async () => ((await conn.client().hlen(namespaceKeys.workers(ns))) === 3 ? true : undefined), {
      timeoutMs: 20_000,
      onTimeout: () => new Error('workers did not start'),
    });

    const check = (r: CliResult, server: 'in-process' | 'external') => {
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      const h = j.http;
      expect(h).toMatchObject({ server, connections: 4, eventsPerBody: 100, non2xx: 0, errors: 0, timeouts: 0 });
      expect(h.requests).toBeGreaterThan(0);
      expect(h.statusCodes).toEqual({ 202: h.requests });
      expect(h.acceptedEvents).toBe(h.requests * 100);
      expect(h.eventsPerSecond).toBeGreaterThan(0);
      expect(h.requestsPerSecond).toBeGreaterThan(0);
      expect(h.latencyMs.max).toBeGreaterThanOrEqual(h.latencyMs.p99);
      expect(h.latencyMs.p99).toBeGreaterThanOrEqual(h.latencyMs.p50);
      // The server may also have accepted requests that autocannon cut at its stop: never fewer.
      expect(j.load.sent).toBeGreaterThanOrEqual(h.acceptedEvents);
      expect(j.throughput.drained).toBe(true);
      expect(j.audit).toMatchObject({ lost: 0, duplicates: 0, delivered: j.load.sent });
      expect(j.latency.map((l: { stream: string }) => l.stream)).toEqual(['ingest', 'stage1', 'stage2', 'out']);
      return j;
    };

    // A bounded rate: at full speed the ingest takes in far more than the workers of a busy CI
    // machine drain within the test's time.
    // A bounded drain: workers that stall fail the drain check with the run's figures, not the test's timeout.
    const args = [
      'bench',
      '--redis',
      server.url,
      '-n',
      ns,
      '--pipeline',
      'passthrough',
      '--no-calibrate',
      '--connections',
      '4',
      '--http-rate',
      '10000',
      '--wait',
      '30s',
      '--json',
    ];
    const inProcess = check(await runCli([...args, '--duration', '2s', '--http']), 'in-process');
    expect(inProcess.http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const serve = await startUntil(
      ['serve', '--redis', server.url, '-n', ns, '--pipeline', 'passthrough', '--port', '0', '--json'],
      (o) => o.stdout.includes('\n'),
    );
    const { url, run } = JSON.parse(serve.out.stdout.split('\n')[0]!) as { url: string; run: string };
    // A server writing to another namespace is found out before any load.
    const elsewhere = await runCli([
      'bench',
      '--redis',
      server.url,
      '-n',
      'other',
      '--no-calibrate',
      '--json',
      '--http-url',
      url,
    ]);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toMatch(/--namespace/);
    // Events the server accepted before the bench are not part of its audit.
    expect((await postNdjson(`${url}/events`, [{ key: 'before' }])).status).toBe(202);
    const external = check(await runCli([...args, '--duration', '1s', '--http-url', url]), 'external');
    expect(external.http.url).toBe(url);
    serve.child.kill('SIGINT');
    const served = await withTimeout(serve.done, 30_000, "serve's exit after SIGINT").catch((err: Error) => {
      throw new Error(`${err.message}; its stderr: ${serve.out.stderr.slice(-500)}`);
    });
    expect(served.code, served.stderr).toBe(0);
    const final = JSON.parse(served.stdout.slice(served.stdout.indexOf('\n') + 1)) as { run: string; accepted: number };
    expect(final.run).toBe(run);
    expect(final.accepted).toBe(external.load.sent + 1);
    // The rate bound held, give or take autocannon's pacing (at full speed it is 10x more).
    expect(inProcess.http.acceptedEvents).toBeLessThanOrEqual(2 * 2 * 20_000);
  }, 120_000);
});
