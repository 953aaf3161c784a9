import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/program.js';
import { commandsFor } from '../src/commands/index.js';
import dlq from '../src/commands/dlq.js';
import { StreamctlError } from '../src/errors.js';
import { audit, type AuditReport } from '../src/pipeline/audit.js';
import { decodeBatch } from '../src/pipeline/codec.js';
import { loadPipeline, resolveStage } from '../src/pipeline/definition.js';
import { listDlq, type DlqListing } from '../src/pipeline/dlq.js';
import { partitionOf } from '../src/pipeline/keys.js';
import { Producer } from '../src/pipeline/producer.js';
import { saveRun, type RunRecord } from '../src/pipeline/runs.js';
import { withScripts } from '../src/pipeline/scripts/scripts.js';
import { ensureTopology, type Topology } from '../src/pipeline/topology.js';
import { StageWorker } from '../src/pipeline/worker/stage-worker.js';
import type { RedisClient, RedisConnection } from '../src/redis/connection.js';
import { waitFor } from '../src/wait.js';
import { connectTo, testIo } from './helpers/io.js';
import { startRedis, tempDir, type TestServer } from './helpers/redis.js';

let server: TestServer;
let tmp: ReturnType<typeof tempDir>;
let conns: RedisConnection[] = [];
let workers: StageWorker[] = [];
let logs: string[] = [];
let nsCounter = 0;

beforeAll(async () => {
  server = await startRedis();
  tmp = tempDir('streamctl-dlq-');
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(4000)));
  await Promise.all(conns.splice(0).map((c) => c.close()));
  logs = [];
});

afterAll(async () => {
  await server?.stop();
  tmp?.remove();
});

function newNamespace(): string {
  return `dlq${Date.now().toString(36)}${nsCounter++}`;
}

async function open(): Promise<RedisConnection> {
  const conn = await connectTo(server.url);
  conns.push(conn);
  return conn;
}

/**
 * Writes a user stage module that throws on events whose data contain `"poison":true` until the
 * file `heal` exists. `form` picks a default-exported object or a factory.
 */
function writePickyModule(form: 'object' | 'factory', heal: string): string {
  const file = join(tmp.dir, `picky-${form}-${randomBytes(4).toString('hex')}.mjs`);
  const stage = `{
  name: 'picky',
  process(batch) {
    if (!existsSync(HEAL)) for (const e of batch) if (e.data.toString().includes('"poison":true')) throw new Error('poison ' + e.seq);
    return batch;
  },
}`;
  writeFileSync(
    file,
    `import { existsSync } from 'node:fs';\nconst HEAL = ${JSON.stringify(heal)};\n${form === 'object' ? `export default ${stage};` : `export default (params) => (${stage});`}\n`,
  );
  return file;
}

interface Pipeline {
  ns: string;
  conn: RedisConnection;
  client: RedisClient;
  topology: Topology;
  file: string;
}

/** Writes a pipeline file, builds the topology and starts one in-process worker per stage. */
async function startPipeline(yaml: string, partitions = 4): Promise<Pipeline> {
  const ns = newNamespace();
  const file = join(tmp.dir, `${ns}.yaml`);
  writeFileSync(file, yaml);
  const { definition } = loadPipeline(file, tmp.dir);
  const conn = await open();
  const client = conn.client();
  const topology = await ensureTopology(client, ns, definition.stages, { partitions });
  for (const def of definition.stages) {
    const factory = await resolveStage(def, file, tmp.dir);
    const streams = topology.stages.find((s) => s.name === def.name)!;
    const w = new StageWorker({
      conn,
      topology,
      factory,
      stage: { ...streams, maxDeliveries: def.maxDeliveries, params: def.params },
      batchEntries: 50,
      leaseTtlMs: 3000,
      log: (m) => logs.push(`[${def.name}] ${m}`),
    });
    w.start();
    workers.push(w);
  }
  return { ns, conn, client, topology, file };
}

