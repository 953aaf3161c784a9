import { describe, expect, it } from 'vitest';
import { SpreadPrior } from '../src/pipeline/stages/spread-prior.js';
import { prng } from '../src/ml/random.js';

/** Values of `keys` keys of one type, each at its own level with a spread of `cv` of it, fed as enrich would. */
function feed(prior: SpreadPrior, type: string, cv: number, keys: number, perKey: number, seed: number): void {
  const rand = prng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  for (let k = 0; k < keys; k++) {
    const level = 10 + 90 * rand();
    let n = 0;
    let mean = 0;
    for (let i = 0; i < perKey; i++) {
      const value = level + cv * level * gauss();
      prior.learn(type, value, mean, n);
      n++;
      mean += (value - mean) / n;
    }
  }
}

describe('SpreadPrior: the relative spread of a type, pooled over its keys', () => {
  it('knows nothing before a few values of the type, then the spread relative to the level', () => {
    const prior = new SpreadPrior();
    expect(prior.cv('cpu')).toBeUndefined();
    prior.learn('cpu', 50, 0, 0); // a key's first value teaches nothing
    prior.learn('cpu', 51, 50, 1);
    expect(prior.cv('cpu')).toBeUndefined();
    feed(prior, 'cpu', 0.03, 100, 6, 1);
    expect(prior.cv('cpu')).toBeGreaterThan(0.024);
    expect(prior.cv('cpu')).toBeLessThan(0.036);
  });

  it('keeps types apart, and a spike does not teach it', () => {
    const prior = new SpreadPrior();
    feed(prior, 'cpu', 0.03, 100, 6, 2);
    feed(prior, 'errors', 0.3, 100, 6, 3);
    const cpu = prior.cv('cpu')!;
    expect(prior.cv('errors')! / cpu).toBeGreaterThan(7);
    for (let i = 0; i < 20; i++) prior.learn('cpu', 100, 50, 10);
    expect(prior.cv('cpu')).toBe(cpu);
  });
});
