import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { RuntimeError, UsageError } from '../errors.js';
import { fuseSteps } from './fused-stage.js';
import type { Stage, StageFactory } from './stage.js';
import { builtinStages } from './stages/index.js';

const NAME = /^[a-z][a-z0-9_-]{0,39}$/;

const NAME_HINT = 'use lower-case letters, digits, _ or -, starting with a letter';
const USE = z.string().min(1).describe('a built-in stage name, or a path to a JS or TS module exporting a stage');

/** One step of a fused stage. */
const stepSchema = z
  .object({
    name: z.string().regex(NAME, NAME_HINT).optional(),
    use: USE,
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

const stageSchema = z
  .object({
    name: z.string().regex(NAME, NAME_HINT),
    use: USE.optional(),
    /** Instead of `use`: stages run one after the other inside this stage's workers, with one commit per batch. */
    steps: z.array(stepSchema).min(1).max(32).optional(),
    workers: z.number().int().min(1).max(64).default(1),
    maxDeliveries: z.number().int().min(1).max(100).default(5),
    output: z.string().regex(NAME).optional(),
    params: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    if ((s.use === undefined) === (s.steps === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['use'],
        message: 'give either `use` (one stage) or `steps` (stages fused into one)',
      });
    if (s.steps && Object.keys(s.params).length > 0)
      ctx.addIssue({
        code: 'custom',
        path: ['params'],
        message: 'a stage with `steps` takes no params: give each step its own',
      });
  })
  .transform(({ steps, ...s }) => ({
    ...s,
    // A step is named after its built-in, else by its position; names are unique within the stage.
    ...(steps
      ? {
          steps: steps.map((step, i) => ({
            ...step,
            name: step.name ?? (/[/\\.]/.test(step.use) ? `step${i + 1}` : step.use),
          })),
        }
      : {}),
  }))
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.steps?.forEach((step, i) => {
      if (seen.has(step.name))
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'name'],
          message: `duplicate step name "${step.name}": name the steps`,
        });
      seen.add(step.name);
    });
  });

export const pipelineSchema = z
  .object({
    partitions: z.number().int().min(1).max(1024).optional(),
    stages: z.array(stageSchema).min(1),
  })
  .strict()
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.stages.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['stages', i, 'name'], message: `duplicate stage name "${s.name}"` });
      seen.add(s.name);
    });
  });

export type PipelineDefinition = z.output<typeof pipelineSchema>;
export type StageDefinition = PipelineDefinition['stages'][number];

const DEFAULT_PIPELINE_FILE = 'streamctl.yaml';

/**
 * The pipeline used when there is no file: enrichment, anomaly detection, complex event processing,
 * fused into one stage (one read and one commit per batch instead of three, so more events/s than
 * `staged`), run by two worker processes.
 */
export const DEFAULT_PIPELINE: PipelineDefinition = pipelineSchema.parse({
  stages: [{ name: 'analyze', steps: [{ use: 'enrich' }, { use: 'detect' }, { use: 'cep' }], workers: 2 }],
});

/** The same three steps as stages of their own, each scaled, killed and watched separately. */
const STAGED_PIPELINE: PipelineDefinition = pipelineSchema.parse({
  stages: [
    { name: 'enrich', use: 'enrich', output: 'enriched' },
    { name: 'detect', use: 'detect', output: 'scored' },
    { name: 'cep', use: 'cep' },
  ],
});

/** Three passthrough stages: the runtime alone, for measuring it. */
export const PASSTHROUGH_PIPELINE: PipelineDefinition = pipelineSchema.parse({
  stages: [
    { name: 'stage1', use: 'passthrough' },
    { name: 'stage2', use: 'passthrough' },
    { name: 'stage3', use: 'passthrough' },
  ],
});

function fieldPath(path: PropertyKey[]): string {
  return (
    path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('') ||
    '(top level)'
  );
}

/**
 * Parses and validates a pipeline definition.
 * @throws UsageError PIPELINE_INVALID naming the file, the field and the problem (exit 2).
 */
function parsePipeline(text: string, file: string): PipelineDefinition {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(
      'PIPELINE_INVALID',
      `${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`,
      'fix the file, or pass another with --pipeline FILE',
    );
  }
  const result = pipelineSchema.safeParse(doc);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // An unknown field is named itself, not by its parent.
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    const message = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    throw new UsageError(
      'PIPELINE_INVALID',
      `${file}: ${fieldPath(path)}: ${message}`,
      'fix the file, or pass another with --pipeline FILE',
    );
  }
  return result.data;
}

