/**
 * Isolation Forest cost: training time of a 100-tree forest on 4096 rows of 4 features, and scoring
 * cost per event (median of several rounds of 1,000,000 score() calls). Prints figures, asserts
 * nothing: the machine is shared and noisy, so compare figures measured in one run.
 *
 *   npm run bench -- ml
 */
import { availableParallelism, cpus } from 'node:os';
import { IsolationForest } from '../src/ml/isolation-forest.js';
import { seededRandom, type Random } from '../src/ml/random.js';

const FEATURES = 4;
const TRAIN_ROWS = 4096;
const EVENTS = 1_000_000;
const ROUNDS = 7;
/** Distinct points scored, cycled: enough that branch predictors cannot learn them, small enough for RAM. */
const POOL = 1 << 16;

function gaussian(rand: Random): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** `n` rows of 4 correlated Gaussian features, one in `outlierEvery` pushed 8 sd out; views of one flat array. */
function rows(rand: Random, n: number, outlierEvery: number): Float64Array[] {
  const flat = new Float64Array(n * FEATURES);
  const out: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const row = flat.subarray(i * FEATURES, (i + 1) * FEATURES);
    const a = gaussian(rand);
    row.set([a, 0.8 * a + 0.6 * gaussian(rand), gaussian(rand), 0.5 * a + gaussian(rand)]);
    if (i % outlierEvery === outlierEvery - 1)
      for (let k = 0; k < FEATURES; k++) row[k] = row[k]! + 8 * Math.sign(gaussian(rand));
    out.push(row);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Microseconds per score() call, one value per round. */
function scoringRounds(
  forest: IsolationForest,
  pool: ArrayLike<ArrayLike<number>>,
): { perEvent: number[]; checksum: number } {
  const perEvent: number[] = [];
  let checksum = 0; // printed, so the calls cannot be optimized away
  for (let r = 0; r <= ROUNDS; r++) {
    let sum = 0;
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i++) sum += forest.score(pool[i & (POOL - 1)]!);
    const us = ((performance.now() - t0) * 1000) / EVENTS;
    if (r > 0) perEvent.push(us); // round 0 warms the JIT up
    checksum = sum;
  }
  return { perEvent, checksum };
}

/** Runs the benchmark and prints its figures. */
export async function benchMl(): Promise<void> {
  const train = rows(seededRandom(1), TRAIN_ROWS, 100);
  console.log(
    `Isolation Forest: 100 trees, subsample 256, ${TRAIN_ROWS} training rows of ${FEATURES} features; ` +
      `${EVENTS.toLocaleString('en')} score() calls per round over ${POOL.toLocaleString('en')} distinct points (1% outliers), ` +
      `median of ${ROUNDS} rounds after a warm-up; ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, Node ${process.version}`,
  );
  const trainMs: number[] = [];
  let forest: IsolationForest | undefined;
  for (let r = 0; r <= 5; r++) {
    const t0 = performance.now();
    forest = IsolationForest.train(train, { seed: 42 });
    if (r > 0) trainMs.push(performance.now() - t0);
  }
  const model = forest!;
  console.log(
    `train: median ${median(trainMs).toFixed(1)} ms (min ${Math.min(...trainMs).toFixed(1)}) -> ${model.nodeCount.toLocaleString('en')} nodes, ${model.serialize().length.toLocaleString('en')} bytes serialized`,
  );
  const pool = rows(seededRandom(2), POOL, 100);
  const typed = scoringRounds(model, pool);
  console.log(
    `score(Float64Array): median ${median(typed.perEvent).toFixed(3)} us/event (min ${Math.min(...typed.perEvent).toFixed(3)}, max ${Math.max(...typed.perEvent).toFixed(3)}), ` +
      `${Math.round(1 / (median(typed.perEvent) / 1e6)).toLocaleString('en')} events/s, mean score ${(typed.checksum / EVENTS).toFixed(4)}`,
  );
  const plain = scoringRounds(
    model,
    pool.map((r) => Array.from(r)),
  );
  console.log(
    `score(number[]):     median ${median(plain.perEvent).toFixed(3)} us/event (min ${Math.min(...plain.perEvent).toFixed(3)}, max ${Math.max(...plain.perEvent).toFixed(3)})`,
  );
}
