import { readFileSync } from 'node:fs';
import path from 'node:path';
import { encodeMatrix } from '../../lib/matrix';
import {
  TensorFormatError,
  concatDatasets,
  createTensor,
  datasetRows,
  detectFormat,
  readDataset,
  sliceDataset,
  writeDataset,
  type Dataset,
  type DatasetFormat,
} from '../../lib/tensors';

const FIXTURES = path.join(__dirname, '../../examples/fixtures/data');
const fixture = (name: string) => new Uint8Array(readFileSync(path.join(FIXTURES, name)));
const emtx = () => encodeMatrix({ rows: 3, cols: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6]) });

/** A deterministic byte generator, so a failure names a reproducible input. */
function randomBytes(seed: number, n: number): Uint8Array {
  let s = seed;
  return Uint8Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
}

describe('datasets', () => {
  it('tells each format from its first bytes', () => {
    expect(detectFormat(fixture('digits-X.npy'))).toBe('npy');
    expect(detectFormat(fixture('digits.npz'))).toBe('npz');
    expect(detectFormat(fixture('digits-compressed.npz'))).toBe('npz');
    expect(detectFormat(fixture('digits.parquet'))).toBe('parquet');
    expect(detectFormat(emtx())).toBe('emtx');
    expect(detectFormat(fixture('digits.csv'))).toBe('csv');
    expect(detectFormat(fixture('iris-semicolon.csv'))).toBe('csv');
  });

  it('refuses bytes in no known format, and headerless CSV, in one sentence', () => {
    const msg =
      'upload.bin is in no format EMETH reads (not .npy, .npz, Parquet, EMTX, nor UTF-8 CSV with a header row); convert it to one of these';
    expect(() => detectFormat(Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0, 1]), 'upload.bin')).toThrow(
      new TensorFormatError(msg),
    );
    expect(() => detectFormat(new TextEncoder().encode('1,2,3\n4,5,6\n'), 'upload.bin')).toThrow(msg);
    expect(() => detectFormat(new Uint8Array(0), 'upload.bin')).toThrow(msg);
  });

  it('reads every format into named tensors', async () => {
    const npy = await readDataset(fixture('digits-X.npy'));
    expect(npy.format).toBe('npy');
    expect(npy.tensors.map((t) => [t.name, t.shape])).toEqual([['X', [256, 64]]]);
    expect((await readDataset(fixture('digits.npz'))).tensors.map((t) => t.name)).toEqual(['X', 'y']);
    const csv = await readDataset(fixture('digits.csv'), 'csv');
    expect(csv.tensors).toHaveLength(65);
    expect(
      (await readDataset(fixture('digits-embedding.parquet'))).tensors.map((t) => [t.name, t.shape]),
    ).toEqual([
      ['X', [256, 64]],
      ['y', [256]],
    ]);
    const m = await readDataset(emtx(), 'emtx', { name: 'features' });
    expect(m.tensors[0]).toMatchObject({ name: 'features', dtype: 'float32', shape: [3, 2] });
  });

  it('refuses a declared format the bytes contradict, naming both', async () => {
    await expect(readDataset(fixture('digits.npz'), 'csv', { source: 'data.csv' })).rejects.toThrow(
      new TensorFormatError(
        "the dataset is declared 'csv' but data.csv is a zip archive such as .npz (it starts with PK\\x03\\x04); declare 'npz' or upload the csv file",
      ),
    );
    await expect(readDataset(fixture('digits.csv'), 'parquet', { source: 'd' })).rejects.toThrow(
      "the dataset is declared 'parquet' but d is not a Parquet file (it starts with PAR1); declare the format it is in or upload the parquet file",
    );
    await expect(readDataset(fixture('digits.parquet'), 'npy', { source: 'd' })).rejects.toThrow(
      "the dataset is declared 'npy' but d is a Parquet file (it starts with PAR1); declare 'parquet' or upload the npy file",
    );
    await expect(readDataset(emtx(), 'npz')).rejects.toThrow(
      /is an EMTX matrix \(it starts with EMTX\); declare 'emtx'/,
    );
    await expect(readDataset(fixture('digits.csv'), 'xlsx')).rejects.toThrow(
      "dataset format 'xlsx' is not one EMETH reads; declare one of npy, npz, csv, parquet, emtx or leave it out to detect it",
    );
  });

  it('reads a declared CSV through the CSV reader, so its error names the row and column', async () => {
    await expect(
      readDataset(new TextEncoder().encode('age,h\n3,4\n,5\n'), 'csv', { source: 'dataset.csv' }),
    ).rejects.toThrow("dataset.csv row 2 (line 3) column 'age' is empty; fill it or drop the row");
  });

  it('refuses arrays of a dataset that do not share rows', async () => {
    const bytes = writeDataset('npz', [
      createTensor('X', 'float32', [4, 2]),
      createTensor('y', 'int64', [3]),
    ]);
    await expect(readDataset(bytes, undefined, { source: 'pairs.npz' })).rejects.toThrow(
      "pairs.npz array 'y' has 3 rows but 'X' has 4; every array of a dataset needs one row per sample",
    );
    expect(() => datasetRows([])).toThrow(/holds no arrays/);
  });

  it('refuses random bytes in every reader with a TensorFormatError, never a crash or a hang', async () => {
    const magics: Record<DatasetFormat, number[]> = {
      npy: [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0],
      npz: [0x50, 0x4b, 0x03, 0x04],
      parquet: [0x50, 0x41, 0x52, 0x31],
      emtx: [0x45, 0x4d, 0x54, 0x58],
      csv: [],
    };
    for (let i = 0; i < 60; i++) {
      for (const [format, magic] of Object.entries(magics) as [DatasetFormat, number[]][]) {
        const bytes = randomBytes(i * 31 + magic.length, 16 + i * 7);
        bytes.set(magic);
        if (format === 'parquet') bytes.set(magic, bytes.length - 4);
        const err = await readDataset(bytes, format === 'csv' ? undefined : format).then(
          () => null,
          (e: unknown) => e,
        );
        expect({ format, i, isFormatError: err instanceof TensorFormatError }).toEqual({
          format,
          i,
          isFormatError: true,
        });
      }
    }
  });

  it('cuts shards that keep the format, its names and dtypes, and joins them back to the dataset', async () => {
    const sources: [string, DatasetFormat][] = [
      ['digits-X.npy', 'npy'],
      ['digits-images.npy', 'npy'],
      ['digits.npz', 'npz'],
      ['digits.csv', 'csv'],
      ['iris-semicolon.csv', 'csv'],
      ['digits.parquet', 'parquet'],
      ['digits-embedding.parquet', 'parquet'],
      ['iris.parquet', 'parquet'],
    ];
    for (const [file, format] of sources) {
      const ds = await readDataset(fixture(file));
      expect(ds.format).toBe(format);
      const rows = datasetRows(ds.tensors);
      const bounds = [0, 7, Math.floor(rows / 2), rows];
      const shards: Dataset[] = [];
      for (let k = 0; k + 1 < bounds.length; k++) {
        const bytes = writeDataset(format, sliceDataset(ds, bounds[k]!, bounds[k + 1]!).tensors);
        const shard = await readDataset(bytes);
        expect(shard.format).toBe(format);
        expect(datasetRows(shard.tensors)).toBe(bounds[k + 1]! - bounds[k]!);
        shards.push(shard);
      }
      const joined = concatDatasets(shards);
      expect(joined.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(
        ds.tensors.map((t) => [t.name, t.dtype, t.shape]),
      );
      joined.tensors.forEach((t, i) =>
        expect({
          file,
          name: t.name,
          same: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(
            Buffer.from(
              ds.tensors[i]!.data.buffer,
              ds.tensors[i]!.data.byteOffset,
              ds.tensors[i]!.data.byteLength,
            ),
          ),
        }).toEqual({ file, name: t.name, same: true }),
      );
    }
    const m = await readDataset(emtx());
    const shard = await readDataset(writeDataset('emtx', sliceDataset(m, 1, 3).tensors));
    expect(shard.tensors[0]).toMatchObject({ shape: [2, 2], data: Float32Array.from([3, 4, 5, 6]) });
  });

  it('refuses to write what a format cannot hold, and to join shards that do not match', () => {
    const two = [createTensor('a', 'float32', [1, 2]), createTensor('b', 'float32', [1, 2])];
    expect(() => writeDataset('npy', two)).toThrow(
      ".npy holds one array but there are 2 ('a', 'b'); use .npz for several",
    );
    expect(() => writeDataset('emtx', [createTensor('a', 'float64', [1, 2])])).toThrow(
      "EMTX holds one float32 [rows, cols] matrix but 'a' is float64 [1, 2]; use .npy or .npz for it",
    );
    const a: Dataset = { format: 'npz', tensors: two };
    const b: Dataset = { format: 'npz', tensors: [two[1]!, two[0]!] };
    expect(() => concatDatasets([a, b])).toThrow(
      'shard 1 is npz with arrays b, a but shard 0 is npz with a, b; shards of one dataset must match',
    );
  });
});
