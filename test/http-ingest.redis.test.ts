import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHttpIngest, type HttpIngest } from '../src/ingest/http-ingest.js';
import type { HttpIngestOptions } from '../src/ingest/ingest-options.js';
import { audit } from '../src/pipeline/audit.js';
import { decodeEntry, type StreamEvent } from '../src/pipeline/codec.js';
import { PASSTHROUGH_PIPELINE } from '../src/pipeline/definition.js';
import { Producer } from '../src/pipeline/producer.js';
import { loadRun } from '../src/pipeline/runs.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { passthrough } from '../src/pipeline/stages/passthrough.js';
import { ensureTopology, type Topology } from '../src/pipeline/topology.js';
import { StageWorker } from '../src/pipeline/worker/stage-worker.js';
import { waitFor } from '../src/wait.js';
import { redisWithConnection } from './helpers/redis.js';

const fixture = redisWithConnection();

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

/** One HTTP request with node:http; `chunked` sends the body without a content-length. */
function call(
  url: string,
  opts: { method?: string; body?: string | Buffer; type?: string; chunked?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers: Record<string, string> = {};
    if (opts.type) headers['content-type'] = opts.type;
    if (opts.body !== undefined && !opts.chunked) headers['content-length'] = String(Buffer.byteLength(opts.body));
    const req = httpRequest(
      url,
      { method: opts.method ?? (opts.body !== undefined ? 'POST' : 'GET'), headers, agent: false },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: () => JSON.parse(text) as Record<string, unknown>,
          }),
        );
        res.on('error', reject);
      },
    );
    // A server that answers before reading the whole body may cut the upload: the answer counts.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    if (opts.body !== undefined && opts.chunked) {
      const buf = Buffer.from(opts.body);
      for (let i = 0; i < buf.length; i += 4096) req.write(buf.subarray(i, i + 4096));
    } else if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

const post = (s: HttpIngest, body: string | Buffer, type?: string) =>
  call(`${s.url}/events`, { body, ...(type ? { type } : {}) });
const ndjson = (events: unknown[]) => events.map((e) => JSON.stringify(e)).join('\n');

/** Every event of `producer` in the namespace's ingest streams. */
async function ingested(topology: Topology, producer: string): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for (let k = 0; k < topology.partitions; k++) {
    const entries = (await fixture.conn.client().xrangeBuffer(topology.keys.stream(k, 'ingest'), '-', '+')) as [
      Buffer,
      Buffer[],
    ][];
    for (const [, fields] of entries) out.push(...decodeEntry(fields).filter((e) => e.producer === producer));
  }
  return out.sort((a, b) => a.seq - b.seq);
}

/** A server on a free port over namespace `ns` (one stage "only", no worker, unless `stages` say otherwise). */
async function serve(
  ns: string,
  extra: Partial<HttpIngestOptions> = {},
  stages: { name: string }[] = [{ name: 'only' }],
): Promise<{ server: HttpIngest; topology: Topology }> {
  const topology = await ensureTopology(fixture.conn.client(), ns, stages, { partitions: 4 });
  const server = await startHttpIngest({ client: withScripts(fixture.conn.client()), topology, port: 0, ...extra });
  return { server, topology };
}

