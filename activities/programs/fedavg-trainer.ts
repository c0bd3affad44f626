/**
 * Runs a fedavg train-step graph (examples/train-models.ts documents its contract: params, data,
 * lr → params_out, loss, accuracy) in onnxruntime-node. The node, the verifier and the keyholder
 * all train and evaluate through this, so they run the same bytes the same way.
 *
 * Always CPU, one intra-op thread: a verifier must be able to reproduce a node's update to ~1e-6,
 * and onnxruntime's reductions are only bit-stable for a fixed provider and thread count. The
 * models are small (hundreds of parameters), so this costs nothing worth a GPU.
 */
import * as ort from 'onnxruntime-node';
import { EmethError } from '../../lib/errors';
import { sliceRows, type Matrix } from '../../lib/matrix';

export interface StepResult {
  params: Float32Array;
  /** Mean cross-entropy of the params *before* the step. */
  loss: number;
  /** Accuracy of the params *before* the step. */
  accuracy: number;
}

export interface LocalTrainOptions {
  steps: number;
  lr: number;
  /** Rows per step; 0 or absent = full batch. Batches walk the shard cyclically in row order. */
  batchSize?: number;
}

export interface FedAvgTrainer {
  /** One gradient-descent step on `data` (N × (D+1)). */
  step(params: Float32Array, data: Matrix, lr: number): Promise<StepResult>;
  /** `steps` local steps from `params`; deterministic for the same inputs. */
  train(params: Float32Array, data: Matrix, options: LocalTrainOptions): Promise<Float32Array>;
  /** Loss and accuracy of `params` on `data` (a step with lr = 0, its update discarded). */
  evaluate(params: Float32Array, data: Matrix): Promise<{ loss: number; accuracy: number }>;
  release(): Promise<void>;
}

export async function createFedAvgTrainer(graph: Uint8Array): Promise<FedAvgTrainer> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(graph, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new EmethError(
      'BAD_TRAIN_GRAPH',
      `the train-step graph does not load in onnxruntime (${(err as Error).message.split('\n')[0]}); ` +
        'build it with examples/train-models.ts (buildTrainStepModel)',
    );
  }
  const missing = ['params', 'data', 'lr'].filter((n) => !session.inputNames.includes(n));
  const missingOut = ['params_out', 'loss', 'accuracy'].filter((n) => !session.outputNames.includes(n));
  if (missing.length || missingOut.length) {
    await session.release();
    throw new EmethError(
      'BAD_TRAIN_GRAPH',
      `a train-step graph needs inputs params, data, lr and outputs params_out, loss, accuracy; ` +
        `this one lacks ${[...missing, ...missingOut].join(', ')}`,
    );
  }

  async function step(params: Float32Array, data: Matrix, lr: number): Promise<StepResult> {
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await session.run({
        params: new ort.Tensor('float32', params, [params.length]),
        data: new ort.Tensor('float32', data.data, [data.rows, data.cols]),
        lr: new ort.Tensor('float32', Float32Array.of(lr), [1]),
      });
    } catch (err) {
      throw new EmethError(
        'TRAIN_STEP_FAILED',
        `the train step failed on ${params.length} parameters and a ${data.rows}×${data.cols} shard ` +
          `(${(err as Error).message.split('\n')[0]}); the model, the graph and the dataset must be made for each other ` +
          "(params = the graph's parameter count, data = features + 1 label column)",
      );
    }
    return {
      // A copy: onnxruntime may reuse its output buffers on the next run.
      params: Float32Array.from(out.params_out!.data as Float32Array),
      loss: (out.loss!.data as Float32Array)[0]!,
      accuracy: (out.accuracy!.data as Float32Array)[0]!,
    };
  }

  return {
    step,
    async train(params, data, options) {
      const { steps, lr } = options;
      const batch = options.batchSize && options.batchSize < data.rows ? options.batchSize : data.rows;
      if (data.rows === 0) throw new EmethError('NO_ROWS', 'cannot train on a shard with no rows');
      let current = params;
      let start = 0;
      for (let s = 0; s < steps; s++) {
        const end = Math.min(start + batch, data.rows);
        current = (await step(current, sliceRows(data, start, end), lr)).params;
        start = end === data.rows ? 0 : end;
      }
      return current;
    },
    async evaluate(params, data) {
      const { loss, accuracy } = await step(params, data, 0);
      return { loss, accuracy };
    },
    release: () => session.release(),
  };
}

