import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCkks } from '../../activities/crypto/ckks';
import {
  EnvelopeKind,
  encodeEnvelope,
  fedAvgParamsToRecord,
  parseFedAvgParams,
} from '../../activities/programs/fedavg-format';
import {
  clipViolation,
  createFedAvgTrainProgram,
  decryptUpdate,
  recomputeUpdate,
  storeCheckpoint,
  type FedAvgTrainProgram,
} from '../../activities/programs/fedavg-train';
import {
  CLIP_CKKS_SLACK,
  KEYHOLDER_GRID,
  clipBound,
  clipUpdate,
  createFedAvgTrainer,
  l2Norm,
  type FedAvgTrainer,
} from '../../activities/programs/fedavg-trainer';
import { fedAvgTrainParams } from '../../activities/programs/fedavg-train-params';
import { createLocalBlobStore, type BlobStore } from '../../activities/storage';
import { parseCreateJob } from '../../api/schemas/jobs';
import { HttpError } from '../../api/errors';
import { DECRYPTION_GRID } from '../../activities/keyholder';
import type { Ckks, CkksKeyPair } from '../../lib/ckks';
import { createLogger } from '../../lib/logger';
import { decodeMatrix, encodeMatrix } from '../../lib/matrix';
import { FEDAVG_TRAIN_SPEC, ProgramId, type RunOutput, type SplitOutput } from '../../lib/programs';
import { buildTrainStepModel, initialParams } from '../../examples/train-models';
import { syntheticClassification } from '../../examples/classification';

// Norm clipping of fedavg-train updates (robust aggregation): the Job parameter, the clip itself,
// and the verifier, which clips its re-execution like an honest node and refuses an opened update
// whose norm is above the Job's clipNorm.

const logger = createLogger('silent');
const ID = 'a'.repeat(64);

