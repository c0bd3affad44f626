import fc from 'fast-check';
import { EmethError } from '../../lib/errors';
import {
  TensorFormatError,
  concatRows,
  createTensor,
  float16BitsToFloat32,
  float16ToNumber,
  float32ToFloat16Bits,
  numberToFloat16,
  sliceRows,
  toFloat32,
  toFloat64,
} from '../../lib/tensors';

describe('tensors', () => {
  it('checks the data against the shape and the dtype, with errors that say what to fix', () => {
    const t = createTensor('x', 'int32', [2, 3], Int32Array.from([1, 2, 3, 4, 5, 6]));
    expect(t.shape).toEqual([2, 3]);
    expect(() => createTensor('x', 'int32', [2, 2], Int32Array.from([1, 2, 3]))).toThrow(
      "array 'x' of shape [2, 2] needs 4 values but holds 3; fix the shape or the data",
    );
    expect(() => createTensor('x', 'float32', [1], new Float64Array(1) as never)).toThrow(
      "array 'x' is float32 but its data is a Float64Array; use a Float32Array",
    );
    expect(() => createTensor('x', 'float32', [-1])).toThrow(/every dimension must be an integer ≥ 0/);
    expect(() => createTensor('x', 'uint16' as never, [1])).toThrow(/dtype 'uint16', which is not one of/);
    const err = (() => {
      try {
        createTensor('x', 'float32', [2], new Float32Array(1));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TensorFormatError);
    expect(err).toBeInstanceOf(EmethError);
    expect((err as EmethError).code).toBe('DATASET_FORMAT');
  });

  it('allocates zeros of the right array type when no data is given', () => {
    expect(createTensor('a', 'int64', [2]).data).toEqual(new BigInt64Array(2));
    expect(createTensor('a', 'float16', [1, 2]).data).toBeInstanceOf(Uint16Array);
    expect(createTensor('a', 'bool', [3]).data).toBeInstanceOf(Uint8Array);
    expect(createTensor('a', 'float64', []).data.length).toBe(1); // a scalar holds one value
  });

  it('slices rows of any rank as views and joins them back to the same tensor', () => {
    const img = createTensor(
      'img',
      'float32',
      [5, 1, 2, 3],
      Float32Array.from({ length: 30 }, (_, i) => i),
    );
    const a = sliceRows(img, 0, 2);
    const b = sliceRows(img, 2, 5);
    expect(a.shape).toEqual([2, 1, 2, 3]);
    expect(b.shape).toEqual([3, 1, 2, 3]);
    expect(Array.from(b.data.subarray(0, 3))).toEqual([12, 13, 14]);
    expect(b.data.buffer).toBe(img.data.buffer); // a view, no copy
    const joined = concatRows([a, b]);
    expect(joined.shape).toEqual(img.shape);
    expect(joined.data).toEqual(img.data);
    const ints = createTensor('y', 'int64', [3], BigInt64Array.from([1n, 2n, 3n]));
    expect(concatRows([sliceRows(ints, 0, 1), sliceRows(ints, 1, 3)]).data).toEqual(ints.data);
    expect(sliceRows(ints, 3, 3).shape).toEqual([0]);
  });

  it('refuses row ranges outside the tensor, scalars, and parts that do not fit together', () => {
    const t = createTensor('x', 'float32', [4, 2]);
    expect(() => sliceRows(t, 2, 5)).toThrow(
      "row range [2, 5) is outside array 'x' of 4 rows; pick 0 ≤ start ≤ end ≤ 4",
    );
    expect(() => sliceRows(t, 3, 2)).toThrow(/outside array 'x'/);
    expect(() => sliceRows(createTensor('s', 'float32', []), 0, 1)).toThrow(
      "array 's' is a scalar (shape []): it has no rows to split or join",
    );
    expect(() => concatRows([t, createTensor('x', 'float32', [1, 3])])).toThrow(
      "part 1 of 'x' has rows of shape [3] but part 0 has [2]; shards of one array must agree",
    );
    expect(() => concatRows([t, createTensor('x', 'float64', [1, 2])])).toThrow(
      /part 1 of 'x' is float64 but part 0 is float32/,
    );
    expect(() => concatRows([])).toThrow('cannot join zero arrays: pass at least one shard');
  });

  it('any split point of any tensor joins back to the original (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 }),
        fc.integer({ min: 0, max: 9 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        (inner, rows, cutsRaw) => {
          const shape = [rows, ...inner];
          const n = shape.reduce((a, b) => a * b, 1);
          const t = createTensor(
            't',
            'float64',
            shape,
            Float64Array.from({ length: n }, (_, i) => i * 0.5),
          );
          const cuts = [...new Set(cutsRaw.map((c) => c % (rows + 1)))].sort((a, b) => a - b);
          const bounds = [0, ...cuts, rows];
          const parts = bounds.slice(1).map((end, i) => sliceRows(t, bounds[i]!, end));
          const back = concatRows(parts);
          expect(back.shape).toEqual(shape);
          expect(back.data).toEqual(t.data);
        },
      ),
    );
  });

  it('decodes every one of the 65536 float16 bit patterns and encodes each back to itself', () => {
    const wrong: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = float16ToNumber(bits);
      const isNaN = (bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0;
      if (isNaN ? !Number.isNaN(v) : numberToFloat16(v) !== bits) wrong.push(bits);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to the nearest float16, ties to even, overflowing to infinity as numpy does', () => {
    // Values and bits from numpy: np.array([...], np.float16).view(np.uint16)
    expect(numberToFloat16(1)).toBe(0x3c00);
    expect(numberToFloat16(65504)).toBe(0x7bff); // the largest half
    expect(numberToFloat16(65520)).toBe(0x7c00); // rounds up to infinity
    expect(numberToFloat16(-0)).toBe(0x8000);
    expect(numberToFloat16(1 + 2 ** -11)).toBe(0x3c00); // a tie: to even (down)
    expect(numberToFloat16(1 + 3 * 2 ** -11)).toBe(0x3c02); // a tie: to even (up)
    expect(numberToFloat16(2 ** -24)).toBe(0x0001); // the smallest subnormal
    expect(numberToFloat16(2 ** -25)).toBe(0x0000); // a tie to even zero
    expect(numberToFloat16(1.5 * 2 ** -25)).toBe(0x0001);
    expect(numberToFloat16(0.1)).toBe(0x2e66);
    expect(Number.isNaN(float16ToNumber(numberToFloat16(NaN)))).toBe(true);
    expect(float16BitsToFloat32(float32ToFloat16Bits([0.5, -2, 1e-4]))).toEqual(
      Float32Array.from([0.5, -2, float16ToNumber(0x068e)]),
    );
  });

  it('converts any dtype to float32 and float64 values', () => {
    expect(toFloat32(createTensor('a', 'int64', [2], BigInt64Array.from([3n, -4n])))).toEqual(
      Float32Array.from([3, -4]),
    );
    expect(toFloat64(createTensor('a', 'float16', [1], Uint16Array.from([0x3c00])))).toEqual(
      Float64Array.from([1]),
    );
    expect(toFloat32(createTensor('a', 'bool', [2], Uint8Array.from([1, 0])))).toEqual(
      Float32Array.from([1, 0]),
    );
  });
});