/** Produces the events through the idempotent producer and records the run as `produce` does. */
async function produce(
  p: Pipeline,
  events: { key: string; data: string }[],
): Promise<{ run: RunRecord; seqs: number[] }> {
  const producerId = `p-${p.ns}`;
  const producer = new Producer({
    client: withScripts(p.client),
    topology: p.topology,
    producerId,
    batch: 10,
    lingerMs: 2,
  });
  await producer.init();
  const startedAt = Date.now();
  const seqs = events.map((e) => producer.send(e.key, Buffer.from(e.data), Date.now()));
  await producer.close();
  expect(producer.stats.failed).toBe(0);
  const run: RunRecord = {
    id: `run-${p.ns}`,
    kind: 'produce',
    producer: producerId,
    status: 'done',
    startedAt,
    endedAt: Date.now(),
    partitions: p.topology.partitions,
    rate: 0,
    firstSeq: producer.first,
    lastSeq: producer.last,
    sent: producer.stats.sent,
    acked: producer.stats.acked,
    errors: producer.stats.errors,
    failed: 0,
    failedRanges: [],
  };
  await saveRun(p.client, p.topology.keys, run);
  return { run, seqs };
}

/** Polls the audit until `done` holds for it. */
function auditUntil(
  p: Pipeline,
  run: RunRecord,
  done: (r: AuditReport) => boolean,
  what: string,
): Promise<AuditReport> {
  let last: AuditReport | undefined;
  return waitFor(
    async () => {
      last = await audit(p.client, p.topology, run);
      return done(last) ? last : undefined;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 100,
      onTimeout: (e) => new Error(`${what}: ${JSON.stringify(last)} ${String(e ?? '')}\n${logs.slice(-20).join('\n')}`),
    },
  );
}

