import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/program.js';
import { commandsFor } from '../src/commands/index.js';
import { collectSnapshot } from '../src/observe/collect-snapshot.js';
import { audit, type AuditReport } from '../src/pipeline/audit.js';
import { loadPipeline, resolveStage } from '../src/pipeline/definition.js';
import { Producer } from '../src/pipeline/producer.js';
import { RunRecorder } from '../src/pipeline/run-recorder.js';
import type { RunRecord } from '../src/pipeline/runs.js';
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
let nsCounter = 0;

beforeAll(async () => {
  server = await startRedis();
  tmp = tempDir('streamctl-verdicts-');
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(4000)));
  await Promise.all(conns.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await server?.stop();
  tmp?.remove();
});

interface Pipeline {
  ns: string;
  client: RedisClient;
  topology: Topology;
  file: string;
}

/** Writes the pipeline file, builds its topology and starts an in-process worker for each stage in `run`. */
async function startPipeline(yaml: string, run: string[]): Promise<Pipeline> {
  const ns = `verdict${Date.now().toString(36)}${nsCounter++}`;
  const file = join(tmp.dir, `${ns}.yaml`);
  writeFileSync(file, yaml);
  const { definition } = loadPipeline(file, tmp.dir);
  const conn = await connectTo(server.url);
  conns.push(conn);
  const client = conn.client();
  const topology = await ensureTopology(client, ns, definition.stages, { partitions: 4 });
  for (const def of definition.stages.filter((d) => run.includes(d.name))) {
    const w = new StageWorker({
      conn,
      topology,
      factory: await resolveStage(def, file, tmp.dir),
      stage: {
        ...topology.stages.find((s) => s.name === def.name)!,
        maxDeliveries: def.maxDeliveries,
        params: def.params,
      },
      batchEntries: 50,
      leaseTtlMs: 3000,
      log: () => {},
    });
    w.start();
    workers.push(w);
  }
  return { ns, client, topology, file };
}

/** Produces `count` events through the idempotent producer and records the run as `produce` does. */
async function produce(p: Pipeline, count: number): Promise<RunRecord> {
  const producerId = `p-${p.ns}`;
  const producer = new Producer({
    client: withScripts(p.client),
    topology: p.topology,
    producerId,
    batch: 10,
    lingerMs: 2,
  });
  await producer.init();
  const recorder = new RunRecorder(p.client, p.topology, producer, { runId: `run-${p.ns}`, producerId });
  for (let i = 0; i < count; i++) producer.send(`k${i % 8}`, Buffer.from(JSON.stringify({ i })), Date.now());
  await producer.close();
  expect(producer.stats.failed).toBe(0);
  await recorder.save('done');
  return recorder.snapshot();
}

function auditUntil(p: Pipeline, run: RunRecord, done: (r: AuditReport) => boolean): Promise<AuditReport> {
  let last: AuditReport | undefined;
  return waitFor(
    async () => {
      last = await audit(p.client, p.topology, run);
      return done(last) ? last : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100, onTimeout: () => new Error(`audit never settled: ${JSON.stringify(last)}`) },
  );
}

