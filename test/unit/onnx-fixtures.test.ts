// Every fixture model × every data format through onnx-inference's own inspect → split → run →
// verify → aggregate (real onnxruntime-node, a local blob store), each output equal to the local
// onnxruntime run the fixture script recorded: |diff| ≤ 1e-6 for floats, exact for integers,
// booleans and halves. And every shape EMETH refuses, refused at inspect naming the field.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createOnnxInferenceProgram,
  type OnnxInferenceProgram,
} from '../../activities/programs/onnx-inference';
import { createLocalBlobStore, type BlobStore } from '../../activities/storage';
import { createLogger } from '../../lib/logger';
import { InspectionError, type InspectInput } from '../../lib/programs';
import { readDataset } from '../../lib/tensors';
import {
  REFUSALS,
  fixtureBytes,
  fixtureCases,
  manifest,
  outputDiff,
  type FixtureCase,
} from '../support/fixture-cases';

jest.setTimeout(120_000);

let dir: string;
let store: BlobStore;
let program: OnnxInferenceProgram;
let cases: FixtureCase[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'emeth-fixtures-'));
  store = createLocalBlobStore(path.join(dir, 'blobs'));
  program = createOnnxInferenceProgram({
    store,
    logger: createLogger('silent'),
    batchSize: 100,
    preferCuda: false,
  });
  cases = await fixtureCases();
});
afterAll(async () => {
  await program?.close();
  await rm(dir, { recursive: true, force: true });
});

const paramsOf = (c: { inputs?: Record<string, string | string[]>; format?: string }, declare = false) => ({
  ...(c.inputs ? { inputs: JSON.stringify(c.inputs) } : {}),
  ...(declare && c.format ? { datasetFormat: c.format } : {}),
});

async function refusal(input: InspectInput): Promise<InspectionError> {
  try {
    await program.inspect(input);
  } catch (err) {
    if (err instanceof InspectionError) return err;
    throw err;
  }
  throw new Error('inspect accepted it');
}

test('the fixtures cover every exporter, model kind and format the README lists', async () => {
  const exporters = new Set(cases.map((c) => c.exporter.split(' ')[0]));
  expect([...exporters].sort()).toEqual(['onnx.helper', 'skl2onnx', 'tf2onnx', 'torch.onnx.export']);
  expect(new Set(cases.map((c) => c.format))).toEqual(new Set(['npy', 'npz', 'csv', 'parquet', 'emtx']));
  expect(cases.length).toBeGreaterThanOrEqual(50);
});

describe('each fixture model × each data format: outputs equal a local onnxruntime run', () => {
  // One test per case keeps a failure's name precise; the list is built from the manifest.
  const names = (() => {
    const m = manifest();
    return m.models.filter((x) => x.status === 'run').map((x) => x.name);
  })();
  test.each(names)('%s', async (name) => {
    for (const c of cases.filter((x) => x.model === name)) {
      const modelBlobId = await store.put(c.modelBytes);
      const datasetBlobId = await store.put(c.dataset);
      // Declared on every other case, detected from the bytes on the rest: both must work.
      const params = paramsOf(c, c.format.length % 2 === 0);
      const report = await program.inspect({ datasetBlobId, modelBlobId, params });
      expect(report.rows).toBe(c.expected[0]!.shape[0]);
      const split = await program.split({
        programId: 1,
        datasetBlobId,
        modelBlobId,
        numParallel: 3,
        fuelLimit: '1000000000',
        params,
      });
      expect(split.shards.length).toBe(3);
      expect(BigInt(split.shards[0]!.fuelRequired)).toBeGreaterThan(0n);
      const outputs = [];
      for (const shard of split.shards) {
        const out = await program.run({ shard, modelBlobId, fuelLimit: shard.fuelLimit, params });
        const verdict = await program.verify({
          shard,
          modelBlobId,
          fuelLimit: shard.fuelLimit,
          claimed: out,
          options: { sampleRate: 1, seed: 'fixtures' },
          params,
        });
        expect({ case: c.label, ok: verdict.ok, reason: verdict.reason }).toEqual({
          case: c.label,
          ok: true,
          reason: undefined,
        });
        outputs.push({ index: shard.index, outputBlobId: out.outputBlobId });
      }
      const result = await program.aggregate({ outputs });
      const got = (
        await readDataset(await store.get(result.resultBlobId), undefined, { name: c.expected[0]!.name })
      ).tensors;
      expect({ case: c.label, names: got.map((t) => t.name) }).toEqual({
        case: c.label,
        names: c.expected.map((t) => t.name),
      });
      for (const [i, want] of c.expected.entries()) {
        const diff = outputDiff(got[i]!, want);
        expect({ case: c.label, output: want.name, diff: diff <= 1e-6 ? 'within 1e-6' : diff }).toEqual({
          case: c.label,
          output: want.name,
          diff: 'within 1e-6',
        });
      }
    }
  });
});

