import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, runCli, spawnCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { startOtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.js';
import { startRedis, type TestServer } from './helpers/redis.js';

/**
 * Traces of record batches, exported to an OTLP/HTTP receiver inside the test: the producer's
 * append spans, whose traceparent travels in each entry (field tc).
 */
let server: TestServer;
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;

beforeAll(async () => {
  server = await startRedis();
  receiver = await startOtlpReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await server?.stop();
});

/** Every entry of a namespace's streams of one kind (ingest, out): its id and fields. */
async function ingestEntries(
  ns: string,
  kind = 'ingest',
): Promise<{ stream: string; id: string; fields: Record<string, string> }[]> {
  const conn = await connectTo(server.url);
  try {
    const c = conn.client();
    const keys = (await c.keys(`${ns}:*:${kind}`)).sort();
    const out = [];
    for (const key of keys)
      for (const [id, f] of await c.xrange(key, '-', '+')) {
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < f.length; i += 2) fields[f[i]!] = f[i + 1]!;
        out.push({ stream: key, id, fields });
      }
    return out;
  } finally {
    await conn.close();
  }
}

const otlpEnv = () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });

describe('tracing of record batches', () => {
  it('--trace-sample 1: every batch has a producer span, and its entry carries that span as traceparent', async () => {
    const r = await runCli(
      ['produce', '--redis', server.url, '--namespace', 'traced', '--count', '3000', '--trace-sample', '1', '--json'],
      { env: otlpEnv() },
    );
    expect(r.code, r.stderr).toBe(0);
    const entries = await ingestEntries('traced');
    expect(entries.length).toBeGreaterThan(10);
    const byId = new Map<string, ReceivedSpan>(receiver.spans.map((s) => [`${s.traceId}-${s.spanId}`, s]));
    for (const e of entries) {
      const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(e.fields.tc ?? '');
      expect(m, `entry ${e.id} of ${e.stream}: tc ${e.fields.tc}`).not.toBeNull();
      const span = byId.get(`${m![1]}-${m![2]}`);
      expect(span, `no span for the entry ${e.id}`).toBeDefined();
      expect(span).toMatchObject({
        service: 'streamctl-producer',
        name: `send ${e.stream}`,
        kind: 4, // PRODUCER
      });
      // A root span: the producer is where the batch's trace begins.
      expect(span!.parentSpanId || undefined).toBeUndefined();
      expect(span!.attributes).toMatchObject({
        'messaging.system': 'redis',
        'messaging.destination.name': e.stream,
        'messaging.message.id': e.id,
      });
      expect(Number(span!.attributes['messaging.batch.message_count'])).toBeGreaterThan(0);
    }
    // Every event is in exactly one traced batch.
    const counted = entries.reduce((n, e) => {
      const [, trace, span] = e.fields.tc!.split('-');
      return n + Number(byId.get(`${trace}-${span}`)!.attributes['messaging.batch.message_count']);
    }, 0);
    expect(counted).toBe(3000);
  }, 60_000);

  it('OTEL_SERVICE_NAME names the service; OTEL_TRACES_SAMPLER=always_off leaves the entries without a trace context', async () => {
    const before = receiver.spans.length;
    const off = await runCli(['produce', '--redis', server.url, '--namespace', 'sampledout', '--count', '500'], {
      env: { ...otlpEnv(), OTEL_TRACES_SAMPLER: 'always_off' },
    });
    expect(off.code, off.stderr).toBe(0);
    expect((await ingestEntries('sampledout')).filter((e) => e.fields.tc)).toEqual([]);
    const named = await runCli(['produce', '--redis', server.url, '--namespace', 'named', '--count', '500'], {
      env: { ...otlpEnv(), OTEL_SERVICE_NAME: 'checkout-events' },
    });
    expect(named.code, named.stderr).toBe(0);
    expect((await ingestEntries('named')).every((e) => e.fields.tc)).toBe(true);
    expect(receiver.spans.slice(before).every((s) => s.service === 'checkout-events')).toBe(true);
  }, 60_000);

  it('tracing off (no flag, no endpoint): no entry carries a trace context', async () => {
    const r = await runCli(['produce', '--redis', server.url, '--namespace', 'untraced', '--count', '2000']);
    expect(r.code, r.stderr).toBe(0);
    const entries = await ingestEntries('untraced');
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.filter((e) => e.fields.tc)).toEqual([]);
    expect(entries.every((e) => Object.keys(e.fields).sort().join(',') === 'b,t,v')).toBe(true);
  }, 60_000);

  it("through the default pipeline: the worker continues each batch's trace (process and commit spans), its outputs carry it", async () => {
    const ns = 'e2e';
    let listed: string[] = [];
    const produce = (count: number, rate: number) =>
      runCli(
        [
          'produce',
          '--redis',
          server.url,
          '--namespace',
          ns,
          '--count',
          String(count),
          '--rate',
          String(rate),
          '--trace-sample',
          '1',
        ],
        { env: otlpEnv() },
      );
    // Before any worker runs: the entries wait, and the worker's first reads take many at once
    // (stage batches of several traced input batches, linked to each).
    const early = await produce(2000, 0);
    expect(early.code, early.stderr).toBe(0);
    const worker = spawnCli(['worker', '--stage', 'analyze', '--redis', server.url, '--namespace', ns, '--quiet'], {
      env: otlpEnv(),
    });
    const exited = finished(worker);
    try {
      // With the worker keeping up: mostly one input batch per stage batch (its child).
      const p = await produce(1000, 200);
      expect(p.code, p.stderr).toBe(0);
      const v = await runCli([
        'verify',
        '--redis',
        server.url,
        '--namespace',
        ns,
        '--wait',
        '60s',
        '--json',
        '--trace',
      ]);
      expect(v.code, v.stderr).toBe(0);
      const traces = (JSON.parse(v.stdout) as { traces: { batches: number; listed: { traceId: string }[] } }).traces;
      expect(traces.batches).toBeGreaterThan(0);
      expect(traces.listed.length).toBe(Math.min(5, traces.batches));
      listed = traces.listed.map((t) => t.traceId);
    } finally {
      worker.kill('SIGTERM');
      // The worker exports what it buffered as it stops.
      expect((await exited).code).toBe(0);
    }
    const spans = new Map(receiver.spans.map((x) => [`${x.traceId}-${x.spanId}`, x]));
    const producerSpans = receiver.spans.filter((x) => x.service === 'streamctl-producer');
    const processSpans = receiver.spans.filter((x) => x.service === 'streamctl-worker' && x.name === 'process analyze');
    const commitSpans = receiver.spans.filter((x) => x.service === 'streamctl-worker' && x.name === 'commit analyze');
    expect(processSpans.length).toBeGreaterThan(0);
    expect(commitSpans.length).toBe(processSpans.length);
    let children = 0;
    for (const s of processSpans) {
      expect(s.kind).toBe(5); // CONSUMER
      expect(s.attributes).toMatchObject({ 'messaging.consumer.group.name': 'analyze', 'streamctl.stage': 'analyze' });
      if (s.links.length === 0) {
        // One input batch: the child of its producer span, in the producer's trace.
        const parent = spans.get(`${s.traceId}-${s.parentSpanId}`);
        expect(parent?.service, `process span ${s.spanId}`).toBe('streamctl-producer');
        children++;
      } else {
        expect(s.links.length).toBeGreaterThan(1);
        for (const l of s.links) expect(spans.get(`${l.traceId}-${l.spanId}`)?.service).toBe('streamctl-producer');
      }
    }
    expect(children).toBeGreaterThan(0);
    expect(processSpans.length - children).toBeGreaterThan(0);
    for (const c of commitSpans) expect(spans.get(`${c.traceId}-${c.parentSpanId}`)?.name).toBe('process analyze');
    // Each output entry carries its stage batch's span: the sink's end of the trace.
    const out = await ingestEntries(ns, 'out');
    expect(out.length).toBeGreaterThan(0);
    for (const e of out) {
      const [, trace, span] = (e.fields.tc ?? '').split('-');
      expect(spans.get(`${trace}-${span}`)?.name, `out entry ${e.id}`).toBe('process analyze');
    }
    // verify --trace names traces that hold the producer's and the worker's spans.
    for (const id of listed) {
      expect(producerSpans.some((x) => x.traceId === id) || processSpans.some((x) => x.traceId === id)).toBe(true);
    }
    // One trace id from the producer through the worker.
    const traced = new Set(producerSpans.map((x) => x.traceId));
    expect(processSpans.filter((s) => traced.has(s.traceId) && s.links.length === 0).length).toBe(children);
  }, 120_000);

  it("serve continues the caller's traceparent: the append of its events is a child of the caller's span", async () => {
    const ns = 'served';
    const serve = spawnCli(['serve', '--redis', server.url, '--namespace', ns, '--port', '0', '--json'], {
      env: otlpEnv(),
    });
    const exited = finished(serve);
    const first = await new Promise<string>((resolve) =>
      createInterface({ input: serve.stdout! }).once('line', resolve),
    );
    const { events } = JSON.parse(first) as { events: string };
    const trace = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const caller = '0102030405060708';
    try {
      const body = Array.from({ length: 50 }, (_, i) => JSON.stringify({ key: `k${i % 5}`, value: i })).join('\n');
      const res = await fetch(events, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', traceparent: `00-${trace}-${caller}-01` },
        body,
      });
      expect(res.status).toBe(202);
      // A request without one starts no trace of the caller's.
      const plain = await fetch(events, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
      expect(plain.status).toBe(202);
    } finally {
      serve.kill('SIGINT');
      expect((await exited).code).toBe(0);
    }
    const appends = receiver.spans.filter((x) => x.service === 'streamctl-serve');
    const continued = appends.filter((x) => x.traceId === trace);
    expect(continued.length).toBeGreaterThan(0);
    for (const x of continued) expect(x.parentSpanId).toBe(caller);
    expect(continued.reduce((n, x) => n + Number(x.attributes['messaging.batch.message_count']), 0)).toBe(50);
    // Each entry of the caller's events carries a span of the caller's trace.
    const entries = await ingestEntries(ns);
    expect(entries.filter((e) => e.fields.tc?.split('-')[1] === trace).length).toBe(continued.length);
  }, 60_000);

  it('an OTLP endpoint that does not answer: the run ends anyway, bounded, and says which endpoint', async () => {
    const closed = await startOtlpReceiver();
    const url = closed.url;
    await closed.close();
    const t0 = performance.now();
    const r = await runCli(
      ['produce', '--redis', server.url, '--namespace', 'nocollector', '--count', '500', '--trace-sample', '1'],
      { env: { OTEL_EXPORTER_OTLP_ENDPOINT: url } },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`is the OTLP endpoint ${url} up?`);
    // The exporter alone would retry for its whole 10 s budget; the exit waits 3 s at most.
    expect(performance.now() - t0).toBeLessThan(9000);
  }, 60_000);
});
