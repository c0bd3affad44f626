/**
 * onnxruntime-node sessions for EMETH nodes: CUDA when this host can load the CUDA provider, CPU
 * otherwise, and the caller learns which (the node logs it). Rows go through in batches.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../lib/logger';
import { createMatrix, sliceRows, type Matrix } from '../../lib/matrix';
import type { ExecutionProvider, ModelCost } from '../../lib/programs';
import { EmethError } from '../../lib/errors';
import {
  concatRows,
  createTensor,
  float32ToFloat16Bits,
  isDType,
  rowCount,
  sliceRows as sliceTensorRows,
  type Tensor,
} from '../../lib/tensors';
import { inspectModel, type ModelInfo } from './onnx-model';
import { createCostProbe, firstLine, type CostProbe, type RowShapes } from './onnx-fuel';

export const DEFAULT_BATCH_SIZE = 256;

export interface OnnxSessionOptions {
  /** Try the CUDA provider when available (default true). False forces CPU (e.g. the verifier). */
  preferCuda?: boolean;
  cudaDeviceId?: number;
  /** Threads per operator on CPU; default: onnxruntime's choice (all cores). */
  intraOpNumThreads?: number;
  /** Let onnxruntime's threads spin between runs (default true, as onnxruntime does). */
  allowSpinning?: boolean;
  logger?: Logger;
}

export interface OnnxSession {
  readonly provider: ExecutionProvider;
  /** Why this provider: shown in the node's logs so an operator can fix a missing CUDA provider. */
  readonly providerReason: string;
  readonly model: ModelInfo;
  /** One onnxruntime call: the named feeds in, the named outputs (all by default) out, in that order. */
  run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Tensor[]>;
  /** Every row of the feeds through the model, `batchSize` rows per call, each output in row order. */
  runInBatches(
    feeds: Record<string, Tensor>,
    outputs?: readonly string[],
    batchSize?: number,
  ): Promise<Tensor[]>;
  /** Work units per row for rows of these shapes (the fuel table over the model's own shapes); cached. */
  costFor(rows: RowShapes): Promise<ModelCost>;
  /** A one-input float32 model: every row of `input`, `batchSize` rows per call, its first output as a matrix. */
  runRows(input: Matrix, batchSize?: number): Promise<Matrix>;
  /** A one-input float32 model: one call over all rows of `batch`; the first output, row-major float32. */
  runBatch(batch: Matrix, output?: string): Promise<{ cols: number; data: Float32Array }>;
  release(): Promise<void>;
}

export interface CudaAvailability {
  available: boolean;
  reason: string;
}

/**
 * onnxruntime-node lists "cuda" whenever its binary was built with it, with `bundled: false`
 * because the provider library ships separately (scripts/setup-gpu.cjs fetches it). So CUDA is
 * usable when it is listed and either bundled or its provider library sits next to the binding.
 */
export function detectCuda(): CudaAvailability {
  const cuda = ort.listSupportedBackends().find((b) => b.name === 'cuda');
  if (!cuda) return { available: false, reason: 'this onnxruntime-node build has no CUDA backend' };
  if (cuda.bundled) return { available: true, reason: 'CUDA provider bundled with onnxruntime-node' };
  const lib = path.join(ortBinDir(), 'libonnxruntime_providers_cuda.so');
  if (existsSync(lib)) return { available: true, reason: `CUDA provider found at ${lib}` };
  return {
    available: false,
    reason:
      'CUDA provider not installed (offline install skips it); on a GPU host run `node scripts/setup-gpu.cjs`',
  };
}

function ortBinDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