test('a lying node is caught on an integer output (exact) as on a float one', async () => {
  const c = cases.find((x) => x.model === 'skl-random-forest' && x.format === 'npy')!;
  const modelBlobId = await store.put(c.modelBytes);
  const datasetBlobId = await store.put(c.dataset);
  const split = await program.split({
    programId: 1,
    datasetBlobId,
    modelBlobId,
    numParallel: 1,
    fuelLimit: '1000000000',
  });
  const shard = split.shards[0]!;
  const honest = await program.run({ shard, modelBlobId, fuelLimit: shard.fuelLimit });
  const tensors = (await readDataset(await store.get(honest.outputBlobId))).tensors;
  const label = tensors.find((t) => t.name === 'label')!;
  (label.data as BigInt64Array)[17] = ((label.data as BigInt64Array)[17]! + 1n) % 10n;
  const { writeDataset } = await import('../../lib/tensors');
  const forged = await store.put(writeDataset('npz', tensors));
  const verdict = await program.verify({
    shard,
    modelBlobId,
    fuelLimit: shard.fuelLimit,
    claimed: { outputBlobId: forged, fuelUsed: honest.fuelUsed },
    options: { sampleRate: 1, seed: 'liar' },
  });
  expect(verdict.ok).toBe(false);
  expect(verdict.mismatches[0]).toEqual({ row: 17, shardRow: 17, diff: Infinity });
});