/** Runs the `dlq` command in-process, as the CLI would after parsing its flags. */
async function runDlq(
  p: Pipeline,
  flags: Record<string, unknown>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const t = testIo({ cwd: tmp.dir });
  const code = await dlq.run(dlq.options.parse({ redis: server.url, namespace: p.ns, ...flags }), t.io);
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

async function runDlqJson<T>(p: Pipeline, flags: Record<string, unknown>): Promise<T> {
  const r = await runDlq(p, { ...flags, json: true });
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Runs `streamctl dlq ...args` through the CLI entry (flag parsing, error reporting, exit code). */
async function cli(p: Pipeline, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const t = testIo({ cwd: tmp.dir });
  const argv = ['dlq', '--redis', server.url, '--namespace', p.ns, ...args];
  const code = await main(argv, t.io, await commandsFor(argv));
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

async function dlqLength(p: Pipeline): Promise<number> {
  let n = 0;
  for (let k = 0; k < p.topology.partitions; k++) n += await p.client.xlen(p.topology.keys.dlq(k));
  return n;
}

async function streamLength(p: Pipeline, name: string): Promise<number> {
  let n = 0;
  for (let k = 0; k < p.topology.partitions; k++) n += await p.client.xlen(p.topology.keys.stream(k, name));
  return n;
}

/** Waits until the DLQ holds `n` records. */
function dlqHolds(p: Pipeline, n: number): Promise<number> {
  return waitFor(async () => ((await dlqLength(p)) === n ? n : undefined), {
    timeoutMs: 30_000,
    intervalMs: 100,
    onTimeout: () => new Error(`DLQ of ${p.ns} never held ${n} records\n${logs.slice(-20).join('\n')}`),
  });
}

const id = (p: { producer: string; seq: number }) => `${p.producer}#${p.seq}`;

describe('a user stage that throws on poisoned events', () => {
  const MAX_DELIVERIES = 3;
  const cases = [
    { what: 'a plain-object module as the first stage', form: 'object' as const, position: 0 },
    { what: 'a factory module after a passthrough stage', form: 'factory' as const, position: 1 },
  ];

  it.each(cases)(
    '$what: exactly the poisoned events are dead-lettered with provenance; replay delivers them once the stage is fixed',
    async ({ form, position }) => {
      const heal = join(tmp.dir, `heal-${randomBytes(4).toString('hex')}`);
      const module = writePickyModule(form, heal);
      const picky = `  - name: picky\n    use: ./${module.split('/').pop()}\n    maxDeliveries: ${MAX_DELIVERIES}\n`;
      const other = `  - name: ${position === 0 ? 'after' : 'before'}\n    use: passthrough\n`;
      const p = await startPipeline(`stages:\n${position === 0 ? picky + other : other + picky}`);
      const pickyStreams = p.topology.stages.find((s) => s.name === 'picky')!;
      expect(pickyStreams.input).toBe(position === 0 ? 'ingest' : 'before');

      // 120 events over 12 keys; every 17th is poisoned (some entries hold two poisoned events).
      const events = Array.from({ length: 120 }, (_, i) => ({
        key: `k${i % 12}`,
        data: JSON.stringify({ i, poison: i % 17 === 5 }),
      }));
      const { run, seqs } = await produce(p, events);
      const poisoned = new Set(
        events.flatMap((e, i) =>
          e.data.includes('"poison":true') ? [id({ producer: run.producer, seq: seqs[i]! })] : [],
        ),
      );
      expect(poisoned.size).toBe(7);

      const before = await auditUntil(
        p,
        run,
        (r) => r.drained && r.deadLettered + r.delivered >= r.produced,
        'poisoned events not settled',
      );
      // Isolating the poisoned events keeps the order of everything else.
      expect(before).toMatchObject({
        produced: 120,
        delivered: 120 - poisoned.size,
        deadLettered: poisoned.size,
        lost: 0,
        duplicates: 0,
        unexpected: 0,
        outOfOrderKeys: 0,
      });

      // Provenance of every record, and the events they hold are exactly the poisoned ones.
      const listing: DlqListing = await listDlq(p.client, p.topology, { limit: 1000, sample: 1000 });
      expect(listing.total).toBe(listing.records.length);
      expect(listing.totalEvents).toBe(poisoned.size);
      expect(listing.byStage).toEqual({ picky: listing.total });
      const dead = new Set<string>();
      for (const r of listing.records) {
        expect(r).toMatchObject({
          stage: 'picky',
          kind: 'batch',
          stream: p.topology.keys.stream(r.partition, pickyStreams.input),
        });
        expect(r.error).toMatch(/^Error: poison \d+$/);
        // The error names one of the record's own events.
        expect(r.sample.map((e) => e.seq)).toContain(Number(/poison (\d+)/.exec(r.error)![1]));
        expect(r.deliveries).toBeGreaterThanOrEqual(MAX_DELIVERIES);
        // The origin is the entry of the input stream the events were read from.
        const origin = (await p.client.xrangeBuffer(r.stream, r.origin, r.origin)) as [Buffer, Buffer[]][];
        expect(origin).toHaveLength(1);
        const originEvents = decodeBatch(origin[0]![1][3]!).map(id);
        for (const e of r.sample) {
          expect(partitionOf(e.key, p.topology.partitions)).toBe(r.partition);
          expect(originEvents).toContain(id(e));
          expect(dead.has(id(e))).toBe(false);
          dead.add(id(e));
        }
      }
      expect([...dead].sort()).toEqual([...poisoned].sort());

      // Fix the stage, then replay.
      writeFileSync(heal, 'fixed');
      const inputBefore = await streamLength(p, pickyStreams.input);
      const replay = await runDlq(p, { action: 'replay', pipeline: p.file, json: true });
      expect(replay.code).toBe(0);
      expect(replay.stderr).toBe('');
      const report = JSON.parse(replay.stdout) as {
        matched: number;
        replayed: number;
        events: number;
        skipped: unknown[];
        byStage: Record<string, number>;
      };
      expect(report).toMatchObject({
        matched: listing.total,
        replayed: listing.total,
        events: poisoned.size,
        skipped: [],
        byStage: { picky: listing.total },
      });
      // Back in the stream they came from, and gone from the DLQ at once.
      expect(await streamLength(p, pickyStreams.input)).toBe(inputBefore + listing.total);
      expect(await dlqLength(p)).toBe(0);

      const after = await auditUntil(
        p,
        run,
        (r) => r.drained && r.delivered === r.produced,
        'replayed events not delivered',
      );
      expect(after).toMatchObject({
        produced: 120,
        delivered: 120,
        deadLettered: 0,
        lost: 0,
        duplicates: 0,
        unexpected: 0,
      });
      // A replayed event lands behind later events of its key (7 poisoned events, 7 distinct keys).
      expect(after.outOfOrderKeys).toBe(7);
      expect((await listDlq(p.client, p.topology)).total).toBe(0);
    },
  );

  it('replaying while the stage still fails dead-letters the events again, with nothing lost', async () => {
    const heal = join(tmp.dir, `heal-${randomBytes(4).toString('hex')}`);
    const module = writePickyModule('object', heal);
    const p = await startPipeline(
      `stages:\n  - name: picky\n    use: ./${module.split('/').pop()}\n    maxDeliveries: 1\n`,
      2,
    );
    const events = Array.from({ length: 30 }, (_, i) => ({
      key: `k${i % 5}`,
      data: JSON.stringify({ i, poison: i === 7 || i === 20 }),
    }));
    const { run } = await produce(p, events);
    await auditUntil(p, run, (r) => r.drained && r.deadLettered === 2, 'not dead-lettered');
    const first = await listDlq(p.client, p.topology, { sample: 10 });

    const replay = await runDlqJson<{ replayed: number }>(p, { action: 'replay', stage: 'picky' });
    expect(replay.replayed).toBe(first.total);
    const again = await auditUntil(p, run, (r) => r.drained && r.deadLettered === 2, 'not dead-lettered again');
    expect(again).toMatchObject({ delivered: 28, lost: 0, duplicates: 0 });
    const second = await listDlq(p.client, p.topology, { sample: 10 });
    // New records (new ids), the same events.
    expect(second.records.map((r) => r.ref).some((ref) => first.records.some((f) => f.ref === ref))).toBe(false);
    expect(second.records.flatMap((r) => r.sample.map(id)).sort()).toEqual(
      first.records.flatMap((r) => r.sample.map(id)).sort(),
    );
  });
});

describe('entries that are not batches', () => {
  const garbage = [
    { what: 'fields foo=bar', fields: (): (string | Buffer)[] => ['foo', 'bar'], raw: /^\["foo","bar"\]$/ },
    {
      what: 'v=1 and random bytes in b',
      fields: (): (string | Buffer)[] => {
        // Random bytes that are (as they almost surely are) not a valid batch.
        for (;;) {
          const b = randomBytes(64);
          try {
            decodeBatch(b);
          } catch {
            return ['v', '1', 'b', b];
          }
        }
      },
      raw: /^\["v","1","b",/,
    },
  ];

  it('are dead-lettered raw at once, by the stage that reads them, and later events still flow', async () => {
    const p = await startPipeline(
      'stages:\n  - name: first\n    use: passthrough\n  - name: second\n    use: passthrough\n',
      2,
    );
    // Into the first stage's input and into the second stage's input (the first stage's output).
    const added: { stage: string; stream: string; origin: string; raw: RegExp }[] = [];
    for (const [stage, input] of [
      ['first', 'ingest'],
      ['second', 'first'],
    ] as const) {
      for (const [i, g] of garbage.entries()) {
        const stream = p.topology.keys.stream(i % p.topology.partitions, input);
        const origin = (await p.client.xadd(stream, '*', ...(g.fields() as string[])))!;
        added.push({ stage, stream, origin, raw: g.raw });
      }
    }
    const events = Array.from({ length: 50 }, (_, i) => ({ key: `k${i % 7}`, data: JSON.stringify({ i }) }));
    const { run } = await produce(p, events);
    const report = await auditUntil(
      p,
      run,
      (r) => r.drained && r.delivered === r.produced,
      'valid events not delivered',
    );
    expect(report).toMatchObject({ produced: 50, delivered: 50, lost: 0, duplicates: 0, deadLettered: 0 });

    const listing = await listDlq(p.client, p.topology);
    expect(listing.total).toBe(added.length);
    expect(listing.totalEvents).toBe(0);
    expect(listing.byStage).toEqual({ first: 2, second: 2 });
    for (const a of added) {
      const r = listing.records.find((x) => x.origin === a.origin && x.stream === a.stream);
      expect(r, `no DLQ record for ${a.stream} ${a.origin}`).toBeDefined();
      expect(r).toMatchObject({ stage: a.stage, kind: 'raw', events: 0, sample: [], deliveries: 1 });
      expect(r!.error).toMatch(/^CodecError: /);
      expect(r!.raw).toMatch(a.raw);
      // The garbage entry is acknowledged: nothing pending is left for it.
      const g = a.stage;
      const pending = (await p.client.xpending(a.stream, g)) as [number, ...unknown[]];
      expect(pending[0]).toBe(0);
    }

    // Raw records cannot be replayed: they stay, and the report says why.
    const replay = await runDlqJson<{ matched: number; replayed: number; skipped: { ref: string; reason: string }[] }>(
      p,
      { action: 'replay' },
    );
    expect(replay).toMatchObject({ matched: 4, replayed: 0 });
    expect(replay.skipped.map((s) => s.ref).sort()).toEqual(listing.records.map((r) => r.ref).sort());
    expect(replay.skipped[0]!.reason).toMatch(/undecodable/);
    expect(await dlqLength(p)).toBe(4);
  });
});

/** A pipeline with a settled DLQ: 3 poisoned events (batch records) and 2 garbage entries (raw). */
async function withDeadLetters(): Promise<Pipeline> {
  const module = writePickyModule('object', join(tmp.dir, 'never-healed'));
  const p = await startPipeline(
    `stages:\n  - name: picky\n    use: ./${module.split('/').pop()}\n    maxDeliveries: 1\n  - name: tail\n    use: passthrough\n`,
    4,
  );
  await p.client.xadd(p.topology.keys.stream(0, 'ingest'), '*', 'foo', 'bar');
  await p.client.xadd(p.topology.keys.stream(3, 'picky'), '*', 'foo', 'baz');
  // Each poisoned event in its own entry (batch 10, at most one poisoned event per ten).
  const events = Array.from({ length: 60 }, (_, i) => ({
    key: 'same-key',
    data: JSON.stringify({ i, poison: i % 20 === 3 }),
  }));
  const { run } = await produce(p, events);
  await auditUntil(p, run, (r) => r.drained && r.deadLettered === 3 && r.delivered === 57, 'dead letters not settled');
  await dlqHolds(p, 5);
  return p;
}

describe('dlq --action list', () => {
  it('--json lists every record with stage, error, deliveries, origin, partition and event count', async () => {
    const p = await withDeadLetters();
    const l = await runDlqJson<{
      namespace: string;
      total: number;
      totalEvents: number;
      shown: number;
      byStage: Record<string, number>;
      records: Record<string, unknown>[];
    }>(p, {});
    expect(l).toMatchObject({
      namespace: p.ns,
      action: 'list',
      total: 5,
      totalEvents: 3,
      shown: 5,
      byStage: { picky: 4, tail: 1 },
    });
    for (const r of l.records) {
      expect(Object.keys(r).sort()).toEqual(
        expect.arrayContaining([
          'ref',
          'id',
          'partition',
          'at',
          'stage',
          'error',
          'deliveries',
          'origin',
          'stream',
          'kind',
          'events',
          'sample',
        ]),
      );
      expect(r.ref).toBe(`${r.partition}/${r.id}`);
      expect(r.origin).toMatch(/^\d+-\d+$/);
      expect(r.stream).toBe(p.topology.keys.stream(r.partition as number, r.stage === 'picky' ? 'ingest' : 'picky'));
      expect(Date.parse(r.at as string)).toBe(Number(String(r.id).split('-')[0]));
    }
    const batches = l.records.filter((r) => r.kind === 'batch');
    expect(batches).toHaveLength(3);
    for (const r of batches) {
      expect(r).toMatchObject({ stage: 'picky', events: 1, deliveries: expect.any(Number) });
      expect(r.deliveries as number).toBeGreaterThanOrEqual(1);
      expect(r.error).toMatch(/poison/);
      expect(r.sample).toEqual([{ producer: `p-${p.ns}`, seq: expect.any(Number), key: 'same-key' }]);
    }
    const raws = l.records.filter((r) => r.kind === 'raw');
    expect(raws.map((r) => [r.stage, r.partition, r.events, r.raw])).toEqual(
      expect.arrayContaining([
        ['picky', 0, 0, '["foo","bar"]'],
        ['tail', 3, 0, '["foo","baz"]'],
      ]),
    );
    // Oldest first over all partitions.
    const ids = l.records.map((r) => String(r.id).split('-').map(Number) as [number, number]);
    for (let i = 1; i < ids.length; i++)
      expect(ids[i]![0] * 1e6 + ids[i]![1]).toBeGreaterThanOrEqual(ids[i - 1]![0] * 1e6 + ids[i - 1]![1]);

    // Filters: --stage, --limit, --id (full reference and bare id).
    const tail = await runDlqJson<{ total: number; records: { stage: string }[] }>(p, { stage: 'tail' });
    expect(tail.total).toBe(1);
    expect(tail.records.map((r) => r.stage)).toEqual(['tail']);
    // A stage the pipeline file does not have: a warning, and no records.
    const other = await runDlq(p, { stage: 'nosuch', pipeline: p.file, json: true });
    expect(other.code).toBe(0);
    expect(other.stderr).toContain(`warning: --stage: no stage "nosuch" in ${p.file}`);
    expect((JSON.parse(other.stdout) as { total: number }).total).toBe(0);
    const limited = await runDlqJson<{ total: number; shown: number; records: { ref: string }[] }>(p, { limit: '2' });
    expect(limited).toMatchObject({ total: 5, shown: 2 });
    expect(limited.records.map((r) => r.ref)).toEqual(l.records.slice(0, 2).map((r) => r.ref));
    const two = await runDlqJson<{ total: number; records: { ref: string }[] }>(p, {
      id: `${l.records[1]!.ref},${l.records[3]!.ref}`,
    });
    expect(two.records.map((r) => r.ref)).toEqual([l.records[1]!.ref, l.records[3]!.ref]);
    const bare = l.records.find((r) => l.records.filter((x) => x.id === r.id).length === 1)!;
    const byBare = await runDlqJson<{ records: { ref: string }[] }>(p, { id: String(bare.id) });
    expect(byBare.records.map((r) => r.ref)).toEqual([bare.ref]);

    // The table names every record and the totals.
    const text = await runDlq(p, {});
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^\s*RECORD\s+AGE\s+STAGE\s+DELIVERIES\s+EVENTS/m);
    for (const r of l.records) expect(text.stdout).toContain(String(r.ref));
    expect(text.stdout).toContain('5 record(s), 3 event(s)');
    expect(text.stdout).toContain('picky 4, tail 1');
  });

  it('usage errors exit 2 and change nothing; a namespace that does not exist exits 1', async () => {
    const p = await withDeadLetters();
    const bad: { args: string[]; code: string; message: RegExp }[] = [
      { args: ['--id', 'nonsense'], code: 'BAD_OPTION', message: /--id/ },
      { args: ['--id', '0/1-1'], code: 'DLQ_ID_NOT_FOUND', message: /0\/1-1/ },
      { args: ['--id', '99/1-1'], code: 'DLQ_ID_NOT_FOUND', message: /partition 99/ },
      { args: ['--action', 'replay', '--limit', '3'], code: 'BAD_OPTION', message: /--limit/ },
      { args: ['--action', 'replay', '--id', '0/1-1'], code: 'DLQ_ID_NOT_FOUND', message: /0\/1-1/ },
    ];
    for (const b of bad) {
      const r = await cli(p, [...b.args, '--json']);
      expect(r.code, b.args.join(' ')).toBe(2);
      expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe(b.code);
      expect(r.stderr).toMatch(b.message);
      expect(r.stderr).toContain('hint:');
    }
    expect(await dlqLength(p)).toBe(5);
    const missing = await cli({ ...p, ns: `${p.ns}-missing` }, ['--json']);
    expect(missing.code).toBe(1);
    expect((JSON.parse(missing.stdout) as { error: { code: string } }).error.code).toBe('NO_NAMESPACE');
    expect(missing.stderr).toContain(`namespace "${p.ns}-missing" does not exist`);
  });
});

describe('dlq --action purge', () => {
  it('refuses without --yes or --id (exit 2), deletes by --id, by --stage --yes, then everything with --yes', async () => {
    const p = await withDeadLetters();
    for (const args of [[], ['--stage', 'picky']]) {
      const r = await cli(p, ['--action', 'purge', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/error: --action purge deletes every DLQ record/);
      expect(r.stderr).toMatch(/hint: add --yes/);
      await expect(runDlq(p, { action: 'purge', ...(args.length ? { stage: args[1] } : {}) })).rejects.toSatisfy(
        (e: unknown) => e instanceof StreamctlError && e.code === 'CONFIRM_PURGE' && e.exitCode === 2,
      );
    }
    expect(await dlqLength(p)).toBe(5);

    const all = await listDlq(p.client, p.topology);
    const victim = all.records.find((r) => r.kind === 'batch')!;
    const one = await runDlqJson<{ purged: number; byStage: Record<string, number> }>(p, {
      action: 'purge',
      id: victim.ref,
    });
    expect(one).toMatchObject({ purged: 1, byStage: { picky: 1 } });
    const left = await listDlq(p.client, p.topology);
    expect(left.total).toBe(4);
    expect(left.records.map((r) => r.ref)).not.toContain(victim.ref);

    const tail = await runDlqJson<{ purged: number }>(p, { action: 'purge', stage: 'tail', yes: true });
    expect(tail.purged).toBe(1);
    expect((await listDlq(p.client, p.topology)).byStage).toEqual({ picky: 3 });

    const rest = await cli(p, ['--action', 'purge', '--yes']);
    expect(rest.code).toBe(0);
    expect(rest.stdout).toContain('purged 3 record(s)');
    expect(await dlqLength(p)).toBe(0);
    for (let k = 0; k < p.topology.partitions; k++) expect(await p.client.exists(p.topology.keys.dlq(k))).toBe(0);
    const empty = await runDlq(p, {});
    expect(empty.stdout).toContain('is empty');
  });
});
