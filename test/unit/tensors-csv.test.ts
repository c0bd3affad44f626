import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  TensorFormatError,
  createTensor,
  readCsv,
  readNpy,
  shortestFloat32,
  stackColumns,
  writeCsv,
  valuesOf,
} from '../../lib/tensors';

const FIXTURES = path.join(__dirname, '../../examples/fixtures/data');
const fixture = (name: string) => new Uint8Array(readFileSync(path.join(FIXTURES, name)));
const csv = (text: string, source = 'dataset.csv') => readCsv(new TextEncoder().encode(text), { source });

describe('CSV', () => {
  it('reads the digits CSV: 64 float columns and an int label, stacking to the same float32 X as the .npy', () => {
    const table = readCsv(fixture('digits.csv'));
    expect(table.rows).toBe(256);
    expect(table.delimiter).toBe(',');
    expect(table.columns).toHaveLength(65);
    expect(table.columns[0]).toMatchObject({ name: 'pixel_0', dtype: 'float64', shape: [256] });
    expect(table.columns[64]).toMatchObject({ name: 'target', dtype: 'int64' });
    const x = stackColumns(
      table.columns,
      Array.from({ length: 64 }, (_, i) => `pixel_${i}`),
    );
    expect(x).toMatchObject({ name: 'X', dtype: 'float32', shape: [256, 64] });
    expect(x.data).toEqual(readNpy(fixture('digits-X.npy')).data);
  });

  it("detects ';' and tab delimiters, quoted header names, CRLF line ends and a BOM", () => {
    const iris = readCsv(fixture('iris-semicolon.csv'));
    expect(iris.delimiter).toBe(';');
    expect(iris.columns.map((c) => c.name)).toEqual([
      'sepal_length',
      'sepal_width',
      'petal_length',
      'petal_width',
      'species',
    ]);
    expect(valuesOf(iris.columns[0]!).slice(0, 3)).toEqual([5.1, 4.9, 4.7]);
    expect(iris.columns[4]!.dtype).toBe('int64');
    const tab = csv('\uFEFFa\tb\r\n1\t2.5\r\n3\t-4e-2\r\n');
    expect(tab.delimiter).toBe('\t');
    expect(tab.columns.map((c) => [c.name, c.dtype, valuesOf(c)])).toEqual([
      ['a', 'int64', [1n, 3n]],
      ['b', 'float64', [2.5, -0.04]],
    ]);
    // A quoted header holding the other delimiter does not fool detection.
    expect(csv('"x;y",z\n1,2\n').columns.map((c) => c.name)).toEqual(['x;y', 'z']);
  });

  it('reads quoted numbers, spaces around fields, NaN and infinities, and int64 beyond 2^53', () => {
    const t = csv('a,b,c\n"1.5", 2 ,nan\n"-3",  9007199254740993,-Infinity\n.5,-9223372036854775808,inf\n');
    expect(t.columns[0]!.data).toEqual(Float64Array.from([1.5, -3, 0.5]));
    expect(t.columns[1]!.data).toEqual(BigInt64Array.from([2n, 9007199254740993n, -9223372036854775808n]));
    expect(valuesOf(t.columns[2]!)).toEqual([NaN, -Infinity, Infinity]);
    // Integers beyond int64 make a float64 column, not a wrapped int.
    expect(csv('a\n9223372036854775808\n1\n').columns[0]!.dtype).toBe('float64');
  });

  it('refuses an empty field naming the row, line and column, and saying what to do', () => {
    expect(() => csv('id,age\n1,30\n2,\n')).toThrow(
      new TensorFormatError("dataset.csv row 2 (line 3) column 'age' is empty; fill it or drop the row"),
    );
    expect(() => csv('id,age\n1,30\n2,""\n')).toThrow(/row 2 \(line 3\) column 'age' is empty/);
  });

  it('refuses what does not parse, with one sentence each', () => {
    expect(() => csv('a,b\n1,x1\n')).toThrow(
      "dataset.csv row 1 (line 2) column 'b' holds 'x1', which is not a number; datasets take numeric columns only, so encode or drop it",
    );
    expect(() => csv('a,b\n1,2\n3\n')).toThrow(
      'dataset.csv row 2 (line 3) has 1 fields but the header has 2 columns; give every row one field per column',
    );
    expect(() => csv('a,b\n1,2\n\n3,4\n')).toThrow(
      'dataset.csv row 2 (line 3) is blank; remove the empty line or fill the row',
    );
    expect(() => csv('a,b\n"1,2\n')).toThrow(/row 1 \(line 2\) opens a quote that is never closed/);
    expect(() => csv('a,b\n"1"x,2\n')).toThrow(/has text after a closing quote/);
    expect(() => csv('1,2\n3,4\n')).toThrow(
      'dataset.csv starts with a row of numbers, not column names; add a header row naming each column',
    );
    expect(() => csv('a,,c\n1,2,3\n')).toThrow(
      'dataset.csv header column 2 has no name; name every column in the first row',
    );
    expect(() => csv('a,a\n1,2\n')).toThrow(
      "dataset.csv names column 'a' twice; give every column its own name",
    );
    expect(() => csv('a,b\n')).toThrow('dataset.csv has a header but no rows; add one row per sample');
    expect(() => csv('  \n')).toThrow(/is empty; it needs a header row/);
    expect(() => readCsv(Uint8Array.from([0xff, 0xfe, 0x00, 0x41]), { source: 'dataset.csv' })).toThrow(
      'dataset.csv is not UTF-8 text, so it is no CSV; export it as UTF-8 CSV with a header row',
    );
    expect(() => csv(`a\n${'z'.repeat(100)}\n`)).toThrow(/holds 'z{40}…', which is not a number/);
  });

  it('accepts trailing newlines and a single column', () => {
    const t = csv('only\n1\n2\n\n\n');
    expect(t.rows).toBe(2);
    expect(() => csv('only\n1\n\n2\n')).toThrow(
      "dataset.csv row 2 (line 3) column 'only' is empty; fill it or drop the row",
    );
  });

  it('stacks chosen columns in the chosen order, and refuses a column that is not there', () => {
    const t = csv('a,b,c\n1,2,3\n4,5,6\n');
    const x = stackColumns(t.columns, ['c', 'a'], { name: 'features' });
    expect(x).toMatchObject({ name: 'features', shape: [2, 2], data: Float32Array.from([3, 1, 6, 4]) });
    expect(stackColumns(t.columns, ['b'], { dtype: 'float64' }).data).toEqual(Float64Array.from([2, 5]));
    expect(() => stackColumns(t.columns, ['a', 'd'])).toThrow(
      "there is no column 'd'; the dataset has 'a', 'b', 'c'",
    );
  });

  it('writes 1-D outputs as one column and 2-D ones as name_0..name_k, reading back to the same values', () => {
    const label = createTensor('label', 'int64', [3], BigInt64Array.from([1n, 0n, 2n]));
    const probabilities = createTensor(
      'probabilities',
      'float32',
      [3, 2],
      Float32Array.from([0.1, 0.9, 1, 0, 1 / 3, 2 / 3]),
    );
    const flag = createTensor('flag', 'bool', [3], Uint8Array.from([1, 0, 1]));
    const text = writeCsv([label, probabilities, flag]);
    expect(text).toBe(
      'label,probabilities_0,probabilities_1,flag\n1,0.1,0.9,1\n0,1.0,0.0,0\n2,0.33333334,0.6666667,1\n',
    );
    const back = readCsv(text);
    expect(back.columns.map((c) => c.name)).toEqual(['label', 'probabilities_0', 'probabilities_1', 'flag']);
    expect(back.columns[0]!.data).toEqual(label.data);
    expect(stackColumns(back.columns, ['probabilities_0', 'probabilities_1']).data).toEqual(
      probabilities.data,
    );
  });

  it('writes floats that read back exactly, float columns staying float', () => {
    const values = Float64Array.from([0.1, 1 / 3, -0, 5, 1e300, 2 ** -1074, NaN, Infinity, -Infinity]);
    const t = createTensor('v', 'float64', [values.length], values);
    const back = readCsv(writeCsv([t])).columns[0]!;
    expect(back.dtype).toBe('float64');
    expect(valuesOf(back)).toEqual(Array.from(values));
    const f32 = Float32Array.from([0.1, 3.4028234663852886e38, 1.401298464324817e-45, 16777217, -2.5]);
    for (const v of f32) expect(Math.fround(Number(shortestFloat32(v)))).toBe(v);
    expect(shortestFloat32(Math.fround(0.1))).toBe('0.1');
    const h = createTensor('h', 'float16', [2], Uint16Array.from([0x3800, 0xc000]));
    expect(writeCsv([h])).toBe('h\n0.5\n-2.0\n');
  });

  it('quotes names that need it, and refuses shapes a CSV cannot hold', () => {
    const a = createTensor('a,b "x"', 'int32', [1], Int32Array.from([7]));
    expect(writeCsv([a])).toBe('"a,b ""x"""\n7\n');
    expect(readCsv(writeCsv([a])).columns[0]!.name).toBe('a,b "x"');
    expect(() => writeCsv([createTensor('img', 'float32', [1, 1, 2])])).toThrow(
      "output 'img' has shape [1, 1, 2]; CSV holds 1-D or 2-D arrays, so download it as .npy or .npz",
    );
    expect(() => writeCsv([createTensor('a', 'float32', [2]), createTensor('b', 'float32', [3])])).toThrow(
      "output 'b' has 3 rows but 'a' has 2; CSV columns must share rows, so download as .npz",
    );
  });
});
