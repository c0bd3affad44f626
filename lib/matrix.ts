/**
 * EMETH's matrix format: row-major float32 matrices for datasets, shards and outputs.
 *
 *   offset 0  4 bytes  magic "EMTX"
 *          4  u16 LE   version (1)
 *          6  u16 LE   dtype (1 = float32; the only one so far)
 *          8  u32 LE   rows
 *         12  u32 LE   cols
 *         16  rows × cols float32 LE
 *
 * The 16-byte header keeps the data 4-byte aligned, so decoding is a zero-copy view whenever the
 * input buffer is aligned. Pure: no I/O, no hashing (storage hashes the encoded bytes).
 */
import { EmethError } from './errors';

export interface Matrix {
  rows: number;
  cols: number;
  /** rows × cols values, row-major. May be a view into a larger buffer. */
  data: Float32Array;
}

export const MATRIX_MAGIC = 'EMTX';
export const MATRIX_VERSION = 1;
export const MATRIX_DTYPE_FLOAT32 = 1;
export const MATRIX_HEADER_BYTES = 16;

const MAGIC_BYTES = [0x45, 0x4d, 0x54, 0x58];
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class MatrixFormatError extends EmethError {
  constructor(message: string) {
    super('MATRIX_FORMAT', message);
  }
}

export function createMatrix(rows: number, cols: number, data?: Float32Array): Matrix {
  checkDim('rows', rows);
  checkDim('cols', cols);
  const values = data ?? new Float32Array(rows * cols);
  if (values.length !== rows * cols) {
    throw new MatrixFormatError(`a ${rows}×${cols} matrix needs ${rows * cols} values, got ${values.length}`);
  }
  return { rows, cols, data: values };
}

/** The 16-byte header alone: for writers that stream the data after it. */
export function encodeMatrixHeader(rows: number, cols: number): Uint8Array {
  checkDim('rows', rows);
  checkDim('cols', cols);
  const out = new Uint8Array(MATRIX_HEADER_BYTES);
  const view = new DataView(out.buffer);
  out.set(MAGIC_BYTES, 0);
  view.setUint16(4, MATRIX_VERSION, true);
  view.setUint16(6, MATRIX_DTYPE_FLOAT32, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, cols, true);
  return out;
}

export function encodeMatrix(m: Matrix): Uint8Array {
  createMatrix(m.rows, m.cols, m.data); // validates the shape
  const out = new Uint8Array(MATRIX_HEADER_BYTES + m.data.length * 4);
  out.set(encodeMatrixHeader(m.rows, m.cols), 0);
  if (HOST_IS_LITTLE_ENDIAN) {
    out.set(new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength), MATRIX_HEADER_BYTES);
  } else {
    const view = new DataView(out.buffer);
    for (let i = 0; i < m.data.length; i++) view.setFloat32(MATRIX_HEADER_BYTES + i * 4, m.data[i]!, true);
  }
  return out;
}

/** Reads the header only: enough to plan a split without touching the data. */
export function readMatrixHeader(bytes: Uint8Array): { rows: number; cols: number } {
  if (bytes.byteLength < MATRIX_HEADER_BYTES) {
    throw new MatrixFormatError(
      `not an EMETH matrix: ${bytes.byteLength} bytes is shorter than the ${MATRIX_HEADER_BYTES}-byte header`,
    );
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) {
      throw new MatrixFormatError(
        `not an EMETH matrix: the file does not start with "${MATRIX_MAGIC}"; write datasets with encodeMatrix (examples/generate.ts shows how)`,
      );
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, MATRIX_HEADER_BYTES);
  const version = view.getUint16(4, true);
  const dtype = view.getUint16(6, true);
  if (version !== MATRIX_VERSION) {
    throw new MatrixFormatError(
      `EMETH matrix version ${version} is not supported (this build reads ${MATRIX_VERSION})`,
    );
  }
  if (dtype !== MATRIX_DTYPE_FLOAT32) {
    throw new MatrixFormatError(`EMETH matrix dtype ${dtype} is not supported (only 1 = float32)`);
  }
  return { rows: view.getUint32(8, true), cols: view.getUint32(12, true) };
}

