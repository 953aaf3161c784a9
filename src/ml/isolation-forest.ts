/**
 * Isolation Forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008): anomalies are few and
 * different, so random axis-parallel splits isolate them in fewer steps than normal points. A forest
 * of random trees, each grown on its own small subsample, turns the mean isolation depth into a
 * score in (0, 1): near 1 anomalous, around 0.5 or below normal.
 *
 * Written here rather than taken from npm because the `isolation-forest` package builds every tree
 * on the full data set (the subsample it draws is discarded), uses Math.random (no seed) and has no
 * serialization; see the README.
 *
 * The trained model is a handful of flat typed arrays (one slot per node, trees stored one after the
 * other in preorder), never per-node objects: scoring is a walk over those arrays with no allocation,
 * and serialization is a header plus the arrays' bytes.
 */
import { intBelow, sampleWithoutReplacement, seededRandom, uniform } from './random.js';

/** Euler-Mascheroni constant, for the harmonic-number approximation H(i) = ln(i) + gamma. */
const EULER_GAMMA = 0.5772156649;

/**
 * Scores above this are anomalies when no contamination-based threshold is known. The paper reads
 * s very close to 1 as anomalous and s much smaller than 0.5 as normal; in practice most normal
 * points score 0.4-0.5, so a threshold of 0.5 would flag a large share of them. With 0.6, on 4000 Gaussian points plus 40 far
 * outliers (the tests' data), nearly all outliers and 1-2% of the normal points (their tails) are
 * flagged. When the share of anomalies is known, {@link thresholdForContamination} is better.
 */
const DEFAULT_SCORE_THRESHOLD = 0.6;

/**
 * c(n): the average path length of an unsuccessful search in a binary search tree of n points,
 * c(n) = 2H(n-1) - 2(n-1)/n, with c(0) = c(1) = 0 and c(2) = 1. It normalizes path lengths (scores
 * are comparable across subsample sizes) and estimates the depth still to go below a leaf that the
 * height limit left holding more than one point.
 */
function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

/** Whether `score` is flagged: strictly above `threshold` (the same rule {@link thresholdForContamination} assumes). */
export function isAnomaly(score: number, threshold: number = DEFAULT_SCORE_THRESHOLD): boolean {
  return score > threshold;
}

/**
 * The score threshold above which a fraction `contamination` of `scores` (usually the training
 * scores) lies: their (1 - contamination) quantile, linearly interpolated between order statistics
 * (the numpy default, as scikit-learn uses). With {@link isAnomaly}, contamination 0.01 flags about
 * 1% of the training data.
 *
 * @param contamination - the expected share of anomalies, in [0, 1] (0 gives the maximum score:
 *   nothing in `scores` is flagged).
 * @throws RangeError on an empty list, a non-finite score or a contamination outside [0, 1].
 */
export function thresholdForContamination(scores: ArrayLike<number>, contamination: number): number {
  if (!(contamination >= 0 && contamination <= 1))
    throw new RangeError(`contamination must be in [0, 1], got ${contamination}`);
  const n = scores.length;
  if (n === 0) throw new RangeError('thresholdForContamination: no scores');
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = scores[i]!;
    if (!Number.isFinite(s)) throw new RangeError(`thresholdForContamination: score ${i} is ${s}, not a finite number`);
    sorted[i] = s;
  }
  sorted.sort(); // typed arrays sort numerically
  const pos = (1 - contamination) * (n - 1);
  const lo = Math.floor(pos);
  const a = sorted[lo]!;
  const b = sorted[Math.min(lo + 1, n - 1)]!;
  return a + (pos - lo) * (b - a);
}

/** Options of {@link IsolationForest.train}. */
export interface TrainOptions {
  /** Number of trees (default 100; the paper finds path lengths converge well before that). */
  trees?: number;
  /** Rows drawn without replacement for each tree (default 256; min(subsample, rows) is used). */
  subsample?: number;
  /** Seed of every random choice, an integer in [0, 2^32): same seed and data, same model. */
  seed: number;
  /** Maximum tree depth (default ceil(log2(effective subsample)), the average depth of a BST of that size). */
  heightLimit?: number;
}

