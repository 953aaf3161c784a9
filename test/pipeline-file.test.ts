import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError, UsageError } from '../src/errors.js';
import { stageContext } from './helpers/stage.js';
import { DEFAULT_PIPELINE, loadPipeline, resolveStage, type StageDefinition } from '../src/pipeline/definition.js';
import { tempDir } from './helpers/redis.js';

/** Runs `fn`, expecting a UsageError; returns it. */
async function usageError(fn: () => unknown): Promise<UsageError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a UsageError').toBeInstanceOf(UsageError);
  const e = caught as UsageError;
  expect(e.exitCode).toBe(2);
  expect(e.hint).toBeTruthy();
  return e;
}

describe('loadPipeline: reading and checking the file', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir('streamctl-pipeline-file-');
  });
  afterAll(() => tmp.remove());
  /** Writes `text` as `name` in the temporary folder and loads it from there; returns the file's path too. */
  const load = (name: string, text: string) => {
    writeFileSync(join(tmp.dir, name), text);
    return { path: join(tmp.dir, name), ...loadPipeline(name, tmp.dir) };
  };

  it('accepts a valid file and fills the defaults', () => {
    const r = load(
      'valid.yaml',
      `partitions: 8
stages:
  - name: parse
    use: passthrough
  - name: enrich
    use: ./stages/enrich.js
    workers: 4
    maxDeliveries: 3
    output: enriched
    params: { table: users, ttl: 30 }
`,
    );
    expect(r.file).toBe(r.path);
    const p = r.definition;
    expect(p.partitions).toBe(8);
    expect(p.stages).toEqual([
      { name: 'parse', use: 'passthrough', workers: 1, maxDeliveries: 5, params: {} },
      {
        name: 'enrich',
        use: './stages/enrich.js',
        workers: 4,
        maxDeliveries: 3,
        output: 'enriched',
        params: { table: 'users', ttl: 30 },
      },
    ]);
  });

  // Each case: the file text, the field path the message must name, and a word of the problem.
  const invalid: { what: string; text: string; path: string; problem: RegExp }[] = [
    {
      what: 'malformed YAML',
      text: 'stages:\n  - name: a\n   use: [passthrough\n',
      path: 'not valid YAML',
      problem: /YAML/,
    },
    {
      what: 'a missing use',
      text: 'stages:\n  - name: a\n    use: passthrough\n  - name: b\n',
      path: 'stages[1].use',
      problem: /either `use`/,
    },
    {
      what: 'both use and steps',
      text: 'stages:\n  - name: a\n    use: passthrough\n    steps: [{ use: passthrough }]\n',
      path: 'stages[0].use',
      problem: /either `use`/,
    },
    {
      what: 'params beside steps',
      text: 'stages:\n  - name: a\n    params: { x: 1 }\n    steps: [{ use: passthrough }]\n',
      path: 'stages[0].params',
      problem: /each step its own/,
    },
    {
      what: 'two unnamed steps of one built-in',
      text: 'stages:\n  - name: a\n    steps: [{ use: passthrough }, { use: passthrough }]\n',
      path: 'stages[0].steps[1].name',
      problem: /duplicate step name "passthrough"/,
    },
    {
      what: 'an unknown step field',
      text: 'stages:\n  - name: a\n    steps: [{ use: passthrough, workers: 2 }]\n',
      path: 'stages[0].steps[0].workers: unknown field',
      problem: /unknown field/,
    },
    {
      what: 'workers: two',
      text: 'stages:\n  - name: a\n    use: passthrough\n  - name: b\n    use: passthrough\n    workers: two\n',
      path: 'stages[1].workers',
      problem: /number/i,
    },
    {
      what: 'a duplicate stage name',
      text: 'stages:\n  - name: a\n    use: passthrough\n  - name: a\n    use: passthrough\n',
      path: 'stages[1].name',
      problem: /duplicate stage name "a"/,
    },
    {
      what: 'an unknown top-level field',
      text: 'stages:\n  - name: a\n    use: passthrough\nreplicas: 3\n',
      path: 'replicas: unknown field',
      problem: /unknown field/,
    },
    {
      what: 'an unknown stage field',
      text: 'stages:\n  - name: a\n    use: passthrough\n    retries: 3\n',
      path: 'stages[0].retries: unknown field',
      problem: /unknown field/,
    },
    { what: 'no stages', text: 'partitions: 4\n', path: 'stages', problem: /expected array|required/i },
    {
      what: 'a bad stage name',
      text: 'stages:\n  - name: Bad Name\n    use: passthrough\n',
      path: 'stages[0].name',
      problem: /lower-case/,
    },
  ];

  it.each(invalid.map((c, i) => ({ ...c, name: `invalid-${i}.yaml` })))(
    'rejects $what with PIPELINE_INVALID naming the file and $path',
    async ({ name, text, path, problem }) => {
      const file = join(tmp.dir, name);
      const e = await usageError(() => load(name, text));
      expect(e.code).toBe('PIPELINE_INVALID');
      expect(e.message.startsWith(`${file}: `)).toBe(true);
      expect(e.message).toContain(`${file}: ${path}`);
      expect(e.message).toMatch(problem);
    },
  );
});

