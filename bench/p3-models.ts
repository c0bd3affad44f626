/**
 * The models P3 measures, each with its rows stored as the shard blob a split would give a node, and
 * the bare onnxruntime-node loop it is compared with:
 *   mlp — examples/models.ts's MLP 32→hidden→10 on synthetic clustered rows, an EMTX matrix
 *         (the streaming path when the store streams)
 *   cnn — the committed torch.onnx.export fixture torch-cnn28.onnx on seeded uniform float32
 *         images [rows, 1, 28, 28], a .npy shard (the whole-blob path, an .npz output)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { syntheticRows } from '../examples/datasets';
import { buildMlpModel } from '../examples/models';
import { seededRandom } from '../lib/programs';
import { createTensor, readDataset, writeEmtx, writeNpy } from '../lib/tensors';

export const BENCH_MODELS = ['mlp', 'cnn'] as const;
export type BenchModelName = (typeof BENCH_MODELS)[number];

/** Rows per model when --rows is not given: the CNN costs ~1,000× the MLP per row. */
export const DEFAULT_ROWS: Record<BenchModelName, number> = { mlp: 100_000, cnn: 20_000 };

export const CNN_FIXTURE = path.join(__dirname, '../examples/fixtures/models/torch-cnn28.onnx');

export interface BenchModel {
  name: BenchModelName;
  /** For the table's heading. */
  label: string;
  modelBytes: Uint8Array;
  /** The shard blob: the rows in the dataset format the program reads. */
  shardBytes: Uint8Array;
  format: 'emtx' | 'npy';
  rows: number;
  /** Values per row (the ShardRef's cols). */
  cols: number;
  input: string;
  output: string;
  /** One row's shape without the batch dimension. */
  rowShape: number[];
  /** Every row, row-major: what the bare loop feeds. */
  data: Float32Array;
}

export async function benchModel(
  name: BenchModelName,
  rows: number,
  options: { hidden: number },
): Promise<BenchModel> {
  if (name === 'mlp') {
    const m = syntheticRows({ rows, cols: 32 });
    return {
      name,
      label: `MLP 32→${options.hidden}→10 (examples/models.ts), EMTX [N, 32]`,
      modelBytes: buildMlpModel({ inputs: 32, hidden: options.hidden, classes: 10 }),
      shardBytes: writeEmtx(createTensor('rows', 'float32', [m.rows, m.cols], m.data)),
      format: 'emtx',
      rows,
      cols: 32,
      input: 'rows',
      output: 'probs',
      rowShape: [32],
      data: m.data,
    };
  }
  const rand = seededRandom('emeth-p3-cnn-images');
  const data = new Float32Array(rows * 28 * 28);
  for (let i = 0; i < data.length; i++) data[i] = rand();
  return {
    name,
    label: 'CNN torch-cnn28.onnx (2× Conv/ReLU/MaxPool → Linear), .npy [N, 1, 28, 28]',
    modelBytes: await readFile(CNN_FIXTURE),
    shardBytes: writeNpy(createTensor('X', 'float32', [rows, 1, 28, 28], data)),
    format: 'npy',
    rows,
    cols: 28 * 28,
    input: 'X',
    output: 'logits',
    rowShape: [1, 28, 28],
    data,
  };
}

/** The bare loop: one onnxruntime session, the rows in batches of `batch` as one tensor each. */
export async function bareRun(
  session: ort.InferenceSession,
  m: BenchModel,
  batch: number,
): Promise<Float32Array> {
  const per = m.cols;
  let out: Float32Array | undefined;
  let outPer = 0;
  for (let start = 0; start < m.rows; start += batch) {
    const n = Math.min(batch, m.rows - start);
    const feeds = {
      [m.input]: new ort.Tensor('float32', m.data.subarray(start * per, (start + n) * per), [
        n,
        ...m.rowShape,
      ]),
    };
    const values = (await session.run(feeds))[m.output]!.data as Float32Array;
    if (!out) {
      outPer = values.length / n;
      out = new Float32Array(m.rows * outPer);
    }
    out.set(values, start * outPer);
  }
  return out!;
}

/** The program's output blob (EMTX or .npz) as the model's output values, row-major. */
export async function programOutput(bytes: Uint8Array, m: BenchModel): Promise<Float32Array> {
  const { tensors } = await readDataset(bytes, undefined, { source: 'the output', name: m.output });
  const t = tensors.length === 1 ? tensors[0]! : tensors.find((x) => x.name === m.output);
  if (!t || t.dtype !== 'float32' || t.shape[0] !== m.rows) {
    throw new Error(
      `the program's output is not float32 '${m.output}' [${m.rows}, …]: ${tensors.map((x) => `'${x.name}' ${x.dtype}[${x.shape.join(', ')}]`).join(', ')}`,
    );
  }
  return t.data as Float32Array;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}
