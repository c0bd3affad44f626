/** Example datasets: seeded synthetic rows, so examples and tests are reproducible without downloads. */
import { createMatrix, type Matrix } from '../lib/matrix';
import { seededRandom } from '../lib/programs';

export interface SyntheticRowsOptions {
  rows?: number;
  cols?: number;
  /** Cluster centres the rows are drawn around (a classifier then has something to separate). */
  clusters?: number;
  seed?: string;
}

/** rows × cols float32 values: Gaussian noise (σ = 1) around `clusters` random centres (σ = 3). */
export function syntheticRows(options: SyntheticRowsOptions = {}): Matrix {
  const { rows = 10_000, cols = 32, clusters = 10, seed = 'emeth-rows' } = options;
  const rand = seededRandom(seed);
  const gauss = () => {
    // Box–Muller; 1 − u keeps log away from 0.
    const u = 1 - rand();
    const v = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const centres = Float32Array.from({ length: clusters * cols }, () => 3 * gauss());
  const data = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const k = Math.floor(rand() * clusters);
    for (let c = 0; c < cols; c++) data[r * cols + c] = centres[k * cols + c]! + gauss();
  }
  return createMatrix(rows, cols, data);
}
