// Over 300 lines because it is one program module: inspect, split, run, verify and aggregate share the trainer cache, CKKS and metering.
/**
 * fedavg-train (ProgramId 2, SubJobs 21): data-parallel training over numEpoch rounds, one round
 * = one split's SubJobs run from the current global model, then one aggregate, then the keyholder.
 *
 *   split      — the dataset (N × (D+1): features, class index) into numParallel contiguous shards
 *   run        — on a node: `localSteps` gradient-descent steps of the Job's train-step graph on the
 *                shard, from the global model (RunInput.modelBlobId); the update (local − global) is
 *                encrypted with the requester's CKKS public key and stored as the output blob
 *   aggregate  — Σ rows_i × update_i over the ciphertexts (plain integer weights from the split),
 *                with no secret key anywhere on this path: the result is an encrypted sum
 *   keyholder  — (the requester's side, not a module method) decrypts only the sum, divides by Σ rows,
 *                adds it to the global model and stores that as the epoch's checkpoint
 *   verify     — see `verify` below: the numbers can only be compared after decryption
 *
 * The graph (examples/train-models.ts) arrives as a blob named in the Job params, so nodes build
 * nothing and need no ONNX builder library. Job params: see fedavg-format.ts (FedAvgParams).
 */
import type { Logger } from '../../lib/logger';
import type { Ckks } from '../../lib/ckks';
import { EmethError } from '../../lib/errors';
import { decodeMatrix, sliceRows, type Matrix } from '../../lib/matrix';
import {
  FEDAVG_TRAIN_SPEC,
  ProgramId,
  meterFuel,
  type AggregateInput,
  type AggregateOutput,
  type BlobId,
  type FuelMeter,
  type ModelCost,
  type ProgramModule,
  type RunContext,
  type RunInput,
  type RunOutput,
  type ShardRef,
  type SplitInput,
  type SplitOutput,
  type VerifyInput,
  type VerifyVerdict,
  InspectionError,
  type InspectInput,
  type InspectReport,
} from '../../lib/programs';
import type { BlobStore } from '../storage';
import { createCkks } from '../crypto/ckks';
import {
  assertSplits,
  definedOnly,
  lazyShared,
  loadShard as loadShardFrom,
  lruResources,
  matrixShards,
  splitDataset,
  assertFuelWithinLimit,
  inspecting,
} from './shared';
import {
  EnvelopeKind,
  decodeEnvelope,
  decodeModel,
  encodeEnvelope,
  encodeModel,
  parseFedAvgParams,
  type FedAvgParams,
} from './fedavg-format';
import {
  applyMeanUpdate,
  clipBound,
  clipUpdate,
  createFedAvgTrainer,
  l2Norm,
  modelDelta,
  type FedAvgTrainer,
  type LocalTrainOptions,
} from './fedavg-trainer';

export interface FedAvgTrainDeps {
  store: BlobStore;
  logger: Logger;
  /**
   * CKKS for the paths that hold no secret key (nodes encrypt, the aggregator sums). Opened on
   * first use, closed by close(). Default: activities/crypto/ckks.ts.
   */
  ckks?: () => Promise<Ckks>;
  /**
   * Verifier deployments that can reach the requester's keyholder pass this: it returns one node's
   * update as the keyholder decrypted it, and `verify` then compares it with its own recomputation.
   * Without it `verify` checks everything it can without the values (see verify).
   */
  decryptUpdate?: (updateEnvelope: Uint8Array, context?: RunContext) => Promise<Float64Array>;
  /** Train-step graphs kept loaded, one per blob id, least recently used released first (default 4). */
  maxTrainers?: number;
}

export interface FedAvgTrainProgram extends ProgramModule {
  /** The loaded trainer of a train-step graph blob (opened on first use). */
  trainerFor(trainGraph: BlobId): Promise<FedAvgTrainer>;
}

// ---------------------------------------------------------------------------------------------
// Pure rules

