/**
 * NumPy's .npy format (numpy.lib.format), versions 1.0, 2.0 and 3.0:
 *
 *   "\x93NUMPY" major minor  header-length (u16 LE in 1.0, u32 LE in 2.0/3.0)  header  data
 *
 * The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces to a 64-byte boundary and ended by '\n'. Reading takes either byte order and
 * C order; Fortran order is refused (no exporter needs it and transposing silently would surprise).
 * Writing produces the bytes np.save writes for the same array (format 1.0, little-endian, the same
 * padding), so files compare byte for byte.
 */
import {
  BYTES_PER_ELEMENT,
  TensorFormatError,
  createTensor,
  elementCount,
  viewOf,
  type DType,
  type Tensor,
} from './tensor';

export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ARRAY_ALIGN = 64;
// numpy leaves room to grow the first dimension in place: the header gets 21 − len(repr(shape[0])) spaces.
const GROWTH_AXIS_MAX_DIGITS = 21;
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** numpy descr kind+size → dtype (the byte-order character is handled apart). */
const DESCR_TO_DTYPE: Record<string, DType> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i4: 'int32',
  i8: 'int64',
  b1: 'bool',
  u1: 'uint8',
  i1: 'int8',
};
const DTYPE_TO_DESCR: Record<DType, string> = {
  float16: '<f2',
  float32: '<f4',
  float64: '<f8',
  int32: '<i4',
  int64: '<i8',
  bool: '|b1',
  uint8: '|u1',
  int8: '|i1',
};

export interface NpyReadOptions {
  /** Name given to the array (a .npy file holds one, unnamed); default 'X'. */
  name?: string;
  /** How errors name the file, e.g. "dataset.npy" or "member 'y' of data.npz"; default "the .npy file". */
  source?: string;
}

export function isNpy(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 6 && NPY_MAGIC.every((b, i) => bytes[i] === b);
}

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  dataOffset: number;
}