describe('refused at inspect, naming the field and the reason', () => {
  const refused = manifest().models.filter((x) => x.status === 'refuse');
  test.each(refused.map((m) => [m.name, m.refusal!, m.file] as const))(
    '%s (%s)',
    async (_name, why, file) => {
      const modelBlobId = await store.put(fixtureBytes(file));
      const datasetBlobId = await store.put(fixtureBytes('data/digits-X.npy'));
      const err = await refusal({ modelBlobId, datasetBlobId });
      expect(err.field).toBe('model');
      expect(err.message).toMatch(REFUSALS[why]!);
    },
  );

  const digitsModel = () => store.put(fixtureBytes('models/skl-logreg.onnx'));
  test('input width mismatch', async () => {
    const err = await refusal({
      modelBlobId: await digitsModel(),
      datasetBlobId: await store.put(fixtureBytes('data/digits-63cols.npy')),
    });
    expect([err.field, err.message]).toEqual([
      'dataset',
      expect.stringMatching(/input "X" takes \[N, 64\]; array 'X' is \[32, 63\]/),
    ]);
  });
  test('unparseable CSV', async () => {
    const err = await refusal({
      modelBlobId: await digitsModel(),
      datasetBlobId: await store.put(fixtureBytes('data/broken.csv')),
    });
    expect(err.field).toBe('dataset');
    expect(err.message).toMatch(/row|'abc'/);
  });
  test('a CSV whose columns do not say which feed the model', async () => {
    const err = await refusal({
      modelBlobId: await digitsModel(),
      datasetBlobId: await store.put(fixtureBytes('data/digits.csv')),
    });
    expect(err.field).toBe('dataset');
    expect(err.message).toMatch(/bind it on the Job: "inputs": \{"X": /);
  });
  test('a binding that names no column', async () => {
    const err = await refusal({
      modelBlobId: await digitsModel(),
      datasetBlobId: await store.put(fixtureBytes('data/digits.csv')),
      params: { inputs: JSON.stringify({ X: 'pix_*' }) },
    });
    expect([err.field, err.message]).toEqual([
      'inputs',
      expect.stringMatching(/pattern 'pix_\*' matches no column/),
    ]);
  });
  test('an output the model does not have', async () => {
    const err = await refusal({
      modelBlobId: await digitsModel(),
      datasetBlobId: await store.put(fixtureBytes('data/digits-X.npy')),
      params: { outputs: JSON.stringify(['proba']) },
    });
    expect([err.field, err.message]).toEqual([
      'outputs',
      expect.stringMatching(
        /"proba", which the model does not produce; it produces "label", "probabilities"/,
      ),
    ]);
  });
  test('a declared format the bytes are not', async () => {
    const err = await refusal({
      modelBlobId: await digitsModel(),
      datasetBlobId: await store.put(fixtureBytes('data/digits-X.npy')),
      params: { datasetFormat: 'parquet' },
    });
    expect(err.field).toBe('datasetFormat');
    expect(err.message).toMatch(/declared 'parquet' but .* is a NumPy .npy file/);
  });
  test('float data for an integer input', async () => {
    const { createTensor, writeDataset } = await import('../../lib/tensors');
    const m = await store.put(fixtureBytes('models/onnx-multi-dtype.onnx'));
    const multi = (await readDataset(fixtureBytes('data/multi.npz'))).tensors.map((t) =>
      t.name === 'b' ? createTensor('b', 'float64', t.shape, Float64Array.from(t.data as Int32Array)) : t,
    );
    const err = await refusal({ modelBlobId: m, datasetBlobId: await store.put(writeDataset('npz', multi)) });
    expect([err.field, err.message]).toEqual([
      'dataset',
      expect.stringMatching(/array 'b' for input "b" holds float64 values but the model takes int32/),
    ]);
  });
});

test('the result keeps only the outputs the requester chose', async () => {
  const modelBlobId = await store.put(fixtureBytes('models/skl-logreg.onnx'));
  const datasetBlobId = await store.put(fixtureBytes('data/digits.npz'));
  const params = { outputs: JSON.stringify(['probabilities']) };
  const split = await program.split({
    programId: 1,
    datasetBlobId,
    modelBlobId,
    numParallel: 1,
    fuelLimit: '1000000000',
    params,
  });
  const out = await program.run({
    shard: split.shards[0]!,
    modelBlobId,
    fuelLimit: split.shards[0]!.fuelLimit,
    params,
  });
  const tensors = (await readDataset(await store.get(out.outputBlobId))).tensors;
  expect(tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([['probabilities', 'float32', [256, 10]]]);
});

test('a big-endian .npy read from a Node Buffer (a view into a shared pool) gives its own values', async () => {
  const { readNpy } = await import('../../lib/tensors');
  const { decodeMatrix, encodeMatrix } = await import('../../lib/matrix');
  const be = readNpy(Buffer.from(fixtureBytes('data/iris-X-be.npy')));
  expect(Array.from(be.data as Float64Array).slice(0, 4)).toEqual([5.1, 3.5, 1.4, 0.2]);
  // An EMTX matrix at an odd offset inside a pooled Buffer is copied, not read from the pool's start.
  const m = encodeMatrix({ rows: 1, cols: 2, data: Float32Array.of(1.5, -2) });
  const pooled = Buffer.concat([Buffer.from([7]), Buffer.from(m)]).subarray(1);
  expect(Array.from(decodeMatrix(pooled).data)).toEqual([1.5, -2]);
});