/**
 * Fuel of one SubJob run (one epoch on one shard): ceil(rowsVisited × (3P + 1) / WORK_PER_FUEL),
 * rowsVisited = rows per step × localSteps. 3P approximates the multiply-accumulates per row of a
 * forward pass and the two backward products; +1 keeps any non-empty run from being free. Integer
 * arithmetic, so node and verifier agree.
 */
export function fedAvgFuel(
  rows: number,
  params: Pick<FedAvgParams, 'localSteps' | 'batchSize'>,
  paramCount: number,
  fuelLimit: string | bigint,
): FuelMeter {
  const perStep = params.batchSize > 0 ? Math.min(params.batchSize, rows) : rows;
  return meterFuel(perStep * params.localSteps, fedAvgModelCost(paramCount), fuelLimit);
}

/** Cost per row visited (see fedAvgFuel). */
export function fedAvgModelCost(paramCount: number): ModelCost {
  return { workPerRow: 3 * paramCount, nodes: 1 };
}

export function localOptions(p: FedAvgParams): LocalTrainOptions {
  return { steps: p.localSteps, lr: p.learningRate, batchSize: p.batchSize };
}

export interface UpdateComparison {
  ok: boolean;
  /** Largest |a − b| (Infinity when a value is NaN on one side only). */
  worstDiff: number;
  /** Parameter index of worstDiff, or null for empty vectors. */
  worstIndex: number | null;
  /** Values beyond the tolerance. */
  bad: number;
  reason?: string;
}

/** Element-wise comparison of two updates within an absolute tolerance. */
export function compareUpdates(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  tolerance: number,
): UpdateComparison {
  if (a.length !== b.length) {
    return {
      ok: false,
      worstDiff: Infinity,
      worstIndex: null,
      bad: Math.max(a.length, b.length),
      reason: `the updates have ${a.length} and ${b.length} values; they are not of the same model`,
    };
  }
  let worstDiff = 0;
  let worstIndex: number | null = null;
  let bad = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const d =
      Number.isNaN(x) || Number.isNaN(y)
        ? Number.isNaN(x) && Number.isNaN(y)
          ? 0
          : Infinity
        : Math.abs(x - y);
    if (d > worstDiff || worstIndex === null) {
      worstDiff = d;
      worstIndex = i;
    }
    if (!(d <= tolerance)) bad++;
  }
  const ok = bad === 0;
  return {
    ok,
    worstDiff,
    worstIndex,
    bad,
    ...(ok
      ? {}
      : {
          reason: `${bad} of ${a.length} update values differ beyond tolerance ${tolerance}; the worst, parameter ${worstIndex}, by ${worstDiff}`,
        }),
  };
}

// ---------------------------------------------------------------------------------------------
// Verifier and keyholder side (plain functions: they need a trainer or a secret key, not a module)

/**
 * What an honest node sends for this shard and global model, before encryption: local − global,
 * scaled down to the Job's clipNorm when it is above it (clipUpdate).
 */
export async function recomputeUpdate(input: {
  trainer: FedAvgTrainer;
  globalModel: Float32Array;
  shard: Matrix;
  local: LocalTrainOptions;
  clipNorm?: number;
}): Promise<Float64Array> {
  const local = await input.trainer.train(input.globalModel, input.shard, input.local);
  return clipUpdate(modelDelta(local, input.globalModel), input.clipNorm);
}

/**
 * Why an opened update breaks the Job's norm clip, or undefined when it keeps it (or there is none).
 * Only an opened update can be measured: unaudited updates stay encrypted, so clipping bounds an
 * honest node's influence on the model and a checked liar's, not an unchecked liar's (that one is
 * bounded only by the chance it is audited and the fine it then pays).
 */
export function clipViolation(values: ArrayLike<number>, clipNorm: number | undefined): string | undefined {
  if (clipNorm === undefined) return undefined;
  const norm = l2Norm(values);
  const bound = clipBound(clipNorm, values.length);
  if (norm <= bound) return undefined;
  return `the update's L2 norm ${norm} exceeds the bound ${bound} (clipNorm ${clipNorm}); an honest node clips its update to clipNorm`;
}

