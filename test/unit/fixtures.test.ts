/**
 * The committed fixtures (scripts/make-fixtures.py) read through lib/tensors and run through
 * onnxruntime-node: every dataset format holds the same numbers, and every model gives what the
 * Python onnxruntime gave on the same inputs (floats within 1e-6, integers and bools exactly).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  concatRows,
  createTensor,
  readDataset,
  readNpz,
  sliceRows,
  stackColumns,
  toFloat32,
  toFloat64,
  type DType,
  type Tensor,
  valuesOf,
  float32ToFloat16Bits,
  isDType,
} from '../../lib/tensors';

const ROOT = path.join(__dirname, '../../examples/fixtures');
const bytesOf = (rel: string) => new Uint8Array(readFileSync(path.join(ROOT, rel)));

interface ModelEntry {
  name: string;
  file: string;
  exporter: string;
  kind: string;
  status: 'run' | 'refuse';
  refusal?: string;
  inputs: Record<string, { dataset: string; array?: string; columns?: string[] }>;
  outputs: string[];
  expected?: string;
  expectedShapes?: Record<string, [number[], string]>;
  nonTensorOutputs?: string[];
  localRunError?: string;
  /** Input element types where some input is not float32 (the others are float32). */
  dtypes?: Record<string, DType>;
  /** The file holding the initializers (ONNX external data), next to the model. */
  externalData?: string;
}
interface DatasetEntry {
  format: string;
  holds: Record<string, string>;
  note: string;
  /** read: readDataset refuses the file; bind: it reads, but no model's input takes it. */
  refusal?: { stage: 'read' | 'bind'; reason: string };
}
interface Manifest {
  datasets: Record<string, DatasetEntry>;
  models: ModelEntry[];
  skipped: string[];
}
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'manifest.json'), 'utf8')) as Manifest;

async function tensorsOf(rel: string): Promise<Tensor[]> {
  return (await readDataset(bytesOf(rel), undefined, { source: rel })).tensors;
}
async function arrayOf(rel: string, name: string): Promise<Tensor> {
  const t = (await tensorsOf(rel)).find((x) => x.name === name);
  if (!t) throw new Error(`${rel} has no array ${name}`);
  return t;
}
const pixels = Array.from({ length: 64 }, (_, i) => `pixel_${i}`);
const irisNames = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** The largest |a − b| (NaN on one side only counts as Infinity); integers must match exactly. */
function compare(actual: Tensor, expected: Tensor): { maxAbsDiff: number; intMismatches: number } {
  expect([actual.dtype, actual.shape]).toEqual([expected.dtype, expected.shape]);
  if (
    expected.dtype === 'int64' ||
    expected.dtype === 'int32' ||
    expected.dtype === 'bool' ||
    expected.dtype.endsWith('int8')
  ) {
    let bad = 0;
    for (let i = 0; i < expected.data.length; i++) if (actual.data[i] !== expected.data[i]) bad++;
    return { maxAbsDiff: 0, intMismatches: bad };
  }
  const a = toFloat64(actual);
  const b = toFloat64(expected);
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    const d =
      Number.isNaN(a[i]!) || Number.isNaN(b[i]!)
        ? Number.isNaN(a[i]!) && Number.isNaN(b[i]!)
          ? 0
          : Infinity
        : Math.abs(a[i]! - b[i]!);
    if (d > worst) worst = d;
  }
  return { maxAbsDiff: worst, intMismatches: 0 };
}

function fromOrt(name: string, t: ort.Tensor): Tensor {
  if (!isDType(t.type)) throw new Error(`output ${name} is ${t.type}`);
  const dtype: DType = t.type;
  return createTensor(name, dtype, t.dims.map(Number), t.data as never);
}

async function inputsFor(m: ModelEntry): Promise<Record<string, Tensor>> {
  const feeds: Record<string, Tensor> = {};
  for (const [input, bind] of Object.entries(m.inputs)) {
    const tensors = await tensorsOf(bind.dataset);
    const t = bind.columns
      ? stackColumns(tensors, bind.columns)
      : tensors.find((x) => x.name === (bind.array ?? 'X'))!;
    feeds[input] = castTo(input, t, m.dtypes?.[input] ?? 'float32');
  }
  return feeds;
}

