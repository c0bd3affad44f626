import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { programFor } from '../../activities/programs';
import { createCkks } from '../../activities/crypto/ckks';
import {
  EnvelopeKind,
  decodeEnvelope,
  encodeEnvelope,
  fedAvgParamsToRecord,
  parseFedAvgParams,
} from '../../activities/programs/fedavg-format';
import {
  applyEncryptedUpdate,
  compareUpdates,
  createFedAvgTrainProgram,
  decryptUpdate,
  fedAvgFuel,
  finishEpoch,
  loadModel,
  recomputeUpdate,
  storeCheckpoint,
  type FedAvgTrainDeps,
  type FedAvgTrainProgram,
} from '../../activities/programs/fedavg-train';
import { createLocalBlobStore, type BlobStore } from '../../activities/storage';
import type { Ckks, CkksKeyPair } from '../../lib/ckks';
import { createLogger } from '../../lib/logger';
import { decodeMatrix, encodeMatrix, sliceRows } from '../../lib/matrix';
import { FEDAVG_TRAIN_SPEC, ProgramId, type RunOutput, type SplitOutput } from '../../lib/programs';
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

const logger = createLogger('silent');
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
  it('mini-batches walk the shard cyclically in row order, and fuel counts the rows visited', async () => {
    const trainer = await createFedAvgTrainer(buildTrainStepModel('softmax', DIMS));
    try {
      const shard = sliceRows(SET.train, 0, 250);
      const got = await trainer.train(initialParams('softmax', DIMS), shard, {
        steps: 3,
        lr: 0.1,
        batchSize: 100,
      });
      let want = initialParams('softmax', DIMS);
      for (const [a, b] of [
        [0, 100],
        [100, 200],
        [200, 250],
      ] as const) {
        want = (await trainer.step(want, sliceRows(shard, a, b), 0.1)).params;
      }
      expect(got).toEqual(want);
      expect(fedAvgFuel(250, { localSteps: 3, batchSize: 100 }, 84, '1000000').required).toBe(
        String(Math.ceil((300 * 253) / 1000)),
      );
      expect(fedAvgFuel(250, { localSteps: 3, batchSize: 0 }, 84, '100')).toMatchObject({
        exceedsLimit: true,
      });
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

// ---------------------------------------------------------------------------------------------
// The program: split → run × 4 → aggregate (no secret key) → keyholder, against plaintext FedAvg.

describe.each(['softmax', 'mlp'] as const)('fedavg-train program, %s, encrypted with CKKS', (kind) => {
  let dir: string;
  let store: BlobStore;
  let keyholderCkks: Ckks;
  let keys: CkksKeyPair;
  let program: FedAvgTrainProgram;
  let trainer: FedAvgTrainer;
  let plain: FedAvgPlainResult;
  let params: Record<string, string>;
  let datasetBlobId: string;
  let initialBlobId: string;
  const aggregatorDeps: FedAvgTrainDeps[] = [];
  /** Per epoch: the model it started from, the split, the node outputs and the sum. */
  const epochs: {
    globalBlobId: string;
    outputs: RunOutput[];
    sumBlobId: string;
    accuracy: number;
    loss: number;
  }[] = [];
  let split: SplitOutput;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'emeth-fedavg-'));
    store = createLocalBlobStore(path.join(dir, 'blobs'));
    keyholderCkks = await createCkks();
    keys = keyholderCkks.generateKeys();
    const graph = buildTrainStepModel(kind, DIMS);
    trainer = await createFedAvgTrainer(graph);
    params = fedAvgParamsToRecord({
      trainGraph: await store.put(graph),
      publicKey: await store.put(keys.publicKey),
      localSteps: LOCAL[kind].steps,
      learningRate: LOCAL[kind].lr,
      batchSize: 0,
      modelKind: kind,
    });
    datasetBlobId = await store.put(encodeMatrix(SET.train));
    initialBlobId = await storeCheckpoint(store, initialParams(kind, DIMS));
    // The nodes' and the aggregator's side: CKKS with no key at all (public keys come as blobs).
    const deps: FedAvgTrainDeps = { store, logger, ckks: () => createCkks() };
    aggregatorDeps.push(deps);
    program = createFedAvgTrainProgram(deps);

    plain = await fedAvgPlain({
      trainer,
      initialModel: initialParams(kind, DIMS),
      data: SET.train,
      testSet: SET.test,
      numParallel: SHARDS,
      epochs: EPOCHS,
      local: LOCAL[kind],
    });

    // The Splitter splits once; every epoch runs the same shards from the latest checkpoint.
    split = await program.split({
      programId: ProgramId.FEDAVG_TRAIN,
      datasetBlobId,
      modelBlobId: initialBlobId,
      numParallel: SHARDS,
      fuelLimit: '1000000',
      params,
    });
    let globalBlobId = initialBlobId;
    for (let e = 1; e <= EPOCHS; e++) {
      const outputs: RunOutput[] = [];
      for (const shard of split.shards) {
        outputs.push(
          await program.run({
            shard,
            modelBlobId: globalBlobId,
            fuelLimit: shard.fuelLimit,
            params,
            context: { jobId: 'job-1', subJobId: `e${e}-s${shard.index}`, nodeId: `node-${shard.index}` },
          }),
        );
      }
      const agg = await program.aggregate({
        outputs: outputs.map((o, i) => ({
          index: i,
          outputBlobId: o.outputBlobId,
          weight: split.shards[i]!.rows,
        })),
      });
      // The keyholder: decrypts only the sum, stores the checkpoint, measures it.
      const done = await finishEpoch({
        store,
        ckks: keyholderCkks,
        secretKey: keys.secretKey,
        sumBlobId: agg.resultBlobId,
        globalModelBlobId: globalBlobId,
        trainer,
        testSet: SET.test,
      });
      epochs.push({ globalBlobId, outputs, sumBlobId: agg.resultBlobId, ...done.metrics! });
      globalBlobId = done.checkpointBlobId;
    }
  });
  afterAll(async () => {
    await program?.close();
    await trainer?.release();
    keyholderCkks?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('splits into 4 shards of 1,000 rows with the label column and metered fuel', () => {
    expect(split.shards.map((s) => [s.index, s.rowStart, s.rows, s.cols])).toEqual([
      [0, 0, 1000, 21],
      [1, 1000, 1000, 21],
      [2, 2000, 1000, 21],
      [3, 3000, 1000, 21],
    ]);
    const p = paramCount(kind, DIMS);
    expect(split.modelCost).toEqual({ workPerRow: 3 * p, nodes: 1 });
    // 1,000 rows × 5 steps × (3P + 1) / 1000
    expect(split.shards[0]!.fuelRequired).toBe(String(Math.ceil((1000 * 5 * (3 * p + 1)) / 1000)));
    expect(epochs[0]!.outputs[0]!.fuelUsed).toBe(split.shards[0]!.fuelRequired);
  });

  it('reaches the accuracy of plaintext FedAvg within 1% at every epoch', () => {
    const enc = epochs.map((e) => e.accuracy);
    const ref = plain.metrics.slice(1).map((m) => m.accuracy);
    process.stdout.write(
      `${kind}: plain ${ref.map((a) => a.toFixed(4)).join(' ')} | encrypted ${enc.map((a) => a.toFixed(4)).join(' ')}\n`,
    );
    for (let e = 0; e < EPOCHS; e++) expect(Math.abs(enc[e]! - ref[e]!)).toBeLessThanOrEqual(0.01);
    expect(enc[0]!).toBeLessThan(enc[EPOCHS - 1]!);
    expect(enc[EPOCHS - 1]!).toBeGreaterThanOrEqual(0.8);
  });

  it('the checkpoints equal the plaintext models up to CKKS noise', async () => {
    let worst = 0;
    for (let e = 1; e < EPOCHS; e++) {
      const model = await loadModel(store, epochs[e]!.globalBlobId); // the checkpoint of epoch e
      const cmp = compareUpdates(model, plain.models[e - 1]!, 1e-4);
      expect(cmp.ok).toBe(true);
      worst = Math.max(worst, cmp.worstDiff);
    }
    process.stdout.write(
      `${kind}: largest parameter difference encrypted vs plain ${worst.toExponential(2)}\n`,
    );
  });

  it('aggregates without a secret key: the sum opens only with the keyholder’s key', async () => {
    // Nothing the aggregator was given holds key material beyond the public key's blob id.
    const deps = aggregatorDeps[0]!;
    expect(Object.keys(deps).sort()).toEqual(['ckks', 'logger', 'store']);
    const sum = await store.get(epochs[0]!.sumBlobId);
    const global = await loadModel(store, initialBlobId);
    expect(() =>
      applyEncryptedUpdate({
        ckks: keyholderCkks,
        secretKey: keyholderCkks.generateKeys().secretKey,
        sumBlob: sum,
        globalModel: global,
      }),
    ).toThrow(/key/);
    // The right key, the right total weight: the model of epoch 1.
    const next = applyEncryptedUpdate({
      ckks: keyholderCkks,
      secretKey: keys.secretKey,
      sumBlob: sum,
      totalWeight: 4000,
      globalModel: global,
    });
    expect(compareUpdates(next, plain.models[0]!, 1e-4).ok).toBe(true);
    expect(() =>
      applyEncryptedUpdate({
        ckks: keyholderCkks,
        secretKey: keys.secretKey,
        sumBlob: sum,
        totalWeight: 3000,
        globalModel: global,
      }),
    ).toThrow(/weighted by 4000 rows in all, the caller says 3000/);
    // A SubJob output without its split weight is refused rather than guessed.
    await expect(
      program.aggregate({
        outputs: epochs[0]!.outputs.map((o, i) => ({ index: i, outputBlobId: o.outputBlobId })),
      }),
    ).rejects.toThrow(/no positive weight/);
  });

  it('verifies a node’s update after decryption; a tampered update is rejected', async () => {
    const e = epochs[1]!; // epoch 2: started from a checkpoint, not the initial model
    const shard = split.shards[2]!;
    const node = e.outputs[2]!;
    const keyholderDecrypt = async (bytes: Uint8Array) =>
      decryptUpdate({ ckks: keyholderCkks, secretKey: keys.secretKey, updateBlob: bytes });
    const claimed = await keyholderDecrypt(await store.get(node.outputBlobId));
    const expected = await recomputeUpdate({
      trainer,
      globalModel: await loadModel(store, e.globalBlobId),
      shard: decodeMatrix(await store.get(shard.blobId)),
      local: { steps: LOCAL[kind].steps, lr: LOCAL[kind].lr },
    });
    const same = compareUpdates(expected, claimed, 1e-5);
    expect(same.ok).toBe(true);
    expect(same.worstDiff).toBeLessThan(1e-5);

    // A lazy node returns half its update (e.g. half the steps' worth): caught.
    const lazy = Float64Array.from(claimed, (v) => v / 2);
    expect(compareUpdates(expected, lazy, FEDAVG_TRAIN_SPEC.tolerance)).toMatchObject({ ok: false });
    // Every cheating update of the verification issue, caught whenever the update is audited (the
    // policy's probability: 1 on probation, auditRate = 25% after): zero, scaled, random, stale
    // (the update of the previous epoch's model, trained on the same shard).
    const stale = await recomputeUpdate({
      trainer,
      globalModel: await loadModel(store, epochs[0]!.globalBlobId),
      shard: decodeMatrix(await store.get(shard.blobId)),
      local: { steps: LOCAL[kind].steps, lr: LOCAL[kind].lr },
    });
    let seed = 7;
    const random = Float64Array.from(
      claimed,
      () => ((seed = (seed * 48271) % 2147483647) / 2147483647 - 0.5) * 0.1,
    );
    for (const [what, update] of [
      ['zero', new Float64Array(claimed.length)],
      ['scaled ×1.5', Float64Array.from(claimed, (v) => v * 1.5)],
      ['random', random],
      ['stale', stale],
    ] as const) {
      expect({ what, ok: compareUpdates(expected, update, FEDAVG_TRAIN_SPEC.tolerance).ok }).toEqual({
        what,
        ok: false,
      });
    }
    expect(FEDAVG_TRAIN_SPEC.verification.auditRate).toBeGreaterThanOrEqual(0.25);

    const verifyInput = {
      shard,
      modelBlobId: e.globalBlobId,
      fuelLimit: shard.fuelLimit,
      params,
      options: { sampleRate: 1, seed: 'v' },
    };
    // With the keyholder reachable the verifier checks the numbers.
    const verifier = createFedAvgTrainProgram({ store, logger, decryptUpdate: keyholderDecrypt });
    try {
      const ok = await verifier.verify({ ...verifyInput, claimed: node });
      expect(ok).toMatchObject({ ok: true, rowsChecked: 1000 });
      expect(ok.worstDiff).toBeLessThan(1e-5);

      const forged = encodeEnvelope({
        kind: EnvelopeKind.UPDATE,
        length: lazy.length,
        weight: shard.rows,
        ciphertext: keyholderCkks.encrypt(keys.publicKey, lazy),
      });
      const bad = await verifier.verify({
        ...verifyInput,
        claimed: { ...node, outputBlobId: await store.put(forged) },
      });
      expect(bad.ok).toBe(false);
      expect(bad.reason).toMatch(/differ beyond tolerance 0\.001/);

      const wrongFuel = await verifier.verify({ ...verifyInput, claimed: { ...node, fuelUsed: '1' } });
      expect(wrongFuel.reason).toMatch(/claimed fuelUsed 1 but/);
      const wrongRows = encodeEnvelope({
        ...decodeEnvelope(await store.get(node.outputBlobId)),
        weight: 999,
      });
      const rows = await verifier.verify({
        ...verifyInput,
        claimed: { ...node, outputBlobId: await store.put(wrongRows) },
      });
      expect(rows.reason).toMatch(/claims 999 rows, the shard has 1000/);
    } finally {
      await verifier.close();
    }
    // Without a keyholder the verdict says what it could not check.
    const partial = await program.verify({ ...verifyInput, claimed: node });
    expect(partial).toMatchObject({ ok: true, rowsChecked: 0 });
    expect(partial.reason).toMatch(/compared after the keyholder decrypts it/);
  });
});

describe('fedavg-train registration and parameters', () => {
  it('programFor(2) and programFor(21) build fedavg-train', async () => {
    const store = createLocalBlobStore(path.join(tmpdir(), 'emeth-unused'));
    expect(FEDAVG_TRAIN_SPEC.implemented).toBe(true);
    for (const id of [ProgramId.FEDAVG_TRAIN, ProgramId.FEDAVG_TRAIN_SUBJOB]) {
      const m = programFor(id, { store, logger });
      expect(m.spec.name).toBe('fedavg-train');
      await m.close();
    }
  });

  it('refuses bad Job params with the field named', () => {
    const id = 'a'.repeat(64);
    expect(parseFedAvgParams({ trainGraph: id })).toMatchObject({
      localSteps: 5,
      learningRate: 0.1,
      batchSize: 0,
    });
    expect(() => parseFedAvgParams(undefined)).toThrow(/needs Job params/);
    expect(() => parseFedAvgParams({ trainGraph: id }, { needKey: true })).toThrow(
      /publicKey must be a blob id/,
    );
    expect(() => parseFedAvgParams({ trainGraph: id, localSteps: '0' })).toThrow(
      /localSteps must be an integer/,
    );
    expect(() => parseFedAvgParams({ trainGraph: id, learningRate: 'fast' })).toThrow(/learningRate/);
    expect(() => parseFedAvgParams({ trainGraph: id, lr: '0.1' })).toThrow(/unknown fedavg-train params: lr/);
  });
});
