import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../src/wait.js';
import { runCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { startWorker, stopWorkers, type WorkerProcess } from './helpers/pipeline.js';
import { startRedis, tempDir, type TestServer } from './helpers/redis.js';
import { namespaceKeys } from '../src/pipeline/keys.js';

let server: TestServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server.stop());

/**
 * Runs `body` while the three workers of the passthrough pipeline serve `ns` (started here, and
 * announced in the namespace's heartbeats before the measurement starts).
 */
async function withPassthroughWorkers(
  ns: string,
  body: (conn: Awaited<ReturnType<typeof connectTo>>) => Promise<void>,
): Promise<void> {
  const workers: WorkerProcess[] = ['stage1', 'stage2', 'stage3'].map((s) => startWorker(s, server.url, ns));
  const conn = await connectTo(server.url);
  try {
    await waitFor(async () => ((await conn.client().hlen(namespaceKeys.workers(ns))) === 3 ? true : undefined), {
      timeoutMs: 20_000,
      onTimeout: () => new Error('workers did not start'),
    });
    await body(conn);
  } finally {
    await conn.close();
    await stopWorkers(workers);
  }
}

describe('streamctl bench', () => {
  it('runs a small open-loop load and reports calibration, latency per hop, processes and the audit as JSON', async () => {
    const ns = 'bench';
    await withPassthroughWorkers(ns, async () => {
      const r = await runCli([
        'bench',
        '--redis',
        server.url,
        '-n',
        ns,
        '--pipeline',
        'passthrough',
        '--rate',
        '2000',
        '--duration',
        '1s',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.calibration.xaddPerSecond).toBeGreaterThan(0);
      expect(j.calibration.pingMs).toBeGreaterThan(0);
      expect(j.load.sent).toBeGreaterThan(1500);
      expect(j.throughput.drained).toBe(true);
      expect(j.latency.map((l: { stream: string }) => l.stream)).toEqual(['ingest', 'stage1', 'stage2', 'out']);
      for (const l of j.latency) {
        expect(l.events).toBe(j.load.sent);
        expect(l.p50).toBeGreaterThan(0);
        expect(l.p99).toBeGreaterThanOrEqual(l.p50);
        expect(l.max).toBeGreaterThanOrEqual(l.p999);
      }
      // Latency only grows along the pipeline.
      expect(j.latency[3].p50).toBeGreaterThanOrEqual(j.latency[0].p50);
      expect(j.processes.filter((p: { name: string }) => p.name.startsWith('worker')).length).toBe(3);
      expect(j.processes.some((p: { name: string }) => p.name.startsWith('redis'))).toBe(true);
      expect(j.audit).toMatchObject({ lost: 0, duplicates: 0, delivered: j.load.sent });
      expect(j.peers).toBeUndefined();
    });
  });

  it("--warmup leaves the warm-up's events out of the latency figures but audits them; it is refused with --max", async () => {
    const ns = 'bench-warmup';
    await withPassthroughWorkers(ns, async () => {
      const r = await runCli([
        'bench',
        '--redis',
        server.url,
        '-n',
        ns,
        '--pipeline',
        'passthrough',
        '--rate',
        '2000',
        '--warmup',
        '1s',
        '--duration',
        '1s',
        '--no-calibrate',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.load.warmupMs).toBe(1000);
      // About 2,000 events in each second: the latency counts only the second one's.
      expect(j.load.sent).toBeGreaterThan(3000);
      expect(j.audit).toMatchObject({ lost: 0, duplicates: 0, delivered: j.load.sent });
      for (const l of j.latency) {
        expect(l.events).toBeGreaterThan(1000);
        expect(l.events).toBeLessThan(j.load.sent - 1000);
        expect(l.overTime.reduce((a: number, w: { events: number }) => a + w.events, 0)).toBe(l.events);
      }
      const bad = await runCli([
        'bench',
        '--redis',
        server.url,
        '-n',
        ns,
        '--pipeline',
        'passthrough',
        '--max',
        '--warmup',
        '1s',
      ]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--warmup/);
    });
  });

  it('--peers runs the naive, record-batch and BullMQ peers on the same Redis, reports their rates and ratios, and leaves none of their keys', async () => {
    const ns = 'bench-peers';
    await withPassthroughWorkers(ns, async (conn) => {
      const r = await runCli([
        'bench',
        '--redis',
        server.url,
        '-n',
        ns,
        '--pipeline',
        'passthrough',
        '--rate',
        '2000',
        '--duration',
        '1s',
        '--no-calibrate',
        '--peers',
        '--peer-events',
        '2000',
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.peersSkipped, r.stderr).toEqual([]);
      expect(j.peers.map((p: { name: string }) => p.name)).toEqual([
        'naive per-event XREADGROUP/XADD+XACK',
        'record batches, 100 events/entry, MULTI',
        'BullMQ 3-queue chain',
      ]);
      for (const p of j.peers) {
        expect(p.events).toBe(2000);
        expect(p.seconds).toBeGreaterThan(0);
        expect(p.eventsPerSecond).toBeGreaterThan(0);
        expect(p.ratio).toBeGreaterThan(0);
        // The ratio divides this run's end-to-end rate by the peer's (both rounded in the JSON).
        expect(p.ratio).toBeCloseTo(j.throughput.eventsPerSecond / p.eventsPerSecond, 1);
      }
      // Every peer key was deleted, and none was ever written outside the namespace.
      const client = conn.client();
      expect(await client.keys(`${ns}:peers:*`)).toEqual([]);
      // (Other tests of this file leave their own namespaces.)
      expect((await client.keys('*')).filter((k) => !/^bench(-warmup)?:/.test(k) && !k.startsWith(`${ns}:`))).toEqual(
        [],
      );
    });
  });
});

describe('streamctl bench --html, --compare and --max', () => {
  const ns = 'bench-report';
  let workers: WorkerProcess[] = [];
  const tmp = tempDir('streamctl-bench-');
  beforeAll(async () => {
    workers = ['stage1', 'stage2', 'stage3'].map((s) => startWorker(s, server.url, ns));
    const conn = await connectTo(server.url);
    try {
      await waitFor(async () => ((await conn.client().hlen(namespaceKeys.workers(ns))) === 3 ? true : undefined), {
        timeoutMs: 20_000,
        onTimeout: () => new Error('workers did not start'),
      });
    } finally {
      await conn.close();
    }
  });
  afterAll(async () => {
    await stopWorkers(workers);
    tmp.remove();
  });
  const bench = (...args: string[]) =>
    runCli(['bench', '--redis', server.url, '-n', ns, '--pipeline', 'passthrough', ...args]);
  const sum = (xs: { events: number }[]) => xs.reduce((a, x) => a + x.events, 0);

  it('writes --json FILE and a self-contained --html report, then --compare reads that file back', async () => {
    const first = join(tmp.dir, 'first.json');
    const html = join(tmp.dir, 'report.html');
    const r1 = await bench('--rate', '2000', '--duration', '1s', '--json', first, '--html', html);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toContain(`html report: ${html}`);
    const j1 = JSON.parse(readFileSync(first, 'utf8'));
    expect(j1.max).toBeNull();
    expect(j1.comparison).toBeNull();
    for (const l of j1.latency) {
      // Every event of the run is in exactly one window, by send time and by commit time.
      expect(l.overTime.length).toBeGreaterThan(0);
      expect(sum(l.overTime)).toBe(j1.load.sent);
      expect(sum(l.commitsOverTime)).toBe(j1.load.sent);
      for (const w of l.overTime) expect(w.p99).toBeGreaterThanOrEqual(w.p50);
    }

    const page = readFileSync(html, 'utf8');
    expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(page.trimEnd().endsWith('</html>')).toBe(true);
    expect(page).not.toMatch(/https?:\/\/|<script|<link/i);
    const out = j1.latency[j1.latency.length - 1];
    const n = (v: number) => v.toLocaleString('en', { maximumFractionDigits: 3 });
    expect(page).toContain(
      `<td>out</td><td>${n(out.events)}</td><td>${n(out.p50)}</td><td>${n(out.p90)}</td><td>${n(out.p99)}</td>`,
    );
    expect(page).toContain(`${n(j1.throughput.eventsPerSecond)} ev/s`);
    expect(page).toContain(`<td>${n(j1.calibration.xaddPerSecond)}</td>`);
    expect(page).toContain('<tr><td>lost</td><td>0</td></tr>');

    const second = join(tmp.dir, 'second.json');
    const r2 = await bench('--rate', '2000', '--duration', '1s', '--compare', first, '--json', second);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toContain(`COMPARED WITH ${first}`);
    expect(r2.stdout).toMatch(/overall: (better|worse|same within noise) \(noise threshold/);
    const j2 = JSON.parse(readFileSync(second, 'utf8'));
    const c = j2.comparison;
    expect(c.baseline).toMatchObject({
      label: first,
      rate: 2000,
      calibrationXaddPerSecond: j1.calibration.xaddPerSecond,
    });
    expect(c.noise.calibrationRatio).toBeCloseTo(j2.calibration.xaddPerSecond / j1.calibration.xaddPerSecond, 2);
    expect(c.noise.threshold).toBeGreaterThanOrEqual(0.1);
    expect(['better', 'worse', 'same within noise']).toContain(c.verdict);
    const byName = Object.fromEntries(c.metrics.map((m: { name: string }) => [m.name, m]));
    expect(byName.throughput).toMatchObject({
      baseline: j1.throughput.eventsPerSecond,
      current: j2.throughput.eventsPerSecond,
      normalised: true,
      headline: true,
    });
    expect(byName['p99 out']).toMatchObject({ baseline: out.p99, current: j2.latency[3].p99, headline: true });
    for (const name of [
      'p50 ingest',
      'p50 stage1',
      'p50 stage2',
      'p50 out',
      'cpu total',
      'cpu worker stage1',
      'rss worker stage3',
      'cpu bench (producer)',
    ])
      expect(byName[name], name).toBeDefined();
    // The Redis node is matched by role, whatever its address.
    expect(c.metrics.some((m: { name: string }) => /^cpu redis (master|primary)$/.test(m.name))).toBe(true);
    for (const m of c.metrics) expect(['better', 'worse', 'same within noise']).toContain(m.verdict);
  });

  it('--compare with a missing or non-bench file is a usage error naming the file', async () => {
    const missing = join(tmp.dir, 'missing.json');
    const r1 = await bench('--compare', missing);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain(`--compare: cannot read ${missing}: no such file`);
    expect(r1.stderr).toMatch(/hint: give --compare a file written by an earlier `streamctl bench --json FILE`/);
    const other = join(tmp.dir, 'health.json');
    writeFileSync(other, JSON.stringify({ status: 'ok', nodes: [] }));
    const r2 = await bench('--compare', other);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`--compare: ${other} is not a bench result (no "pipeline" field)`);
    const r3 = await bench('--html', join(tmp.dir, 'no-such-folder', 'r.html'));
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/--html: the folder .*no-such-folder does not exist/);
    expect(existsSync(join(tmp.dir, 'no-such-folder'))).toBe(false);
  });

  it("--max steps the rate up within --max-time, reports every step and audits every step's events", async () => {
    const r = await bench(
      '--rate',
      '1000',
      '--max',
      '--max-time',
      '6s',
      '--max-step',
      '1s',
      '--no-calibrate',
      '--json',
    );
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    const m = j.max;
    expect(m).toMatchObject({ budgetMs: 6000, stepMs: 1000, graceMs: 1000 });
    expect(['converged', 'time']).toContain(m.stoppedBy);
    expect(m.steps.length).toBeGreaterThan(0);
    expect(m.steps[0].rate).toBe(1000);
    // While growing, each step is 1.5 times the last.
    const grow = m.steps.filter((s: { phase: string }) => s.phase === 'grow');
    grow.forEach((s: { rate: number }, i: number) => expect(s.rate).toBe(Math.round(1000 * 1.5 ** i)));
    for (const s of m.steps) {
      expect(s.achievedRate).toBeGreaterThan(0);
      expect(s.endLag).toBeGreaterThanOrEqual(0);
      expect(s.peakLag).toBeGreaterThanOrEqual(s.endLag);
      expect(typeof s.sustainable).toBe('boolean');
    }
    const good = m.steps.filter((s: { sustainable: boolean }) => s.sustainable).map((s: { rate: number }) => s.rate);
    expect(m.rate).toBe(good.length ? Math.max(...good) : null);
    // One progress line per step on stderr, even with --json on stdout.
    expect(r.stderr.match(/^max: step \d+ \((grow|bisect)\) at [\d,]+\/s: achieved/gm)?.length).toBe(m.steps.length);
    // Every step's events are one run: all delivered once.
    const sent = m.steps.reduce((a: number, s: { sent: number }) => a + s.sent, 0);
    expect(j.load.sent).toBe(sent);
    expect(j.audit).toMatchObject({ lost: 0, duplicates: 0, delivered: sent });
    expect(j.throughput.drained).toBe(true);
  });

  it('waits for a live worker of every stage: with stage3 missing it exits 1 naming it (NO_WORKERS), sending nothing; a worker that starts meanwhile lets it run', async () => {
    const ns = 'bench-idle';
    const conn = await connectTo(server.url);
    const workers: WorkerProcess[] = ['stage1', 'stage2'].map((s) => startWorker(s, server.url, ns));
    try {
      await waitFor(async () => ((await conn.client().hlen(namespaceKeys.workers(ns))) === 2 ? true : undefined), {
        timeoutMs: 20_000,
        onTimeout: () => new Error('workers did not start'),
      });
      const args = [
        'bench',
        '--redis',
        server.url,
        '-n',
        ns,
        '--pipeline',
        'passthrough',
        '--no-calibrate',
        '--rate',
        '1000',
        '--duration',
        '1s',
        '--json',
      ];
      const refused = await runCli(args);
      expect(refused.code, refused.stderr).toBe(1);
      expect(JSON.parse(refused.stdout).error).toMatchObject({
        code: 'NO_WORKERS',
        message: expect.stringMatching(/stage stage3 in namespace "bench-idle"/),
        hint: expect.stringMatching(/streamctl up/),
      });
      // Nothing was sent: no ingest stream has an entry.
      const ingest = await conn.client().keys(`${ns}:*:ingest`);
      expect(ingest.length).toBeGreaterThan(0);
      for (const key of ingest) expect(await conn.client().xlen(key), key).toBe(0);

      // The missing worker arrives while bench waits for it.
      const running = runCli(args);
      workers.push(startWorker('stage3', server.url, ns));
      const r = await running;
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).audit).toMatchObject({ lost: 0, duplicates: 0 });
    } finally {
      await conn.close();
      await stopWorkers(workers);
    }
  }, 60_000);
});