/**
 * Keyholder: the next global model from the aggregate of an epoch: global + Σ(rows_i × update_i) / Σ rows_i.
 * `totalWeight` defaults to the one recorded in the sum blob; given, it must agree with it.
 */
export function applyEncryptedUpdate(input: {
  ckks: Ckks;
  secretKey: Uint8Array;
  sumBlob: Uint8Array;
  totalWeight?: number;
  globalModel: Float32Array;
}): Float32Array {
  const sum = decodeEnvelope(input.sumBlob, EnvelopeKind.SUM);
  if (sum.length !== input.globalModel.length) {
    throw new EmethError(
      'SHAPE_MISMATCH',
      `the encrypted sum holds ${sum.length} values, the global model has ${input.globalModel.length} parameters; ` +
        'apply the sum of this epoch to the model the epoch started from',
    );
  }
  if (input.totalWeight !== undefined && input.totalWeight !== sum.weight) {
    throw new EmethError(
      'BAD_WEIGHT',
      `the sum was weighted by ${sum.weight} rows in all, the caller says ${input.totalWeight}; ` +
        'some SubJob is missing from the aggregate or counted twice',
    );
  }
  const decrypted = input.ckks.decrypt(input.secretKey, sum.ciphertext, sum.length);
  return applyMeanUpdate(input.globalModel, decrypted, sum.weight);
}

/** Keyholder, for verification only: one node's update in the clear (the requester owns the data). */
export function decryptUpdate(input: {
  ckks: Ckks;
  secretKey: Uint8Array;
  updateBlob: Uint8Array;
}): Float64Array {
  const update = decodeEnvelope(input.updateBlob, EnvelopeKind.UPDATE);
  return input.ckks.decrypt(input.secretKey, update.ciphertext, update.length);
}

/** Loss and accuracy of a model on a labelled set (N × (D+1)). */
export function evaluate(
  trainer: FedAvgTrainer,
  model: Float32Array,
  testSet: Matrix,
): Promise<{ accuracy: number; loss: number }> {
  return trainer.evaluate(model, testSet);
}

/** The epoch's checkpoint: the model as a 1 × P matrix blob; its id is the next epoch's modelBlobId. */
export function storeCheckpoint(store: BlobStore, model: Float32Array): Promise<BlobId> {
  return store.put(encodeModel(model));
}

export async function loadModel(store: BlobStore, blobId: BlobId): Promise<Float32Array> {
  return decodeModel(await store.get(blobId), `model ${blobId}`);
}

/**
 * Keyholder, one call per epoch: decrypt the aggregate, update the global model, store the
 * checkpoint, and (given a test set) measure it.
 */
export async function finishEpoch(input: {
  store: BlobStore;
  ckks: Ckks;
  secretKey: Uint8Array;
  sumBlobId: BlobId;
  globalModelBlobId: BlobId;
  trainer?: FedAvgTrainer;
  testSet?: Matrix;
}): Promise<{ checkpointBlobId: BlobId; model: Float32Array; metrics?: { accuracy: number; loss: number } }> {
  const globalModel = await loadModel(input.store, input.globalModelBlobId);
  const model = applyEncryptedUpdate({
    ckks: input.ckks,
    secretKey: input.secretKey,
    sumBlob: await input.store.get(input.sumBlobId),
    globalModel,
  });
  const checkpointBlobId = await storeCheckpoint(input.store, model);
  const metrics =
    input.trainer && input.testSet ? await input.trainer.evaluate(model, input.testSet) : undefined;
  return { checkpointBlobId, model, ...(metrics ? { metrics } : {}) };
}

// ---------------------------------------------------------------------------------------------
// The module

