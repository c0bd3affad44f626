/**
 * Named n-dimensional arrays: what datasets hold and what models take and give. Pure: no I/O.
 *
 * Data is row-major (C order) in a typed array per dtype. int64 is a BigInt64Array so no value loses
 * precision; float16 keeps its IEEE 754 half bits in a Uint16Array (JavaScript has no half floats;
 * onnxruntime-node takes float16 tensors as Uint16Array too); bool is a Uint8Array of 0/1.
 */
import { EmethError } from '../errors';

export type DType = 'float16' | 'float32' | 'float64' | 'int32' | 'int64' | 'bool' | 'uint8' | 'int8';

export const DTYPES: readonly DType[] = [
  'float16',
  'float32',
  'float64',
  'int32',
  'int64',
  'bool',
  'uint8',
  'int8',
];

export interface DTypeArrays {
  float16: Uint16Array;
  float32: Float32Array;
  float64: Float64Array;
  int32: Int32Array;
  int64: BigInt64Array;
  bool: Uint8Array;
  uint8: Uint8Array;
  int8: Int8Array;
}

export type TypedArray = DTypeArrays[DType];

export interface Tensor<D extends DType = DType> {
  name: string;
  dtype: D;
  /** Dimensions, outermost first; [] is a scalar. The first one is the batch (row) dimension. */
  shape: number[];
  /** shape's product of values, row-major. May be a view into a larger buffer. */
  data: DTypeArrays[D];
}

/** Anything wrong with a dataset or tensor: the message names the file, array or column and what to do. */
export class TensorFormatError extends EmethError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATASET_FORMAT', message, options);
  }
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float16: 2,
  float32: 4,
  float64: 8,
  int32: 4,
  int64: 8,
  bool: 1,
  uint8: 1,
  int8: 1,
};

const CONSTRUCTORS = {
  float16: Uint16Array,
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
} as const;

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** A zero-filled array of `length` elements of `dtype`. */
export function allocate<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
  return new CONSTRUCTORS[dtype](length) as DTypeArrays[D];
}

/** A view of `byteLength / size` elements over `buffer` (which must be aligned for the dtype). */
export function viewOf<D extends DType>(
  dtype: D,
  buffer: ArrayBufferLike,
  byteOffset: number,
  length: number,
) {
  return new CONSTRUCTORS[dtype](buffer as ArrayBuffer, byteOffset, length) as DTypeArrays[D];
}

/** Checks shape against data and dtype against the array type; returns the tensor unchanged. */
export function createTensor<D extends DType>(
  name: string,
  dtype: D,
  shape: readonly number[],
  data?: DTypeArrays[D],
): Tensor<D> {
  if (!isDType(dtype)) {
    throw new TensorFormatError(
      `array '${name}' has dtype '${String(dtype)}', which is not one of ${DTYPES.join(', ')}`,
    );
  }
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new TensorFormatError(
        `array '${name}' has shape [${shape.join(', ')}]: every dimension must be an integer ≥ 0`,
      );
    }
  }
  const n = elementCount(shape);
  const values = data ?? allocate(dtype, n);
  if (!(values instanceof CONSTRUCTORS[dtype])) {
    throw new TensorFormatError(
      `array '${name}' is ${dtype} but its data is a ${values.constructor.name}; use a ${CONSTRUCTORS[dtype].name}`,
    );
  }
  if (values.length !== n) {
    throw new TensorFormatError(
      `array '${name}' of shape [${shape.join(', ')}] needs ${n} values but holds ${values.length}; fix the shape or the data`,
    );
  }
  return { name, dtype, shape: [...shape], data: values };
}

/** The dtype a typed array stands for, where it is unambiguous (Uint8Array reads as uint8). */
export function dtypeOfArray(data: TypedArray): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Uint16Array) return 'float16';
  if (data instanceof Int8Array) return 'int8';
  return 'uint8';
}

