import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StreamEvent } from '../src/pipeline/codec.js';
import { resolveStage } from '../src/pipeline/definition.js';
import { tempDir } from './helpers/redis.js';
import { stageContext } from './helpers/stage.js';

const tmp = tempDir('streamctl-stage-');
afterAll(() => tmp.remove());

const event = (data: string): StreamEvent => ({ key: 'k', producer: 'p', seq: 1, ts: 0, data: Buffer.from(data) });
const def = (use: string) => ({ name: 'user', use, workers: 1, maxDeliveries: 5, params: { min: 2 } });

describe('user stages', () => {
  it.each([
    {
      file: 'factory.ts',
      source: `import type {} from 'node:fs';\ninterface E { data: Buffer }\nexport default (params: { min: number }) => ({ name: 'f', process: (b: E[]) => b.filter((e) => e.data.length >= params.min) });\n`,
    },
    {
      file: 'object.mjs',
      source: `export default { name: 'o', process: (b) => b.filter((e) => e.data.length >= 2) };\n`,
    },
    {
      file: 'object.ts',
      source: `const stage: { name: string; process(b: { data: Buffer }[]): unknown[] } = { name: 'o', process: (b) => b.filter((e) => e.data.length >= 2) };\nexport default stage;\n`,
    },
  ])('$file loads without a build step and filters', async ({ file, source }) => {
    const path = join(tmp.dir, file);
    writeFileSync(path, source);
    const factory = await resolveStage(def(path), undefined, tmp.dir);
    const stage = factory({ min: 2 });
    const out = await stage.process([event('a'), event('abc')], stageContext({ min: 2 }));
    expect(out.map((e) => e.data.toString())).toEqual(['abc']);
  });

  it('a module path is resolved relative to the pipeline file', async () => {
    writeFileSync(join(tmp.dir, 'rel.mjs'), `export default { name: 'r', process: (b) => [] };\n`);
    const factory = await resolveStage(def('./rel.mjs'), join(tmp.dir, 'streamctl.yaml'), '/');
    expect(await factory({}).process([event('x')], stageContext())).toEqual([]);
  });
});
