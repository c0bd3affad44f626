import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  TensorFormatError,
  createTensor,
  readNpy,
  readNpyHeader,
  valuesOf,
  writeNpy,
} from '../../lib/tensors';

const FIXTURES = path.join(__dirname, '../../examples/fixtures/data');
const fixture = (name: string) => new Uint8Array(readFileSync(path.join(FIXTURES, name)));

/** A .npy file with a hand-written header dict, padded as numpy pads it. */
function npyWith(dict: string, data: Uint8Array, major = 1): Uint8Array {
  const lenBytes = major === 1 ? 2 : 4;
  let header = dict;
  while ((8 + lenBytes + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const out = new Uint8Array(8 + lenBytes + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), 8 + lenBytes);
  out.set(data, 8 + lenBytes + header.length);
  return out;
}

describe('.npy', () => {
  it('reads what numpy.save wrote: digits X float32 [256, 64] and y int64 [256]', () => {
    const x = readNpy(fixture('digits-X.npy'));
    expect(x).toMatchObject({ name: 'X', dtype: 'float32', shape: [256, 64] });
    // load_digits().data[0][:8] = [0, 0, 5, 13, 9, 1, 0, 0]
    expect(valuesOf(x).slice(0, 8)).toEqual([0, 0, 5, 13, 9, 1, 0, 0]);
    const y = readNpy(fixture('digits-y.npy'), { name: 'y' });
    expect(y).toMatchObject({ name: 'y', dtype: 'int64', shape: [256] });
    expect(valuesOf(y).slice(0, 12)).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 0n, 1n]);
  });

  it('writes the same bytes numpy.save writes, for every dtype and rank in the fixtures', () => {
    for (const name of [
      'digits-X.npy',
      'digits-y.npy',
      'digits-images.npy',
      'small-int32-3d.npy',
      'small-bool.npy',
      'small-float16.npy',
      'small-scalar.npy',
    ]) {
      const bytes = fixture(name);
      const written = writeNpy(readNpy(bytes));
      expect({ name, equal: Buffer.compare(Buffer.from(written), Buffer.from(bytes)) === 0 }).toEqual({
        name,
        equal: true,
      });
    }
  });

  it('reads ranks 0 to 4, bool, float16 bits, and formats 2.0 and 3.0', () => {
    expect(readNpy(fixture('small-scalar.npy'))).toMatchObject({
      dtype: 'float64',
      shape: [],
      data: Float64Array.from([3.25]),
    });
    const cube = readNpy(fixture('small-int32-3d.npy'));
    expect(cube.shape).toEqual([2, 3, 4]);
    expect(valuesOf(cube)).toEqual(Array.from({ length: 24 }, (_, i) => i));
    expect(readNpy(fixture('digits-images.npy')).shape).toEqual([256, 1, 8, 8]);
    expect(readNpy(fixture('small-bool.npy'))).toMatchObject({
      dtype: 'bool',
      data: Uint8Array.from([1, 0, 1, 1]),
    });
    // np.array([[0.5, -2, 65504], [1e-4, 0, -0.0]], np.float16).view(np.uint16)
    expect(readNpy(fixture('small-float16.npy'))).toMatchObject({
      dtype: 'float16',
      shape: [2, 3],
      data: Uint16Array.from([0x3800, 0xc000, 0x7bff, 0x068e, 0x0000, 0x8000]),
    });
    expect(readNpyHeader(fixture('small-v2.npy'))).toMatchObject({ descr: '<i8', shape: [3, 2] });
    expect(readNpy(fixture('small-v2.npy')).data).toEqual(BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 5n]));
    expect(readNpy(fixture('small-v3.npy'))).toMatchObject({
      dtype: 'int8',
      data: Int8Array.from([1, -2, 3]),
    });
  });

  it('reads big-endian arrays (iris as >f8) into native values', () => {
    const iris = readNpy(fixture('iris-X-be.npy'));
    expect(iris).toMatchObject({ dtype: 'float64', shape: [150, 4] });
    expect(valuesOf(iris).slice(0, 4)).toEqual([5.1, 3.5, 1.4, 0.2]); // iris row 0
    const be16 = npyWith(
      "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
      Uint8Array.from([0, 0, 1, 0, 0xff, 0xff, 0xff, 0xfe]),
    );
    expect(readNpy(be16).data).toEqual(Int32Array.from([256, -2]));
  });

  it('round-trips every dtype, including unaligned input buffers', () => {
    const tensors = [
      createTensor('a', 'float16', [2], Uint16Array.from([0x3c00, 0xfc00])),
      createTensor('b', 'float32', [2, 2], Float32Array.from([1.5, -0, NaN, Infinity])),
      createTensor('c', 'float64', [1, 1, 1], Float64Array.from([Math.PI])),
      createTensor('d', 'int32', [3], Int32Array.from([-(2 ** 31), 0, 2 ** 31 - 1])),
      createTensor('e', 'int64', [2], BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n])),
      createTensor('f', 'bool', [2], Uint8Array.from([0, 1])),
      createTensor('g', 'uint8', [2], Uint8Array.from([0, 255])),
      createTensor('h', 'int8', [2], Int8Array.from([-128, 127])),
      createTensor('i', 'float32', [0, 5]),
    ];
    for (const t of tensors) {
      const bytes = writeNpy(t);
      const shifted = new Uint8Array(bytes.length + 1).subarray(1); // odd byte offset
      shifted.set(bytes);
      for (const input of [bytes, shifted]) {
        const back = readNpy(input, { name: t.name });
        expect(back).toMatchObject({ name: t.name, dtype: t.dtype, shape: t.shape });
        expect(back.data).toEqual(t.data);
      }
    }
  });

  it('refuses Fortran order with one sentence saying how to save it in C order', () => {
    expect(() => readNpy(fixture('small-fortran.npy'), { source: 'small-fortran.npy' })).toThrow(
      new TensorFormatError(
        'small-fortran.npy stores its array in Fortran (column-major) order; save it in C order with numpy.save(path, numpy.ascontiguousarray(a))',
      ),
    );
  });

  it('refuses truncated headers and data, naming the file and what to do', () => {
    const good = fixture('digits-X.npy');
    expect(() => readNpy(good.subarray(0, 9), { source: 'x.npy' })).toThrow(
      'x.npy ends inside its .npy preamble (9 bytes): the file is truncated, upload it whole',
    );
    expect(() => readNpy(good.subarray(0, 50), { source: 'x.npy' })).toThrow(
      'x.npy declares a 118-byte header but holds only 40 bytes after the preamble: the file is truncated, upload it whole',
    );
    expect(() => readNpy(good.subarray(0, good.length - 4), { source: 'x.npy' })).toThrow(
      'x.npy has shape (256, 64) of <f4, so 65536 data bytes, but holds 65532: the file is truncated, upload it whole',
    );
    const long = new Uint8Array(good.length + 3);
    long.set(good);
    expect(() => readNpy(long, { source: 'x.npy' })).toThrow(/holds 65539: remove the trailing bytes/);
  });

  it('refuses what is not .npy or not a plain numeric array', () => {
    const data = new Uint8Array(8);
    expect(() => readNpy(new TextEncoder().encode('a,b\n1,2\n'))).toThrow(
      'the .npy file does not start with "\\x93NUMPY": it is not a .npy file; write it with numpy.save',
    );
    expect(() => readNpy(npyWith("{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }", data))).toThrow(
      "the .npy file holds dtype '<u2', which datasets do not take; convert it with a.astype('float32') (or float16/64, int8/32/64, uint8, bool)",
    );
    expect(() =>
      readNpy(npyWith("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(12))),
    ).toThrow(/dtype '<U3'/);
    expect(() =>
      readNpy(npyWith("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", data)),
    ).toThrow(/unreadable .npy header \(a structured dtype/);
    expect(() => readNpy(npyWith("{'descr': '<f4', 'shape': (2,), }", data))).toThrow(
      /no 'fortran_order' True\/False/,
    );
    expect(() =>
      readNpy(npyWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", data)),
    ).toThrow(/expected a dimension at character/);
    const v9 = fixture('small-bool.npy').slice();
    v9[6] = 9;
    expect(() => readNpy(v9)).toThrow(
      'the .npy file is .npy format 9.0; this reader takes 1.0, 2.0 and 3.0, so save it with numpy.save',
    );
    expect(() =>
      readNpy(npyWith("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }", Uint8Array.from([7]))),
    ).toThrow(/is bool but element 0 is 7/);
  });

  it('refuses random bytes, whatever they hold, with a TensorFormatError (never a crash)', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 200; i++) {
      const bytes = Uint8Array.from({ length: 10 + (i % 90) }, rand);
      if (i % 2) bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]); // a valid magic, junk after it
      expect(() => readNpy(bytes)).toThrow(TensorFormatError);
    }
  });

  it('uses format 2.0 when the header does not fit in 1.0, as numpy does', () => {
    // A 1.0 header holds 65535 bytes; "1, " 25,000 times does not fit (numpy itself caps ranks at 64).
    const shape = Array.from({ length: 25000 }, () => 1);
    const t = createTensor('deep', 'uint8', shape, Uint8Array.from([42]));
    const bytes = writeNpy(t);
    expect(bytes[6]).toBe(2);
    expect(readNpy(bytes)).toMatchObject({ shape, data: Uint8Array.from([42]) });
  });
});
