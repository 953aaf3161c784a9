import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotDurableError } from '../src/errors.js';
import { renderHealth } from '../src/health/render.js';
import { collectSnapshot } from '../src/observe/collect-snapshot.js';
import { Producer } from '../src/pipeline/producer.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { ensureTopology } from '../src/pipeline/topology.js';
import { StageWorker } from '../src/pipeline/worker/stage-worker.js';
import type { RedisConnection } from '../src/redis/connection.js';
import { pipelineByNode, type Routed } from '../src/redis/pipeline-by-node.js';
import { runCli } from './helpers/cli.js';
import { connectTo } from './helpers/io.js';
import { commandCalls, startRedis, type TestServer } from './helpers/redis.js';
import { waitFor } from '../src/wait.js';

/**
 * Durable writes against a standalone primary with no replica: a WAIT that no replica answers is
 * not an acknowledgement. The write fails within its bound, with a NotDurableError naming the node,
 * and is counted as not durable; once a replica attaches, the same wait succeeds.
 */
let primary: TestServer;
let conn: RedisConnection;
beforeAll(async () => {
  primary = await startRedis();
  conn = await connectTo(primary.url);
});
afterAll(async () => {
  await conn.close();
  await primary.stop();
});

const set = (key: string, value: string): Routed => ({
  key,
  add: (p, done) => void p.set(key, value, ...(done ? [done] : [])),
});

describe('durable writes with no replica', () => {
  it('pipelineByNode: the write lands on the primary, but its reply is a NotDurableError naming the node, within the bound', async () => {
    const t0 = performance.now();
    const replies = await pipelineByNode(conn.client(), [set('d:1', 'x')], {
      durable: true,
      durableTimeoutMs: 1500,
    });
    const [err, reply] = replies[0]!;
    const ms = performance.now() - t0;
    expect(err).toBeInstanceOf(NotDurableError);
    expect((err as NotDurableError).node).toBe(`127.0.0.1:${primary.port}`);
    expect((err as NotDurableError).code).toBe('NOT_DURABLE');
    expect((err as NotDurableError).hint).toMatch(/replica/);
    // On the primary all the same: only its replication is in doubt.
    expect(reply).toBe('OK');
    expect(await conn.client().get('d:1')).toBe('x');
    expect(ms).toBeGreaterThanOrEqual(1400);
    expect(ms).toBeLessThan(5000);
  });

  it('the producer: a durable append no replica acknowledged is counted as not durable, not acked, and ends the run', async () => {
    const client = withScripts(conn.client());
    const topology = await ensureTopology(client, 'nodurable', [], { partitions: 4 });
    const producer = new Producer({ client, topology, producerId: 'p1', durable: true, durableTimeoutMs: 1000 });
    await producer.init();
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) producer.send(`k${i % 50}`, Buffer.from('{}'), i);
    await producer.close();
    const ms = performance.now() - t0;
    expect(producer.stats.acked).toBe(0);
    expect(producer.stats.notDurable).toBeGreaterThan(0);
    expect(producer.stats.failed).toBe(2000);
    expect(producer.notDurableError?.node).toBe(`127.0.0.1:${primary.port}`);
    // About one bound, not one per batch (2000 events are 20 or more batches).
    expect(ms).toBeLessThan(5000);
  });

  it('produce --durable: exit 1 with NOT_DURABLE naming the node, notDurable in the result and the run record', async () => {
    const t0 = performance.now();
    const r = await runCli([
      'produce',
      '--redis',
      primary.url,
      '--namespace',
      'clidurable',
      '--count',
      '20000',
      '--rate',
      '5000',
      '--durable',
      '--durable-timeout',
      '1s',
      '--json',
    ]);
    const ms = performance.now() - t0;
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as {
      acked: number;
      notDurable: number;
      run: string;
      error: { code: string; message: string; hint: string };
    };
    expect(result.error.code).toBe('NOT_DURABLE');
    expect(result.error.message).toContain(`no replica of 127.0.0.1:${primary.port} acknowledged`);
    expect(result.error.hint).toContain('--durable-timeout');
    expect(result.acked).toBe(0);
    expect(result.notDurable).toBeGreaterThan(0);
    // The run stopped at the first not-durable append, not a bound per batch (200 batches of 100):
    // the margin is for a loaded machine's process start.
    expect(ms).toBeLessThan(20_000);
    const record = JSON.parse((await conn.client().get(`clidurable:runs:${result.run}`)) ?? 'null') as {
      status: string;
      notDurable: number;
    } | null;
    expect(record).toMatchObject({ status: 'aborted', notDurable: result.notDurable });
  });
});