/**
 * Copies of the model's arrays, for tests and tooling. Node `i` is a leaf when `feature[i] === -1`;
 * otherwise its left child (rows with x[feature] < threshold) is node i + 1 and its right child is
 * `right[i]`. `size` is the number of the tree's subsample rows that reached the node.
 */
export interface ForestLayout {
  roots: Int32Array;
  feature: Int16Array;
  threshold: Float64Array;
  right: Int32Array;
  size: Int32Array;
  /** Derived, not stored: depth of each node in its tree (root 0). */
  depth: Int32Array;
}

const MAGIC = 'IFOR';
/** Bump when the byte layout changes; {@link IsolationForest.deserialize} rejects other versions. */
const FORMAT_VERSION = 1;
const HEADER_BYTES = 28;
const MAX_FEATURES = 0x7fff; // feature indices are stored as int16, -1 marking a leaf
/** Trees walked side by side by the scoring kernel (8 pointers fit x64's registers with room to spare). */
const LANES = 8;
/**
 * Lane pointers are (node << 9) | feature, the feature in the low 7 bits, two zero bits above it
 * (see IsolationForest.laneRecords32). Fixed shifts, because on x64 a shift by a variable amount
 * costs several micro-ops and the kernel does three per step.
 * Beyond 128 features scoring falls back to a plain walk (which also lets a test cover that path).
 */
const MAX_PACKED_FEATURES = 128;
/** Node indices get 31 - 9 bits: 4M nodes, 80x the largest model with default options. */
const MAX_PACKED_NODES = 1 << 22;

/** The model's shape, written to the header. */
interface Shape {
  trees: number;
  subsample: number;
  features: number;
  heightLimit: number;
}

function modelError(msg: string): Error {
  return new Error(`isolation forest model: ${msg}`);
}