/** `t` as `dtype` (the model input's type): CSV columns read back as int64/float64 and are narrowed here. */
function castTo(name: string, t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return createTensor(name, dtype, t.shape, t.data);
  if (dtype === 'float32') return createTensor(name, dtype, t.shape, toFloat32(t));
  if (dtype === 'float64') return createTensor(name, dtype, t.shape, toFloat64(t));
  if (dtype === 'float16') return createTensor(name, dtype, t.shape, float32ToFloat16Bits(toFloat64(t)));
  const values = toFloat64(t);
  if (dtype === 'int64') {
    // int64 from int64 is handled above; a float source must hold integers.
    return createTensor(
      name,
      dtype,
      t.shape,
      BigInt64Array.from(values, (v) => BigInt(v)),
    );
  }
  if (dtype === 'int32') return createTensor(name, dtype, t.shape, Int32Array.from(values));
  if (dtype === 'bool')
    return createTensor(
      name,
      dtype,
      t.shape,
      Uint8Array.from(values, (v) => (v ? 1 : 0)),
    );
  throw new Error(`no cast to ${dtype}`);
}

async function run(session: ort.InferenceSession, feeds: Record<string, Tensor>, outputs: string[]) {
  const ortFeeds = Object.fromEntries(
    Object.entries(feeds).map(([k, t]) => [
      k,
      new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape),
    ]),
  );
  const result = await session.run(ortFeeds, outputs);
  return Object.fromEntries(outputs.map((o) => [o, fromOrt(o, result[o] as ort.Tensor)]));
}

