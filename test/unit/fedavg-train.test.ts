import {
  buildTrainStepModel,
  flattenParams,
  initialParams,
  paramCount,
  unflattenParams,
} from '../../examples/train-models';
import { labelsOf, syntheticClassification } from '../../examples/classification';
import { createFedAvgTrainer, type FedAvgTrainer } from '../../activities/programs/fedavg-trainer';
import { fedAvgPlain, type FedAvgPlainResult } from '../../activities/programs/fedavg-plain';

const DIMS = { features: 20, classes: 4, hidden: 32 };
const SET = syntheticClassification(); // 4,000 train + 1,000 test rows, 20 features, 4 classes
const EPOCHS = 5;
const SHARDS = 4;
const LOCAL = { softmax: { steps: 5, lr: 0.1 }, mlp: { steps: 5, lr: 0.2 } } as const;

describe('train-step graphs and the synthetic set', () => {
  it('makes a seeded set: same seed same bytes, labels in 0..C−1, every class present', () => {
    const again = syntheticClassification();
    expect(Buffer.from(again.train.data.buffer).equals(Buffer.from(SET.train.data.buffer))).toBe(true);
    expect([SET.train.rows, SET.train.cols, SET.test.rows]).toEqual([4000, 21, 1000]);
    const counts = [0, 0, 0, 0];
    for (const l of labelsOf(SET.train)) counts[l]!++;
    expect(counts.every((c) => c > 800)).toBe(true);
  });

  it('flattens and unflattens parameters in layout order', () => {
    expect(paramCount('softmax', DIMS)).toBe(20 * 4 + 4);
    expect(paramCount('mlp', DIMS)).toBe(20 * 32 + 32 + 32 * 4 + 4);
    const flat = initialParams('mlp', DIMS);
    const named = unflattenParams('mlp', DIMS, flat);
    expect(Object.keys(named)).toEqual(['W1', 'b1', 'W2', 'b2']);
    expect(flattenParams('mlp', DIMS, named)).toEqual(flat);
    expect(initialParams('mlp', DIMS)).toEqual(flat); // seeded
    expect(() => unflattenParams('softmax', DIMS, flat)).toThrow(/has 84 parameters, the vector has 804/);
  });

  it('a softmax step starts at loss ln C and matches a hand-computed gradient step', async () => {
    const trainer = await createFedAvgTrainer(buildTrainStepModel('softmax', DIMS));
    try {
      const data = { rows: 3, cols: 21, data: SET.train.data.subarray(0, 3 * 21) };
      const params = Float32Array.from({ length: 84 }, (_, i) => Math.sin(i) * 0.1);
      const { params: next, loss, accuracy } = await trainer.step(params, data, 0.5);
      // Reference in float64.
      const { W, b } = unflattenParams('softmax', DIMS, params);
      const gW = new Float64Array(80);
      const gb = new Float64Array(4);
      let refLoss = 0;
      let hits = 0;
      for (let r = 0; r < 3; r++) {
        const x = data.data.subarray(r * 21, r * 21 + 20);
        const label = data.data[r * 21 + 20]!;
        const logits = [0, 1, 2, 3].map((c) => b![c]! + x.reduce((a, v, j) => a + v * W![j * 4 + c]!, 0));
        const m = Math.max(...logits);
        const z = logits.reduce((a, v) => a + Math.exp(v - m), 0);
        const p = logits.map((v) => Math.exp(v - m) / z);
        refLoss -= Math.log(p[label]!) / 3;
        if (logits.indexOf(m) === label) hits++;
        for (let c = 0; c < 4; c++) {
          const d = (p[c]! - (c === label ? 1 : 0)) / 3;
          gb[c]! += d;
          for (let j = 0; j < 20; j++) gW[j * 4 + c]! += x[j]! * d;
        }
      }
      expect(loss).toBeCloseTo(refLoss, 5);
      expect(accuracy).toBeCloseTo(hits / 3, 6);
      const expected = Float64Array.from(params, (v, i) => v - 0.5 * (i < 80 ? gW[i]! : gb[i - 80]!));
      for (let i = 0; i < 84; i++) expect(Math.abs(next[i]! - expected[i]!)).toBeLessThan(1e-5);
      const atZero = await trainer.evaluate(initialParams('softmax', DIMS), SET.test);
      expect(atZero.loss).toBeCloseTo(Math.log(4), 5);
    } finally {
      await trainer.release();
    }
  });

  it('the MLP step follows the loss gradient (central finite differences)', async () => {
    const trainer = await createFedAvgTrainer(buildTrainStepModel('mlp', DIMS));
    try {
      const data = { rows: 64, cols: 21, data: SET.train.data.subarray(0, 64 * 21) };
      const params = initialParams('mlp', DIMS, 'fd-check');
      const lr = 1;
      const next = (await trainer.step(params, data, lr)).params;
      const grad = Float64Array.from(params, (v, i) => (v - next[i]!) / lr);
      const eps = 1e-2;
      // Indices in each tensor (W1 0..639, b1 640..671, W2 672..799, b2 800..803).
      for (const i of [3, 100, 641, 660, 700, 790, 801]) {
        const plus = Float32Array.from(params);
        const minus = Float32Array.from(params);
        plus[i]! += eps;
        minus[i]! -= eps;
        const up = (await trainer.evaluate(plus, data)).loss;
        const down = (await trainer.evaluate(minus, data)).loss;
        expect(Math.abs((up - down) / (2 * eps) - grad[i]!)).toBeLessThan(2e-3);
      }
    } finally {
      await trainer.release();
    }
  });
});

describe.each(['softmax', 'mlp'] as const)('plaintext FedAvg, %s, 4 shards × 5 epochs', (kind) => {
  let trainer: FedAvgTrainer;
  let plain: FedAvgPlainResult;

  beforeAll(async () => {
    trainer = await createFedAvgTrainer(buildTrainStepModel(kind, DIMS));
    plain = await fedAvgPlain({
      trainer,
      initialModel: initialParams(kind, DIMS),
      data: SET.train,
      testSet: SET.test,
      numParallel: SHARDS,
      epochs: EPOCHS,
      local: LOCAL[kind],
    });
  });
  afterAll(() => trainer?.release());

  it('accuracy rises over the epochs and ends ≥ 0.8; loss falls', () => {
    const acc = plain.metrics.map((m) => m.accuracy);
    const loss = plain.metrics.map((m) => m.loss);
    process.stdout.write(`plain ${kind} accuracy per epoch: ${acc.map((a) => a.toFixed(3)).join(' ')}\n`);
    expect(acc[1]!).toBeLessThan(acc[EPOCHS]!);
    expect(acc[EPOCHS]!).toBeGreaterThanOrEqual(0.8);
    for (let e = 1; e <= EPOCHS; e++) expect(loss[e]!).toBeLessThan(loss[e - 1]!);
  });
});