/** Runs `streamctl verify` through the CLI entry (flag parsing, error reporting, exit code). */
async function verify(p: Pipeline, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const t = testIo({ cwd: tmp.dir });
  const argv = ['verify', '--redis', server.url, '--namespace', p.ns, '--pipeline', p.file, '--wait', '0', ...args];
  const code = await main(argv, t.io, await commandsFor(argv));
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

describe('verify with a stage that has no live worker', () => {
  it('reports the events as undelivered at that stage, not lost, and exits 1 saying so', async () => {
    const p = await startPipeline(
      'stages:\n  - name: first\n    use: passthrough\n  - name: second\n    use: passthrough\n',
      ['first'],
    );
    const run = await produce(p, 120);
    // The first stage passes everything on; the second has nobody to read it.
    await auditUntil(p, run, (r) => r.undeliveredByStage.some((s) => s.stage === 'second' && s.undelivered === 120));

    const json = await verify(p, ['--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as AuditReport;
    expect(report).toMatchObject({ ok: false, produced: 120, delivered: 0, lost: 0, undelivered: 120, lostRanges: [] });
    expect(report.undeliveredByStage).toEqual([{ stage: 'second', undelivered: 120, liveWorkers: 0 }]);

    const text = await verify(p, []);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/120 events are undelivered, not lost: still in the input of stage second/);
    expect(text.stdout).toMatch(/no live worker; start one \(`streamctl worker --stage second`\)/);
    expect(text.stdout).not.toMatch(/lost seqs/);
  });

  it('names the stage whose live worker still holds events, and names the first stage when nothing ran', async () => {
    const p = await startPipeline('stages:\n  - name: only\n    use: passthrough\n', []);
    const run = await produce(p, 30);
    const r = await audit(p.client, p.topology, run);
    expect(r).toMatchObject({ lost: 0, undelivered: 30, delivered: 0, ok: false });
    expect(r.undeliveredByStage).toEqual([{ stage: 'only', undelivered: 30, liveWorkers: 0 }]);
  });
});

describe('verify when every event is dead-lettered', () => {
  async function allDead(): Promise<{ p: Pipeline; run: RunRecord }> {
    const module = join(tmp.dir, `thrower-${nsCounter}.mjs`);
    writeFileSync(module, "export default { name: 'thrower', process() { throw new Error('always'); } };\n");
    const p = await startPipeline(
      `stages:\n  - name: thrower\n    use: ./${module.split('/').pop()}\n    maxDeliveries: 1\n`,
      ['thrower'],
    );
    const run = await produce(p, 40);
    await auditUntil(p, run, (r) => r.deadLettered === 40 && r.drained);
    return { p, run };
  }

  it('exits 0 with a warning giving the share; --max-dead-letters 0 fails it; health warns DEAD_LETTERS', async () => {
    const { p } = await allDead();
    const plain = await verify(p, []);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/OK/);
    expect(plain.stdout).toMatch(/warning: 40 of 40 events \(100%\) were dead-lettered; see `streamctl dlq list`/);

    const strict = await verify(p, ['--max-dead-letters', '0', '--json']);
    expect(strict.code).toBe(1);
    expect(JSON.parse(strict.stdout)).toMatchObject({
      ok: false,
      deadLettered: 40,
      deadLetterShare: 1,
      maxDeadLetters: '0',
      deadLetterLimitExceeded: true,
    });
    const loose = await verify(p, ['--max-dead-letters', '100%']);
    expect(loose.code).toBe(0);
    const tight = await verify(p, ['--max-dead-letters', '99.5%']);
    expect(tight.code).toBe(1);
    expect(tight.stdout).toMatch(/over --max-dead-letters 99.5%/);

    const conn = await connectTo(server.url);
    conns.push(conn);
    let records = 0;
    for (let k = 0; k < p.topology.partitions; k++) records += await p.client.xlen(p.topology.keys.dlq(k));
    expect(records).toBeGreaterThan(0);
    const health = await collectSnapshot(conn, p.ns);
    expect(health.warnings).toContainEqual(
      expect.objectContaining({
        code: 'DEAD_LETTERS',
        stage: 'thrower',
        message: `stage thrower has ${records} dead-letter records: see \`streamctl dlq list --stage thrower\``,
      }),
    );
  });

  it.each(['abc', '-1', '150%', '1.5'])('--max-dead-letters %s is a usage error naming the flag', async (value) => {
    const p = await startPipeline('stages:\n  - name: only\n    use: passthrough\n', []);
    const r = await verify(p, ['--max-dead-letters', value]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid value for --max-dead-letters/);
    expect(r.stderr).toMatch(/a count like 10 or a percentage like 0.5%/);
  });
});
