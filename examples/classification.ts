/**
 * A seeded synthetic classification set for fedavg-train: Gaussian clusters close enough to overlap,
 * so a classifier's accuracy climbs over several epochs instead of reaching 100% at once.
 *
 * Format (what fedavg-train splits and its train-step graphs read): one EMETH matrix per split,
 * N × (D + 1) float32, the D features then the class index (0..C−1, an exact small integer stored
 * as a float) in the last column. One matrix rather than two keeps a Job's dataset one blob and
 * keeps every shard's labels next to its rows.
 */
import { createMatrix, type Matrix } from '../lib/matrix';
import { seededRandom } from '../lib/programs';

export interface ClassificationOptions {
  /** Training rows (default 4,000). */
  rows?: number;
  /** Held-out rows drawn from the same distribution (default 1,000). */
  testRows?: number;
  /** Features per row, D (default 20). */
  features?: number;
  /** Classes, C (default 4). */
  classes?: number;
  /**
   * Distance scale of the class centres relative to the unit-variance noise (default 0.6 per
   * feature). Smaller overlaps more; the default leaves a best possible accuracy near 0.9.
   */
  separation?: number;
  seed?: string;
}

export interface ClassificationSet {
  /** rows × (features + 1): features, then the class index. */
  train: Matrix;
  /** testRows × (features + 1), same layout. */
  test: Matrix;
  features: number;
  classes: number;
}

export function syntheticClassification(options: ClassificationOptions = {}): ClassificationSet {
  const {
    rows = 4_000,
    testRows = 1_000,
    features = 20,
    classes = 4,
    separation = 0.6,
    seed = 'emeth-classification',
  } = options;
  const rand = seededRandom(seed);
  const gauss = () => {
    const u = 1 - rand(); // 1 − u keeps log away from 0
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const centres = Float64Array.from({ length: classes * features }, () => separation * gauss());
  // Features of unequal scale (0.5..2): plain gradient descent then needs several epochs, which is
  // what makes the accuracy curve rise visibly.
  const scale = Float64Array.from(
    { length: features },
    (_, j) => 0.5 + (1.5 * j) / Math.max(1, features - 1),
  );
  const draw = (n: number): Matrix => {
    const width = features + 1;
    const data = new Float32Array(n * width);
    for (let r = 0; r < n; r++) {
      const k = Math.floor(rand() * classes);
      for (let j = 0; j < features; j++)
        data[r * width + j] = scale[j]! * (centres[k * features + j]! + gauss());
      data[r * width + features] = k;
    }
    return createMatrix(n, width, data);
  };
  return { train: draw(rows), test: draw(testRows), features, classes };
}

/** The class index of every row of a classification matrix (its last column). */
export function labelsOf(m: Matrix): Int32Array {
  const out = new Int32Array(m.rows);
  for (let r = 0; r < m.rows; r++) out[r] = m.data[r * m.cols + m.cols - 1]!;
  return out;
}