describe('durable commits with no replica', () => {
  it('the worker: a commit no replica acknowledged counts as notDurable, not as a batch, and its error names the node', async () => {
    const client = withScripts(conn.client());
    const topology = await ensureTopology(client, 'workerdurable', [{ name: 'pass' }], { partitions: 2 });
    const producer = new Producer({ client, topology, producerId: 'p1' });
    await producer.init();
    for (let i = 0; i < 200; i++) producer.send(`k${i % 10}`, Buffer.from('{}'), i);
    await producer.close();
    expect(producer.stats.acked).toBe(200);
    const logs: string[] = [];
    const worker = new StageWorker({
      conn,
      topology,
      factory: () => ({ name: 'pass', process: (batch) => batch }),
      stage: { ...topology.stages.find((s) => s.name === 'pass')!, maxDeliveries: 3, params: {} },
      durable: true,
      durableTimeoutMs: 500,
      log: (m) => logs.push(m),
    });
    worker.start();
    try {
      await waitFor(
        async () =>
          (worker.counters.notDurable ?? 0) > 0 &&
          logs.some((l) => l.includes(`no replica of 127.0.0.1:${primary.port}`))
            ? true
            : undefined,
        { timeoutMs: 15_000, onTimeout: () => new Error(`no not-durable commit seen; logs: ${logs.join(' | ')}`) },
      );
      // health shows it: the worker's count in its heartbeat, summed per stage, and a warning.
      const report = await waitFor(
        async () => {
          const r = await collectSnapshot(conn, 'workerdurable');
          return r.stages.find((s) => s.stage === 'pass')?.notDurable ? r : undefined;
        },
        { timeoutMs: 10_000, onTimeout: () => new Error('no notDurable in a health snapshot') },
      );
      expect(report.workers[0]!.notDurable).toBeGreaterThan(0);
      expect(report.warnings).toContainEqual(
        expect.objectContaining({ code: 'NOT_DURABLE', stage: 'pass', message: expect.stringContaining('no replica') }),
      );
      expect(renderHealth(report, false)).toMatch(/NOT DURABLE/);
    } finally {
      await worker.stop(4000);
    }
    expect(worker.counters.batches).toBe(0);
    expect(worker.counters.sent).toBe(0);
  }, 30_000);
});

describe('durable writes once a replica attaches', () => {
  let replica: TestServer | undefined;
  afterAll(() => replica?.stop());

  it('a WAIT that no replica answered is issued again until the replica acknowledges, within the bound: no error', async () => {
    replica = await startRedis();
    const node = conn.client();
    // Another connection: the writer's is blocked in WAIT.
    const probe = await connectTo(primary.url);
    const waitsBefore = await commandCalls(probe.client(), 'wait');
    const t0 = performance.now();
    const write = pipelineByNode(node, [set('d:2', 'y')], { durable: true, durableTimeoutMs: 20_000 });
    // A second WAIT is issued only once the first came back with no replica: then one attaches.
    await waitFor(async () => ((await commandCalls(probe.client(), 'wait')) >= waitsBefore + 2 ? true : undefined), {
      timeoutMs: 5000,
      onTimeout: () => new Error('WAIT was not issued again'),
    });
    await probe.close();
    const replicaConn = await connectTo(replica.url);
    try {
      await replicaConn.client().call('REPLICAOF', '127.0.0.1', String(primary.port));
      const [err, reply] = (await write)[0]!;
      console.log(
        `durable write acknowledged by a replica attached after its first WAIT: ${Math.round(performance.now() - t0)} ms`,
      );
      expect(err).toBeNull();
      expect(reply).toBe('OK');
      expect(await replicaConn.client().get('d:2')).toBe('y');
    } finally {
      await replicaConn.close();
    }
    const again = await pipelineByNode(node, [set('d:3', 'z')], { durable: true, durableTimeoutMs: 1000 });
    expect(again[0]![0]).toBeNull();
  }, 30_000);
});
