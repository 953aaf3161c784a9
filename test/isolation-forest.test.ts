import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IsolationForest, isAnomaly, thresholdForContamination } from '../src/ml/isolation-forest.js';
import { confusion, rocAuc } from '../src/ml/metrics.js';
import { intBelow, sampleWithoutReplacement, seededRandom, type Random } from '../src/ml/random.js';

function gaussian(rand: Random): number {
  // Box-Muller; 1 - u keeps the logarithm finite (u is in [0, 1)).
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

interface Labeled {
  rows: Float64Array[];
  labels: boolean[];
}

/** 4000 points of 3 correlated Gaussian features, then 40 outliers 6 to 9 standard deviations out in random directions. */
function correlated(seed: number): Labeled {
  const rand = seededRandom(seed);
  const rows: Float64Array[] = [];
  const labels: boolean[] = [];
  for (let i = 0; i < 4000; i++) {
    const a = gaussian(rand);
    rows.push(Float64Array.of(a, 0.8 * a + 0.6 * gaussian(rand), -0.5 * a + 0.866 * gaussian(rand)));
    labels.push(false);
  }
  for (let i = 0; i < 40; i++) {
    const dir = [gaussian(rand), gaussian(rand), gaussian(rand)];
    const norm = Math.hypot(...dir);
    const r = 6 + 3 * rand();
    rows.push(Float64Array.from(dir, (v) => (v / norm) * r));
    labels.push(true);
  }
  return { rows, labels };
}

const CENTERS = [
  [0, 0],
  [10, 10],
  [0, 10],
] as const;

/** 4000 points in 3 round clusters (sd 1), then 40 outliers in the box around them, at least 4.5 from every center. */
function clustered(seed: number): Labeled {
  const rand = seededRandom(seed);
  const rows: Float64Array[] = [];
  const labels: boolean[] = [];
  for (let i = 0; i < 4000; i++) {
    const c = CENTERS[intBelow(rand, CENTERS.length)]!;
    rows.push(Float64Array.of(c[0] + gaussian(rand), c[1] + gaussian(rand)));
    labels.push(false);
  }
  while (rows.length < 4040) {
    const x = -5 + 20 * rand();
    const y = -5 + 20 * rand();
    if (CENTERS.every((c) => Math.hypot(x - c[0], y - c[1]) >= 4.5)) {
      rows.push(Float64Array.of(x, y));
      labels.push(true);
    }
  }
  return { rows, labels };
}

/** Rows with `d` independent standard Gaussian features. */
function gaussianRows(seed: number, n: number, d: number): Float64Array[] {
  const rand = seededRandom(seed);
  return Array.from({ length: n }, () => Float64Array.from({ length: d }, () => gaussian(rand)));
}

/** Start and end node of each tree. */
function treeRanges(forest: IsolationForest): Array<[number, number]> {
  const { roots } = forest.layout();
  return Array.from(roots, (start, t) => [start, t + 1 < roots.length ? roots[t + 1]! : forest.nodeCount]);
}

/**
 * c(n) as the paper and the module comment define it, 2H(n-1) - 2(n-1)/n with H(i) = ln(i) + gamma,
 * and c(2) = 1 (for n >= 2; the model's c is checked against it below).
 */
const cOf = (n: number): number => (n === 2 ? 1 : 2 * (Math.log(n - 1) + 0.5772156649) - (2 * (n - 1)) / n);

const expectedScore = (forest: IsolationForest, x: ArrayLike<number>): number => {
  let sum = 0;
  for (let t = 0; t < forest.trees; t++) sum += forest.pathLength(x, t);
  return 2 ** (-(sum / forest.trees) / cOf(forest.subsample));
};

describe('IsolationForest detection quality', () => {
  it.each([
    ['correlated Gaussian features', correlated(1)],
    ['clustered normals', clustered(2)],
  ])('ranks planted outliers above normal points: %s', (_name, data) => {
    const forest = IsolationForest.train(data.rows, { seed: 42 });
    const scores = Array.from(forest.scoreMany(data.rows));
    expect(rocAuc(scores, data.labels)).toBeGreaterThanOrEqual(0.95);
    // Flagging the top 1% (the true contamination) catches most outliers with few false alarms.
    const threshold = thresholdForContamination(scores, 40 / 4040);
    const c = confusion(
      scores.map((s) => isAnomaly(s, threshold)),
      data.labels,
    );
    expect(c.tp + c.fp).toBeGreaterThanOrEqual(39);
    expect(c.tp + c.fp).toBeLessThanOrEqual(41);
    expect(c.recall).toBeGreaterThanOrEqual(0.8);
  });

  it('the default threshold flags far outliers and few Gaussian normals', () => {
    const data = correlated(3);
    const forest = IsolationForest.train(data.rows, { seed: 7 });
    const scores = Array.from(forest.scoreMany(data.rows));
    const c = confusion(
      scores.map((s) => isAnomaly(s)),
      data.labels,
    );
    expect(c.recall).toBeGreaterThanOrEqual(0.9);
    // The Gaussian tails score above 0.6 too: about 1-2% of the normal points, not more.
    expect(c.fp / 4000).toBeLessThanOrEqual(0.03);
    // Scores live in (0, 1); normal points sit around or below 0.5.
    for (const s of scores) expect(s > 0 && s < 1).toBe(true);
    const normal = scores.filter((_, i) => !data.labels[i]).sort((a, b) => a - b);
    expect(normal[Math.floor(normal.length / 2)]!).toBeLessThan(0.5);
  });
});

describe('IsolationForest determinism and serialization', () => {
  const data = correlated(5).rows;

  it('same seed and data give byte-identical models, whatever the row type', () => {
    const a = IsolationForest.train(data, { seed: 11 }).serialize();
    const b = IsolationForest.train(data, { seed: 11 }).serialize();
    const c = IsolationForest.train(
      data.map((r) => Array.from(r)),
      { seed: 11 },
    ).serialize();
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(true);
  });

  it('a different seed gives a different model', () => {
    const a = IsolationForest.train(data, { seed: 11 }).serialize();
    const b = IsolationForest.train(data, { seed: 12 }).serialize();
    expect(a.equals(b)).toBe(false);
  });

  it('deserialize(serialize()) scores 1000 points identically and re-serializes to the same bytes', () => {
    const forest = IsolationForest.train(data, { seed: 13, trees: 50 });
    const bytes = forest.serialize();
    expect(bytes.length).toBe(28 + 4 * 50 + 18 * forest.nodeCount + 4);
    // Read from the middle of a larger buffer: offsets must be honoured.
    const host = Buffer.alloc(bytes.length + 7);
    bytes.copy(host, 3);
    const loaded = IsolationForest.deserialize(host.subarray(3, 3 + bytes.length));
    expect(loaded.serialize().equals(bytes)).toBe(true);
    expect([loaded.trees, loaded.subsample, loaded.features, loaded.heightLimit, loaded.nodeCount]).toEqual([
      50,
      256,
      3,
      8,
      forest.nodeCount,
    ]);
    const points = gaussianRows(14, 1000, 3).map((r) => r.map((v) => v * 3));
    const before = forest.scoreMany(points);
    const after = loaded.scoreMany(points);
    for (let i = 0; i < points.length; i++) expect(Object.is(after[i], before[i])).toBe(true);
    expect(new Set(before).size).toBeGreaterThan(100); // the points really score differently
  });

  it('writes the documented header', () => {
    const forest = IsolationForest.train(data, { seed: 1, trees: 3, subsample: 100, heightLimit: 5 });
    const bytes = forest.serialize();
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('IFOR');
    expect(bytes.readUInt16LE(4)).toBe(1);
    expect([8, 12, 16, 20, 24].map((o) => bytes.readUInt32LE(o))).toEqual([3, 100, 3, 5, forest.nodeCount]);
    expect(bytes.readUInt32LE(bytes.length - 4)).toBe(zlibCrc32(bytes.subarray(0, bytes.length - 4)));
  });

  describe('deserialize rejects damaged input', () => {
    const good = IsolationForest.train(data, { seed: 21, trees: 10 }).serialize();
    /** A copy of `good` changed by `edit`, with its checksum recomputed so that only the edit is wrong. */
    const edited = (edit: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(good);
      edit(b);
      b.writeUInt32LE(zlibCrc32(b.subarray(0, b.length - 4)), b.length - 4);
      return b;
    };
    const nodes = good.readUInt32LE(24);
    const featureAt = (i: number): number => 28 + 4 * 10 + 2 * i;
    const rightAt = (i: number): number => 28 + 4 * 10 + 2 * nodes + 4 * i;

    it('garbage', () => {
      const rand = seededRandom(3);
      const garbage = Buffer.from(Array.from({ length: 500 }, () => intBelow(rand, 256)));
      expect(() => IsolationForest.deserialize(garbage)).toThrow(/bad magic/);
      expect(() => IsolationForest.deserialize(Buffer.from('{"trees":[]}'))).toThrow(/bad magic/);
    });

    it.each([0, 2, 4, 27, 28, 100, good.length - 5, good.length - 1])('truncated to %d bytes', (len) => {
      expect(() => IsolationForest.deserialize(good.subarray(0, len))).toThrow(/truncated/);
    });

    it('trailing bytes', () => {
      expect(() => IsolationForest.deserialize(Buffer.concat([good, Buffer.from([0])]))).toThrow(/1 unexpected bytes/);
    });

    it('another format version', () => {
      const other = good.readUInt16LE(4) + 1;
      expect(() => IsolationForest.deserialize(edited((b) => b.writeUInt16LE(other, 4)))).toThrow(
        new RegExp(`unsupported format version ${other}`),
      );
    });

    it('a flipped bit in the thresholds', () => {
      const b = Buffer.from(good);
      b[b.length - 12]! ^= 0x10;
      expect(() => IsolationForest.deserialize(b)).toThrow(/checksum mismatch/);
    });

    it('an implausible header', () => {
      expect(() => IsolationForest.deserialize(edited((b) => b.writeUInt32LE(0, 16)))).toThrow(/implausible header/);
    });

    it('arrays that do not form trees, even with a valid checksum', () => {
      const internal = Array.from({ length: nodes }, (_, i) => i).find((i) => good.readInt16LE(featureAt(i)) >= 0)!;
      // A right child pointing back at the node itself would make a walk loop forever.
      expect(() => IsolationForest.deserialize(edited((b) => b.writeInt32LE(internal, rightAt(internal))))).toThrow(
        /children/,
      );
      // A split on a feature the model does not have would read outside the point.
      expect(() => IsolationForest.deserialize(edited((b) => b.writeInt16LE(3, featureAt(internal))))).toThrow(
        /feature 3/,
      );
      // A leaf turned into a split: its "children" sizes no longer add up, or it points nowhere.
      const leaf = Array.from({ length: nodes }, (_, i) => i).find((i) => good.readInt16LE(featureAt(i)) === -1)!;
      expect(() => IsolationForest.deserialize(edited((b) => b.writeInt16LE(0, featureAt(leaf))))).toThrow(
        /isolation forest model/,
      );
    });
  });

  it('the checksum is the zlib CRC-32, written and read', () => {
    const model = IsolationForest.train(data, { seed: 2, trees: 5 }).serialize();
    expect(model.readUInt32LE(model.length - 4)).toBe(zlibCrc32(model.subarray(0, model.length - 4)));
    // Bytes serialize() never wrote (another root threshold) load when zlib's CRC-32 of them follows them.
    const changed = Buffer.from(model);
    // Thresholds come after the header, the roots and the feature, right and size of every node.
    const rootThreshold = 28 + 4 * 5 + (2 + 4 + 4) * model.readUInt32LE(24);
    changed.writeDoubleLE(changed.readDoubleLE(rootThreshold) + 0.125, rootThreshold);
    changed.writeUInt32LE(zlibCrc32(changed.subarray(0, changed.length - 4)), changed.length - 4);
    expect(IsolationForest.deserialize(changed).serialize().equals(changed)).toBe(true);
  });
});

describe('IsolationForest trees', () => {
  it('each tree is grown on its own subsample of 64 rows', () => {
    const forest = IsolationForest.train(gaussianRows(8, 4096, 4), { seed: 3, subsample: 64 });
    const { feature, size } = forest.layout();
    expect(forest.subsample).toBe(64);
    for (const [start, end] of treeRanges(forest)) {
      expect(size[start]).toBe(64);
      let leafRows = 0;
      for (let i = start; i < end; i++) if (feature[i] === -1) leafRows += size[i]!;
      expect(leafRows).toBe(64);
    }
  });

  it('different trees see different rows (on 1-D data 0..4095, fully isolated)', () => {
    // With every leaf holding one row, a tree's smallest threshold lies between its two smallest
    // sampled values and its largest between its two largest. Trees grown on all 4096 rows would all
    // have their smallest threshold in (0, 1] and their largest in (4094, 4095].
    const rows = Array.from({ length: 4096 }, (_, i) => [i]);
    const forest = IsolationForest.train(rows, { seed: 4, subsample: 64, heightLimit: 1000 });
    expect(forest.nodeCount).toBe(100 * (2 * 64 - 1));
    const { feature, threshold, size } = forest.layout();
    let lowMin = 0;
    let highMax = 0;
    const rootThresholds = new Set<number>();
    for (const [start, end] of treeRanges(forest)) {
      let min = Infinity;
      let max = -Infinity;
      for (let i = start; i < end; i++) {
        if (feature[i] === -1) expect(size[i]).toBe(1);
        else {
          min = Math.min(min, threshold[i]!);
          max = Math.max(max, threshold[i]!);
        }
      }
      if (min <= 1) lowMin++;
      if (max > 4094) highMax++;
      rootThresholds.add(threshold[start]!);
    }
    // P(a sample of 64 holds row 0) = 64/4096, so a few trees at most.
    expect(lowMin).toBeLessThanOrEqual(10);
    expect(highMax).toBeLessThanOrEqual(10);
    expect(rootThresholds.size).toBe(100);
  });

  it('uses all rows when there are fewer than the subsample', () => {
    const forest = IsolationForest.train(gaussianRows(9, 100, 2), { seed: 5 });
    expect(forest.subsample).toBe(100);
    expect(forest.heightLimit).toBe(7);
    const { size, roots } = forest.layout();
    for (const r of roots) expect(size[r]).toBe(100);
  });

  it.each([
    [undefined, 8],
    [3, 3],
    [12, 12],
  ])('respects the height limit (%s gives %d)', (heightLimit, limit) => {
    const forest = IsolationForest.train(gaussianRows(10, 2000, 3), { seed: 6, heightLimit });
    expect(forest.heightLimit).toBe(limit);
    const { feature, size, depth } = forest.layout();
    let deepest = 0;
    let cutShort = 0; // leaves at the limit that still hold several rows
    for (let i = 0; i < forest.nodeCount; i++) {
      expect(depth[i]).toBeLessThanOrEqual(limit);
      deepest = Math.max(deepest, depth[i]!);
      if (feature[i] === -1 && depth[i] === limit && size[i]! > 1) cutShort++;
    }
    expect(deepest).toBe(limit);
    if (limit < 10) expect(cutShort).toBeGreaterThan(0);
  });

  it('height limit 0: every tree is one leaf and every score is exactly 0.5', () => {
    const forest = IsolationForest.train(gaussianRows(11, 300, 2), { seed: 7, heightLimit: 0 });
    expect(forest.nodeCount).toBe(100);
    expect(forest.score([0, 0])).toBe(0.5);
    expect(forest.score([100, -100])).toBe(0.5);
  });

  it('stops on equal rows and never splits on a constant feature', () => {
    const same = IsolationForest.train(
      Array.from({ length: 50 }, () => [1, 2, 3]),
      { seed: 8 },
    );
    expect(same.nodeCount).toBe(same.trees); // one leaf per tree
    expect(same.score([1, 2, 3])).toBe(0.5);
    const rows = gaussianRows(12, 500, 3).map((r) => Float64Array.of(r[0]!, 7, r[2]!));
    const { feature } = IsolationForest.train(rows, { seed: 9 }).layout();
    expect(feature.includes(1)).toBe(false);
    expect(feature.includes(0) && feature.includes(2)).toBe(true);
  });

  it('splits values one float apart (a split point rounding onto the minimum must not leave a side empty)', () => {
    // Between 2^53 and 2^53 + 2 there is no double: lo + r * (hi - lo) rounds to lo for about half the draws.
    const forest = IsolationForest.train([[2 ** 53], [2 ** 53 + 2]], { seed: 13 });
    expect(forest.nodeCount).toBe(3 * forest.trees);
    const { size, feature } = forest.layout();
    for (let i = 0; i < forest.nodeCount; i++) expect(size[i]).toBe(feature[i] === -1 ? 1 : 2);
    expect(forest.pathLength([2 ** 53], 0)).toBe(1);
  });
});

describe('IsolationForest scoring', () => {
  it.each([
    ['packed lanes (3 features, 100 trees)', 3, 100],
    ['packed lanes, trees not a multiple of 8', 4, 13],
    ['packed lanes at the feature limit (128 features)', 128, 20],
    ['plain walk (300 features)', 300, 20],
  ])('score(x) is 2^(-mean path length / c(psi)): %s', (_name, d, trees) => {
    const forest = IsolationForest.train(gaussianRows(20, 600, d), { seed: 10, trees });
    const points = gaussianRows(21, 200, d).map((r) => r.map((v) => v * 2.5));
    points.push(Float64Array.from({ length: d }, (_, k) => (k === 0 ? Number.NaN : 0.1)));
    for (const x of points) expect(forest.score(x)).toBeCloseTo(expectedScore(forest, x), 12);
    const loaded = IsolationForest.deserialize(forest.serialize());
    for (const x of points) expect(Object.is(loaded.score(x), forest.score(x))).toBe(true);
  });

  it('scoreMany fills `out` and matches score()', () => {
    const forest = IsolationForest.train(gaussianRows(22, 500, 2), { seed: 11, trees: 20 });
    const rows = gaussianRows(23, 10, 2).map((r) => Array.from(r));
    const out = new Float64Array(12).fill(-1);
    expect(forest.scoreMany(rows, out)).toBe(out);
    rows.forEach((r, i) => expect(out[i]).toBe(forest.score(r)));
    expect(out[10]).toBe(-1);
    expect(() => forest.scoreMany(rows, new Float64Array(9))).toThrow(/room for 9/);
  });

  it('rejects points with the wrong number of features', () => {
    const forest = IsolationForest.train(gaussianRows(24, 100, 3), { seed: 12, trees: 5 });
    expect(() => forest.score([1, 2])).toThrow(/expected 3 features, got 2/);
    expect(() => forest.pathLength([1, 2, 3], 5)).toThrow(/tree must be/);
  });
});

describe('IsolationForest.train input checks', () => {
  it.each([
    ['one row', [[1, 2]], { seed: 1 }, /at least 2 training rows/],
    ['ragged rows', [[1, 2], [3]], { seed: 1 }, /row 1 has 1 features/],
    [
      'a NaN',
      [
        [1, 2],
        [3, Number.NaN],
      ],
      { seed: 1 },
      /row 1 feature 1 is NaN/,
    ],
    ['zero trees', [[1], [2]], { seed: 1, trees: 0 }, /trees must be/],
    ['subsample 1', [[1], [2]], { seed: 1, subsample: 1 }, /subsample must be/],
    ['a negative seed', [[1], [2]], { seed: -1 }, /seed must be/],
    ['a fractional height limit', [[1], [2]], { seed: 1, heightLimit: 2.5 }, /heightLimit must be/],
  ])('rejects %s', (_name, rows, opts, message) => {
    expect(() => IsolationForest.train(rows, opts)).toThrow(message);
  });
});

describe('c(n), the average path length of n points', () => {
  // With height limit 0 every tree is one leaf holding all n rows: a point's path length is c(n).
  const oneLeaf = (n: number) =>
    IsolationForest.train(gaussianRows(30, n, 2), { seed: 1, trees: 1, subsample: n, heightLimit: 0 });

  it.each([
    [2, 1],
    [3, 2 * (Math.log(2) + 0.5772156649) - 4 / 3], // 1.2073...
    [256, 2 * (Math.log(255) + 0.5772156649) - 510 / 256], // 10.2448...
  ])('c(%d) = %d', (n, c) => {
    expect(oneLeaf(n).pathLength([0, 0], 0)).toBeCloseTo(c, 12);
    expect(cOf(n)).toBeCloseTo(c, 12);
  });

  it('hand values', () => {
    expect(oneLeaf(3).pathLength([0, 0], 0)).toBeCloseTo(1.20739, 5);
    expect(oneLeaf(256).pathLength([0, 0], 0)).toBeCloseTo(10.24477, 5);
  });

  it('c(1) = 0: in a fully isolated tree the path length is the depth of the leaf', () => {
    const forest = IsolationForest.train(
      Array.from({ length: 64 }, (_, i) => [i]),
      { seed: 2, trees: 3, heightLimit: 1000 },
    );
    const { roots, feature, threshold, right, size, depth } = forest.layout();
    for (let t = 0; t < forest.trees; t++) {
      for (let x = 0; x < 64; x++) {
        let i = roots[t]!;
        while (feature[i]! >= 0) i = x < threshold[i]! ? i + 1 : right[i]!;
        expect(size[i]).toBe(1);
        expect(forest.pathLength([x], t)).toBe(depth[i]);
      }
    }
  });
});

describe('thresholds', () => {
  const scores = [0.5, 0.1, 1.0, 0.3, 0.9, 0.2, 0.7, 0.4, 0.8, 0.6];

  it('thresholdForContamination is the interpolated (1 - c) quantile', () => {
    expect(thresholdForContamination(scores, 0.2)).toBeCloseTo(0.82, 12); // 0.8 + 0.2 * (0.9 - 0.8)
    expect(scores.filter((s) => isAnomaly(s, thresholdForContamination(scores, 0.2)))).toEqual([1.0, 0.9]);
    expect(thresholdForContamination(scores, 0)).toBe(1.0);
    expect(thresholdForContamination(scores, 1)).toBe(0.1);
    expect(thresholdForContamination([0.4], 0.1)).toBe(0.4);
  });

  it('thresholdForContamination rejects bad input', () => {
    expect(() => thresholdForContamination([], 0.1)).toThrow(/no scores/);
    expect(() => thresholdForContamination(scores, 1.5)).toThrow(/contamination/);
    expect(() => thresholdForContamination(scores, Number.NaN)).toThrow(/contamination/);
    expect(() => thresholdForContamination([0.1, Number.NaN], 0.1)).toThrow(/score 1 is NaN/);
  });

  it('isAnomaly defaults to 0.6, strictly above', () => {
    expect(isAnomaly(0.6)).toBe(false);
    expect(isAnomaly(0.6 + 1e-12)).toBe(true);
    expect(isAnomaly(0.61)).toBe(true);
    expect(isAnomaly(0.55, 0.5)).toBe(true);
  });
});

describe('rocAuc', () => {
  const T = true;
  const F = false;

  it.each([
    ['perfect ranking', [0.1, 0.2, 0.8, 0.9], [F, F, T, T], 1],
    ['reversed ranking', [0.9, 0.8, 0.2, 0.1], [F, F, T, T], 0],
    ['one inversion of four pairs', [0.1, 0.4, 0.35, 0.8], [F, F, T, T], 0.75],
    ['all scores tied', [0.5, 0.5, 0.5, 0.5], [T, F, T, F], 0.5],
    // pairs (pos, neg): (0.5, 0.5) tie = 1/2, (0.5, 0.2) = 1, (0.9, 0.5) = 1, (0.9, 0.2) = 1 -> 3.5 / 4
    ['a tie across classes', [0.5, 0.5, 0.2, 0.9], [T, F, F, T], 0.875],
    // pos {3, 1}, neg {1, 1, 2}: 3 beats all (3), 1 ties two 1s (2 x 1/2) and loses to 2 -> 4 / 6
    ['a tied group of three', [3, 1, 1, 1, 2], [T, T, F, F, F], 4 / 6],
  ])('%s', (_name, scores, labels, auc) => {
    expect(rocAuc(scores, labels)).toBeCloseTo(auc, 12);
  });

  it('equals the pairwise definition on data with many ties', () => {
    const rand = seededRandom(99);
    const scores = Array.from({ length: 400 }, () => intBelow(rand, 20) / 4);
    const labels = scores.map((s) => rand() < 0.2 + s / 10);
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < scores.length; i++) {
      if (!labels[i]) continue;
      for (let j = 0; j < scores.length; j++) {
        if (labels[j]) continue;
        pairs++;
        wins += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
      }
    }
    expect(rocAuc(scores, labels)).toBeCloseTo(wins / pairs, 12);
  });

  it('rejects undefined cases', () => {
    expect(() => rocAuc([0.1, 0.2], [T, T])).toThrow(/both classes/);
    expect(() => rocAuc([0.1, 0.2], [T])).toThrow(/2 scores but 1 labels/);
    expect(() => rocAuc([0.1, Number.NaN], [T, F])).toThrow(/not a finite number/);
  });
});

