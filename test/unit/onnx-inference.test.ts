import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { PROGRAMS, programFor } from '../../activities/programs';
import {
  createOnnxInferenceProgram,
  type OnnxInferenceProgram,
} from '../../activities/programs/onnx-inference';
import { inspectModel } from '../../activities/programs/onnx-model';
import { modelCostOf } from '../../activities/programs/onnx-fuel';
import { detectCuda } from '../../activities/programs/onnx-runtime';
import { createLocalBlobStore, type BlobStore } from '../../activities/storage';
import { createLogger } from '../../lib/logger';
import { decodeMatrix, encodeMatrix, maxAbsDiff, type Matrix } from '../../lib/matrix';
import {
  ONNX_INFERENCE_SPEC,
  ProgramId,
  PROGRAM_SPECS,
  meterFuel,
  sampleRows,
  splitFuelLimit,
  splitRows,
  type RunOutput,
  type SplitOutput,
} from '../../lib/programs';
import { generateExamples } from '../../examples/generate';
import { decideCheck } from '../../lib/verification-policy';

const ROWS = 2_000;
const logger = createLogger('silent');

describe('program rules (lib/programs)', () => {
  it('splits evenly in row order, sizes differing by at most one, the last never larger', () => {
    expect(splitRows(10, 4)).toEqual([
      { rowStart: 0, rowEnd: 3 },
      { rowStart: 3, rowEnd: 6 },
      { rowStart: 6, rowEnd: 8 },
      { rowStart: 8, rowEnd: 10 },
    ]);
    expect(splitRows(9, 4).map((r) => r.rowEnd - r.rowStart)).toEqual([3, 2, 2, 2]);
    expect(splitRows(3, 8)).toHaveLength(3); // numParallel > rows: one row per SubJob
    expect(splitRows(5, 1)).toEqual([{ rowStart: 0, rowEnd: 5 }]);
    expect(() => splitRows(0, 2)).toThrow(/no rows/);
    expect(() => splitRows(5, 0)).toThrow(/numParallel must be an integer ≥ 1/);
  });

  it('meters fuel as ceil(rows × (MACs + nodes) / 1000), capped by the limit', () => {
    const cost = { workPerRow: 2688, nodes: 6 };
    expect(meterFuel(1000, cost, '1000000')).toEqual({
      required: '2694',
      fuelUsed: '2694',
      exceedsLimit: false,
    });
    expect(meterFuel(1, cost, '100')).toEqual({ required: '3', fuelUsed: '3', exceedsLimit: false });
    expect(meterFuel(1000, cost, '2000')).toEqual({ required: '2694', fuelUsed: '2000', exceedsLimit: true });
    expect(meterFuel(1, { workPerRow: 0, nodes: 1 }, 10n).fuelUsed).toBe('1'); // never free
    expect(meterFuel(0, cost, '10').fuelUsed).toBe('0');
    expect(() => meterFuel(1, cost, '-5')).toThrow(/non-negative integer/);
  });

  it('splits a fuel limit in proportion to rows, summing to the limit exactly', () => {
    const shares = splitFuelLimit('100', [3, 3, 3]);
    expect(shares).toEqual(['34', '33', '33']);
    expect(splitFuelLimit('120000', [5000, 2500, 2500])).toEqual(['60000', '30000', '30000']);
    const odd = splitFuelLimit(10n ** 24n + 7n, [7, 11, 13]);
    expect(odd.reduce((a, s) => a + BigInt(s), 0n)).toBe(10n ** 24n + 7n);
  });

  it('samples a reproducible, seed-dependent set of ceil(rate × rows) distinct rows', () => {
    const a = sampleRows(1000, 0.1, 'verify-1');
    expect(a).toHaveLength(100);
    expect(new Set(a).size).toBe(100);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(a.every((r) => r >= 0 && r < 1000)).toBe(true);
    expect(sampleRows(1000, 0.1, 'verify-1')).toEqual(a);
    expect(sampleRows(1000, 0.1, 'verify-2')).not.toEqual(a);
    expect(sampleRows(5, 1, 's')).toEqual([0, 1, 2, 3, 4]);
    expect(sampleRows(5, 0.01, 's')).toHaveLength(1);
    expect(sampleRows(5, 0, 's')).toEqual([]);
  });

  it('checks every row while a node is on probation, then audits some SubJobs in full and spot-checks the rest', () => {
    const policy = ONNX_INFERENCE_SPEC.verification;
    expect([0, 5, 9].map((r) => decideCheck(policy, r, 0.99).why)).toEqual([
      'probation',
      'probation',
      'probation',
    ]);
    expect(decideCheck(policy, 10, 0.05)).toEqual({ sampleRate: 1, why: 'audit' });
    expect(decideCheck(policy, 10, 0.5)).toEqual({ sampleRate: 0.02, why: 'spot' });
  });
});