describe('fixture datasets', () => {
  it('hold the same digits X in .npy, .npz (stored and deflated), CSV, Parquet (wide and embedding) and EMTX', async () => {
    const reference = await arrayOf('data/digits-X.npy', 'X');
    const candidates: [string, Tensor][] = [
      ['digits.npz', await arrayOf('data/digits.npz', 'X')],
      ['digits-compressed.npz', await arrayOf('data/digits-compressed.npz', 'X')],
      ['digits.csv', stackColumns(await tensorsOf('data/digits.csv'), pixels)],
      ['digits.parquet', stackColumns(await tensorsOf('data/digits.parquet'), pixels)],
      ['digits-embedding.parquet', await arrayOf('data/digits-embedding.parquet', 'X')],
      ['digits-rowgroups.parquet', await arrayOf('data/digits-rowgroups.parquet', 'X')],
      ['digits-images.npy (reshaped)', (await tensorsOf('data/digits-images.npy'))[0]!],
      ['digits-images-nhwc.npy (reshaped)', (await tensorsOf('data/digits-images-nhwc.npy'))[0]!],
      ['digits-X.emtx', await arrayOf('data/digits-X.emtx', 'X')],
    ];
    for (const [file, t] of candidates) {
      expect({
        file,
        rows: t.shape[0],
        same: Buffer.from(toFloat32(t).buffer, toFloat32(t).byteOffset, t.data.length * 4).equals(
          Buffer.from(reference.data.buffer, reference.data.byteOffset, reference.data.byteLength),
        ),
      }).toEqual({ file, rows: 256, same: true });
    }
  });

  it('hold the same digits labels as int64 in every format', async () => {
    const reference = (await arrayOf('data/digits-y.npy', 'X')).data;
    for (const [file, name] of [
      ['data/digits.npz', 'y'],
      ['data/digits-compressed.npz', 'y'],
      ['data/digits.csv', 'target'],
      ['data/digits.parquet', 'target'],
      ['data/digits-embedding.parquet', 'y'],
      ['data/digits-rowgroups.parquet', 'y'],
    ]) {
      const t = await arrayOf(file!, name!);
      expect({ file, dtype: t.dtype, data: t.data }).toEqual({ file, dtype: 'int64', data: reference });
    }
  });

  it('hold the same iris measurements as float64 in big-endian .npy, ;-separated CSV and uncompressed Parquet', async () => {
    const reference = await arrayOf('data/iris-X-be.npy', 'X');
    const csv = await tensorsOf('data/iris-semicolon.csv');
    const parquet = await tensorsOf('data/iris.parquet');
    expect(stackColumns(csv, irisNames, { dtype: 'float64' }).data).toEqual(reference.data);
    expect(stackColumns(parquet, irisNames, { dtype: 'float64' }).data).toEqual(reference.data);
    const species = (ts: Tensor[]) => Array.from(ts.find((t) => t.name === 'species')!.data, Number);
    expect(species(csv)).toEqual(species(parquet));
  });

  it('are all read by readDataset as the format the manifest names', async () => {
    for (const [rel, d] of Object.entries(manifest.datasets)) {
      const refused = refusedAtRead(rel, d);
      const read = await readDataset(bytesOf(rel), undefined, { source: rel }).then(
        (ds) => ds.format,
        (e: Error) => `refused: ${e.message}`,
      );
      if (refused) expect(read).toMatch(/^refused: /);
      else expect({ rel, read }).toEqual({ rel, read: d.format });
    }
  });

  it('read to the dtypes and shapes the manifest says they hold', async () => {
    const checked: string[] = [];
    for (const [rel, d] of Object.entries(manifest.datasets)) {
      if (refusedAtRead(rel, d)) continue;
      const tensors = await tensorsOf(rel);
      const rows = tensors[0]!.shape[0]!;
      const got = Object.fromEntries(tensors.map((t) => [t.name, [t.dtype, t.shape]]));
      const want: Record<string, [string, number[]]> = {};
      for (const [key, text] of Object.entries(d.holds)) {
        // .npy and EMTX hold one array, read as 'X' whatever the manifest calls it.
        const names = d.format === 'npy' || d.format === 'emtx' ? ['X'] : expandNames(key);
        for (const n of names) want[n] = stated(text, rows);
      }
      expect({ rel, got }).toEqual({ rel, got: want });
      checked.push(rel);
    }
    expect(checked).toEqual(
      expect.arrayContaining([
        'data/multi.npz',
        'data/multi.parquet',
        'data/multi.csv',
        'data/seq.npy',
        'data/digits-63cols.npy',
        'data/digits-X.emtx',
      ]),
    );
  });

  it('hold the same multi-dtype inputs in .npz, Parquet (list columns, each dtype kept) and CSV (cast on binding)', async () => {
    const npz = await tensorsOf('data/multi.npz');
    const parquet = await tensorsOf('data/multi.parquet');
    const csv = await tensorsOf('data/multi.csv');
    const widths: Record<string, number> = { a: 3, b: 3, mask: 3, h: 2, ids: 1 };
    expect(npz.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['a', 'float64', [48, 3]],
      ['b', 'int32', [48, 3]],
      ['mask', 'bool', [48, 3]],
      ['h', 'float16', [48, 2]],
      ['ids', 'int64', [48]],
    ]);
    for (const ref of npz) {
      const fromParquet = parquet.find((t) => t.name === ref.name)!;
      expect({ name: ref.name, dtype: fromParquet.dtype, values: valuesOf(fromParquet) }).toEqual({
        name: ref.name,
        dtype: ref.dtype,
        values: valuesOf(ref),
      });
      const k = widths[ref.name]!;
      const cols = k === 1 ? [ref.name] : Array.from({ length: k }, (_, j) => `${ref.name}_${j}`);
      const picked = cols.map((c) => csv.find((t) => t.name === c)!);
      // CSV columns are int64 or float64: rebuild [N, k] row-major and cast to the input's dtype.
      const wide = picked[0]!.dtype === 'int64' ? 'int64' : 'float64';
      const rows = ref.shape[0]!;
      const joined =
        wide === 'int64'
          ? BigInt64Array.from(
              { length: rows * k },
              (_, i) => (picked[i % k]!.data as BigInt64Array)[Math.floor(i / k)]!,
            )
          : Float64Array.from(
              { length: rows * k },
              (_, i) => (picked[i % k]!.data as Float64Array)[Math.floor(i / k)]!,
            );
      const fromCsv = castTo(ref.name, createTensor(ref.name, wide, ref.shape, joined as never), ref.dtype);
      expect({ name: ref.name, values: valuesOf(fromCsv) }).toEqual({
        name: ref.name,
        values: valuesOf(ref),
      });
    }
    // int64 beyond 2^53 survives .npz, Parquet and CSV alike.
    expect((npz.find((t) => t.name === 'ids')!.data as BigInt64Array)[0]).toBe(2n ** 53n + 1n);
  });

  it('refuse broken.csv for its ragged row, and with that row gone for its non-numeric field', async () => {
    const d = manifest.datasets['data/broken.csv']!;
    expect(d.refusal?.stage).toBe('read');
    const text = readFileSync(path.join(ROOT, 'data/broken.csv'), 'utf8');
    const read = (t: string) => readDataset(new TextEncoder().encode(t), 'csv', { source: 'broken.csv' });
    await expect(read(text)).rejects.toThrow(/has 2 fields but the header has 3 columns/);
    const withoutRagged = text.replace('7.0,8.0\n', '');
    await expect(read(withoutRagged)).rejects.toThrow(/holds 'abc', which is not a number/);
    await expect(read(withoutRagged.replace('abc', '5.0'))).resolves.toMatchObject({ format: 'csv' });
  });
});