describe('loadPipeline', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir('streamctl-pipeline-');
  });
  afterAll(() => tmp.remove());

  it('a missing explicit file is PIPELINE_NOT_FOUND', async () => {
    const e = await usageError(() => loadPipeline('nope.yaml', tmp.dir));
    expect(e.code).toBe('PIPELINE_NOT_FOUND');
    expect(e.message).toContain(join(tmp.dir, 'nope.yaml'));
  });

  it('no file and no ./streamctl.yaml gives the default pipeline', () => {
    const empty = join(tmp.dir, 'empty');
    mkdirSync(empty);
    const r = loadPipeline(undefined, empty);
    expect(r.file).toBeUndefined();
    expect(r.definition).toBe(DEFAULT_PIPELINE);
    // enrich -> detect -> cep, fused into one stage.
    expect(r.definition.stages.map((s) => [s.name, s.steps?.map((step) => step.name)])).toEqual([
      ['analyze', ['enrich', 'detect', 'cep']],
    ]);
  });

  it('built-in pipelines by name, unless a file of that name exists', () => {
    expect(loadPipeline('passthrough', tmp.dir).definition.stages.map((s) => s.use)).toEqual([
      'passthrough',
      'passthrough',
      'passthrough',
    ]);
    expect(loadPipeline('default', tmp.dir).definition).toBe(DEFAULT_PIPELINE);
    writeFileSync(join(tmp.dir, 'passthrough'), 'stages:\n  - name: mine\n    use: passthrough\n');
    expect(loadPipeline('passthrough', tmp.dir).definition.stages.map((s) => s.name)).toEqual(['mine']);
  });

  it('./streamctl.yaml is read when present, and its errors name its path', async () => {
    const dir = join(tmp.dir, 'with-file');
    mkdirSync(dir);
    writeFileSync(join(dir, 'streamctl.yaml'), 'stages:\n  - name: only\n    use: passthrough\n');
    const r = loadPipeline(undefined, dir);
    expect(r.file).toBe(join(dir, 'streamctl.yaml'));
    expect(r.definition.stages.map((s) => s.name)).toEqual(['only']);

    writeFileSync(join(dir, 'bad.yaml'), 'stages:\n  - name: only\n    use: passthrough\n    workers: 0\n');
    const e = await usageError(() => loadPipeline('bad.yaml', dir));
    expect(e.code).toBe('PIPELINE_INVALID');
    expect(e.message).toContain(`${join(dir, 'bad.yaml')}: stages[0].workers`);
  });
});

describe('resolveStage', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeAll(() => {
    tmp = tempDir('streamctl-stages-');
    writeFileSync(join(tmp.dir, 'nothing.mjs'), 'export const notDefault = 1;\n');
    writeFileSync(join(tmp.dir, 'not-a-stage.mjs'), 'export default { name: "x" };\n');
    writeFileSync(join(tmp.dir, 'object.mjs'), 'export default { name: "obj", process: (batch) => batch.slice(1) };\n');
    writeFileSync(
      join(tmp.dir, 'factory.mjs'),
      'export default (params) => ({ name: "fac", process: (batch) => batch.slice(params.skip) });\n',
    );
  });
  afterAll(() => tmp.remove());

  const def = (use: string): StageDefinition => ({ name: 'mine', use, workers: 1, maxDeliveries: 5, params: {} });
  const pipelineFile = () => join(tmp.dir, 'streamctl.yaml');

  it('an unknown built-in is UNKNOWN_STAGE', async () => {
    const e = await usageError(() => resolveStage(def('no-such-stage'), undefined, tmp.dir));
    expect(e.code).toBe('UNKNOWN_STAGE');
    expect(e.message).toContain('"no-such-stage"');
    expect(e.message).toContain('passthrough');
  });

  it.each(['./nothing.mjs', './not-a-stage.mjs'])(
    'a module exporting nothing usable (%s) is STAGE_INVALID',
    async (use) => {
      const e = await usageError(() => resolveStage(def(use), pipelineFile(), tmp.dir));
      expect(e.code).toBe('STAGE_INVALID');
      expect(e.message).toContain(join(tmp.dir, use.slice(2)));
    },
  );

  it('a missing module, or one that throws on import, is STAGE_LOAD_FAILED (exit 1) with a hint that fits', async () => {
    writeFileSync(join(tmp.dir, 'throws.mjs'), 'throw new Error("no licence here");\n');
    const failure = async (use: string) => {
      const err = await resolveStage(def(use), pipelineFile(), tmp.dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RuntimeError);
      return err as RuntimeError;
    };
    const missing = await failure('./missing.mjs');
    expect([missing.code, missing.exitCode]).toEqual(['STAGE_LOAD_FAILED', 1]);
    expect(missing.message).toMatch(/missing\.mjs: no such file/);
    expect(missing.hint).toMatch(/check the path/);
    const throws = await failure('./throws.mjs');
    expect([throws.code, throws.exitCode]).toEqual(['STAGE_LOAD_FAILED', 1]);
    expect(throws.message).toMatch(/throws\.mjs failed: no licence here/);
    expect(throws.hint).toMatch(/fix the module/);
  });

  it('a module path is relative to the pipeline file; objects and factories both work', async () => {
    const ev = (seq: number) => ({ key: 'k', producer: 'p', seq, ts: 0, data: Buffer.from('x') });
    const ctx = stageContext();
    const obj = await resolveStage(def('./object.mjs'), pipelineFile(), '/nonexistent');
    expect((await obj({}).process([ev(1), ev(2)], ctx)).map((e) => e.seq)).toEqual([2]);
    const fac = await resolveStage(def('./factory.mjs'), pipelineFile(), '/nonexistent');
    expect((await fac({ skip: 2 }).process([ev(1), ev(2), ev(3)], ctx)).map((e) => e.seq)).toEqual([3]);
    expect(await resolveStage(def('passthrough'), undefined, tmp.dir)).toBeTypeOf('function');
  });
});