/** Zero-copy when `bytes` is 4-byte aligned on a little-endian host; a copy otherwise. */
export function decodeMatrix(bytes: Uint8Array): Matrix {
  const { rows, cols } = readMatrixHeader(bytes);
  const expected = MATRIX_HEADER_BYTES + rows * cols * 4;
  if (bytes.byteLength !== expected) {
    throw new MatrixFormatError(
      `EMETH matrix ${rows}×${cols} should be ${expected} bytes, got ${bytes.byteLength} (truncated or trailing data)`,
    );
  }
  const start = bytes.byteOffset + MATRIX_HEADER_BYTES;
  let data: Float32Array;
  if (HOST_IS_LITTLE_ENDIAN && start % 4 === 0) {
    data = new Float32Array(bytes.buffer, start, rows * cols);
  } else if (HOST_IS_LITTLE_ENDIAN) {
    // An aligned copy of its own (a Node Buffer's slice would be a view into a shared pool).
    data = new Float32Array(Uint8Array.prototype.slice.call(bytes, MATRIX_HEADER_BYTES).buffer);
  } else {
    const view = new DataView(bytes.buffer, start, rows * cols * 4);
    data = new Float32Array(rows * cols);
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
  }
  return { rows, cols, data };
}

/** Rows [start, end) as a view (no copy). */
export function sliceRows(m: Matrix, start: number, end: number): Matrix {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > m.rows) {
    throw new MatrixFormatError(`row range [${start}, ${end}) is outside a matrix of ${m.rows} rows`);
  }
  return { rows: end - start, cols: m.cols, data: m.data.subarray(start * m.cols, end * m.cols) };
}

/** The given rows (any order, repeats allowed) copied into a new matrix. */
export function pickRows(m: Matrix, rows: readonly number[]): Matrix {
  const out = new Float32Array(rows.length * m.cols);
  rows.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r >= m.rows) {
      throw new MatrixFormatError(`row ${r} is outside a matrix of ${m.rows} rows`);
    }
    out.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols);
  });
  return { rows: rows.length, cols: m.cols, data: out };
}

/** Stacks matrices in the given order; all must have the same number of columns. */
export function concatRows(parts: readonly Matrix[]): Matrix {
  if (parts.length === 0) throw new MatrixFormatError('cannot concatenate zero matrices');
  const cols = parts[0]!.cols;
  let rows = 0;
  parts.forEach((p, i) => {
    if (p.cols !== cols) {
      throw new MatrixFormatError(
        `part ${i} has ${p.cols} columns, part 0 has ${cols}; outputs of one model must agree`,
      );
    }
    rows += p.rows;
  });
  const data = new Float32Array(rows * cols);
  let offset = 0;
  for (const p of parts) {
    data.set(p.data, offset);
    offset += p.data.length;
  }
  return { rows, cols, data };
}

/** |a − b| of two values, where NaN against a number counts as Infinity and NaN against NaN as 0. */
function absDiff(x: number, y: number): number {
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y) ? 0 : Infinity;
  if (x === y) return 0; // also equal infinities
  return Math.abs(x - y);
}

/** Largest absolute difference of each row; both matrices must have the same shape. */
export function rowMaxAbsDiff(a: Matrix, b: Matrix): Float64Array {
  assertSameShape(a, b);
  const out = new Float64Array(a.rows);
  for (let r = 0; r < a.rows; r++) {
    let worst = 0;
    const base = r * a.cols;
    for (let c = 0; c < a.cols; c++) {
      const d = absDiff(a.data[base + c]!, b.data[base + c]!);
      if (d > worst) worst = d;
    }
    out[r] = worst;
  }
  return out;
}

/** Largest absolute difference over all values (0 for two empty matrices of one shape). */
export function maxAbsDiff(a: Matrix, b: Matrix): number {
  let worst = 0;
  for (const d of rowMaxAbsDiff(a, b)) if (d > worst) worst = d;
  return worst;
}

function assertSameShape(a: Matrix, b: Matrix): void {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new MatrixFormatError(`cannot compare a ${a.rows}×${a.cols} matrix with a ${b.rows}×${b.cols} one`);
  }
}

function checkDim(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new MatrixFormatError(`${what} must be an integer in [0, 2^32), got ${n}`);
  }
}