function checkInteger(name: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${v}`);
}

/** A trained Isolation Forest. Immutable; build one with {@link IsolationForest.train} or {@link IsolationForest.deserialize}. */
export class IsolationForest {
  /** Number of trees. */
  readonly trees: number;
  /** Rows each tree was grown on: min(requested subsample, training rows). The psi of c(psi). */
  readonly subsample: number;
  /** Number of features of a row. */
  readonly features: number;
  /** Maximum depth a tree may have. */
  readonly heightLimit: number;
  /** Total nodes over all trees. */
  readonly nodeCount: number;

  // Canonical arrays: exactly what serialize() writes.
  private readonly roots: Int32Array;
  private readonly feature: Int16Array;
  private readonly threshold: Float64Array;
  private readonly right: Int32Array;
  private readonly size: Int32Array;

  // Derived, rebuilt on load: depth of each node, and for a leaf its depth + c(its size), the path
  // length of every point that ends there (so scoring never computes a logarithm). leafPath also
  // has a slot, 0, for each padding leaf of the lane layout below.
  private readonly depth: Int32Array;
  private readonly leafPath: Float64Array;

  // The lane layout, what score() walks (derived, rebuilt on load). A plain walk, one tree after the
  // other (pathLength), is a chain of dependent loads plus an unpredictable branch per level (left or
  // right, about half of them mispredicted). Instead:
  // - a leaf's two children are itself, so a walk takes a fixed number of steps with no leaf test,
  //   and the child is picked by index arithmetic on the comparison, without a branch;
  // - 8 trees are walked side by side, so the CPU overlaps 8 independent load chains; trees are
  //   padded to a multiple of 8 with single-leaf trees of path length 0, so there is no tail loop;
  // - a child pointer carries the child's split feature in its low bits, which removes one
  //   dependent load per step: pointer p = (node << 9) | feature, so p & 127 is the feature, p >> 9
  //   the node, and p >> 7 = 4 node, p >> 8 = 2 node index the node's record (below);
  // - a node's children and threshold share one 16-byte record: a step touches one cache line, not two.
  // `npm run bench -- ml` measures the cost per event. Models with more than MAX_PACKED_FEATURES features or MAX_PACKED_NODES nodes use the plain walk (`packed` false).
  private readonly packed: boolean;
  /** Lane pointer of each (padded) tree's root. */
  private readonly laneRoots: Int32Array;
  /**
   * Node records, as int32: [4 node] = pointer to the right child, [4 node + 1] = pointer to the left
   * child (taken when x < threshold); [4 node + 2 .. 3] is the threshold, laneRecords64[2 node + 1].
   */
  private readonly laneRecords32: Int32Array;
  /** The same bytes as float64: [2 node + 1] = threshold of the node. */
  private readonly laneRecords64: Float64Array;
  /** Steps to walk for each group of 8 trees: the deepest leaf among them. */
  private readonly groupDepth: Int32Array;

  /** -1 / (trees * c(psi)): score = 2^(sum of path lengths * this). */
  private readonly negInvNorm: number;
  /** The row being scored, copied so that the walk always reads one typed array (monomorphic). */
  private readonly xs: Float64Array;

  private constructor(
    shape: Shape,
    roots: Int32Array,
    feature: Int16Array,
    threshold: Float64Array,
    right: Int32Array,
    size: Int32Array,
  ) {
    this.trees = shape.trees;
    this.subsample = shape.subsample;
    this.features = shape.features;
    this.heightLimit = shape.heightLimit;
    this.nodeCount = feature.length;
    this.roots = roots;
    this.feature = feature;
    this.threshold = threshold;
    this.right = right;
    this.size = size;
    // Both train() and deserialize() come through here, so a trained model is checked exactly as a
    // loaded one would be, and the derived arrays are computed by the same code (identical scores).
    const n = this.nodeCount;
    const paddedTrees = Math.ceil(this.trees / LANES) * LANES;
    const paddedNodes = n + paddedTrees - this.trees;
    this.depth = new Int32Array(n);
    this.leafPath = new Float64Array(paddedNodes);
    const treeDepth = this.validate();
    this.packed = this.features <= MAX_PACKED_FEATURES && paddedNodes <= MAX_PACKED_NODES;
    const ok = this.packed;
    this.laneRoots = new Int32Array(ok ? paddedTrees : 0);
    const records = new ArrayBuffer(ok ? 16 * paddedNodes : 0);
    this.laneRecords32 = new Int32Array(records);
    this.laneRecords64 = new Float64Array(records);
    this.groupDepth = new Int32Array(ok ? paddedTrees / LANES : 0);
    if (ok) this.buildLanes(treeDepth);
    this.negInvNorm = -1 / (this.trees * averagePathLength(this.subsample));
    this.xs = new Float64Array(this.features);
  }

  /**
   * Checks that the arrays form `trees` well-formed trees (so a walk always ends at a leaf and reads
   * in bounds, whatever bytes a model file held), fills `depth` and `leafPath` and returns the depth
   * of each tree.
   */
  private validate(): Int32Array {
    const { roots, feature, threshold, right, size, depth, leafPath } = this;
    const n = this.nodeCount;
    const treeDepth = new Int32Array(this.trees);
    const parents = new Uint8Array(n);
    for (let t = 0; t < this.trees; t++) {
      const start = roots[t]!;
      const end = t + 1 < this.trees ? roots[t + 1]! : n;
      // Trees are contiguous: tree t spans [roots[t], roots[t + 1]), so only the first start is fixed.
      if (t === 0 && start !== 0) throw modelError(`tree 0 must start at node 0, starts at ${start}`);
      if (!(end > start && end <= n))
        throw modelError(`tree ${t} spans nodes [${start}, ${end}), not a non-empty range of [0, ${n})`);
      if (size[start] !== this.subsample)
        throw modelError(`tree ${t} holds ${size[start]} rows, the header says ${this.subsample}`);
      depth[start] = 0;
      let maxDepth = 0;
      for (let i = start; i < end; i++) {
        // Every node but the root has exactly one parent (children are counted when their parent,
        // always at a lower index, is visited): the range is one tree, each node reached once.
        if (i > start && parents[i] !== 1) throw modelError(`node ${i} of tree ${t} is not the child of any node`);
        const d = depth[i]!;
        if (d > this.heightLimit)
          throw modelError(`node ${i} of tree ${t} is at depth ${d}, beyond the height limit ${this.heightLimit}`);
        const f = feature[i]!;
        if (f === -1) {
          if (right[i] !== -1 || threshold[i] !== 0) throw modelError(`leaf ${i} has a right child or threshold`);
          if (!(size[i]! >= 1)) throw modelError(`leaf ${i} holds ${size[i]} rows`);
          leafPath[i] = d + averagePathLength(size[i]!);
          if (d > maxDepth) maxDepth = d;
          continue;
        }
        const r = right[i]!;
        if (!(f >= 0 && f < this.features))
          throw modelError(`node ${i} splits on feature ${f}, the model has ${this.features}`);
        if (!Number.isFinite(threshold[i])) throw modelError(`node ${i} has threshold ${threshold[i]}`);
        // Children after their parent and inside the tree: every step of a walk moves forward, so no
        // file, however crafted, can make scoring loop or read out of bounds.
        if (!(i + 1 < end && r > i + 1 && r < end))
          throw modelError(`node ${i} of tree ${t} has children ${i + 1} and ${r} outside (${i + 1}, ${end})`);
        if (size[i] !== size[i + 1]! + size[r]!)
          throw modelError(`node ${i} holds ${size[i]} rows, its children ${size[i + 1]} + ${size[r]}`);
        if (parents[i + 1] !== 0 || parents[r] !== 0)
          throw modelError(`node ${i} of tree ${t} shares a child with another node`);
        parents[i + 1] = 1;
        parents[r] = 1;
        depth[i + 1] = d + 1;
        depth[r] = d + 1;
      }
      treeDepth[t] = maxDepth;
    }
    return treeDepth;
  }

  /** Fills the lane layout (see the fields) from the validated canonical arrays. */
  private buildLanes(treeDepth: Int32Array): void {
    const { feature, threshold, right, laneRoots, laneRecords32: r32, laneRecords64: r64, groupDepth } = this;
    const n = this.nodeCount;
    // Leaves and padding nodes carry feature 0: their comparison result is ignored (both children
    // are the node itself), so any in-range feature will do.
    const pointer = (node: number): number => (node << 9) | (node < n && feature[node]! >= 0 ? feature[node]! : 0);
    for (let i = 0; i < n; i++) {
      const leaf = feature[i] === -1;
      r32[4 * i] = pointer(leaf ? i : right[i]!);
      r32[4 * i + 1] = pointer(leaf ? i : i + 1);
      r64[2 * i + 1] = threshold[i]!;
    }
    for (let t = 0; t < laneRoots.length; t++) {
      if (t < this.trees) {
        laneRoots[t] = pointer(this.roots[t]!);
        const g = Math.floor(t / LANES);
        if (treeDepth[t]! > groupDepth[g]!) groupDepth[g] = treeDepth[t]!;
      } else {
        const pad = n + t - this.trees; // a single leaf with path length 0 (leafPath is 0-filled)
        laneRoots[t] = pointer(pad);
        r32[4 * pad] = pointer(pad);
        r32[4 * pad + 1] = pointer(pad);
      }
    }
  }

  /**
   * Grows a forest on `rows` (each row one point, all of the same length, finite numbers).
   *
   * Each tree draws its own min(subsample, rows) rows without replacement; each node splits on a
   * random feature among those not constant in the node's rows, at a point uniform between their min
   * and max; a node becomes a leaf at the height limit, with one row, or when all its rows are equal.
   *
   * @throws RangeError on fewer than 2 rows (scores are normalized by c(psi), 0 for one row), ragged
   *   or non-finite rows, more than 32767 features, or options out of range.
   */
  static train(rows: ArrayLike<ArrayLike<number>>, opts: TrainOptions): IsolationForest {
    const trees = opts.trees ?? 100;
    const requested = opts.subsample ?? 256;
    checkInteger('trees', trees, 1, 0x7fff_ffff);
    checkInteger('subsample', requested, 2, 0x7fff_ffff);
    const rand = seededRandom(opts.seed);
    const n = rows.length;
    if (n < 2) throw new RangeError(`isolation forest needs at least 2 training rows, got ${n}`);
    const d = rows[0]!.length;
    checkInteger('features per row', d, 1, MAX_FEATURES);
    // One row-major copy: checked once, and the build reads one typed array whatever the input type.
    const data = new Float64Array(n * d);
    for (let r = 0; r < n; r++) {
      const row = rows[r]!;
      if (row.length !== d) throw new RangeError(`row ${r} has ${row.length} features, row 0 has ${d}`);
      for (let k = 0; k < d; k++) {
        const v = row[k]!;
        if (!Number.isFinite(v)) throw new RangeError(`row ${r} feature ${k} is ${v}, not a finite number`);
        data[r * d + k] = v;
      }
    }
    const psi = Math.min(requested, n);
    const heightLimit = opts.heightLimit ?? Math.ceil(Math.log2(psi));
    checkInteger('heightLimit', heightLimit, 0, 0x7fff_ffff);

    // A tree has at most 2 psi - 1 nodes and at most 2^(h+1) - 1: start there, grow if needed.
    const perTree = Math.min(2 * psi - 1, heightLimit < 30 ? 2 ** (heightLimit + 1) - 1 : Infinity);
    const nodes = new NodeBuffer(Math.min(trees * perTree, 1 << 20));
    const roots = new Int32Array(trees);
    const sample = new Int32Array(psi);
    const candidates = new Int32Array(d);
    // Depth-first build with an explicit stack (no recursion limit whatever the height limit). The
    // left task is pushed last so it is built right after its parent: the left child is node i + 1
    // (preorder), and only the right child's index needs storing, patched when that task runs.
    const stackDepth = Math.min(heightLimit, psi) + 2;
    const stStart = new Int32Array(stackDepth);
    const stEnd = new Int32Array(stackDepth);
    const stDepth = new Int32Array(stackDepth);
    const stParent = new Int32Array(stackDepth);
    for (let t = 0; t < trees; t++) {
      roots[t] = nodes.count;
      sampleWithoutReplacement(rand, n, psi, sample);
      stStart[0] = 0;
      stEnd[0] = psi;
      stDepth[0] = 0;
      stParent[0] = -1;
      let top = 1;
      while (top > 0) {
        top--;
        const s = stStart[top]!;
        const e = stEnd[top]!;
        const depth = stDepth[top]!;
        const parent = stParent[top]!;
        const i = nodes.add(e - s);
        if (parent >= 0) nodes.right[parent] = i;
        if (depth >= heightLimit || e - s <= 1) continue; // a leaf, as added
        // Draw features until one is not constant here; a constant one would split off an empty
        // child and waste a level. Removing the rejects keeps the choice uniform over the rest.
        let remaining = d;
        for (let k = 0; k < d; k++) candidates[k] = k;
        let q = -1;
        let lo = 0;
        let hi = 0;
        while (remaining > 0) {
          const c = intBelow(rand, remaining);
          const f = candidates[c]!;
          lo = Infinity;
          hi = -Infinity;
          for (let j = s; j < e; j++) {
            const v = data[sample[j]! * d + f]!;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
          if (lo < hi) {
            q = f;
            break;
          }
          candidates[c] = candidates[remaining - 1]!;
          remaining--;
        }
        if (q < 0) continue; // all rows equal: a leaf
        let p = uniform(rand, lo, hi);
        // p must be in (lo, hi] so that both sides get a row (x < p goes left). p = lo happens when
        // the draw is 0, or by rounding when lo and hi are a few floats apart.
        if (!(p > lo)) p = hi;
        // Partition the node's rows in place: x[q] < p to the front.
        let a = s;
        let b = e - 1;
        while (a <= b) {
          const ra = sample[a]!;
          if (data[ra * d + q]! < p) a++;
          else {
            sample[a] = sample[b]!;
            sample[b] = ra;
            b--;
          }
        }
        nodes.feature[i] = q;
        nodes.threshold[i] = p;
        stStart[top] = a; // right task first, so it runs after the whole left subtree
        stEnd[top] = e;
        stDepth[top] = depth + 1;
        stParent[top] = i;
        top++;
        stStart[top] = s;
        stEnd[top] = a;
        stDepth[top] = depth + 1;
        stParent[top] = -1;
        top++;
      }
    }
    const c = nodes.count;
    return new IsolationForest(
      { trees, subsample: psi, features: d, heightLimit },
      roots,
      nodes.feature.slice(0, c),
      nodes.threshold.slice(0, c),
      nodes.right.slice(0, c),
      nodes.size.slice(0, c),
    );
  }

  /** Sum over trees of the path length of the point in `xs`. */
  private pathLengthSum(): number {
    if (!this.packed) {
      let sum = 0;
      for (let t = 0; t < this.trees; t++) sum += this.pathLength(this.xs, t);
      return sum;
    }
    const { laneRoots: roots, laneRecords32: r32, laneRecords64: r64, leafPath: lp, groupDepth, xs } = this;
    let sum = 0;
    // Eight chains by hand (p0..p7): a loop over lanes would keep the pointers in memory, not
    // registers. The shifts and mask are literals so that they compile to immediate operands.
    // Number(bool) is 0/1 without a branch; NaN compares false and goes right, as in training.
    for (let t = 0, g = 0; t < roots.length; t += LANES, g++) {
      let p0 = roots[t]!,
        p1 = roots[t + 1]!,
        p2 = roots[t + 2]!,
        p3 = roots[t + 3]!;
      let p4 = roots[t + 4]!,
        p5 = roots[t + 5]!,
        p6 = roots[t + 6]!,
        p7 = roots[t + 7]!;
      for (let k = groupDepth[g]!; k > 0; k--) {
        p0 = r32[(p0 >> 7) | Number(xs[p0 & 127]! < r64[(p0 >> 8) | 1]!)]!;
        p1 = r32[(p1 >> 7) | Number(xs[p1 & 127]! < r64[(p1 >> 8) | 1]!)]!;
        p2 = r32[(p2 >> 7) | Number(xs[p2 & 127]! < r64[(p2 >> 8) | 1]!)]!;
        p3 = r32[(p3 >> 7) | Number(xs[p3 & 127]! < r64[(p3 >> 8) | 1]!)]!;
        p4 = r32[(p4 >> 7) | Number(xs[p4 & 127]! < r64[(p4 >> 8) | 1]!)]!;
        p5 = r32[(p5 >> 7) | Number(xs[p5 & 127]! < r64[(p5 >> 8) | 1]!)]!;
        p6 = r32[(p6 >> 7) | Number(xs[p6 & 127]! < r64[(p6 >> 8) | 1]!)]!;
        p7 = r32[(p7 >> 7) | Number(xs[p7 & 127]! < r64[(p7 >> 8) | 1]!)]!;
      }
      sum +=
        lp[p0 >> 9]! +
        lp[p1 >> 9]! +
        lp[p2 >> 9]! +
        lp[p3 >> 9]! +
        lp[p4 >> 9]! +
        lp[p5 >> 9]! +
        lp[p6 >> 9]! +
        lp[p7 >> 9]!;
    }
    return sum;
  }

  /**
   * The path length of `x` in tree `tree`: depth of the leaf it reaches + c(rows in that leaf). A
   * plain walk of the stored arrays, for inspection and as the reference of the fast scoring path:
   * score(x) = 2^(-mean over trees of pathLength(x, t) / c(subsample)).
   */
  pathLength(x: ArrayLike<number>, tree: number): number {
    if (!(Number.isInteger(tree) && tree >= 0 && tree < this.trees))
      throw new RangeError(`tree must be in [0, ${this.trees}), got ${tree}`);
    if (x.length !== this.features) throw new RangeError(`expected ${this.features} features, got ${x.length}`);
    const { feature, threshold, right } = this;
    let i = this.roots[tree]!;
    for (let f = feature[i]!; f >= 0; f = feature[i]!) i = x[f]! < threshold[i]! ? i + 1 : right[i]!;
    return this.leafPath[i]!;
  }

  /**
   * The anomaly score of one point, s(x) = 2^(-E[h(x)] / c(psi)), in (0, 1]. Allocates nothing.
   *
   * @param x - the point's features, `features` of them (a NaN feature goes right at every split).
   * @throws RangeError if `x` has another number of features.
   */
  score(x: ArrayLike<number>): number {
    const d = this.features;
    if (x.length !== d) throw new RangeError(`expected ${d} features, got ${x.length}`);
    const xs = this.xs;
    for (let k = 0; k < d; k++) xs[k] = x[k]!;
    return Math.pow(2, this.pathLengthSum() * this.negInvNorm);
  }

  /**
   * Scores of many points, written to `out[0 .. rows.length)` (allocated when not given) and returned.
   *
   * @throws RangeError if `out` is too short or a row has another number of features.
   */
  scoreMany(rows: ArrayLike<ArrayLike<number>>, out?: Float64Array): Float64Array {
    const dest = out ?? new Float64Array(rows.length);
    if (dest.length < rows.length)
      throw new RangeError(`out has room for ${dest.length} scores, ${rows.length} needed`);
    for (let r = 0; r < rows.length; r++) dest[r] = this.score(rows[r]!);
    return dest;
  }

  /** Copies of the model's arrays (see {@link ForestLayout}); changing them does not change the model. */
  layout(): ForestLayout {
    return {
      roots: this.roots.slice(),
      feature: this.feature.slice(),
      threshold: this.threshold.slice(),
      right: this.right.slice(),
      size: this.size.slice(),
      depth: this.depth.slice(),
    };
  }

  /**
   * The model as bytes, little endian: a 28-byte header (magic "IFOR", u16 format version, u16
   * reserved 0, u32 trees, subsample, features, height limit, node count), then int32 roots[trees],
   * int16 feature[nodes], int32 right[nodes], int32 size[nodes], float64 threshold[nodes], then a
   * CRC-32 of everything before it. Derived arrays are not stored. Same seed and data, same bytes.
   */
  serialize(): Buffer {
    const t = this.trees;
    const n = this.nodeCount;
    const buf = Buffer.alloc(HEADER_BYTES + 4 * t + 18 * n + 4);
    buf.write(MAGIC, 0, 'latin1');
    buf.writeUInt16LE(FORMAT_VERSION, 4);
    buf.writeUInt16LE(0, 6);
    buf.writeUInt32LE(t, 8);
    buf.writeUInt32LE(this.subsample, 12);
    buf.writeUInt32LE(this.features, 16);
    buf.writeUInt32LE(this.heightLimit, 20);
    buf.writeUInt32LE(n, 24);
    // A DataView with explicit little-endian writes: the bytes do not depend on the host's order.
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let o = HEADER_BYTES;
    for (let i = 0; i < t; i++, o += 4) view.setInt32(o, this.roots[i]!, true);
    for (let i = 0; i < n; i++, o += 2) view.setInt16(o, this.feature[i]!, true);
    for (let i = 0; i < n; i++, o += 4) view.setInt32(o, this.right[i]!, true);
    for (let i = 0; i < n; i++, o += 4) view.setInt32(o, this.size[i]!, true);
    for (let i = 0; i < n; i++, o += 8) view.setFloat64(o, this.threshold[i]!, true);
    view.setUint32(o, crc32(buf.subarray(0, o)), true);
    return buf;
  }

  /**
   * Reads a model written by {@link IsolationForest.serialize}.
   *
   * @throws Error with a message naming the problem: not a model (bad magic), another format
   *   version, truncated or trailing bytes, checksum mismatch, or arrays that do not form valid trees.
   */
  static deserialize(buf: Uint8Array): IsolationForest {
    const len = buf.byteLength;
    const magic = Buffer.from(MAGIC, 'latin1');
    const head = Buffer.from(buf.buffer, buf.byteOffset, Math.min(len, magic.length));
    if (!head.equals(magic.subarray(0, head.length)))
      throw modelError(`bad magic, not an isolation forest model (expected "${MAGIC}")`);
    if (len < HEADER_BYTES) throw modelError(`truncated: ${len} bytes, the header alone is ${HEADER_BYTES}`);
    const view = new DataView(buf.buffer, buf.byteOffset, len);
    const version = view.getUint16(4, true);
    if (version !== FORMAT_VERSION)
      throw modelError(`unsupported format version ${version} (this build reads version ${FORMAT_VERSION})`);
    if (view.getUint16(6, true) !== 0) throw modelError('reserved header field is not 0');
    const trees = view.getUint32(8, true);
    const subsample = view.getUint32(12, true);
    const features = view.getUint32(16, true);
    const heightLimit = view.getUint32(20, true);
    const n = view.getUint32(24, true);
    if (trees < 1 || subsample < 2 || features < 1 || features > MAX_FEATURES || n < trees) {
      throw modelError(`implausible header: ${trees} trees, subsample ${subsample}, ${features} features, ${n} nodes`);
    }
    // Lengths checked before any allocation, so a lying header cannot make us allocate gigabytes.
    const expected = HEADER_BYTES + 4 * trees + 18 * n + 4;
    if (len < expected) throw modelError(`truncated: ${len} bytes, the header announces ${expected}`);
    if (len > expected) throw modelError(`${len - expected} unexpected bytes after the model (${expected} expected)`);
    const stored = view.getUint32(expected - 4, true);
    const actual = crc32(Buffer.from(buf.buffer, buf.byteOffset, expected - 4));
    if (stored !== actual)
      throw modelError(`checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)}): the bytes are corrupted`);
    const roots = new Int32Array(trees);
    const feature = new Int16Array(n);
    const right = new Int32Array(n);
    const size = new Int32Array(n);
    const threshold = new Float64Array(n);
    let o = HEADER_BYTES;
    for (let i = 0; i < trees; i++, o += 4) roots[i] = view.getInt32(o, true);
    for (let i = 0; i < n; i++, o += 2) feature[i] = view.getInt16(o, true);
    for (let i = 0; i < n; i++, o += 4) right[i] = view.getInt32(o, true);
    for (let i = 0; i < n; i++, o += 4) size[i] = view.getInt32(o, true);
    for (let i = 0; i < n; i++, o += 8) threshold[i] = view.getFloat64(o, true);
    return new IsolationForest({ trees, subsample, features, heightLimit }, roots, feature, threshold, right, size);
  }
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

/** Node arrays that grow by doubling while a forest is built. */
class NodeBuffer {
  count = 0;
  feature: Int16Array;
  threshold: Float64Array;
  right: Int32Array;
  size: Int32Array;

  constructor(capacity: number) {
    const c = Math.max(capacity, 16);
    this.feature = new Int16Array(c);
    this.threshold = new Float64Array(c);
    this.right = new Int32Array(c);
    this.size = new Int32Array(c);
  }

  /** Appends a leaf holding `rows` rows (a split overwrites feature and threshold) and returns its index. */
  add(rows: number): number {
    if (this.count === this.feature.length) {
      const c = this.count * 2;
      const feature = new Int16Array(c);
      const threshold = new Float64Array(c);
      const right = new Int32Array(c);
      const size = new Int32Array(c);
      feature.set(this.feature);
      threshold.set(this.threshold);
      right.set(this.right);
      size.set(this.size);
      this.feature = feature;
      this.threshold = threshold;
      this.right = right;
      this.size = size;
    }
    const i = this.count++;
    this.feature[i] = -1;
    this.threshold[i] = 0;
    this.right[i] = -1;
    this.size[i] = rows;
    return i;
  }
}

let crcTable: Int32Array | undefined;

/** CRC-32 (IEEE, as zlib and PNG), written out because zlib.crc32 needs Node 20.15+ and we support 20.0. */
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[i] = c;
    }
  }
  let crc = -1;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