describe('http ingest: requests', () => {
  it('accepts a JSON array, NDJSON, and an untyped array; events reach ingest (array elements re-serialized) with the producer id', async () => {
    const { server, topology } = await serve('accept');
    try {
      expect(server.host).toBe('127.0.0.1');
      expect(server.port).toBeGreaterThan(0);
      const arr = [
        { key: 'a', v: 1 },
        { key: 'b', nested: { x: [1, 2] } },
        { v: 3, key: 'a' },
      ];
      const r1 = await post(server, `  ${JSON.stringify(arr, null, 2)}`, 'application/json');
      expect(r1.status).toBe(202);
      expect(r1.json()).toEqual({ accepted: 3 });

      const r2 = await post(server, `{"key":"c","n":1}\r\n\n   \n{"key":"d"}\n`, 'application/x-ndjson; charset=utf-8');
      expect(r2.status).toBe(202);
      expect(r2.json()).toEqual({ accepted: 2 });

      // No content type: the first non-space byte decides.
      const r3 = await post(server, ' [{"key":"e"}]');
      expect(r3.json()).toEqual({ accepted: 1 });
      const r4 = await post(server, '{"key":"f"}\n{"key":"g"}');
      expect(r4.json()).toEqual({ accepted: 2 });

      const events = await ingested(topology, server.producerId);
      expect(server.producerId).toBe(`http-${server.runId}`);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(events.map((e) => e.key)).toEqual(['a', 'b', 'a', 'c', 'd', 'e', 'f', 'g']);
      expect(events.map((e) => JSON.parse(e.data.toString()) as unknown)).toEqual([
        ...arr,
        { key: 'c', n: 1 },
        { key: 'd' },
        { key: 'e' },
        { key: 'f' },
        { key: 'g' },
      ]);
      expect(events[1]!.data.toString()).toBe(JSON.stringify(arr[1]));

      // The run record follows while serving (saved every second).
      const running = await waitFor(
        async () => {
          const r = await loadRun(fixture.conn.client(), topology.keys, server.runId);
          return r.acked === 8 ? r : undefined;
        },
        { timeoutMs: 5000, onTimeout: () => new Error('run record never showed the acked events') },
      );
      expect(running).toMatchObject({
        kind: 'produce',
        producer: server.producerId,
        status: 'running',
        firstSeq: 1,
        lastSeq: 8,
      });
    } finally {
      const final = await server.close();
      expect(final).toMatchObject({ status: 'done', firstSeq: 1, lastSeq: 8, acked: 8, failed: 0 });
    }
    expect(await loadRun(fixture.conn.client(), topology.keys, server.runId)).toMatchObject({
      status: 'done',
      lastSeq: 8,
      acked: 8,
    });
  });

  it('malformed JSON: 400 naming the line or position, and nothing of the request is appended', async () => {
    const { server, topology } = await serve('malformed');
    try {
      const r1 = await post(server, '{"key":"a"}\n{"key":"b"}\n{"key": oops}\n{"key":"c"}\n', 'application/x-ndjson');
      expect(r1.status).toBe(400);
      expect(r1.headers['content-type']).toMatch(/application\/json/);
      expect(r1.json()).toMatchObject({ error: 'malformed JSON', line: 3, reason: expect.any(String) });

      const r2 = await post(server, '[{"key":"a"},\n{"key":"b"', 'application/json');
      expect(r2.status).toBe(400);
      expect(r2.json()).toMatchObject({ error: 'malformed JSON' });

      const r3 = await post(server, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'application/x-ndjson');
      expect(r3.status).toBe(400);
      expect(r3.json().reason).toMatch(/UTF-8/);

      const r4 = await post(server, ' \n\n', 'application/x-ndjson');
      expect(r4.status).toBe(400);
      expect(r4.json().reason).toMatch(/no events/);

      const ok = await post(server, '{"key":"z"}', 'application/x-ndjson');
      expect(ok.status).toBe(202);
    } finally {
      await server.close();
    }
    // Only the one good request reached Redis, and the run accounts for exactly it.
    const events = await ingested(topology, server.producerId);
    expect(events.map((e) => [e.seq, e.key])).toEqual([[1, 'z']]);
    expect(await loadRun(fixture.conn.client(), topology.keys, server.runId)).toMatchObject({
      firstSeq: 1,
      lastSeq: 1,
      acked: 1,
    });
  });

  it('wrong types: 400 with the array index or NDJSON line of the first bad event, accepting nothing', async () => {
    const { server, topology } = await serve('types');
    try {
      const cases: [string, string, Record<string, unknown>][] = [
        [
          'application/json',
          JSON.stringify([{ key: 'a' }, { v: 1 }]),
          { error: 'invalid event', index: 1, reason: 'missing "key"' },
        ],
        [
          'application/json',
          JSON.stringify([{ key: 'a' }, { key: 'b' }, { key: 5 }]),
          { index: 2, reason: '"key" must be a string, not number' },
        ],
        [
          'application/json',
          JSON.stringify([{ key: 'a' }, 3]),
          { index: 1, reason: expect.stringMatching(/must be a JSON object/) },
        ],
        ['application/json', JSON.stringify([{ key: '' }]), { index: 0, reason: '"key" must not be empty' }],
        [
          'application/json',
          JSON.stringify({ key: 'a' }),
          { error: 'invalid body', reason: expect.stringMatching(/array/) },
        ],
        [
          'application/x-ndjson',
          '{"key":"a"}\n\n[{"key":"b"}]\n',
          { error: 'invalid event', line: 3, reason: expect.stringMatching(/not an array/) },
        ],
        ['application/x-ndjson', '{"key":"a"}\n{"key":null}', { line: 2, reason: '"key" must be a string, not null' }],
      ];
      for (const [type, body, expected] of cases) {
        const r = await post(server, body, type);
        expect(r.status, body).toBe(400);
        expect(r.json(), body).toMatchObject(expected);
        expect('index' in expected ? r.json().line : r.json().index, body).toBeUndefined();
      }
    } finally {
      await server.close();
    }
    expect(await ingested(topology, server.producerId)).toEqual([]);
    expect(await loadRun(fixture.conn.client(), topology.keys, server.runId)).toMatchObject({ lastSeq: 0, sent: 0 });
  });

  it('an oversized body gets 413 (declared or chunked); a body at the limit is accepted', async () => {
    const { server, topology } = await serve('big', { maxBodyBytes: 1000 });
    try {
      const big = ndjson(Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, pad: 'x'.repeat(40) })));
      expect(Buffer.byteLength(big)).toBeGreaterThan(1000);
      const declared = await post(server, big, 'application/x-ndjson');
      expect(declared.status).toBe(413);
      expect(declared.json()).toMatchObject({ error: 'body too large', maxBytes: 1000 });
      const chunked = await call(`${server.url}/events`, { body: big, type: 'application/x-ndjson', chunked: true });
      expect(chunked.status).toBe(413);

      const atLimit = `{"key":"k","pad":"${'y'.repeat(1000 - 20)}"}`;
      expect(Buffer.byteLength(atLimit)).toBe(1000);
      const ok = await post(server, atLimit, 'application/x-ndjson');
      expect(ok.status).toBe(202);
    } finally {
      await server.close();
    }
    expect((await ingested(topology, server.producerId)).map((e) => e.key)).toEqual(['k']);
  });

  it('closing: a client that stops sending its body half way has its connection cut after the bound, and the close completes, logged', async () => {
    const logged: string[] = [];
    const { server, topology } = await serve('stalled', { drainRequestsMs: 300, log: (m) => logged.push(m) });
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const cut = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // Headers announcing 1,000 bytes, then 10 of them, and silence with the connection open.
    socket.write(
      'POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n{"key":"a"',
    );
    await waitFor(async () => (server.stats().requests === 1 ? true : undefined), {
      timeoutMs: 5000,
      onTimeout: () => new Error('the request never arrived'),
    });
    const run = await server.close();
    await cut;
    expect(logged).toContainEqual(
      expect.stringMatching(/^closing: 1 request\(s\) still unanswered after 0\.3 s; their connections are cut$/),
    );
    expect(run.status).toBe('done');
    expect(await ingested(topology, server.producerId)).toEqual([]);
  });

  it('backpressure: a lag above --max-lag gets 503 with Retry-After and accepts nothing; under it, 202', async () => {
    const ns = 'lagged';
    const topology = await ensureTopology(fixture.conn.client(), ns, [{ name: 'only' }], { partitions: 4 });
    // 20 entries no worker reads: the stage's lag is 20.
    const filler = new Producer({
      client: withScripts(fixture.conn.client()),
      topology,
      producerId: 'filler',
      batch: 1,
    });
    await filler.init();
    for (let i = 0; i < 20; i++) filler.send(`k${i}`, Buffer.from('{}'), Date.now());
    await filler.close();

    const tight = await serve(ns, { maxLag: 10 });
    try {
      for (const body of ['[{"key":"a"}]', '{"key":"b"}']) {
        const r = await post(tight.server, body);
        expect(r.status).toBe(503);
        expect(r.headers['retry-after']).toBe('1');
        expect(r.json()).toMatchObject({ error: 'pipeline lag too high', lag: 20, maxLag: 10 });
      }
      // Other endpoints still answer.
      expect((await call(`${tight.server.url}/healthz`)).status).toBe(200);
    } finally {
      await tight.server.close();
    }
    expect(await ingested(topology, tight.server.producerId)).toEqual([]);

    const loose = await serve(ns, { maxLag: 20 });
    try {
      expect((await post(loose.server, '[{"key":"a"}]')).status).toBe(202);
    } finally {
      await loose.server.close();
    }
    expect(await ingested(topology, loose.server.producerId)).toHaveLength(1);
  });

  it('GET /healthz and /metrics; 404 and 405 otherwise', async () => {
    const { server } = await serve('endpoints');
    try {
      const health = await call(`${server.url}/healthz`);
      expect(health.status).toBe(200);
      expect(health.json()).toEqual({
        status: 'ok',
        run: server.runId,
        producer: server.producerId,
        lastSeq: 0,
        pending: 0,
      });

      expect((await post(server, '[{"key":"a"},{"key":"b"}]')).status).toBe(202);
      expect((await post(server, '[{"nokey":1}]')).status).toBe(400);

      const missing = await call(`${server.url}/nope`);
      expect(missing.status).toBe(404);
      expect(missing.json()).toMatchObject({ error: 'not found' });
      const wrongMethod = await call(`${server.url}/events`);
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.allow).toBe('POST');
      expect((await call(`${server.url}/healthz`, { method: 'POST', body: 'x' })).status).toBe(405);

      // The last seq handed out follows what was accepted.
      expect((await call(`${server.url}/healthz`)).json()).toMatchObject({ lastSeq: 2, pending: 0 });

      const metrics = await call(`${server.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
      expect(metrics.text).toMatch(/^streamctl_http_requests_total\{code="202"\} 1$/m);
      expect(metrics.text).toMatch(/^streamctl_http_requests_total\{code="400"\} 1$/m);
      expect(metrics.text).toMatch(/^streamctl_http_requests_total\{code="404"\} 1$/m);
      expect(metrics.text).toMatch(/^streamctl_http_requests_total\{code="405"\} 2$/m);
      expect(metrics.text).toMatch(/^streamctl_http_events_accepted_total 2$/m);
      // 2 healthz + 5 requests above finished before this one.
      expect(metrics.text).toMatch(/^streamctl_http_request_duration_seconds_count 7$/m);
      expect(server.stats()).toMatchObject({ accepted: 2, rejected: 4 });
    } finally {
      await server.close();
    }
  });
});

describe('http ingest: NDJSON lines', () => {
  it('are stored byte for byte without surrounding whitespace: big numbers, spacing, non-ASCII, a BOM, CRLF, blank lines of any space', async () => {
    const { server, topology } = await serve('verbatim');
    const lines = [
      '{"key":"a","big":12345678901234567890123,"f":1.50}',
      '{ "key" : "b",  "s": "h\u00e9 ✓ 😀" }',
      '{"key":"c","v":[1, 2]}',
    ];
    try {
      const body = Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from(`  ${lines[0]}\t\r\n\u00a0\u2028\n\r\n${lines[1]}\n   \n${lines[2]}`),
      ]);
      const r = await post(server, body, 'application/x-ndjson');
      expect(r.status, r.text).toBe(202);
      expect(r.json()).toEqual({ accepted: 3 });
      // Untyped: NDJSON unless the first non-space byte (after a BOM) is "[".
      expect(
        (await post(server, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(` \n${lines[2]}`)]))).json(),
      ).toEqual({ accepted: 1 });
      expect(
        (await post(server, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(' \n[{"key":"d"}]')]))).json(),
      ).toEqual({ accepted: 1 });
    } finally {
      await server.close();
    }
    const events = await ingested(topology, server.producerId);
    expect(events.map((e) => e.data.toString('utf8'))).toEqual([...lines, lines[2], '{"key":"d"}']);
    expect(events.map((e) => e.key)).toEqual(['a', 'b', 'c', 'c', 'd']);
  });

  it('a bad line after good ones, also past non-ASCII text, is named by its number and nothing is accepted', async () => {
    const { server, topology } = await serve('badline');
    try {
      const cases: [string | Buffer, Record<string, unknown>][] = [
        ['{"key":"é"}\r\n\n{"key":"ü"}\n{"key":"x",}\n', { error: 'malformed JSON', line: 4 }],
        [
          '{"key":"a"}\n{"key":"b"}\n"just a string"',
          { error: 'invalid event', line: 3, reason: 'an event must be a JSON object, not string' },
        ],
        ['{"key":"a"}\n{"nokey":"😀"}', { error: 'invalid event', line: 2, reason: 'missing "key"' }],
        [
          Buffer.concat([Buffer.from('{"key":"a"}\n{"key":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
          { error: 'invalid body', reason: 'the body is not valid UTF-8' },
        ],
        ['\r\n\t\n', { error: 'invalid body', reason: 'no events in the body' }],
      ];
      for (const [body, expected] of cases) {
        const r = await post(server, body, 'application/x-ndjson');
        expect(r.status, String(body)).toBe(400);
        expect(r.json(), String(body)).toMatchObject(expected);
      }
    } finally {
      await server.close();
    }
    expect(await ingested(topology, server.producerId)).toEqual([]);
  });
});

describe('http ingest: end to end', () => {
  it('concurrent batches through a passthrough pipeline: nothing lost or duplicated, delivered = accepted', async () => {
    const ns = 'e2e';
    const { server, topology } = await serve(ns, { batch: 20, lingerMs: 2 }, PASSTHROUGH_PIPELINE.stages);
    const workers = topology.stages.map(
      (s) =>
        new StageWorker({
          conn: fixture.conn,
          topology,
          factory: passthrough,
          stage: { ...s, maxDeliveries: 5, params: {} },
        }),
    );
    for (const w of workers) w.start();
    let accepted = 0;
    try {
      const batches = Array.from({ length: 12 }, (_, b) =>
        Array.from({ length: 150 }, (_, i) => ({ key: `host-${(b * 7 + i) % 23}`, b, i })),
      );
      const replies = await Promise.all(
        batches.map((events, b) =>
          b % 2 === 0
            ? post(server, JSON.stringify(events), 'application/json')
            : post(server, ndjson(events), 'application/x-ndjson'),
        ),
      );
      for (const r of replies) {
        expect(r.status).toBe(202);
        accepted += r.json().accepted as number;
      }
      expect(accepted).toBe(12 * 150);
    } finally {
      const run = await server.close();
      expect(run).toMatchObject({ status: 'done', acked: accepted, failed: 0, lastSeq: run.firstSeq + accepted - 1 });
      try {
        const run2 = await loadRun(fixture.conn.client(), topology.keys, server.runId);
        const report = await waitFor(
          async () => {
            const r = await audit(fixture.conn.client(), topology, run2);
            return r.drained && r.delivered >= accepted ? r : undefined;
          },
          {
            timeoutMs: 30_000,
            onTimeout: (last) => new Error(`the pipeline never delivered every accepted event: ${String(last)}`),
          },
        );
        expect(report).toMatchObject({
          ok: true,
          produced: accepted,
          delivered: accepted,
          lost: 0,
          duplicates: 0,
          unexpected: 0,
          outOfOrderKeys: 0,
          unknown: 0,
        });
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    }
  }, 60_000);
});