describe('confusion', () => {
  it('counts and rates', () => {
    expect(confusion([true, true, false, false, true], [true, false, true, false, true])).toEqual({
      tp: 2,
      fp: 1,
      tn: 1,
      fn: 1,
      precision: 2 / 3,
      recall: 2 / 3,
      f1: 2 / 3,
    });
    const c = confusion([true, true, true, false], [true, false, false, false]);
    expect([c.precision, c.recall]).toEqual([1 / 3, 1]);
    expect(c.f1).toBeCloseTo(0.5, 12); // 2 * (1/3 * 1) / (1/3 + 1)
  });

  it('defines 0/0 as 0', () => {
    expect(confusion([false, false], [true, false])).toMatchObject({
      tp: 0,
      fn: 1,
      tn: 1,
      precision: 0,
      recall: 0,
      f1: 0,
    });
    expect(confusion([false, false], [false, false])).toMatchObject({ tn: 2, precision: 0, recall: 0, f1: 0 });
    expect(confusion([true], [false])).toMatchObject({ fp: 1, precision: 0, recall: 0, f1: 0 });
  });

  it('rejects different lengths', () => {
    expect(() => confusion([true], [true, false])).toThrow(/1 predictions but 2 labels/);
  });
});

describe('random helpers', () => {
  it('sampleWithoutReplacement draws k distinct indices, reproducibly, uniformly', () => {
    const a = sampleWithoutReplacement(seededRandom(5), 1_000_000, 256);
    expect(new Set(a).size).toBe(256);
    expect(a.every((i) => i >= 0 && i < 1_000_000)).toBe(true);
    expect(sampleWithoutReplacement(seededRandom(5), 1_000_000, 256)).toEqual(a);
    expect(sampleWithoutReplacement(seededRandom(6), 1_000_000, 256)).not.toEqual(a);
    expect(Array.from(sampleWithoutReplacement(seededRandom(7), 10, 10)).sort((x, y) => x - y)).toEqual([
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
    // 20000 draws of 3 of 10: each index is expected 6000 times (sd ~65).
    const rand = seededRandom(8);
    const counts = new Array<number>(10).fill(0);
    const out = new Int32Array(3);
    for (let r = 0; r < 20_000; r++) for (const i of sampleWithoutReplacement(rand, 10, 3, out)) counts[i]!++;
    for (const c of counts) expect(Math.abs(c - 6000)).toBeLessThan(300);
  });

  it('rejects bad arguments', () => {
    expect(() => seededRandom(2 ** 32)).toThrow(/seed/);
    expect(() => seededRandom(1.5)).toThrow(/seed/);
    expect(() => sampleWithoutReplacement(seededRandom(1), 5, 6)).toThrow(/k must be/);
    expect(() => intBelow(seededRandom(1), 0)).toThrow(/n must be/);
  });
});
