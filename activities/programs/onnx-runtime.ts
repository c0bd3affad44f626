/**
 * onnxruntime-node sessions for EMETH nodes: CUDA when this host can load the CUDA provider, CPU
 * otherwise, and the caller learns which (the node logs it). Rows go through in batches.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from '../../lib/logger';
import { createMatrix, sliceRows, type Matrix } from '../../lib/matrix';
import type { ExecutionProvider } from '../../lib/programs';
import { EmethError } from '../../lib/errors';
import { inspectModel, type ModelInfo } from './onnx-model';

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
  /** Runs every row of `input` through the model, `batchSize` rows per call, output in row order. */
  runRows(input: Matrix, batchSize?: number): Promise<Matrix>;
  /** One onnxruntime call over all rows of `batch`; returns the row-major float32 output. */
  runBatch(batch: Matrix): Promise<{ cols: number; data: Float32Array }>;
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
  const checkCols = (cols: number) => {
    if (info.inputCols !== null && cols !== info.inputCols) {
      throw new EmethError(
        'SHAPE_MISMATCH',
        `the model's input "${info.inputName}" takes rows of ${info.inputCols} values, the data has ${cols}; ` +
          'use a dataset made for this model',
      );
    }
  };
  const runBatch = async (batch: Matrix) => {
    checkCols(batch.cols);
    const feeds = { [info.inputName]: new ort.Tensor('float32', batch.data, [batch.rows, batch.cols]) };
    const tensor = (await s.run(feeds, [info.outputName]))[info.outputName]!;
    if (tensor.type !== 'float32') {
      throw new EmethError(
        'UNSUPPORTED_OUTPUT',
        `output "${info.outputName}" is ${tensor.type}; onnx-inference stores float32 matrices, so end the graph with float32 (e.g. Cast)`,
      );
    }
    const data = tensor.data as Float32Array;
    return { cols: batch.rows === 0 ? 0 : data.length / batch.rows, data };
  };
  return {
    provider,
    providerReason: reason,
    model: info,
    runBatch,
    async runRows(input, batchSize = DEFAULT_BATCH_SIZE) {
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        throw new EmethError('BAD_BATCH_SIZE', `batch size must be an integer ≥ 1, got ${batchSize}`);
      }
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
    release: () => s.release(),
  };
}