export async function createOnnxSession(
  model: Uint8Array,
  options: OnnxSessionOptions = {},
): Promise<OnnxSession> {
  const info = inspectModel(model);
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    // Spinning (onnxruntime's default) measured slightly faster here; `allowSpinning: false` frees the
    // cores between runs on hosts where the node shares its CPU.
    ...(options.allowSpinning !== false ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };

  let session: ort.InferenceSession | undefined;
  let provider: ExecutionProvider = 'cpu';
  let reason = 'CUDA not requested';
  if (options.preferCuda !== false) {
    const cuda = detectCuda();
    reason = cuda.reason;
    if (cuda.available) {
      try {
        session = await ort.InferenceSession.create(model, {
          ...base,
          executionProviders: [{ name: 'cuda', deviceId: options.cudaDeviceId ?? 0 }, 'cpu'],
        });
        provider = 'cuda';
      } catch (err) {
        // A provider library without a working driver/CUDA runtime fails here; CPU still works.
        reason = `CUDA provider present but failed to load (${(err as Error).message.split('\n')[0]}); using CPU`;
      }
    }
  }
  session ??= await ort.InferenceSession.create(model, { ...base, executionProviders: ['cpu'] });
  options.logger?.info(
    { executionProvider: provider, reason },
    `onnxruntime session on ${provider}: ${reason}`,
  );

  const s = session;
  const allOutputs = info.outputs.map((o) => o.name);
  const run = async (feeds: Record<string, Tensor>, outputs: readonly string[] = allOutputs) => {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const input of info.inputs) {
      const t = feeds[input.name];
      if (!t)
        throw new EmethError('UNBOUND_INPUT', `the model's input "${input.name}" has no data bound to it`);
      ortFeeds[input.name] = toOrt(t);
    }
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await s.run(ortFeeds, [...outputs]);
    } catch (err) {
      throw new EmethError('INFERENCE_FAILED', `onnxruntime could not run the model: ${firstLine(err)}`);
    }
    return outputs.map((name) => fromOrt(name, result[name] as ort.Tensor));
  };

  let probe: Promise<CostProbe> | undefined;
  const costs = new Map<string, Promise<ModelCost>>();
  const costFor = (rows: RowShapes) => {
    const key = JSON.stringify(Object.entries(rows).sort(([a], [b]) => (a < b ? -1 : 1)));
    let cost = costs.get(key);
    if (!cost) {
      probe ??= createCostProbe(model, info);
      cost = probe.then((p) => p.measure(rows));
      cost.catch(() => costs.delete(key));
      costs.set(key, cost);
    }
    return cost;
  };

  // The matrix interface of one-input float32 models (the EMTX path): its first output.
  const only = info.inputs.length === 1 ? info.inputs[0]! : undefined;
  const inputCols = only?.dims && only.dims.length === 2 ? only.dims[1]! : null;
  const checkCols = (cols: number) => {
    if (!only || only.dtype !== 'float32') {
      throw new EmethError(
        'SHAPE_MISMATCH',
        `this model takes ${info.inputs.length} inputs (${info.inputs.map((i) => `"${i.name}" ${i.dtype}`).join(', ')}), not one float32 matrix; bind named arrays instead`,
      );
    }
    if (inputCols !== null && cols !== inputCols) {
      throw new EmethError(
        'SHAPE_MISMATCH',
        `the model's input "${only.name}" takes rows of ${inputCols} values, the data has ${cols}; ` +
          'use a dataset made for this model',
      );
    }
  };
  const runBatch = async (batch: Matrix, output = allOutputs[0]!) => {
    checkCols(batch.cols);
    const [out] = await run(
      { [only!.name]: createTensor(only!.name, 'float32', [batch.rows, batch.cols], batch.data) },
      [output],
    );
    if (out!.dtype !== 'float32') {
      throw new EmethError(
        'UNSUPPORTED_OUTPUT',
        `output "${out!.name}" is ${out!.dtype}; a matrix result is float32, so end the graph with float32 (e.g. Cast)`,
      );
    }
    const data = out!.data as Float32Array;
    return { cols: batch.rows === 0 ? 0 : data.length / batch.rows, data };
  };
  return {
    provider,
    providerReason: reason,
    model: info,
    run,
    async runInBatches(feeds, outputs = allOutputs, batchSize = DEFAULT_BATCH_SIZE) {
      assertBatchSize(batchSize);
      const rows = rowCount(Object.values(feeds)[0]!);
      const parts: Tensor[][] = [];
      for (let start = 0; start < rows; start += batchSize) {
        const end = Math.min(start + batchSize, rows);
        const batch = Object.fromEntries(
          Object.entries(feeds).map(([k, t]) => [k, sliceTensorRows(t, start, end)]),
        );
        parts.push(await run(batch, outputs));
      }
      if (parts.length === 1) return parts[0]!;
      return outputs.map((_, k) => concatRows(parts.map((p) => p[k]!)));
    },
    costFor,
    runBatch,
    async runRows(input, batchSize = DEFAULT_BATCH_SIZE) {
      assertBatchSize(batchSize);
      checkCols(input.cols);
      let out: Float32Array | undefined;
      let outCols = 0;
      for (let start = 0; start < input.rows; start += batchSize) {
        const result = await runBatch(sliceRows(input, start, Math.min(start + batchSize, input.rows)));
        if (!out) {
          outCols = result.cols;
          out = new Float32Array(input.rows * outCols);
        }
        out.set(result.data, start * outCols);
      }
      return createMatrix(input.rows, outCols, out ?? new Float32Array(0));
    },
    async release() {
      await s.release();
      if (probe) await probe.then((p) => p.release()).catch(() => undefined);
    },
  };
}

function assertBatchSize(batchSize: number) {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new EmethError('BAD_BATCH_SIZE', `batch size must be an integer ≥ 1, got ${batchSize}`);
  }
}

/** onnxruntime-node takes bool as Uint8Array and float16 as its bits in a Uint16Array, as EMETH keeps them. */
function toOrt(t: Tensor): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data as never, t.shape);
}

function fromOrt(name: string, t: ort.Tensor): Tensor {
  // onnxruntime names its tensor types as EMETH names dtypes; the ones EMETH cannot hold are refused.
  const dtype = isDType(t.type) ? t.type : undefined;
  if (!dtype) {
    throw new EmethError(
      'UNSUPPORTED_OUTPUT',
      `output "${name}" is ${t.type}; onnx-inference returns float16/32/64, int8, uint8, int32, int64 and bool tensors — cast it in the graph`,
    );
  }
  let data = t.data as Tensor['data'];
  // Newer runtimes may hand float16 as a Float16Array and bool as a plain array; keep EMETH's layout.
  if (dtype === 'float16' && !(data instanceof Uint16Array))
    data = float32ToFloat16Bits(data as ArrayLike<number>);
  if (dtype === 'bool' && !(data instanceof Uint8Array))
    data = Uint8Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0));
  return createTensor(name, dtype, t.dims.map(Number), data as never);
}