/** Pipelines that `--pipeline` accepts by name. */
export const BUILTIN_PIPELINES: Record<string, PipelineDefinition> = {
  default: DEFAULT_PIPELINE,
  staged: STAGED_PIPELINE,
  passthrough: PASSTHROUGH_PIPELINE,
};

/**
 * The pipeline to run: --pipeline FILE (or a built-in name: default, staged, passthrough), else
 * ./streamctl.yaml if present, else the default.
 */
export function loadPipeline(
  file: string | undefined,
  cwd: string,
): { definition: PipelineDefinition; file: string | undefined } {
  if (file && BUILTIN_PIPELINES[file] && !existsSync(resolve(cwd, file)))
    return { definition: BUILTIN_PIPELINES[file], file: undefined };
  const path = file ? resolve(cwd, file) : resolve(cwd, DEFAULT_PIPELINE_FILE);
  if (!existsSync(path)) {
    if (file)
      throw new UsageError('PIPELINE_NOT_FOUND', `pipeline file ${path} does not exist`, 'check --pipeline FILE');
    return { definition: DEFAULT_PIPELINE, file: undefined };
  }
  return { definition: parsePipeline(readFileSync(path, 'utf8'), path), file: path };
}

function isStage(x: unknown): x is Stage {
  return typeof x === 'object' && x !== null && typeof (x as Stage).process === 'function';
}

/**
 * Resolves a stage's `use`: a built-in, or a JS or TS module (path relative to the pipeline file) whose
 * default export is a stage object or a factory `(params) => stage`.
 * @returns a factory that makes the stage instance of one partition.
 */
export async function resolveStage(
  def: StageDefinition,
  pipelineFile: string | undefined,
  cwd: string,
): Promise<StageFactory> {
  if (def.steps) {
    const steps = await Promise.all(
      def.steps.map(async (s) => ({
        name: s.name,
        params: s.params,
        factory: await resolveUse(s.use, `stage "${def.name}" step "${s.name}"`, pipelineFile, cwd),
      })),
    );
    return fuseSteps(def.name, steps);
  }
  return resolveUse(def.use!, `stage "${def.name}"`, pipelineFile, cwd);
}

/**
 * Loads every stage module of the pipeline and makes one instance of each with its params, so that
 * a missing module, one that throws on import, or bad params fail before any process starts.
 */
export async function checkStages(definition: PipelineDefinition, pipelineFile: string | undefined, cwd: string) {
  for (const def of definition.stages) (await resolveStage(def, pipelineFile, cwd))(def.params);
}

async function resolveUse(
  use: string,
  label: string,
  pipelineFile: string | undefined,
  cwd: string,
): Promise<StageFactory> {
  const builtin = builtinStages[use];
  if (builtin) return builtin;
  if (!/[/\\.]/.test(use)) {
    throw new UsageError(
      'UNKNOWN_STAGE',
      `${label}: unknown built-in "${use}" (built-ins: ${Object.keys(builtinStages).join(', ')})`,
      'use a built-in name or a path like ./stages/my-stage.js',
    );
  }
  const base = pipelineFile ? dirname(pipelineFile) : cwd;
  const path = isAbsolute(use) ? use : resolve(base, use);
  let mod: { default?: unknown };
  try {
    // TypeScript stages load through tsx, so users need no build step for them.
    mod = /\.[cm]?ts$/.test(path)
      ? ((await (await import('tsx/esm/api')).tsImport(pathToFileURL(path).href, import.meta.url)) as {
          default?: unknown;
        })
      : ((await import(pathToFileURL(path).href)) as { default?: unknown });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const missing = !existsSync(path) && (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND');
    throw new RuntimeError(
      'STAGE_LOAD_FAILED',
      missing ? `${label}: cannot load ${path}: no such file` : `${label}: loading ${path} failed: ${e.message}`,
      missing
        ? 'check the path in `use:` (relative to the pipeline file)'
        : 'fix the module: it failed while being imported (see the message), before any of its stage ran',
    );
  }
  let exported = mod.default;
  // A TS or CommonJS module outside an ESM package arrives wrapped once more.
  if (exported && typeof exported === 'object' && !isStage(exported) && 'default' in exported)
    exported = (exported as { default: unknown }).default;
  if (typeof exported === 'function') return exported as StageFactory;
  if (isStage(exported)) return () => exported;
  throw new UsageError(
    'STAGE_INVALID',
    `${label}: ${path} must export default a stage object with process(batch, ctx) or a factory (params) => stage`,
    'see the README section on user stages',
  );
}