export function createFedAvgTrainProgram(deps: FedAvgTrainDeps): FedAvgTrainProgram {
  const { store } = deps;
  const spec = FEDAVG_TRAIN_SPEC;
  const maxTrainers = deps.maxTrainers ?? 4;
  const log = (context?: RunContext) =>
    deps.logger.child({ program: spec.name, ...definedOnly(context ?? {}) });

  // One CKKS instance per module, opened on first use (nodes encrypt, the aggregator sums).
  const he = lazyShared<Ckks>(deps.ckks ?? (() => createCkks()), (c) => c.close());
  const ckks = () => he.get();

  const trainers = lruResources<FedAvgTrainer>(maxTrainers, async (graph) =>
    createFedAvgTrainer(await store.get(graph)),
  );
  const trainerFor = (trainGraph: BlobId) => trainers.get(trainGraph);
  const loadShard = (shard: ShardRef) => loadShardFrom(store, shard);

  return {
    spec,
    trainerFor,

    async inspect(input: InspectInput): Promise<InspectReport> {
      const params = await inspecting('trainGraph', 'the training parameters', () =>
        parseFedAvgParams(input.params),
      );
      if (!input.modelBlobId)
        throw new InspectionError('initialModel', 'fedavg-train needs initialModel: a blob id');
      const dataset = await inspecting(
        'dataset',
        `dataset ${input.datasetBlobId} is not an EMTX matrix`,
        async () => decodeMatrix(await store.get(input.datasetBlobId)),
      );
      if (dataset.cols < 2 || dataset.rows === 0) {
        throw new InspectionError(
          'dataset',
          `a fedavg dataset has rows of features then a class-index column; ${input.datasetBlobId} has ${dataset.rows} row(s) of ${dataset.cols} column(s)`,
        );
      }
      const model = await inspecting('initialModel', `initial model ${input.modelBlobId}`, () =>
        loadModel(store, input.modelBlobId!),
      );
      // The graph must take this model and these rows: one evaluation on a few rows proves it.
      const trainer = await inspecting('trainGraph', `train graph ${params.trainGraph}`, () =>
        trainerFor(params.trainGraph),
      );
      await inspecting(
        'trainGraph',
        `train graph ${params.trainGraph} does not train this model on these rows`,
        () => trainer.evaluate(model, sliceRows(dataset, 0, Math.min(dataset.rows, 8))),
      );
      return { rows: dataset.rows, cols: dataset.cols };
    },

    async split(input: SplitInput): Promise<SplitOutput> {
      assertSplits(spec, input.programId);
      const started = Date.now();
      const params = parseFedAvgParams(input.params);
      const dataset = decodeMatrix(await store.get(input.datasetBlobId));
      const model = await loadModel(store, input.modelBlobId);
      if (dataset.cols < 2) {
        throw new EmethError(
          'SHAPE_MISMATCH',
          `a fedavg dataset has the features then a class-index column; ${input.datasetBlobId} has ${dataset.cols} column(s)`,
        );
      }
      // Fail here, once, rather than on every node: the graph must take this model and these rows.
      const trainer = await trainerFor(params.trainGraph);
      await trainer.evaluate(model, sliceRows(dataset, 0, Math.min(dataset.rows, 8)));

      return splitDataset({
        store,
        spec,
        input,
        dataset: matrixShards(dataset),
        modelCost: fedAvgModelCost(model.length),
        fuelRequired: (rows, limit) => fedAvgFuel(rows, params, model.length, limit).required,
        log: log(),
        started,
        logFields: { parameters: model.length, modelKind: params.modelKind },
        message: 'dataset split for training',
      });
    },

    async run(input: RunInput): Promise<RunOutput> {
      const started = Date.now();
      const params = parseFedAvgParams(input.params, { needKey: true });
      const global = await loadModel(store, input.modelBlobId);
      const fuel = fedAvgFuel(input.shard.rows, params, global.length, input.fuelLimit);
      assertFuelWithinLimit(
        input.shard,
        fuel,
        input.fuelLimit,
        `${input.shard.rows} rows × ${params.localSteps} steps, ${global.length} parameters`,
        "raise the Job's fuelLimit, lower localSteps or use more SubJobs",
      );
      const [trainer, shard, publicKey, he] = await Promise.all([
        trainerFor(params.trainGraph),
        loadShard(input.shard),
        store.get(params.publicKey!),
        ckks(),
      ]);
      const update = await recomputeUpdate({
        trainer,
        globalModel: global,
        shard,
        local: localOptions(params),
        clipNorm: params.clipNorm,
      });
      const envelope = encodeEnvelope({
        kind: EnvelopeKind.UPDATE,
        length: update.length,
        weight: input.shard.rows,
        ciphertext: he.encrypt(publicKey, update),
      });
      const outputBlobId = await store.put(envelope);
      log(input.context).info(
        {
          shardIndex: input.shard.index,
          rows: input.shard.rows,
          steps: params.localSteps,
          parameters: update.length,
          ...(params.clipNorm !== undefined ? { clipNorm: params.clipNorm, norm: l2Norm(update) } : {}),
          fuelUsed: fuel.fuelUsed,
          outputBlobId,
          ms: Date.now() - started,
        },
        'local training done, update encrypted',
      );
      return {
        shardIndex: input.shard.index,
        outputBlobId,
        // The node commits to the envelope it reveals: the only form anyone without the secret key
        // can check (the plaintext update is compared within a tolerance, never by digest).
        outputDigest: outputBlobId,
        rows: 1,
        cols: update.length,
        fuelUsed: fuel.fuelUsed,
        executionProvider: 'cpu',
      };
    },

    /**
     * Without the secret key a verifier cannot read the node's numbers, only check the rest: the
     * claimed fuel, that the output is an encrypted update of the model's size for this shard's
     * rows. When deps.decryptUpdate reaches the requester's keyholder (the requester owns the data,
     * so seeing one update reveals nothing it does not have), the verifier also recomputes the update
     * from the same global model and shard and compares within the tolerance. Without it the verdict
     * is ok with a `reason` saying the numeric check is left to the keyholder (recomputeUpdate +
     * compareUpdates after decryption), so the caller can tell a partial check from a full one.
     */
    async verify(input: VerifyInput): Promise<VerifyVerdict> {
      const tolerance = input.options.tolerance ?? spec.tolerance;
      const params = parseFedAvgParams(input.params);
      const global = await loadModel(store, input.modelBlobId);
      const fuelExpected = fedAvgFuel(input.shard.rows, params, global.length, input.fuelLimit).fuelUsed;
      const verdict: VerifyVerdict = {
        ok: false,
        rowsChecked: 0,
        rowsTotal: input.shard.rows,
        worstDiff: 0,
        worstRow: null,
        mismatches: [],
        fuelExpected,
        fuelClaimed: input.claimed.fuelUsed,
        tolerance,
      };
      const reject = (reason: string): VerifyVerdict => {
        log(input.context).warn({ shardIndex: input.shard.index, reason }, 'result rejected');
        return { ...verdict, ok: false, reason };
      };
      if (input.claimed.fuelUsed !== fuelExpected) {
        return reject(
          `claimed fuelUsed ${input.claimed.fuelUsed} but ${input.shard.rows} rows × ${params.localSteps} steps meter ${fuelExpected}`,
        );
      }
      let envelopeBytes: Uint8Array;
      let header: ReturnType<typeof decodeEnvelope>;
      try {
        envelopeBytes = await store.get(input.claimed.outputBlobId);
        header = decodeEnvelope(envelopeBytes, EnvelopeKind.UPDATE);
      } catch (err) {
        return reject(`output blob ${input.claimed.outputBlobId} is unusable: ${(err as Error).message}`);
      }
      if (header.length !== global.length) {
        return reject(
          `the update encrypts ${header.length} values, the model has ${global.length} parameters`,
        );
      }
      if (header.weight !== input.shard.rows) {
        return reject(`the update claims ${header.weight} rows, the shard has ${input.shard.rows}`);
      }
      // The values come with the input (the keyholder opened this update for the verifier) or from
      // a keyholder this module can reach; without either, only the shape was checkable.
      let claimed: ArrayLike<number> | undefined = input.claimedValues;
      if (!claimed && deps.decryptUpdate) {
        try {
          claimed = await deps.decryptUpdate(envelopeBytes, input.context);
        } catch (err) {
          return reject(`the update does not decrypt with the requester's key: ${(err as Error).message}`);
        }
      }
      if (!claimed) {
        return {
          ...verdict,
          ok: true,
          reason:
            'checked fuel and the encrypted update’s shape only: its values are compared after the keyholder ' +
            'decrypts it (recomputeUpdate + compareUpdates)',
        };
      }
      // Robust aggregation: an opened update above the Job's clip is refused before any re-execution.
      // (Unopened updates are summed as they are: see clipViolation for what this does not bound.)
      const overNorm = clipViolation(claimed, params.clipNorm);
      if (overNorm) return { ...reject(overNorm), rowsChecked: input.shard.rows };
      const trainer = await trainerFor(params.trainGraph);
      const expected = await recomputeUpdate({
        trainer,
        globalModel: global,
        shard: await loadShard(input.shard),
        local: localOptions(params),
        clipNorm: params.clipNorm,
      });
      const cmp = compareUpdates(expected, claimed, tolerance);
      const checked = { ...verdict, rowsChecked: input.shard.rows, worstDiff: cmp.worstDiff };
      if (!cmp.ok) {
        log(input.context).warn({ shardIndex: input.shard.index, reason: cmp.reason }, 'result rejected');
        return { ...checked, ok: false, reason: cmp.reason };
      }
      log(input.context).info(
        { shardIndex: input.shard.index, worstDiff: cmp.worstDiff },
        'update verified after decryption',
      );
      return { ...checked, ok: true };
    },

    async aggregate(input: AggregateInput): Promise<AggregateOutput> {
      const started = Date.now();
      const ordered = [...input.outputs].sort((a, b) => a.index - b.index);
      ordered.forEach((o, i) => {
        if (o.index !== i) {
          throw new EmethError(
            'INCOMPLETE_OUTPUTS',
            `aggregate needs one output per SubJob index 0..${ordered.length - 1}; index ${i} is ` +
              `${o.index < i ? 'repeated' : 'missing'} — wait for every SubJob of the epoch to be verified`,
          );
        }
        if (!(typeof o.weight === 'number' && Number.isFinite(o.weight) && o.weight > 0)) {
          throw new EmethError(
            'BAD_WEIGHT',
            `SubJob ${o.index}'s output has no positive weight (got ${o.weight}); fedavg-train weights each ` +
              "update by its shard's rows: pass weight = shard.rows from the split",
          );
        }
      });
      if (ordered.length === 0)
        throw new EmethError('INCOMPLETE_OUTPUTS', 'aggregate needs at least one output');
      const parts = [];
      let length: number | undefined;
      for (const o of ordered) {
        const env = decodeEnvelope(await store.get(o.outputBlobId), EnvelopeKind.UPDATE);
        length ??= env.length;
        if (env.length !== length) {
          throw new EmethError(
            'SHAPE_MISMATCH',
            `SubJob ${o.index}'s update encrypts ${env.length} values, SubJob 0's ${length}; they trained different models`,
          );
        }
        if (env.weight !== o.weight) {
          throw new EmethError(
            'BAD_WEIGHT',
            `SubJob ${o.index}'s update says it trained on ${env.weight} rows, its shard has ${o.weight}; ` +
              'verify rejects such an output — aggregate only verified outputs',
          );
        }
        parts.push({ ciphertext: env.ciphertext, weight: o.weight! });
      }
      const totalWeight = ordered.reduce((a, o) => a + o.weight!, 0);
      const he = await ckks();
      const sum = encodeEnvelope({
        kind: EnvelopeKind.SUM,
        length: length!,
        weight: totalWeight,
        ciphertext: he.weightedSum(parts),
      });
      const resultBlobId = await store.put(sum);
      log(input.context).info(
        { resultBlobId, parts: parts.length, totalWeight, ms: Date.now() - started },
        'encrypted updates summed',
      );
      return { resultBlobId, rows: 1, cols: length! };
    },

    async close() {
      await trainers.releaseAll();
      await he.close();
    },
  };
}

// Kept next to the module so a reader sees which ProgramIds it serves.
export const FEDAVG_TRAIN_PROGRAM_IDS = [ProgramId.FEDAVG_TRAIN, ProgramId.FEDAVG_TRAIN_SUBJOB] as const;
