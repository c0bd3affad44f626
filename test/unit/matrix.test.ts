import {
  MATRIX_HEADER_BYTES,
  MatrixFormatError,
  concatRows,
  createMatrix,
  decodeMatrix,
  encodeMatrix,
  maxAbsDiff,
  pickRows,
  readMatrixHeader,
  rowMaxAbsDiff,
  sliceRows,
} from '../../lib/matrix';

const m = (rows: number, cols: number, start = 0) =>
  createMatrix(
    rows,
    cols,
    Float32Array.from({ length: rows * cols }, (_, i) => start + i * 0.5),
  );

describe('matrix format', () => {
  it('round-trips shape and every value, with the documented little-endian header', () => {
    const a = m(3, 4, -1.25);
    const bytes = encodeMatrix(a);
    expect(bytes.byteLength).toBe(MATRIX_HEADER_BYTES + 3 * 4 * 4);
    expect(Buffer.from(bytes.subarray(0, 4)).toString('ascii')).toBe('EMTX');
    const view = new DataView(bytes.buffer);
    expect([
      view.getUint16(4, true),
      view.getUint16(6, true),
      view.getUint32(8, true),
      view.getUint32(12, true),
    ]).toEqual([1, 1, 3, 4]);
    expect(view.getFloat32(16, true)).toBe(-1.25);
    const b = decodeMatrix(bytes);
    expect(b.rows).toBe(3);
    expect(b.cols).toBe(4);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });

  it('decodes an unaligned buffer by copying', () => {
    const bytes = encodeMatrix(m(2, 3, 7));
    const shifted = new Uint8Array(bytes.byteLength + 1);
    shifted.set(bytes, 1);
    const b = decodeMatrix(shifted.subarray(1));
    expect(Array.from(b.data)).toEqual(Array.from(m(2, 3, 7).data));
  });

  it('rejects wrong magic, truncated data, trailing data and unknown versions with a named error', () => {
    const bytes = encodeMatrix(m(2, 2));
    const badMagic = bytes.slice();
    badMagic[0] = 0x58;
    expect(() => decodeMatrix(badMagic)).toThrow(/does not start with "EMTX"/);
    expect(() => decodeMatrix(bytes.subarray(0, bytes.byteLength - 1))).toThrow(/should be 32 bytes, got 31/);
    const trailing = new Uint8Array(bytes.byteLength + 4);
    trailing.set(bytes);
    expect(() => decodeMatrix(trailing)).toThrow(MatrixFormatError);
    const v2 = bytes.slice();
    v2[4] = 2;
    expect(() => readMatrixHeader(v2)).toThrow(/version 2 is not supported/);
    expect(() => readMatrixHeader(new Uint8Array(3))).toThrow(/shorter than the 16-byte header/);
  });

  it('refuses a data array of the wrong length', () => {
    expect(() => createMatrix(2, 3, new Float32Array(5))).toThrow(/needs 6 values, got 5/);
  });
});

describe('row operations', () => {
  it('slices rows as a view and checks the range', () => {
    const a = m(5, 2);
    const s = sliceRows(a, 1, 3);
    expect(s.rows).toBe(2);
    expect(Array.from(s.data)).toEqual([1, 1.5, 2, 2.5]);
    expect(s.data.buffer).toBe(a.data.buffer);
    expect(() => sliceRows(a, 3, 6)).toThrow(/outside a matrix of 5 rows/);
  });

  it('picks rows in the given order', () => {
    expect(Array.from(pickRows(m(4, 1), [3, 0, 3]).data)).toEqual([1.5, 0, 1.5]);
    expect(() => pickRows(m(4, 1), [4])).toThrow(/row 4 is outside/);
  });

  it('concatenates in order, so slicing then concatenating gives the original back', () => {
    const a = m(7, 3);
    const back = concatRows([sliceRows(a, 0, 3), sliceRows(a, 3, 4), sliceRows(a, 4, 7)]);
    expect(back.rows).toBe(7);
    expect(Array.from(back.data)).toEqual(Array.from(a.data));
    expect(() => concatRows([m(1, 2), m(1, 3)])).toThrow(/part 1 has 3 columns, part 0 has 2/);
    expect(() => concatRows([])).toThrow(/zero matrices/);
  });
});

describe('maxAbsDiff', () => {
  it('finds the largest difference and the row it is in', () => {
    const a = m(3, 2);
    const b = createMatrix(3, 2, a.data.slice());
    expect(maxAbsDiff(a, b)).toBe(0);
    b.data[5] = a.data[5]! + 0.25;
    b.data[0] = a.data[0]! - 0.125;
    expect(maxAbsDiff(a, b)).toBe(0.25);
    expect(Array.from(rowMaxAbsDiff(a, b))).toEqual([0.125, 0, 0.25]);
  });

  it('treats NaN against a number as infinitely different and NaN against NaN as equal', () => {
    const a = createMatrix(1, 2, Float32Array.from([NaN, NaN]));
    const b = createMatrix(1, 2, Float32Array.from([NaN, 1]));
    expect(maxAbsDiff(a, b)).toBe(Infinity);
    expect(maxAbsDiff(a, createMatrix(1, 2, Float32Array.from([NaN, NaN])))).toBe(0);
  });

  it('refuses matrices of different shapes', () => {
    expect(() => maxAbsDiff(m(2, 2), m(2, 3))).toThrow(/2×2 matrix with a 2×3/);
  });
});
