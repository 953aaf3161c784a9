import { spawnSync } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMetricsServer, type MetricsServer } from '../src/observe/metrics-server.js';
import { stageLag, WorkerMetrics, type MeteredWorker } from '../src/observe/metrics.js';
import { Producer } from '../src/pipeline/producer.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { passthrough } from '../src/pipeline/stages/passthrough.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import type { WorkerCounters } from '../src/pipeline/worker/heartbeats.js';
import { StageWorker } from '../src/pipeline/worker/stage-worker.js';
import type { RedisConnection } from '../src/redis/connection.js';
import { waitFor } from '../src/wait.js';
import { connectTo } from './helpers/io.js';
import { startRedis, type TestServer } from './helpers/redis.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for these tests). */
function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

class Scrape {
  constructor(
    readonly status: number,
    readonly contentType: string | null,
    readonly text: string,
    readonly samples: Sample[],
  ) {}

  /** The value of the one sample with this name and these labels; undefined when absent. */
  value(name: string, labels: Record<string, string> = {}): number | undefined {
    const hits = this.samples.filter(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
    );
    if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} ${JSON.stringify(labels)}`);
    return hits[0]?.value;
  }
}

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  const text = await res.text();
  return new Scrape(res.status, res.headers.get('content-type'), text, res.status === 200 ? parseExposition(text) : []);
}

/** Tries a TCP connection: 'connected', or the error code (ECONNREFUSED, ...). */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('ETIMEDOUT');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function stubWorker(
  stage: string,
  counters: Partial<WorkerCounters> = {},
  owned: number[] = [],
): MeteredWorker & { counters: WorkerCounters; owned: number[] } {
  return {
    stage,
    counters: { received: 0, sent: 0, emitted: 0, failed: 0, deadLettered: 0, batches: 0, ...counters },
    owned,
  };
}

/** Cleanups registered by a test, run in reverse order after it whether it passed or not. */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(source: WorkerMetrics, opts: { port?: number; host?: string } = {}): Promise<MetricsServer> {
  const srv = await startMetricsServer({ source, ...opts });
  cleanups.push(() => srv.close());
  return srv;
}

describe('metrics server', () => {
  it('answers /healthz with 200, unknown paths with 404, other methods with 405', async () => {
    const srv = await serve(new WorkerMetrics({ defaultMetrics: false }));
    expect(srv.port).toBeGreaterThan(0);
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/metrics`);
    const base = `http://127.0.0.1:${srv.port}`;

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');

    for (const path of ['/', '/nope', '/metricsx', '/healthz/extra']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(404);
      await res.arrayBuffer();
    }

    const post = await fetch(`${base}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    await post.arrayBuffer();

    const metrics = await fetch(`${base}/metrics?debug=1`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await metrics.text()).toContain('# TYPE streamctl_events_received_total counter');
  });

  it('binds the port it is given, names a busy port, and stops listening on close()', async () => {
    const first = await startMetricsServer({ source: new WorkerMetrics({ defaultMetrics: false }), port: 0 });
    const port = first.port;
    let closed = false;
    cleanups.push(() => (closed ? undefined : first.close()));
    await expect(
      startMetricsServer({ source: new WorkerMetrics({ defaultMetrics: false }), port }),
    ).rejects.toMatchObject({ code: 'METRICS_PORT_BUSY', exitCode: 2 });

    // A keep-alive connection is open after this fetch: close() must not wait for it to time out.
    expect((await fetch(first.url)).status).toBe(200);
    await first.close();
    closed = true;
    expect(await tryConnect('127.0.0.1', port)).toBe('ECONNREFUSED');

    const again = await serve(new WorkerMetrics({ defaultMetrics: false }), { port });
    expect(again.port).toBe(port);
    expect((await fetch(again.url)).status).toBe(200);
  });

  it('a server bound to every address is reached through another loopback address (the probe the 127.0.0.1-only check relies on)', async () => {
    const srv = await serve(new WorkerMetrics({ defaultMetrics: false }), { host: '0.0.0.0' });
    expect(await tryConnect('127.0.0.2', srv.port)).toBe('connected');
  });
});

describe('WorkerMetrics without Redis', () => {
  it('sums the counters of the attached workers per stage at each scrape, without double counting', async () => {
    const metrics = new WorkerMetrics({ defaultMetrics: false });
    const a1 = stubWorker('enrich', { received: 10, sent: 9, failed: 2, deadLettered: 1 }, [0, 1]);
    const a2 = stubWorker('enrich', { received: 5, sent: 5 }, [2]);
    const b = stubWorker('sink', { received: 7, sent: 7 }, [0, 1, 2, 3]);
    metrics.attach(a1, a2, b);
    const srv = await serve(metrics);

    for (let i = 0; i < 2; i++) {
      const s = await scrape(srv.url);
      expect(s.value('streamctl_events_received_total', { stage: 'enrich' })).toBe(15);
      expect(s.value('streamctl_events_sent_total', { stage: 'enrich' })).toBe(14);
      expect(s.value('streamctl_events_failed_total', { stage: 'enrich' })).toBe(2);
      expect(s.value('streamctl_events_dead_lettered_total', { stage: 'enrich' })).toBe(1);
      expect(s.value('streamctl_events_received_total', { stage: 'sink' })).toBe(7);
      expect(s.value('streamctl_owned_partitions', { stage: 'enrich' })).toBe(3);
      expect(s.value('streamctl_owned_partitions', { stage: 'sink' })).toBe(4);
      expect(s.value('streamctl_batch_duration_seconds_count', { stage: 'sink' })).toBe(0);
      // No lag callback: no lag sample.
      expect(s.value('streamctl_lag_entries', { stage: 'enrich' })).toBeUndefined();
    }

    a1.counters.received += 100;
    a2.owned.push(3);
    let s = await scrape(srv.url);
    expect(s.value('streamctl_events_received_total', { stage: 'enrich' })).toBe(115);
    expect(s.value('streamctl_owned_partitions', { stage: 'enrich' })).toBe(4);

    // A detached (stopped) worker's counts stay: counters never go down. It owns nothing any more.
    metrics.detach(a1);
    metrics.detach(a1);
    a1.counters.received += 1000; // no longer read
    s = await scrape(srv.url);
    expect(s.value('streamctl_events_received_total', { stage: 'enrich' })).toBe(115);
    expect(s.value('streamctl_events_failed_total', { stage: 'enrich' })).toBe(2);
    expect(s.value('streamctl_owned_partitions', { stage: 'enrich' })).toBe(2);
  });

  it('feeds the batch histogram from onBatch in seconds, and asks the lag callback per stage', async () => {
    const asked: string[] = [];
    const metrics = new WorkerMetrics({
      defaultMetrics: false,
      lagTimeoutMs: 200,
      lag: async (stage) => {
        asked.push(stage);
        if (stage === 'broken') throw new Error('READONLY');
        if (stage === 'stuck') return new Promise<number>(() => {});
        return 42;
      },
    });
    const hook = metrics.onBatch('enrich');
    metrics.attach(stubWorker('enrich'), stubWorker('broken'), stubWorker('stuck'));
    hook({ partition: 0, events: 10, outputs: 10, ms: 0.05, outputEvents: [] }); // 50 us
    hook({ partition: 1, events: 10, outputs: 10, ms: 3, outputEvents: [] }); // 3 ms
    hook({ partition: 1, events: 10, outputs: 10, ms: 7000, outputEvents: [] }); // 7 s: above the last bucket
    const srv = await serve(metrics);

    const s = await scrape(srv.url);
    expect(s.status).toBe(200);
    const h = (le: string) => s.value('streamctl_batch_duration_seconds_bucket', { stage: 'enrich', le });
    expect(h('0.0001')).toBe(1);
    expect(h('0.0025')).toBe(1);
    expect(h('0.005')).toBe(2);
    expect(h('5')).toBe(2);
    expect(h('+Inf')).toBe(3);
    expect(s.value('streamctl_batch_duration_seconds_count', { stage: 'enrich' })).toBe(3);
    expect(s.value('streamctl_batch_duration_seconds_sum', { stage: 'enrich' })).toBeCloseTo(7.00305, 6);

    expect(asked.sort()).toEqual(['broken', 'enrich', 'stuck']);
    expect(s.value('streamctl_lag_entries', { stage: 'enrich' })).toBe(42);
    // A failing or hanging lag source leaves its sample out but does not fail the scrape.
    expect(s.value('streamctl_lag_entries', { stage: 'broken' })).toBeUndefined();
    expect(s.value('streamctl_lag_entries', { stage: 'stuck' })).toBeUndefined();
    expect(s.value('streamctl_lag_errors_total', { stage: 'broken' })).toBe(1);
    expect(s.value('streamctl_lag_errors_total', { stage: 'stuck' })).toBe(1);
    expect(s.value('streamctl_lag_errors_total', { stage: 'enrich' })).toBe(0);
  });

  it("observes each output event's end-to-end latency at the last stage only", async () => {
    const metrics = new WorkerMetrics({ defaultMetrics: false });
    const event = (agoMs: number) => ({
      key: 'k',
      producer: 'p',
      seq: 1,
      ts: Date.now() - agoMs,
      data: Buffer.alloc(0),
    });
    metrics.onBatch('enrich')({ partition: 0, events: 2, outputs: 2, ms: 1, outputEvents: [event(40_000)] });
    const sink = metrics.onBatch('cep', { sink: true });
    sink({ partition: 0, events: 3, outputs: 3, ms: 1, outputEvents: [event(2000), event(2000), event(200_000)] });
    const s = await scrape((await serve(metrics)).url);
    const bucket = (stage: string, le: string) => s.value('streamctl_end_to_end_latency_seconds_bucket', { stage, le });
    expect(bucket('cep', '1')).toBe(0);
    expect(bucket('cep', '2.5')).toBe(2);
    expect(bucket('cep', '120')).toBe(2);
    expect(bucket('cep', '+Inf')).toBe(3);
    expect(bucket('enrich', '+Inf')).toBeUndefined();
  });

  it('passes `promtool check metrics` (names and types as Prometheus conventions say)', async () => {
    const metrics = new WorkerMetrics({ lag: async () => 3 });
    metrics.onBatch('cep', { sink: true });
    metrics.attach(stubWorker('cep'));
    const text = await metrics.metrics();
    expect(text).toContain('streamctl_nodejs_active_handles ');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
    expect(check.status).toBe(0);
  });

  it('exports the process metrics with the streamctl_ prefix and only prefixed names', async () => {
    const srv = await serve(new WorkerMetrics());
    const s = await scrape(srv.url);
    // Present (the value itself may still read 0 this early in a busy process).
    expect(s.value('streamctl_process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(s.value('streamctl_nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(s.samples.filter((x) => !x.name.startsWith('streamctl_'))).toEqual([]);
  });
});

describe('metrics of a StageWorker on a real redis-server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server?.stop());

  it('counts received and sent events, batch durations, owned partitions and lag, served on 127.0.0.1 only', async () => {
    const N = 500;
    const P = 4;
    const STAGE = 'stage1';
    const conn: RedisConnection = await connectTo(server.url);
    cleanups.push(() => conn.close());
    const ns = `metrics${Date.now()}`;
    const topology = await ensureTopology(conn.client(), ns, [{ name: STAGE }], { partitions: P });
    const streams = topology.stages.find((s) => s.name === STAGE)!;

    const metrics = new WorkerMetrics({ lag: (stage) => stageLag(conn.client(), topology, stage) });
    const logs: string[] = [];
    const worker = new StageWorker({
      conn,
      topology,
      factory: passthrough,
      stage: { ...streams, maxDeliveries: 5, params: {} },
      blockMs: 100,
      onBatch: metrics.onBatch(STAGE),
      log: (m) => logs.push(m),
    });
    metrics.attach(worker);
    const srv = await serve(metrics, { port: 0 });
    expect(srv.port).toBeGreaterThan(0);

    // Served on the loopback address 127.0.0.1 and nowhere else.
    expect(srv.host).toBe('127.0.0.1');
    expect(await tryConnect('127.0.0.1', srv.port)).toBe('connected');
    expect(await tryConnect('127.0.0.2', srv.port)).toBe('ECONNREFUSED');

    const producer = new Producer({ client: withScripts(conn.client()), topology, producerId: `p-${ns}`, batch: 20 });
    await producer.init();
    cleanups.push(() => producer.close());
    for (let i = 0; i < N; i++) producer.send(`key-${i % 37}`, Buffer.from(`event ${i}`), Date.now());
    await producer.flushAll();
    expect(producer.stats.acked).toBe(N);

    // Before the worker starts: every entry is lag, nothing counted, nothing owned.
    const entries = (
      await Promise.all(Array.from({ length: P }, (_, k) => conn.client().xlen(topology.keys.stream(k, streams.input))))
    ).reduce((a, b) => a + b, 0);
    expect(entries).toBeGreaterThan(0);
    const before = await scrape(srv.url);
    expect(before.status).toBe(200);
    expect(before.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(before.value('streamctl_lag_entries', { stage: STAGE })).toBe(entries);
    expect(before.value('streamctl_events_received_total', { stage: STAGE })).toBe(0);
    expect(before.value('streamctl_batch_duration_seconds_count', { stage: STAGE })).toBe(0);
    expect(before.value('streamctl_owned_partitions', { stage: STAGE })).toBe(0);

    worker.start();
    let stopped = false;
    cleanups.push(() => (stopped ? undefined : worker.stop(2000)));
    await waitFor(
      async () =>
        worker.counters.received >= N && worker.counters.sent >= N && worker.owned.length === P ? true : undefined,
      {
        timeoutMs: 30_000,
        onTimeout: () =>
          new Error(
            `worker did not drain: ${JSON.stringify(worker.counters)}, owned ${worker.owned.join(',')}; log: ${logs.join(' | ')}`,
          ),
      },
    );

    const after = await scrape(srv.url);
    expect(after.value('streamctl_events_received_total', { stage: STAGE })).toBe(N);
    expect(after.value('streamctl_events_sent_total', { stage: STAGE })).toBe(N);
    expect(after.value('streamctl_events_failed_total', { stage: STAGE })).toBe(0);
    expect(after.value('streamctl_events_dead_lettered_total', { stage: STAGE })).toBe(0);
    const batches = after.value('streamctl_batch_duration_seconds_count', { stage: STAGE })!;
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBe(worker.counters.batches);
    expect(after.value('streamctl_batch_duration_seconds_bucket', { stage: STAGE, le: '+Inf' })).toBe(batches);
    expect(after.value('streamctl_batch_duration_seconds_sum', { stage: STAGE })).toBeGreaterThan(0);
    expect(after.value('streamctl_owned_partitions', { stage: STAGE })).toBe(P);
    expect(after.value('streamctl_lag_entries', { stage: STAGE })).toBe(0);
    expect(after.value('streamctl_lag_errors_total', { stage: STAGE })).toBe(0);
    // Only the stage label: no partition or worker id labels.
    const own = after.samples.filter((s) => /^streamctl_(events|batch|owned|lag)_/.test(s.name));
    expect(new Set(own.flatMap((s) => Object.keys(s.labels)))).toEqual(new Set(['stage', 'le']));

    // A stopped worker releases its partitions; its counts stay.
    await worker.stop(5000);
    stopped = true;
    const final = await scrape(srv.url);
    expect(final.value('streamctl_owned_partitions', { stage: STAGE })).toBe(0);
    expect(final.value('streamctl_events_received_total', { stage: STAGE })).toBe(N);
  });
});