/** Number of rows: the first dimension. A scalar has none, so it cannot be split. */
export function rowCount(t: Tensor): number {
  if (t.shape.length === 0) {
    throw new TensorFormatError(`array '${t.name}' is a scalar (shape []): it has no rows to split or join`);
  }
  return t.shape[0]!;
}

/** Rows [start, end) along the first dimension, for any rank, as a view (no copy). */
export function sliceRows<D extends DType>(t: Tensor<D>, start: number, end: number): Tensor<D> {
  const rows = rowCount(t);
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > rows) {
    throw new TensorFormatError(
      `row range [${start}, ${end}) is outside array '${t.name}' of ${rows} rows; pick 0 ≤ start ≤ end ≤ ${rows}`,
    );
  }
  const per = elementCount(t.shape.slice(1));
  return {
    name: t.name,
    dtype: t.dtype,
    shape: [end - start, ...t.shape.slice(1)],
    data: t.data.subarray(start * per, end * per) as DTypeArrays[D],
  };
}

/** Stacks tensors along the first dimension: the inverse of sliceRows. Dtype and inner shape must agree. */
export function concatRows<D extends DType>(parts: readonly Tensor<D>[]): Tensor<D> {
  if (parts.length === 0) throw new TensorFormatError('cannot join zero arrays: pass at least one shard');
  const first = parts[0]!;
  const inner = first.shape.slice(1);
  let rows = 0;
  parts.forEach((p, i) => {
    rows += rowCount(p);
    if (p.dtype !== first.dtype) {
      throw new TensorFormatError(
        `part ${i} of '${first.name}' is ${p.dtype} but part 0 is ${first.dtype}; shards of one array must share a dtype`,
      );
    }
    const pInner = p.shape.slice(1);
    if (pInner.length !== inner.length || pInner.some((d, k) => d !== inner[k])) {
      throw new TensorFormatError(
        `part ${i} of '${first.name}' has rows of shape [${pInner.join(', ')}] but part 0 has [${inner.join(', ')}]; shards of one array must agree`,
      );
    }
  });
  const data = allocate(first.dtype, rows * elementCount(inner));
  let offset = 0;
  for (const p of parts) {
    (data as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p.data, offset);
    offset += p.data.length;
  }
  return { name: first.name, dtype: first.dtype, shape: [rows, ...inner], data };
}

/** The same values as float64 numbers (int64 through Number: exact up to 2^53; float16 decoded). */
export function toFloat64(t: Tensor): Float64Array {
  if (t.dtype === 'float16') return Float64Array.from(float16BitsToFloat32(t.data as Uint16Array));
  if (t.dtype === 'int64') return Float64Array.from(t.data as BigInt64Array, (v) => Number(v));
  return Float64Array.from(t.data as ArrayLike<number>);
}

/** The same values rounded to float32, as models take them (a float32 tensor's own array, not a copy). */
export function toFloat32(t: Tensor): Float32Array {
  if (t.dtype === 'float32') return t.data as Float32Array;
  if (t.dtype === 'float16') return float16BitsToFloat32(t.data as Uint16Array);
  if (t.dtype === 'int64') return Float32Array.from(t.data as BigInt64Array, (v) => Number(v));
  return Float32Array.from(t.data as ArrayLike<number>);
}

// ---------------------------------------------------------------- float16

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One IEEE 754 half (its 16 bits) as a number; exact, since every half is a float32. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A number rounded to the nearest half (ties to even), as its 16 bits; overflow gives ±Infinity. */
export function numberToFloat16(value: number): number {
  f32[0] = value; // first to float32, as numpy's float32→float16 does for float32 inputs
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf or NaN (quiet)
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in, round to nearest even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let m = mant >> 13;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = float16ToNumber(bits[i]!);
  return out;
}

export function float32ToFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToFloat16(values[i]!);
  return out;
}

/** The values as a plain array (int64 as bigint, float16 as its bits), e.g. for JSON or tests. */
export function valuesOf(t: Tensor): (number | bigint)[] {
  return Array.from(t.data as ArrayLike<number | bigint>);
}