/** Refused by readDataset itself (the others read; digits-63cols.npy is refused only when bound to a model). */
function refusedAtRead(rel: string, d: DatasetEntry): boolean {
  if (d.refusal) return d.refusal.stage === 'read';
  return /refused/.test(JSON.stringify(d)) || rel.includes('fortran');
}

/** 'pixel_0..pixel_63' → pixel_0 … pixel_63; any other key is one name. */
function expandNames(key: string): string[] {
  const m = /^(.*?)(\d+)\.\.\1(\d+)$/.exec(key);
  if (!m) return [key];
  return Array.from({ length: Number(m[3]) - Number(m[2]) + 1 }, (_, i) => `${m[1]}${Number(m[2]) + i}`);
}

/** The dtype and shape a manifest 'holds' text states: 'float32 [256,64]', 'fixed_size_list<int32>[3]', 'int64'. */
function stated(text: string, rows: number): [string, number[]] {
  const list = /fixed_size_list<(\w+)>\[(\d+)\]/.exec(text);
  if (list) return [list[1]!, [rows, Number(list[2])]];
  const dtype = /\b(float16|float32|float64|int32|int64|bool|uint8|int8)\b/.exec(text)?.[1];
  if (!dtype || !isDType(dtype)) throw new Error(`no dtype in '${text}'`);
  const dims = /\[([\d,\s]*)\]/.exec(text);
  if (!dims) return [dtype, [rows]];
  return [dtype, dims[1]!.trim() === '' ? [] : dims[1]!.split(',').map(Number)];
}

const runnable = manifest.models.filter((m) => m.expected && m.status === 'run');