export function readNpyHeader(bytes: Uint8Array, source = 'the .npy file'): NpyHeader {
  if (!isNpy(bytes)) {
    throw new TensorFormatError(
      `${source} does not start with "\\x93NUMPY": it is not a .npy file; write it with numpy.save`,
    );
  }
  if (bytes.byteLength < 10) {
    throw new TensorFormatError(
      `${source} ends inside its .npy preamble (${bytes.byteLength} bytes): the file is truncated, upload it whole`,
    );
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new TensorFormatError(
      `${source} is .npy format ${major}.${minor}; this reader takes 1.0, 2.0 and 3.0, so save it with numpy.save`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.byteLength < 8 + lenBytes) {
    throw new TensorFormatError(
      `${source} ends inside its .npy preamble: the file is truncated, upload it whole`,
    );
  }
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lenBytes;
  const dataOffset = start + headerLen;
  if (bytes.byteLength < dataOffset) {
    throw new TensorFormatError(
      `${source} declares a ${headerLen}-byte header but holds only ${bytes.byteLength - start} bytes after the preamble: the file is truncated, upload it whole`,
    );
  }
  const raw = bytes.subarray(start, dataOffset);
  // 1.0/2.0 headers are latin1, 3.0 allows utf8; the keys and values read here are ASCII either way.
  const text = major === 3 ? new TextDecoder('utf-8').decode(raw) : latin1(raw);
  return { ...parseHeaderDict(text, source), dataOffset };
}

/**
 * The array of a .npy file. Its data is a view into `bytes` where the dtype allows (little-endian,
 * aligned, which np.save's 64-byte header gives) and a copy otherwise: copy `bytes` first if it
 * will be reused.
 */
export function readNpy(bytes: Uint8Array, options: NpyReadOptions = {}): Tensor {
  const source = options.source ?? 'the .npy file';
  const name = options.name ?? 'X';
  const header = readNpyHeader(bytes, source);
  if (header.fortranOrder && header.shape.length > 1) {
    throw new TensorFormatError(
      `${source} stores its array in Fortran (column-major) order; save it in C order with numpy.save(path, numpy.ascontiguousarray(a))`,
    );
  }
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(header.descr);
  const dtype = m ? DESCR_TO_DTYPE[`${m[2]}${m[3]}`] : undefined;
  if (!m || !dtype) {
    throw new TensorFormatError(
      `${source} holds dtype '${header.descr}', which datasets do not take; convert it with a.astype('float32') (or float16/64, int8/32/64, uint8, bool)`,
    );
  }
  const size = BYTES_PER_ELEMENT[dtype];
  // '=' is native order: numpy writes '<' or '>' itself, but a hand-made header may say '='.
  const bigEndian = m[1] === '>' || (m[1] === '=' && !HOST_IS_LITTLE_ENDIAN);
  const n = elementCount(header.shape);
  const expected = header.dataOffset + n * size;
  if (bytes.byteLength !== expected) {
    throw new TensorFormatError(
      `${source} has shape (${header.shape.join(', ')}) of ${header.descr}, so ${n * size} data bytes, but holds ${bytes.byteLength - header.dataOffset}: ` +
        (bytes.byteLength < expected
          ? 'the file is truncated, upload it whole'
          : 'remove the trailing bytes or save it again with numpy.save'),
    );
  }
  const start = bytes.byteOffset + header.dataOffset;
  let data;
  if (size === 1 || (!bigEndian && HOST_IS_LITTLE_ENDIAN && start % size === 0)) {
    data = viewOf(dtype, bytes.buffer, start, n);
  } else {
    // A copy of its own (a Node Buffer's slice is a view into a shared pool, not a copy).
    const copy = Uint8Array.prototype.slice.call(bytes, header.dataOffset, expected);
    if (bigEndian === HOST_IS_LITTLE_ENDIAN) swapBytes(copy, size);
    data = viewOf(dtype, copy.buffer, 0, n);
  }
  if (dtype === 'bool') {
    for (let i = 0; i < n; i++) {
      if (data[i]! > 1) {
        throw new TensorFormatError(
          `${source} is bool but element ${i} is ${data[i]}; bools are stored as 0 or 1, so save it with numpy.save`,
        );
      }
    }
  }
  return createTensor(name, dtype, header.shape, data);
}

/** The bytes np.save(path, a) writes for this tensor (format 1.0 unless the header needs 2.0). */
export function writeNpy(t: Tensor): Uint8Array {
  createTensor(t.name, t.dtype, t.shape, t.data); // validates
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let dict = `{'descr': '${DTYPE_TO_DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  if (t.shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(t.shape[0]).length));
  const hlen = dict.length + 1;
  let lenBytes = 2;
  let major = 1;
  let padlen = ARRAY_ALIGN - ((8 + lenBytes + hlen) % ARRAY_ALIGN);
  if (hlen + padlen > 0xffff) {
    lenBytes = 4;
    major = 2;
    padlen = ARRAY_ALIGN - ((8 + lenBytes + hlen) % ARRAY_ALIGN);
  }
  const headerBytes = new TextEncoder().encode(dict + ' '.repeat(padlen) + '\n');
  const dataOffset = 8 + lenBytes + headerBytes.length;
  const dataBytes = t.data.length * BYTES_PER_ELEMENT[t.dtype];
  const out = new Uint8Array(dataOffset + dataBytes);
  out.set(NPY_MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (lenBytes === 2) view.setUint16(8, headerBytes.length, true);
  else view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 8 + lenBytes);
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, dataBytes), dataOffset);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(out.subarray(dataOffset), BYTES_PER_ELEMENT[t.dtype]);
  return out;
}

/** A tensor's bytes in little-endian order, as .npy and ONNX store them (a copy). */
export function littleEndianBytes(t: Tensor): Uint8Array {
  const out = new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(out, BYTES_PER_ELEMENT[t.dtype]);
  return out;
}

function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const tmp = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = tmp;
    }
  }
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/**
 * Parses the header dict numpy writes: three keys, string / bool / tuple-of-ints values. A small
 * tokenizer rather than a regex per key, so key order and whitespace do not matter.
 */
function parseHeaderDict(text: string, source: string): Omit<NpyHeader, 'dataOffset'> {
  const bad = (why: string) =>
    new TensorFormatError(
      `${source} has an unreadable .npy header (${why}); save the array again with numpy.save`,
    );
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const expect = (c: string) => {
    ws();
    if (text[i] !== c) throw bad(`expected '${c}' at character ${i}`);
    i++;
  };
  const str = (): string => {
    ws();
    const q = text[i];
    if (q !== "'" && q !== '"') throw bad(`expected a quoted string at character ${i}`);
    const end = text.indexOf(q, i + 1);
    if (end < 0) throw bad('a string is not closed');
    const s = text.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const value = (): string | boolean | number[] => {
    ws();
    if (text.startsWith('True', i)) return ((i += 4), true);
    if (text.startsWith('False', i)) return ((i += 5), false);
    if (text[i] === "'" || text[i] === '"') return str();
    if (text[i] === '(') {
      i++;
      const dims: number[] = [];
      for (;;) {
        ws();
        if (text[i] === ')') {
          i++;
          return dims;
        }
        const m = /^\d+/.exec(text.slice(i));
        if (!m) throw bad(`expected a dimension at character ${i}`);
        dims.push(Number(m[0]));
        i += m[0].length;
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ')') throw bad(`expected ',' or ')' at character ${i}`);
      }
    }
    if (text[i] === '[')
      throw bad('a structured dtype (a list of fields); datasets take plain numeric arrays');
    throw bad(`unexpected '${text[i] ?? 'end of header'}' at character ${i}`);
  };
  const fields: Record<string, string | boolean | number[]> = {};
  expect('{');
  for (;;) {
    ws();
    if (text[i] === '}') break;
    const key = str();
    expect(':');
    fields[key] = value();
    ws();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') throw bad(`expected ',' or '}' at character ${i}`);
  }
  const { descr, fortran_order: fortranOrder, shape } = fields;
  if (typeof descr !== 'string') throw bad("no 'descr' string");
  if (typeof fortranOrder !== 'boolean') throw bad("no 'fortran_order' True/False");
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d)))
    throw bad("no 'shape' tuple of integers");
  return { descr, fortranOrder, shape };
}