describe('program registry', () => {
  it('serves each implemented program for its ProgramId and SubJob id, and refuses the rest clearly', () => {
    const store = createLocalBlobStore(path.join(tmpdir(), 'emeth-unused'));
    expect(PROGRAMS.map((p) => [p.spec.programId, p.spec.subProgramId, p.spec.name, !!p.create])).toEqual(
      PROGRAM_SPECS.map((s) => [s.programId, s.subProgramId, s.name, s.implemented]),
    );
    expect(PROGRAMS.map((p) => p.spec.name)).toEqual(['onnx-inference', 'fedavg-train', 'encrypted-stats']);
    expect(programFor(ProgramId.ONNX_INFERENCE_SUBJOB, { store, logger }).spec.name).toBe('onnx-inference');
    for (const s of PROGRAM_SPECS.filter((x) => !x.implemented)) {
      expect(() => programFor(s.programId, { store, logger })).toThrow(
        new RegExp(`${s.name} .* not implemented yet`),
      );
    }
    expect(() => programFor(99, { store, logger })).toThrow(/no program has ProgramId 99/);
  });
});

describe('onnx-inference on the example MLP (real onnxruntime-node)', () => {
  let dir: string;
  let store: BlobStore;
  let program: OnnxInferenceProgram;
  let modelBytes: Uint8Array;
  let dataset: Matrix;
  let modelBlobId: string;
  let datasetBlobId: string;
  let bare: Matrix; // the whole dataset through one plain session: the reference

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'emeth-onnx-'));
    const made = await generateExamples(path.join(dir, 'examples'), { rows: ROWS });
    modelBytes = await readFile(made.model.path);
    const rowsBytes = await readFile(made.rows.path);
    dataset = decodeMatrix(rowsBytes);
    store = createLocalBlobStore(path.join(dir, 'blobs'));
    modelBlobId = await store.put(modelBytes);
    datasetBlobId = await store.put(rowsBytes);
    program = createOnnxInferenceProgram({ store, logger, batchSize: 64, intraOpNumThreads: 1 });

    const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['cpu'] });
    const out = await session.run({
      rows: new ort.Tensor('float32', dataset.data, [dataset.rows, dataset.cols]),
    });
    bare = { rows: dataset.rows, cols: 10, data: out.probs!.data as Float32Array };
    await session.release();
  });
  afterAll(async () => {
    await program?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('generates the example idempotently and reads its shape and cost from the graph', async () => {
    const again = await generateExamples(path.join(dir, 'examples'), { rows: ROWS });
    expect([again.model.changed, again.rows.changed]).toEqual([false, false]);
    expect(dataset.rows).toBe(ROWS);
    expect(dataset.cols).toBe(32);
    const model = inspectModel(modelBytes);
    expect(model.inputs).toEqual([
      { name: 'rows', dtype: 'float32', elemType: 'float', dims: [null, 32], isTensor: true },
    ]);
    expect(model.outputs.map((o) => [o.name, o.dtype, o.dims])).toEqual([['probs', 'float32', [null, 10]]]);
    // The fuel table over one row's shapes: MatMul 32×64 + Add 64 + Relu 64 + MatMul 64×10 + Add 10 + Softmax 5×10.
    expect(await modelCostOf(modelBytes, { rows: { dtype: 'float32', inner: [32] } })).toEqual({
      workPerRow: 32 * 64 + 64 + 64 + 64 * 10 + 10 + 5 * 10,
      nodes: 6,
    });
    // Softmax rows sum to 1: the reference is a real classifier output, not zeros.
    const sum = bare.data.subarray(0, 10).reduce((a, v) => a + v, 0);
    expect(sum).toBeCloseTo(1, 5);
  });

  async function splitAndRun(numParallel: number): Promise<{ split: SplitOutput; outputs: RunOutput[] }> {
    const split = await program.split({
      programId: 1,
      datasetBlobId,
      modelBlobId,
      numParallel,
      fuelLimit: '100000',
    });
    const outputs: RunOutput[] = [];
    for (const shard of split.shards) {
      outputs.push(
        await program.run({
          shard,
          modelBlobId,
          fuelLimit: shard.fuelLimit,
          context: { jobId: 'j1', subJobId: `s${shard.index}`, nodeId: 'n1' },
        }),
      );
    }
    return { split, outputs };
  }

  it('split → run each shard → aggregate equals one bare session over all rows', async () => {
    const { split, outputs } = await splitAndRun(3);
    expect(split.shards.map((s) => [s.index, s.rowStart, s.rowEnd, s.rows])).toEqual([
      [0, 0, 667, 667],
      [1, 667, 1334, 667],
      [2, 1334, 2000, 666],
    ]);
    // Shards are the dataset's rows, in order, as blobs.
    for (const s of split.shards) {
      const shard = decodeMatrix(await store.get(s.blobId));
      expect(Array.from(shard.data)).toEqual(
        Array.from(dataset.data.subarray(s.rowStart * 32, s.rowEnd * 32)),
      );
      expect(await store.size(s.blobId)).toBe(s.bytes);
    }
    expect(split.shards.reduce((a, s) => a + BigInt(s.fuelLimit), 0n)).toBe(100000n);
    expect(outputs.every((o) => o.executionProvider === 'cpu' || o.executionProvider === 'cuda')).toBe(true);
    expect(outputs.map((o) => [o.rows, o.cols])).toEqual([
      [667, 10],
      [667, 10],
      [666, 10],
    ]);

    // Given out of order on purpose: aggregate orders by SubJob index.
    const agg = await program.aggregate({
      outputs: [2, 0, 1].map((i) => ({ index: i, outputBlobId: outputs[i]!.outputBlobId })),
    });
    const result = decodeMatrix(await store.get(agg.resultBlobId));
    expect([agg.rows, agg.cols]).toEqual([ROWS, 10]);
    expect(maxAbsDiff(result, bare)).toBeLessThanOrEqual(1e-6);
  });

  it('handles numParallel larger than the rows and a single SubJob', async () => {
    const tinyId = await store.put(encodeMatrix({ rows: 3, cols: 32, data: dataset.data.slice(0, 96) }));
    const split = await program.split({
      programId: 1,
      datasetBlobId: tinyId,
      modelBlobId,
      numParallel: 8,
      fuelLimit: '30',
    });
    expect(split.shards.map((s) => s.rows)).toEqual([1, 1, 1]);
    expect(split.shards.map((s) => s.fuelLimit)).toEqual(['10', '10', '10']);
    const one = await program.split({
      programId: 1,
      datasetBlobId,
      modelBlobId,
      numParallel: 1,
      fuelLimit: '100000',
    });
    expect(one.shards).toHaveLength(1);
    expect(one.shards[0]!.blobId).toBe(datasetBlobId); // same bytes, same content id
  });

  it('meters the same fuel on every run, and refuses a shard whose fuel exceeds its limit', async () => {
    const a = await splitAndRun(4);
    const b = await splitAndRun(4);
    const fuel = a.outputs.map((o) => o.fuelUsed);
    expect(fuel).toEqual(b.outputs.map((o) => o.fuelUsed));
    expect(fuel).toEqual(
      a.split.shards.map((s) => meterFuel(s.rows, { workPerRow: 2876, nodes: 6 }, '100000').fuelUsed),
    );
    expect(fuel).toEqual(['1441', '1441', '1441', '1441']); // ceil(500 × 2882 / 1000)
    // Identical work gives identical bytes: a retried SubJob writes the same output blob.
    expect(a.outputs.map((o) => o.outputBlobId)).toEqual(b.outputs.map((o) => o.outputBlobId));

    const shard = a.split.shards[0]!;
    await expect(program.run({ shard, modelBlobId, fuelLimit: '1440' })).rejects.toThrow(
      /needs 1441 fuel \(500 rows\) but the SubJob's limit is 1440/,
    );
  });

  it('refuses to publish an output computed from a shard whose file was tampered with', async () => {
    const { split } = await splitAndRun(2);
    const shard = split.shards[1]!;
    const file = path.join(dir, 'blobs', shard.blobId.slice(0, 2), shard.blobId.slice(2, 4), shard.blobId);
    const bytes = await readFile(file);
    bytes[bytes.length - 1]! ^= 1; // same size, one bit off in the last row
    await writeFile(file, bytes);
    await expect(program.run({ shard, modelBlobId, fuelLimit: shard.fuelLimit })).rejects.toThrow(
      `blob ${shard.blobId}`,
    );
    bytes[bytes.length - 1]! ^= 1;
    await writeFile(file, bytes); // restore for the other tests
  });

  it('verify accepts the true output (sampled and full) and rejects a lying node, naming the row', async () => {
    const { split, outputs } = await splitAndRun(2);
    const shard = split.shards[1]!;
    const honest = outputs[1]!;
    const sampled = await program.verify({
      shard,
      modelBlobId,
      fuelLimit: shard.fuelLimit,
      claimed: honest,
      options: { sampleRate: 0.1, seed: 'v1' },
    });
    expect(sampled).toMatchObject({ ok: true, rowsChecked: 100, rowsTotal: 1000, mismatches: [] });
    expect(sampled.worstDiff).toBeLessThanOrEqual(1e-6);
    const full = await program.verify({
      shard,
      modelBlobId,
      fuelLimit: shard.fuelLimit,
      claimed: honest,
      options: { sampleRate: 1, seed: 'v1' },
    });
    expect(full).toMatchObject({ ok: true, rowsChecked: 1000 });

    // The lying node changes one value of shard row 37 (dataset row 1037).
    const lie = decodeMatrix(await store.get(honest.outputBlobId));
    const tampered = { rows: lie.rows, cols: lie.cols, data: lie.data.slice() };
    tampered.data[37 * 10 + 4]! += 0.01;
    const lieId = await store.put(encodeMatrix(tampered));
    const caught = await program.verify({
      shard,
      modelBlobId,
      fuelLimit: shard.fuelLimit,
      claimed: { outputBlobId: lieId, fuelUsed: honest.fuelUsed },
      options: { sampleRate: 1, seed: 'v1' },
    });
    expect(caught.ok).toBe(false);
    expect(caught.mismatches).toEqual([{ row: 1037, shardRow: 37, diff: expect.closeTo(0.01, 4) }]);
    expect(caught.worstRow).toBe(1037);
    expect(caught.reason).toMatch(
      /1 of 1000 checked rows differ beyond tolerance 0.0001 .*; first: row 1037 \(shard row 37\)/,
    );
  });

  it('verify rejects an inflated fuel claim, a missing output and an output with rows dropped', async () => {
    const { split, outputs } = await splitAndRun(2);
    const shard = split.shards[0]!;
    const base = { shard, modelBlobId, fuelLimit: shard.fuelLimit, options: { sampleRate: 0.1, seed: 'v2' } };
    const greedy = await program.verify({
      ...base,
      claimed: { outputBlobId: outputs[0]!.outputBlobId, fuelUsed: '999999' },
    });
    expect(greedy.ok).toBe(false);
    expect(greedy.reason).toMatch(/claimed fuelUsed 999999 but 1000 rows of this model meter 2882/);

    const missing = 'ab'.repeat(32);
    const gone = await program.verify({
      ...base,
      claimed: { outputBlobId: missing, fuelUsed: outputs[0]!.fuelUsed },
    });
    expect(gone.ok).toBe(false);
    expect(gone.reason).toContain(`no blob ${missing}`);

    const full = decodeMatrix(await store.get(outputs[0]!.outputBlobId));
    const shortId = await store.put(encodeMatrix({ rows: 999, cols: 10, data: full.data.slice(0, 9990) }));
    const short = await program.verify({
      ...base,
      claimed: { outputBlobId: shortId, fuelUsed: outputs[0]!.fuelUsed },
    });
    expect(short.ok).toBe(false);
    expect(short.reason).toMatch(/output 'probs' has 999 rows, the shard has 1000/);
  });

  it('aggregate refuses a missing or repeated SubJob output', async () => {
    const { outputs } = await splitAndRun(3);
    await expect(
      program.aggregate({
        outputs: [0, 2].map((i) => ({ index: i, outputBlobId: outputs[i]!.outputBlobId })),
      }),
    ).rejects.toThrow(/index 1 is missing/);
    await expect(
      program.aggregate({
        outputs: [0, 0, 1].map((i) => ({ index: i, outputBlobId: outputs[i]!.outputBlobId })),
      }),
    ).rejects.toThrow(/index 1 is repeated/);
  });

  it('refuses a dataset whose rows do not fit the model', async () => {
    const wrongId = await store.put(encodeMatrix({ rows: 4, cols: 16, data: new Float32Array(64) }));
    await expect(
      program.split({ programId: 1, datasetBlobId: wrongId, modelBlobId, numParallel: 2, fuelLimit: '10' }),
    ).rejects.toThrow(/the model's input "rows" takes \[N, 32\]; array 'X' is \[4, 16\]/);
  });

  it('runs on CPU when the CUDA provider is absent, and gives the reason the node logs', async () => {
    const cuda = detectCuda();
    const session = await program.sessionFor(modelBlobId);
    if (cuda.available) {
      expect(['cuda', 'cpu']).toContain(session.provider); // cpu only when the provider failed to load
    } else {
      expect(cuda.reason).toMatch(/no CUDA backend|node scripts\/setup-gpu\.cjs/);
      expect(session.provider).toBe('cpu');
      expect(session.providerReason).toBe(cuda.reason);
    }
  });
});