describe('fixture models in onnxruntime-node', () => {
  it('covers the models the fixtures script made', () => {
    expect(manifest.skipped).toEqual([]);
    expect(manifest.models.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        'skl-logreg',
        'skl-logreg-zipmap',
        'skl-random-forest',
        'skl-ridge',
        'skl-scaler-logreg',
        'skl-normalizer',
        'onnx-loop',
        'onnx-custom-op',
        'onnx-multi-dtype',
        'onnx-external-data',
        'onnx-if',
        'onnx-scan',
        'torch-seq',
        'tf-mlp',
        'tf-cnn',
      ]),
    );
  });

  it('has expected outputs that parse to the shapes and dtypes the manifest states', () => {
    for (const m of manifest.models.filter((x) => x.expected)) {
      const got = Object.fromEntries(readNpz(bytesOf(m.expected!)).map((t) => [t.name, [t.shape, t.dtype]]));
      expect({ model: m.name, got }).toEqual({ model: m.name, got: m.expectedShapes });
      // Every output is in the npz but the non-tensor ones.
      expect({ model: m.name, outputs: Object.keys(got).sort() }).toEqual({
        model: m.name,
        outputs: m.outputs.filter((o) => !m.nonTensorOutputs?.includes(o)).sort(),
      });
    }
  });

  it('covers every dtype EMETH takes in the multi-dtype model, inputs and outputs', () => {
    const m = manifest.models.find((x) => x.name === 'onnx-multi-dtype')!;
    expect(m.status).toBe('run');
    expect(m.dtypes).toEqual({ a: 'float64', b: 'int32', mask: 'bool', h: 'float16', ids: 'int64' });
    const outputTypes = new Set(Object.values(m.expectedShapes!).map(([, d]) => d));
    expect([...outputTypes].sort()).toEqual(['bool', 'float16', 'float32', 'float64', 'int32', 'int64']);
  });

  it.each(runnable.map((m) => [m.name, m] as const))(
    '%s gives the outputs onnxruntime gave in Python, whole and in shards',
    async (_name, m) => {
      const session = await ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] });
      try {
        const expected = Object.fromEntries(readNpz(bytesOf(m.expected!)).map((t) => [t.name, t]));
        const feeds = await inputsFor(m);
        const outputs = Object.keys(expected);
        const whole = await run(session, feeds, outputs);
        // The same rows in three batches along the first dimension, joined back.
        const rows = Object.values(feeds)[0]!.shape[0]!;
        const cuts = [0, 1, Math.floor(rows / 3), rows];
        const parts = [];
        for (let k = 0; k + 1 < cuts.length; k++) {
          const shard = Object.fromEntries(
            Object.entries(feeds).map(([n, t]) => [n, sliceRows(t, cuts[k]!, cuts[k + 1]!)]),
          );
          parts.push(await run(session, shard, outputs));
        }
        for (const o of outputs) {
          const joined = concatRows(parts.map((p) => p[o]!));
          for (const [how, got] of [
            ['whole', whole[o]!],
            ['sharded', joined],
          ] as const) {
            const { maxAbsDiff, intMismatches } = compare(got, expected[o]!);
            expect({
              output: o,
              how,
              intMismatches,
              withinTolerance: maxAbsDiff <= 1e-6,
              maxAbsDiff: maxAbsDiff <= 1e-6 ? 'ok' : maxAbsDiff,
            }).toEqual({
              output: o,
              how,
              intMismatches: 0,
              withinTolerance: true,
              maxAbsDiff: 'ok',
            });
          }
        }
      } finally {
        await session.release();
      }
    },
  );

  it('runs the ZipMap export for its label, and its sequence<map> output is no tensor', async () => {
    const m = manifest.models.find((x) => x.name === 'skl-logreg-zipmap')!;
    expect(m.nonTensorOutputs).toEqual(['output_probability']);
    const session = await ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] });
    try {
      const feeds = await inputsFor(m);
      const expected = readNpz(bytesOf(m.expected!)).find((t) => t.name === 'output_label')!;
      const { output_label } = await run(session, feeds, ['output_label']);
      expect(compare(output_label!, expected)).toEqual({ maxAbsDiff: 0, intMismatches: 0 });
      // Asked for every output, onnxruntime-node 1.30 cannot hand back the sequence<map>.
      const x = feeds.X!;
      await expect(
        session.run({ X: new ort.Tensor('float32', x.data as Float32Array, x.shape) }),
      ).rejects.toThrow('Non tensor type is temporarily not supported');
    } finally {
      await session.release();
    }
  });

  it('runs the Loop model (control flow is refused by EMETH at submit, not by onnxruntime): Y = 3·X', async () => {
    const m = manifest.models.find((x) => x.name === 'onnx-loop')!;
    const session = await ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] });
    try {
      const feeds = await inputsFor(m);
      const { Y } = await run(session, feeds, ['Y']);
      const expected = readNpz(bytesOf(m.expected!))[0]!;
      expect(compare(Y!, expected)).toEqual({ maxAbsDiff: 0, intMismatches: 0 });
      expect(valuesOf(Y!).slice(0, 4)).toEqual(
        valuesOf(feeds.X!)
          .slice(0, 4)
          .map((v) => 3 * Number(v)),
      );
    } finally {
      await session.release();
    }
  });

  it('refuses to load the model whose op is in an unknown domain', async () => {
    const m = manifest.models.find((x) => x.name === 'onnx-custom-op')!;
    await expect(
      ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] }),
    ).rejects.toThrow(/com\.example\.custom:FancyScale.*is not a registered function\/op/);
  });
  it('keeps int64 exact and picks by a bool mask in the multi-dtype model', async () => {
    const m = manifest.models.find((x) => x.name === 'onnx-multi-dtype')!;
    const session = await ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] });
    try {
      const feeds = await inputsFor(m);
      const out = await run(session, feeds, ['idsPlus', 'picked', 'any', 'total']);
      expect((out.idsPlus!.data as BigInt64Array)[0]).toBe(2n ** 53n + 2n);
      expect((out.idsPlus!.data as BigInt64Array)[1]).toBe(2n ** 62n + 2n);
      // Row 0's mask is all false: picked is b as float64, and any is false.
      expect(Array.from(out.picked!.data as Float64Array).slice(0, 3)).toEqual(
        Array.from(feeds.b!.data as Int32Array).slice(0, 3),
      );
      expect(out.any!.data[0]).toBe(0);
      const b = feeds.b!.data as Int32Array;
      expect((out.total!.data as BigInt64Array)[0]).toBe(BigInt(b[0]! + b[1]! + b[2]!));
    } finally {
      await session.release();
    }
  });

  it('loads the external-data model only beside its .onnx.data file (EMETH refuses it at submit)', async () => {
    const m = manifest.models.find((x) => x.name === 'onnx-external-data')!;
    expect([m.status, m.refusal, m.externalData]).toEqual([
      'refuse',
      'external data',
      'models/onnx-external-data.onnx.data',
    ]);
    expect(existsSync(path.join(ROOT, m.externalData!))).toBe(true);
    // The .onnx names its data file; loaded from bytes, onnxruntime looks for it in the working
    // directory (not the model's folder) and fails.
    expect(Buffer.from(bytesOf(m.file)).includes('onnx-external-data.onnx.data')).toBe(true);
    await expect(
      ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] }),
    ).rejects.toThrow(/External data path/);
    const session = await ort.InferenceSession.create(path.join(ROOT, m.file), {
      executionProviders: ['cpu'],
    });
    try {
      const { Y } = await run(session, await inputsFor(m), ['Y']);
      expect(compare(Y!, readNpz(bytesOf(m.expected!))[0]!)).toEqual({ maxAbsDiff: 0, intMismatches: 0 });
    } finally {
      await session.release();
    }
  });

  it('runs the If and Scan models (control flow is refused by EMETH at submit, not by onnxruntime)', async () => {
    for (const name of ['onnx-if', 'onnx-scan']) {
      const m = manifest.models.find((x) => x.name === name)!;
      expect([m.status, m.refusal]).toEqual(['refuse', name === 'onnx-if' ? 'If' : 'Scan']);
      const session = await ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] });
      try {
        const feeds = await inputsFor(m);
        const expected = Object.fromEntries(readNpz(bytesOf(m.expected!)).map((t) => [t.name, t]));
        const got = await run(session, feeds, Object.keys(expected));
        for (const o of Object.keys(expected)) {
          expect({ name, o, ...compare(got[o]!, expected[o]!) }).toEqual({
            name,
            o,
            maxAbsDiff: 0,
            intMismatches: 0,
          });
        }
        const x = feeds.X!.data as Float32Array;
        const y = got.Y!.data as Float32Array;
        if (name === 'onnx-if') {
          expect(Array.from(y.slice(0, 64))).toEqual(Array.from(x.slice(0, 64), (v) => 2 * v)); // sum(X) > 0
        } else {
          // Y is the running sum along each row; its last column is `total`.
          let acc = 0;
          const running = Array.from(x.slice(0, 64), (v) => (acc = Math.fround(acc + v)));
          expect(Array.from(y.slice(0, 64))).toEqual(running);
          expect((got.total!.data as Float32Array)[0]).toBe(y[63]);
        }
      } finally {
        await session.release();
      }
    }
  });

  it('cannot feed digits-63cols.npy to a 64-wide digits model (refused when bound: the input width)', async () => {
    const d = manifest.datasets['data/digits-63cols.npy']!;
    expect(d.refusal).toMatchObject({ stage: 'bind' });
    const x = await arrayOf('data/digits-63cols.npy', 'X');
    expect([x.dtype, x.shape]).toEqual(['float32', [32, 63]]);
    const m = manifest.models.find((y) => y.name === 'skl-logreg')!;
    const session = await ort.InferenceSession.create(bytesOf(m.file), { executionProviders: ['cpu'] });
    try {
      await expect(
        session.run({ X: new ort.Tensor('float32', x.data as Float32Array, x.shape) }),
      ).rejects.toThrow(/Got: 63 Expected: 64/);
    } finally {
      await session.release();
    }
  });
});