describe('clipNorm, the Job parameter', () => {
  const body = (extra: Record<string, unknown>) => ({
    programId: ProgramId.FEDAVG_TRAIN,
    dataset: ID,
    trainGraph: ID,
    publicKey: ID,
    initialModel: ID,
    numParallel: 1,
    fuelLimit: '1000',
    fuelPrice: '1000000000',
    deadlineSeconds: 60,
    ...extra,
  });
  const refusal = (extra: Record<string, unknown>): HttpError => {
    try {
      parseCreateJob(body(extra));
    } catch (err) {
      if (err instanceof HttpError) return err;
      throw err;
    }
    throw new Error(`accepted ${JSON.stringify(extra)}`);
  };

  it('the gateway takes a positive number and refuses anything else with a 400 naming clipNorm', () => {
    expect(parseCreateJob(body({ clipNorm: 0.5 })).clipNorm).toBe(0.5);
    expect(parseCreateJob(body({})).clipNorm).toBeUndefined();
    expect(parseCreateJob(body({ clipNorm: 1e-300 })).clipNorm).toBe(1e-300);
    for (const bad of [0, -1, '1', null, true]) {
      const err = refusal({ clipNorm: bad });
      expect([err.status, err.code, err.field]).toEqual([400, 'invalid_field', 'clipNorm']);
      expect(err.message).toMatch(/^clipNorm must be a positive number such as 1\.0; got /);
    }
    // The program's own schema (what the OpenAPI document renders) says the same.
    const parsed = fedAvgTrainParams.safeParse({
      trainGraph: ID,
      publicKey: ID,
      initialModel: ID,
      clipNorm: -2,
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues[0]).toMatchObject({
      path: ['clipNorm'],
      message: 'a positive number such as 1.0',
    });
  });

  it('reaches the nodes and the verifier: in runParams, parsed by the program, kept on the wire', () => {
    expect(FEDAVG_TRAIN_SPEC.runParams).toContain('clipNorm');
    expect(parseFedAvgParams({ trainGraph: ID }).clipNorm).toBeUndefined();
    expect(parseFedAvgParams({ trainGraph: ID, clipNorm: '0.25' }).clipNorm).toBe(0.25);
    // The gateway stores the JSON number's own text, exponent included.
    expect(parseFedAvgParams({ trainGraph: ID, clipNorm: String(1e-7) }).clipNorm).toBe(1e-7);
    for (const bad of ['0', '-1', 'abc', '', ' ', 'Infinity', 'NaN']) {
      expect(() => parseFedAvgParams({ trainGraph: ID, clipNorm: bad })).toThrow(
        /params\.clipNorm must be a positive number/,
      );
    }
    const p = parseFedAvgParams({ trainGraph: ID, clipNorm: '3' });
    expect(parseFedAvgParams(fedAvgParamsToRecord(p))).toEqual(p);
    expect(fedAvgParamsToRecord(parseFedAvgParams({ trainGraph: ID }))).not.toHaveProperty('clipNorm');
  });
});

describe('the clip', () => {
  it('scales an update above clipNorm down to it, keeps its direction, and leaves others alone', () => {
    const u = Float64Array.of(3, -4, 0, 12); // norm 13
    expect(l2Norm(u)).toBe(13);
    expect(clipUpdate(u, undefined)).toBe(u);
    expect(clipUpdate(u, 13)).toBe(u); // at the bound: a no-op
    expect(clipUpdate(u, 100)).toBe(u);
    const c = clipUpdate(u, 6.5);
    expect(l2Norm(c)).toBeCloseTo(6.5, 12);
    expect(Array.from(c)).toEqual([1.5, -2, 0, 6]);
    expect(Array.from(u)).toEqual([3, -4, 0, 12]); // the input is not changed
    expect(clipUpdate(new Float64Array(4), 1)).toEqual(new Float64Array(4));
  });

  it('bounds an opened update at clipNorm × (1 + 1e-6) plus the keyholder’s rounding and CKKS noise', () => {
    // The keyholder rounds what it opens to this grid: the bound allows half a step per value.
    expect(KEYHOLDER_GRID).toBe(DECRYPTION_GRID);
    expect(clipBound(2, 4)).toBeCloseTo(2 * (1 + 1e-6) + (KEYHOLDER_GRID / 2) * 2 + CLIP_CKKS_SLACK, 15);
    expect(clipBound(0.05, 84) - 0.05).toBeLessThan(5e-6); // what a liar can add: next to nothing
    const u = Float64Array.of(3, -4); // norm 5
    expect(clipViolation(u, undefined)).toBeUndefined();
    expect(clipViolation(u, 5)).toBeUndefined();
    expect(clipViolation(u, 4.9999999)).toBeUndefined(); // within the headroom
    expect(clipViolation(u, 4.99)).toMatch(/L2 norm 5 exceeds the bound 4\.99\d* \(clipNorm 4\.99\)/);
    expect(clipViolation(Float64Array.of(NaN, 0), 1)).toMatch(/L2 norm NaN exceeds/);
  });
});

describe('a clipped Job through node, keyholder and verifier', () => {
  const DIMS = { features: 20, classes: 4 };
  const SET = syntheticClassification({ rows: 400, testRows: 100, seed: 'clip' });
  const LOCAL = { steps: 5, lr: 0.5 };
  let dir: string;
  let store: BlobStore;
  let keyholderCkks: Ckks;
  let keys: CkksKeyPair;
  let trainer: FedAvgTrainer;
  let node: FedAvgTrainProgram;
  let verifier: FedAvgTrainProgram;
  let shard: SplitOutput['shards'][number];
  let modelBlobId: string;
  let graphId: string;
  let keyId: string;
  /** The honest update's norm without clipping. */
  let rawNorm: number;
  const paramsOf = (clipNorm?: number) =>
    fedAvgParamsToRecord({
      trainGraph: graphId,
      publicKey: keyId,
      localSteps: LOCAL.steps,
      learningRate: LOCAL.lr,
      batchSize: 0,
      ...(clipNorm !== undefined ? { clipNorm } : {}),
    });
  const open = (bytes: Uint8Array) =>
    decryptUpdate({ ckks: keyholderCkks, secretKey: keys.secretKey, updateBlob: bytes });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'emeth-fedavg-clip-'));
    store = createLocalBlobStore(path.join(dir, 'blobs'));
    keyholderCkks = await createCkks();
    keys = keyholderCkks.generateKeys();
    const graph = buildTrainStepModel('softmax', DIMS);
    trainer = await createFedAvgTrainer(graph);
    graphId = await store.put(graph);
    keyId = await store.put(keys.publicKey);
    modelBlobId = await storeCheckpoint(store, initialParams('softmax', DIMS));
    node = createFedAvgTrainProgram({ store, logger, ckks: () => createCkks() });
    verifier = createFedAvgTrainProgram({ store, logger, decryptUpdate: async (b) => open(b) });
    const split = await node.split({
      programId: ProgramId.FEDAVG_TRAIN,
      datasetBlobId: await store.put(encodeMatrix(SET.train)),
      modelBlobId,
      numParallel: 1,
      fuelLimit: '1000000',
      params: paramsOf(),
    });
    shard = split.shards[0]!;
    rawNorm = l2Norm(
      await recomputeUpdate({
        trainer,
        globalModel: initialParams('softmax', DIMS),
        shard: decodeMatrix(await store.get(shard.blobId)),
        local: LOCAL,
      }),
    );
  });
  afterAll(async () => {
    await node?.close();
    await verifier?.close();
    await trainer?.release();
    keyholderCkks?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const run = (params: Record<string, string>) =>
    node.run({
      shard,
      modelBlobId,
      fuelLimit: shard.fuelLimit,
      params,
      context: { jobId: 'j', subJobId: 's' },
    });
  const verify = (params: Record<string, string>, claimed: RunOutput, claimedValues?: ArrayLike<number>) =>
    verifier.verify({
      shard,
      modelBlobId,
      fuelLimit: shard.fuelLimit,
      params,
      claimed,
      options: { sampleRate: 1, seed: 'v' },
      ...(claimedValues ? { claimedValues } : {}),
    });
  /** `values` encrypted to the requester's key as an update of this shard, stored. */
  const forge = async (honest: RunOutput, values: Float64Array): Promise<RunOutput> => {
    const outputBlobId = await store.put(
      encodeEnvelope({
        kind: EnvelopeKind.UPDATE,
        length: values.length,
        weight: shard.rows,
        ciphertext: keyholderCkks.encrypt(keys.publicKey, values),
      }),
    );
    return { ...honest, outputBlobId, outputDigest: outputBlobId };
  };

  it('an honest node clips before encrypting, and the verifier accepts it', async () => {
    const clipNorm = rawNorm / 4;
    const params = paramsOf(clipNorm);
    const out = await run(params);
    const opened = open(await store.get(out.outputBlobId));
    expect(Math.abs(l2Norm(opened) - clipNorm) / clipNorm).toBeLessThan(1e-6);
    // The same direction as the unclipped update, a quarter of its length.
    const unclipped = open(await store.get((await run(paramsOf())).outputBlobId));
    for (let i = 0; i < opened.length; i++)
      expect(Math.abs(opened[i]! - unclipped[i]! / 4)).toBeLessThan(1e-6);

    const ok = await verify(params, out);
    expect(ok).toMatchObject({ ok: true, rowsChecked: shard.rows });
    expect(ok.worstDiff).toBeLessThan(1e-5);
    // Values the keyholder sealed to the verifier take the same path.
    expect(await verify(params, out, opened)).toMatchObject({ ok: true });
    // A clip above the update's norm changes nothing: the unclipped and the clipped runs agree.
    const loose = await run(paramsOf(rawNorm * 2));
    const looseOpened = open(await store.get(loose.outputBlobId));
    for (let i = 0; i < opened.length; i++)
      expect(Math.abs(looseOpened[i]! - unclipped[i]!)).toBeLessThan(1e-6);
    expect(await verify(paramsOf(rawNorm * 2), loose)).toMatchObject({ ok: true });
  });

  it('a clip far below one, where CKKS noise is a large part of the norm, still verifies', async () => {
    // Opened, such an update's norm is off by a few 1e-9, i.e. often above 1e-4 × (1 + 1e-6):
    // several encryptions, so that a bound without CKKS headroom would fail here.
    const params = paramsOf(1e-4);
    for (let i = 0; i < 4; i++) {
      const out = await run(params);
      expect(await verify(params, out)).toMatchObject({ ok: true });
    }
  });

  it('an honest update as the keyholder hands it to the verifier (rounded to its grid) still verifies', async () => {
    const clipNorm = rawNorm / 4;
    const params = paramsOf(clipNorm);
    const out = await run(params);
    const opened = open(await store.get(out.outputBlobId));
    // What activities/keyholder.ts sealValuesFor sends, and the worst such rounding for the norm:
    // every value half a grid step further from zero.
    const rounded = Float64Array.from(opened, (v) => Math.round(v / DECRYPTION_GRID) * DECRYPTION_GRID);
    const outward = Float64Array.from(opened, (v) => v + (Math.sign(v) * DECRYPTION_GRID) / 2);
    expect(l2Norm(outward)).toBeGreaterThan(clipNorm * (1 + 1e-6));
    for (const values of [rounded, outward]) {
      expect(await verify(params, out, values)).toMatchObject({ ok: true, rowsChecked: shard.rows });
    }
  });

  it('rejects an opened update above clipNorm, naming the norm and the bound', async () => {
    const clipNorm = rawNorm / 4;
    const params = paramsOf(clipNorm);
    const honest = await run(params);
    const values = open(await store.get(honest.outputBlobId));

    // scaled ×10 (a node boosting its influence on the model).
    const scaled = await verify(
      params,
      await forge(
        honest,
        Float64Array.from(values, (v) => v * 10),
      ),
    );
    expect(scaled.ok).toBe(false);
    expect(scaled.reason).toMatch(
      new RegExp(`^the update's L2 norm [0-9.e-]+ exceeds the bound [0-9.e-]+ \\(clipNorm ${clipNorm}\\)`),
    );
    expect(Number(/L2 norm ([0-9.e-]+)/.exec(scaled.reason!)![1])).toBeCloseTo(clipNorm * 10, 6);
    expect(scaled.rowsChecked).toBe(shard.rows);

    // Slightly above the bound: still refused (the element-wise tolerance alone would let 1% pass).
    const nudged = await verify(
      params,
      await forge(
        honest,
        Float64Array.from(values, (v) => v * 1.01),
      ),
    );
    expect(nudged).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/L2 norm .* exceeds the bound/),
    });

    // A node that skips the clip sends the unclipped update: its norm gives it away.
    const unclipped = await run(paramsOf());
    const skipped = await verify(params, unclipped);
    expect(skipped).toMatchObject({ ok: false, reason: expect.stringMatching(/exceeds the bound/) });
    // The same update is honest for a Job without clipNorm…
    expect(await verify(paramsOf(), unclipped)).toMatchObject({ ok: true });
    // …where a scaled one fails the value-by-value comparison instead.
    const scaledNoClip = await verify(
      paramsOf(),
      await forge(
        unclipped,
        Float64Array.from(open(await store.get(unclipped.outputBlobId)), (v) => v * 10),
      ),
    );
    expect(scaledNoClip).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/differ beyond tolerance/),
    });
  });

  it('an update within the bound but not the re-execution is still compared value by value', async () => {
    const clipNorm = rawNorm / 4;
    const params = paramsOf(clipNorm);
    const honest = await run(params);
    const values = open(await store.get(honest.outputBlobId));
    // Same norm, other direction: the values reversed.
    const reversed = Float64Array.from(values).reverse();
    expect(l2Norm(reversed)).toBeCloseTo(l2Norm(values), 9);
    const v = await verify(params, await forge(honest, reversed));
    expect(v).toMatchObject({ ok: false, reason: expect.stringMatching(/differ beyond tolerance/) });
  });
});
