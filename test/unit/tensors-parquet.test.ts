import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  TensorFormatError,
  createTensor,
  readNpy,
  readParquet,
  stackColumns,
  writeParquet,
  valuesOf,
} from '../../lib/tensors';

const FIXTURES = path.join(__dirname, '../../examples/fixtures/data');
const fixture = (name: string) => new Uint8Array(readFileSync(path.join(FIXTURES, name)));
const digitsX = () => readNpy(fixture('digits-X.npy'));

describe('Parquet', () => {
  it('reads pyarrow files with snappy: 64 float32 columns and an int64 target', async () => {
    const cols = await readParquet(fixture('digits.parquet'));
    expect(cols).toHaveLength(65);
    expect(cols[0]).toMatchObject({ name: 'pixel_0', dtype: 'float32', shape: [256] });
    expect(cols[64]).toMatchObject({ name: 'target', dtype: 'int64', shape: [256] });
    expect(
      stackColumns(
        cols,
        cols.slice(0, 64).map((c) => c.name),
      ).data,
    ).toEqual(digitsX().data);
    expect(valuesOf(cols[64]!).slice(0, 3)).toEqual([0n, 1n, 2n]);
  });

  it('reads a zstd file whose fixed-size list column becomes an [N, k] tensor', async () => {
    const [x, y] = await readParquet(fixture('digits-embedding.parquet'));
    expect(x).toMatchObject({ name: 'X', dtype: 'float32', shape: [256, 64] });
    expect(x!.data).toEqual(digitsX().data);
    expect(y).toMatchObject({ name: 'y', dtype: 'int64', shape: [256] });
  });

  it('reads an uncompressed file of float64 and int32 columns', async () => {
    const cols = await readParquet(fixture('iris.parquet'));
    expect(cols.map((c) => [c.name, c.dtype])).toEqual([
      ['sepal_length', 'float64'],
      ['sepal_width', 'float64'],
      ['petal_length', 'float64'],
      ['petal_width', 'float64'],
      ['species', 'int32'],
    ]);
    const be = readNpy(fixture('iris-X-be.npy'));
    expect(
      stackColumns(
        cols,
        cols.slice(0, 4).map((c) => c.name),
        { dtype: 'float64' },
      ).data,
    ).toEqual(be.data);
  });

  it('maps float16, int8, uint8 and bool columns to their dtypes, and reads chosen columns only', async () => {
    const cols = await readParquet(fixture('mixed-types.parquet'), { columns: ['f16', 'i8', 'u8', 'flag'] });
    expect(cols.map((c) => [c.name, c.dtype, valuesOf(c)])).toEqual([
      ['f16', 'float16', [0x3800, 0xbe00, 0x4000]], // 0.5, -1.5, 2.0
      ['i8', 'int8', [-1, 0, 7]],
      ['u8', 'uint8', [0, 200, 255]],
      ['flag', 'bool', [1, 0, 1]],
    ]);
  });

  it('refuses text columns, nulls and missing columns, naming the column', async () => {
    await expect(readParquet(fixture('mixed-types.parquet'), { source: 'm.parquet' })).rejects.toThrow(
      new TensorFormatError(
        "m.parquet column 'name' holds string values; datasets take numeric columns only, so drop it or encode it as numbers",
      ),
    );
    await expect(readParquet(fixture('with-null.parquet'), { source: 'n.parquet' })).rejects.toThrow(
      "n.parquet column 'a' row 2 is null; fill it or drop the row",
    );
    await expect(
      readParquet(fixture('iris.parquet'), { source: 'i.parquet', columns: ['petal'] }),
    ).rejects.toThrow(
      "i.parquet has no column 'petal'; it has 'sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species'",
    );
  });

  it('refuses truncated, corrupted and non-Parquet bytes with a TensorFormatError', async () => {
    const good = fixture('digits.parquet');
    await expect(readParquet(good.subarray(0, good.length - 100), { source: 'd.parquet' })).rejects.toThrow(
      'd.parquet does not start and end with "PAR1", so it is not a whole Parquet file; upload all of it (e.g. from pyarrow.parquet.write_table)',
    );
    // The footer: thrift metadata, its u32 length, "PAR1". Break the metadata's start, then the length.
    const view = new DataView(good.buffer, good.byteOffset, good.byteLength);
    const metaStart = good.length - 8 - view.getUint32(good.length - 8, true);
    const badFooter = good.slice();
    badFooter.fill(0xff, metaStart, metaStart + 64);
    await expect(readParquet(badFooter, { source: 'd.parquet' })).rejects.toThrow(
      /^d\.parquet could not be read as Parquet \(.+\); write it again with pyarrow/,
    );
    const badLength = good.slice();
    new DataView(badLength.buffer).setUint32(good.length - 8, 0x7fffffff, true);
    await expect(readParquet(badLength, { source: 'd.parquet' })).rejects.toThrow(
      /could not be read as Parquet/,
    );
    const badPages = good.slice();
    badPages.fill(0x11, 100, 3000);
    await expect(readParquet(badPages)).rejects.toThrow(TensorFormatError);
    await expect(readParquet(new TextEncoder().encode('a,b\n1,2\n'))).rejects.toThrow(
      /is not a whole Parquet file/,
    );
  });

  it('writes 1-D tensors as columns and 2-D ones as list columns, reading back the same tensors', async () => {
    const tensors = [
      createTensor('emb', 'float32', [3, 2], Float32Array.from([1, 2, 3, 4, 5, 6])),
      createTensor('id', 'int64', [3], BigInt64Array.from([1n, -2n, 2n ** 62n])),
      createTensor('score', 'float64', [3], Float64Array.from([0.1, NaN, -Infinity])),
      createTensor('n', 'int32', [3], Int32Array.from([1, -5, 2 ** 31 - 1])),
      createTensor('h', 'float16', [3], Uint16Array.from([0x3c00, 0x8000, 0x7bff])),
      createTensor('ok', 'bool', [3], Uint8Array.from([1, 1, 0])),
      createTensor('u', 'uint8', [3, 1], Uint8Array.from([0, 128, 255])),
      createTensor('s', 'int8', [3], Int8Array.from([-128, 0, 127])),
    ];
    const bytes = writeParquet(tensors);
    const back = await readParquet(bytes);
    expect(back.map((b) => [b.name, b.dtype, b.shape])).toEqual(
      tensors.map((t) => [t.name, t.dtype, t.shape]),
    );
    back.forEach((b, i) => expect(b.data).toEqual(tensors[i]!.data));
  });

  it('joins row groups in order, from pyarrow and from its own writer', async () => {
    const [x, y] = await readParquet(fixture('digits-rowgroups.parquet')); // 4 row groups of 64
    expect(x!.data).toEqual(digitsX().data);
    expect(y!.data).toEqual(readNpy(fixture('digits-y.npy')).data);
    // hyparquet-writer starts a new row group after 1000 rows.
    const rows = 2500;
    const emb = createTensor(
      'emb',
      'float32',
      [rows, 3],
      Float32Array.from({ length: rows * 3 }, (_, i) => i / 8),
    );
    const id = createTensor(
      'id',
      'int64',
      [rows],
      BigInt64Array.from({ length: rows }, (_, i) => BigInt(i) * 3n),
    );
    const [e2, id2] = await readParquet(writeParquet([emb, id]));
    expect(e2!.data).toEqual(emb.data);
    expect(id2!.data).toEqual(id.data);
  });

  it('refuses tensors a Parquet file cannot hold', () => {
    expect(() => writeParquet([createTensor('img', 'float32', [1, 1, 2])])).toThrow(
      "array 'img' has shape [1, 1, 2]; Parquet columns hold 1-D or 2-D arrays, so use .npy or .npz",
    );
    expect(() =>
      writeParquet([createTensor('a', 'float32', [2]), createTensor('b', 'float32', [1])]),
    ).toThrow("array 'b' has 1 rows but 'a' has 2; columns must share rows");
  });
});