// ---------------------------------------------------------------------------------------------
// Update arithmetic shared by the node, the verifier, the keyholder and the plaintext reference,
// so the encrypted and the plain paths differ only by CKKS noise.

/** local − global, in float64 (what a node encrypts). */
export function modelDelta(local: Float32Array, global: Float32Array): Float64Array {
  if (local.length !== global.length) {
    throw new EmethError(
      'SHAPE_MISMATCH',
      `a local model of ${local.length} parameters cannot be compared with a global one of ${global.length}`,
    );
  }
  return Float64Array.from(local, (v, i) => v - global[i]!);
}

/** global + weightedSum / totalWeight, rounded to float32 (the next global model). */
export function applyMeanUpdate(
  global: Float32Array,
  weightedSum: Float64Array,
  totalWeight: number,
): Float32Array {
  if (weightedSum.length !== global.length) {
    throw new EmethError(
      'SHAPE_MISMATCH',
      `the summed update has ${weightedSum.length} values, the global model ${global.length} parameters; ` +
        'the sum was made for another model',
    );
  }
  if (!(Number.isFinite(totalWeight) && totalWeight > 0)) {
    throw new EmethError('BAD_WEIGHT', `the total weight must be a positive number, got ${totalWeight}`);
  }
  return Float32Array.from(global, (v, i) => v + weightedSum[i]! / totalWeight);
}

/** The Euclidean (L2) norm of an update, summed in float64; NaN when any value is NaN. */
export function l2Norm(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
  return Math.sqrt(sum);
}

/**
 * Norm clipping (robust aggregation): `update` scaled by clipNorm / ‖update‖ when its L2 norm is
 * above clipNorm, else unchanged (the same array), and unchanged when clipNorm is absent. The
 * node runs this before it encrypts and the verifier in its re-execution, so both clip alike.
 */
export function clipUpdate(update: Float64Array, clipNorm: number | undefined): Float64Array {
  if (clipNorm === undefined) return update;
  const norm = l2Norm(update);
  if (!(norm > clipNorm)) return update;
  const factor = clipNorm / norm;
  return Float64Array.from(update, (v) => v * factor);
}

/** Relative headroom of the verifier's norm bound over clipNorm (float rounding of the clip). */
export const CLIP_RELATIVE_SLACK = 1e-6;
/**
 * The grid the keyholder rounds each decrypted value to before it is sealed to the verifier
 * (activities/keyholder.ts DECRYPTION_GRID, 2^-20; test/unit/fedavg-clip.test.ts checks they
 * agree): the rounding moves each value by at most half of it, so an opened update's norm by at
 * most half of it × √P, which alone exceeds clipNorm × 1e-6 (seen in the real stack: 0.0500004 for
 * a clip of 0.05 on 84 parameters).
 */
export const KEYHOLDER_GRID = 2 ** -20;
/**
 * Absolute headroom for CKKS noise: an opened update's norm is its encrypted norm ± a few 1e-9
 * (scale 2^40, measured), which alone exceeds clipNorm × 1e-6 once clipNorm is below ~0.003.
 */
export const CLIP_CKKS_SLACK = 1e-7;

/**
 * The largest L2 norm the verifier accepts of an opened update of `length` values under
 * `clipNorm`: clipNorm × (1 + 1e-6), plus what the keyholder's rounding and CKKS noise can add to
 * an honest update's norm (a liar gains no more than that: ≈ 4.4e-6 on 84 parameters).
 */
export function clipBound(clipNorm: number, length: number): number {
  return clipNorm * (1 + CLIP_RELATIVE_SLACK) + (KEYHOLDER_GRID / 2) * Math.sqrt(length) + CLIP_CKKS_SLACK;
}
