/**
 * The committed fixtures (scripts/make-fixtures.py) read through lib/tensors and run through
 * onnxruntime-node: every dataset format holds the same numbers, and every model gives what the
 * Python onnxruntime gave on the same inputs (floats within 1e-6, integers and bools exactly).
 */
import { readFileSync } from 'node:fs';
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
  type DType,
  type Tensor,
  valuesOf,
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
  nonTensorOutputs?: string[];
  localRunError?: string;
}
interface Manifest {
  datasets: Record<string, { format: string }>;
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
  const a = toFloat32(actual);
  const b = toFloat32(expected);
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

const ORT_TO_DTYPE: Record<string, DType> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int32: 'int32',
  int64: 'int64',
  bool: 'bool',
  uint8: 'uint8',
  int8: 'int8',
};
function fromOrt(name: string, t: ort.Tensor): Tensor {
  const dtype = ORT_TO_DTYPE[t.type];
  if (!dtype) throw new Error(`output ${name} is ${t.type}`);
  return createTensor(name, dtype, t.dims.map(Number), t.data as never);
}

async function inputsFor(m: ModelEntry): Promise<Record<string, Tensor>> {
  const feeds: Record<string, Tensor> = {};
  for (const [input, bind] of Object.entries(m.inputs)) {
    const tensors = await tensorsOf(bind.dataset);
    const t = bind.columns
      ? stackColumns(tensors, bind.columns)
      : tensors.find((x) => x.name === (bind.array ?? 'X'))!;
    feeds[input] = createTensor(input, 'float32', t.shape, toFloat32(t));
  }
  return feeds;
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
  it('hold the same digits X in .npy, .npz (stored and deflated), CSV and Parquet (wide and embedding)', async () => {
    const reference = await arrayOf('data/digits-X.npy', 'X');
    const candidates: [string, Tensor][] = [
      ['digits.npz', await arrayOf('data/digits.npz', 'X')],
      ['digits-compressed.npz', await arrayOf('data/digits-compressed.npz', 'X')],
      ['digits.csv', stackColumns(await tensorsOf('data/digits.csv'), pixels)],
      ['digits.parquet', stackColumns(await tensorsOf('data/digits.parquet'), pixels)],
      ['digits-embedding.parquet', await arrayOf('data/digits-embedding.parquet', 'X')],
      ['digits-rowgroups.parquet', await arrayOf('data/digits-rowgroups.parquet', 'X')],
      ['digits-images.npy (reshaped)', (await tensorsOf('data/digits-images.npy'))[0]!],
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
      const refused = /refused/.test(JSON.stringify(d)) || rel.includes('fortran');
      const read = await readDataset(bytesOf(rel), undefined, { source: rel }).then(
        (ds) => ds.format,
        (e: Error) => `refused: ${e.message}`,
      );
      if (refused) expect(read).toMatch(/^refused: /);
      else expect({ rel, read }).toEqual({ rel, read: d.format });
    }
  });
});

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
      ]),
    );
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
});
