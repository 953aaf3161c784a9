import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The import rules of docs/ARCHITECTURE.md, checked on the sources: each folder of src/ may import
 * only the folders listed for it (and itself); the files at the root of src/ are used by every layer.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

const ALLOWED: Record<string, string[]> = {
  '.': [],
  types: [],
  ml: [],
  redis: [],
  'pipeline/stages': ['pipeline/stage.ts', 'ml'],
  pipeline: ['redis', 'ml', 'pipeline/stages'],
  workload: ['pipeline', 'redis', 'ml'],
  embedded: ['observe', 'pipeline', 'redis'],
  observe: ['pipeline', 'redis'],
  health: ['observe', 'pipeline', 'redis'],
  ingest: ['pipeline', 'redis'],
  bench: ['pipeline', 'redis', 'ml', 'workload', 'health', 'ingest', 'embedded', 'observe'],
  chaos: ['embedded', 'observe', 'pipeline', 'redis', 'ml', 'workload', 'bench'],
  cli: ['embedded', 'pipeline', 'redis'],
  // The terminal UI reads snapshots, and never Redis.
  ui: ['observe/snapshot.ts'],
  commands: [
    'cli',
    'bench',
    'chaos',
    'embedded',
    'health',
    'ingest',
    'observe',
    'pipeline',
    'redis',
    'ml',
    'workload',
    'ui',
  ],
};

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* sources(path);
    else if (/\.tsx?$/.test(e.name)) yield path;
  }
}

/** The folder rule a path under src/ falls under: the longest key of ALLOWED that contains it. */
function ruleOf(path: string): string {
  const rel = relative(SRC, path).split('/');
  for (let n = rel.length - 1; n > 0; n--) {
    const key = rel.slice(0, n).join('/');
    if (key in ALLOWED) return key;
  }
  return '.';
}

/** Relative imports of a file (static, dynamic and re-exports), as absolute paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const ts = resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    out.push(existsSync(ts) ? ts : `${ts}x`);
  }
  return out;
}

function allowed(from: string, target: string): boolean {
  if (!target.startsWith(`${SRC}/`)) return false;
  const to = relative(SRC, target);
  const toRule = ruleOf(target);
  if (toRule === '.' || toRule === 'types') return true;
  const own = ruleOf(from);
  if (toRule === own || to.startsWith(`${own}/`)) return true;
  return ALLOWED[own]!.some((a) => to === a || to.startsWith(`${a}/`));
}

describe('the layout of src/', () => {
  const files = [...sources(SRC)];

  it('has a rule for every folder', () => {
    expect(files.length).toBeGreaterThan(50);
    const unknown = files.filter((f) => ruleOf(f) === '.' && relative(SRC, f).includes('/'));
    expect(unknown.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it('imports run one way: each folder imports only what its rule allows, and nothing imports bench/', () => {
    const wrong: string[] = [];
    for (const f of files) {
      for (const target of importsOf(f)) {
        if (!allowed(f, target)) wrong.push(`${relative(ROOT, f)} -> ${relative(ROOT, target)}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the checker sees a wrong arrow', () => {
    expect(allowed(join(SRC, 'redis/x.ts'), join(SRC, 'cli/io.ts'))).toBe(false);
    expect(allowed(join(SRC, 'pipeline/x.ts'), join(ROOT, 'bench/run.ts'))).toBe(false);
    expect(allowed(join(SRC, 'pipeline/stages/x.ts'), join(SRC, 'pipeline/keys.ts'))).toBe(false);
    expect(allowed(join(SRC, 'pipeline/stages/cep/x.ts'), join(SRC, 'pipeline/stages/state-bytes.ts'))).toBe(true);
    expect(allowed(join(SRC, 'commands/x.ts'), join(SRC, 'pipeline/keys.ts'))).toBe(true);
  });
});
