/**
 * Plaintext federated averaging: the reference the encrypted path is measured against. Same split
 * (splitRows), same local training (FedAvgTrainer.train), same update arithmetic (modelDelta,
 * applyMeanUpdate); the only difference from fedavg-train is that the weighted sum of updates is
 * computed in the clear instead of under CKKS.
 */
import { sliceRows, type Matrix } from '../../lib/matrix';
import { splitRows } from '../../lib/programs';
import { applyMeanUpdate, modelDelta, type FedAvgTrainer, type LocalTrainOptions } from './fedavg-trainer';

export interface EpochMetrics {
  /** 1-based; epoch 0 is the initial model. */
  epoch: number;
  accuracy: number;
  loss: number;
}

export interface FedAvgPlainInput {
  trainer: FedAvgTrainer;
  initialModel: Float32Array;
  /** The training set, N × (D+1). */
  data: Matrix;
  /** Evaluated after every epoch (and before the first, as epoch 0). */
  testSet: Matrix;
  numParallel: number;
  epochs: number;
  local: LocalTrainOptions;
}

export interface FedAvgPlainResult {
  /** The global model after each epoch (models[e − 1] after epoch e). */
  models: Float32Array[];
  /** Epoch 0 (initial model) to `epochs`. */
  metrics: EpochMetrics[];
}

export async function fedAvgPlain(input: FedAvgPlainInput): Promise<FedAvgPlainResult> {
  const { trainer, data, testSet } = input;
  const ranges = splitRows(data.rows, input.numParallel);
  let global = input.initialModel;
  const models: Float32Array[] = [];
  const metrics: EpochMetrics[] = [{ epoch: 0, ...(await trainer.evaluate(global, testSet)) }];
  for (let epoch = 1; epoch <= input.epochs; epoch++) {
    const sum = new Float64Array(global.length);
    let total = 0;
    for (const r of ranges) {
      const weight = r.rowEnd - r.rowStart;
      const local = await trainer.train(global, sliceRows(data, r.rowStart, r.rowEnd), input.local);
      const delta = modelDelta(local, global);
      for (let i = 0; i < sum.length; i++) sum[i]! += weight * delta[i]!;
      total += weight;
    }
    global = applyMeanUpdate(global, sum, total);
    models.push(global);
    metrics.push({ epoch, ...(await trainer.evaluate(global, testSet)) });
  }
  return { models, metrics };
}
