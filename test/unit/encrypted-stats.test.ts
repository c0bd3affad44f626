import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createCkks } from '../../activities/crypto/ckks';
import { programFor } from '../../activities/programs';
import {
  computeStats,
  decryptStatsBundle,
  createEncryptedStatsProgram,
  decodeStats,
  parseStatsParams,
  statsVectorLength,
} from '../../activities/programs/encrypted-stats';
import { createLocalBlobStore, type BlobStore } from '../../activities/storage';
import type { Ckks, CkksKeyPair } from '../../lib/ckks';
import { createLogger } from '../../lib/logger';
import { encodeMatrix, type Matrix } from '../../lib/matrix';
import {
  ENCRYPTED_STATS_SPEC,
  ProgramId,
  seededRandom,
  type ProgramModule,
  type RunOutput,
  type SplitOutput,
} from '../../lib/programs';

const logger = createLogger('silent');
const ROWS = 1_000;
const COLS = 4;
const BINS = 8;

/** Columns with different spreads, some values outside [min, max], and a few NaNs that must be skipped. */
function dataset(): Matrix {
  const rand = seededRandom('encrypted-stats');
  const data = new Float32Array(ROWS * COLS);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) data[r * COLS + c] = (rand() * 2 - 1) * (c + 1) * 2 + c;
  }
  data[7 * COLS + 1] = NaN;
  data[500 * COLS + 3] = NaN;
  return { rows: ROWS, cols: COLS, data };
}

describe('encrypted-stats (ProgramId 3 → 31)', () => {
  let dir: string;
  let store: BlobStore;
  let ckks: Ckks;
  let keys: CkksKeyPair;
  let program: ProgramModule;
  let params: Record<string, string>;
  let split: SplitOutput;
  let outputs: RunOutput[];
  const m = dataset();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'emeth-stats-'));
    store = createLocalBlobStore(path.join(dir, 'blobs'));
    ckks = await createCkks();
    keys = ckks.generateKeys();
    params = { publicKey: await store.put(keys.publicKey), bins: String(BINS), min: '-4', max: '6' };
    program = createEncryptedStatsProgram({ store, logger, ckks: async () => ckks });
    const datasetBlobId = await store.put(encodeMatrix(m));
    split = await program.split({
      programId: ProgramId.ENCRYPTED_STATS,
      datasetBlobId,
      modelBlobId: datasetBlobId, // unused by this program
      numParallel: 3,
      fuelLimit: '100000',
      params,
    });
    outputs = [];
    for (const shard of split.shards) {
      outputs.push(
        await program.run({ shard, modelBlobId: datasetBlobId, fuelLimit: shard.fuelLimit, params }),
      );
    }
  });

  afterAll(async () => {
    ckks?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is registered and implemented', () => {
    expect(ENCRYPTED_STATS_SPEC.implemented).toBe(true);
    const deps = { store, logger, ckks: async () => ckks };
    expect(programFor(3, deps).spec.name).toBe('encrypted-stats');
    expect(programFor(31, deps).spec).toBe(ENCRYPTED_STATS_SPEC);
  });

  it('splits, runs and aggregates 3 shards; the keyholder decrypts the plaintext statistics', async () => {
    expect(split.shards.map((s) => s.rows)).toEqual([334, 333, 333]);
    expect(outputs.map((o) => o.cols)).toEqual([1, 2, 3].map(() => statsVectorLength(COLS, BINS)));
    const total = await program.aggregate({
      outputs: outputs.map((o) => ({ index: o.shardIndex, outputBlobId: o.outputBlobId })).reverse(),
    });
    expect(total).toMatchObject({ rows: 1, cols: COLS * (3 + BINS) });

    const decrypted = ckks.decrypt(keys.secretKey, await store.get(total.resultBlobId), total.cols);
    const got = decodeStats(decrypted, COLS, BINS);
    const want = decodeStats(computeStats(m, parseStatsParams(params)), COLS, BINS);

    // The plaintext reference, independently: column 1 has a NaN (skipped), values beyond the range clamp.
    const col1 = Array.from({ length: ROWS }, (_, r) => m.data[r * COLS + 1]!).filter(Number.isFinite);
    expect(want[1]!.count).toBe(ROWS - 1);
    expect(want[1]!.sum).toBeCloseTo(
      col1.reduce((a, v) => a + v, 0),
      6,
    );
    expect(want[3]!.histogram.reduce((a, h) => a + h, 0)).toBe(ROWS - 1);

    got.forEach((g, c) => {
      const w = want[c]!;
      expect(g.count).toBe(w.count);
      expect(g.histogram).toEqual(w.histogram);
      expect(Math.abs(g.sum - w.sum)).toBeLessThan(1e-3);
      expect(Math.abs(g.mean - w.mean)).toBeLessThan(1e-3);
      expect(Math.abs(g.std - w.std)).toBeLessThan(1e-3);
    });
  });

  it('an audited output: the keyholder opens it, the verifier recomputes the shard and compares every value', async () => {
    const shard = split.shards[2]!;
    const base = {
      shard,
      modelBlobId: shard.blobId,
      fuelLimit: shard.fuelLimit,
      params,
      options: { sampleRate: 1, seed: 's' },
    };
    // What the keyholder hands the verifier: the node's vector decrypted (and rounded to 2^-20).
    const opened = decryptStatsBundle(ckks, keys.secretKey, await store.get(outputs[2]!.outputBlobId));
    const rounded = Float64Array.from(opened, (v) => Math.round(v * 2 ** 20) / 2 ** 20);
    const honest = await program.verify({ ...base, claimed: outputs[2]!, claimedValues: rounded });
    expect(honest.ok).toBe(true);
    expect(honest.rowsChecked).toBe(shard.rows);
    expect(honest.reason).toMatch(
      /every one of its 44 values matches the shard's statistics recomputed here/,
    );

    // A node that encrypted plausible but wrong statistics (a count off by one, a sum scaled): caught.
    for (const [i, change] of [
      [2, (v: number) => v + 1], // column 0's count
      [0, (v: number) => v * 1.01], // column 0's sum
      [3 + 11 * 3, (v: number) => v + 1], // a bin of column 3
    ] as const) {
      const lie = Float64Array.from(rounded);
      lie[i] = change(lie[i]!);
      const caught = await program.verify({ ...base, claimed: outputs[2]!, claimedValues: lie });
      expect(caught.ok).toBe(false);
      expect(caught.reason).toMatch(/the statistics differ from the shard's: column \d (sum|count|bin \d)/);
    }
    const zeros = await program.verify({
      ...base,
      claimed: outputs[2]!,
      claimedValues: new Float64Array(44),
    });
    expect(zeros.ok).toBe(false);
  });

  it('verify re-derives fuel and checks the ciphertext, and says the values are not checked', async () => {
    const shard = split.shards[1]!;
    const base = {
      shard,
      modelBlobId: shard.blobId,
      fuelLimit: shard.fuelLimit,
      params,
      options: { sampleRate: 0.1, seed: 's' },
    };
    const ok = await program.verify({ ...base, claimed: outputs[1]! });
    expect(ok.ok).toBe(true);
    expect(ok.reason).toMatch(
      /fuel re-derived exactly .* deserializes to 1 ciphertext\(s\) of 44 values\. Not checked: the values .* when the SubJob is audited/,
    );

    const fuel = await program.verify({ ...base, claimed: { ...outputs[1]!, fuelUsed: '999' } });
    expect(fuel).toMatchObject({ ok: false, reason: expect.stringMatching(/claimed fuelUsed 999 but/) });

    const other = ckks.generateKeys();
    const foreign = await store.put(ckks.encrypt(other.publicKey, new Float64Array(44)));
    const wrongKey = await program.verify({ ...base, claimed: { ...outputs[1]!, outputBlobId: foreign } });
    expect(wrongKey.reason).toMatch(/output was encrypted for key [0-9a-f]{16}, not the Job's public key/);

    const short = await store.put(ckks.encrypt(keys.publicKey, new Float64Array(10)));
    const wrongLength = await program.verify({ ...base, claimed: { ...outputs[1]!, outputBlobId: short } });
    expect(wrongLength.reason).toMatch(/output encrypts 10 values; 4 columns × \(3 \+ 8 bins\) need 44/);

    const junk = await store.put(new Uint8Array(100));
    const bad = await program.verify({ ...base, claimed: { ...outputs[1]!, outputBlobId: junk } });
    expect(bad.reason).toMatch(/is not a valid ciphertext: .*does not start with "EMCK"/);
  });

  it('names bad params', async () => {
    expect(() => parseStatsParams({ bins: '0', min: '0', max: '1' })).toThrow(
      /params.bins must be an integer in \[1, 1024\]/,
    );
    expect(() => parseStatsParams({ min: '2', max: '1' })).toThrow(
      /params.min \(2\) must be below params.max \(1\)/,
    );
    expect(() => parseStatsParams({ min: '0' })).toThrow(/params.max .* must be a finite number/);
    expect(() => parseStatsParams({ min: '0', max: '1', colour: 'red' })).toThrow(
      /unknown encrypted-stats params: colour/,
    );
    expect(() => parseStatsParams({ min: '0', max: '1' }, { needKey: true })).toThrow(
      /needs params.publicKey/,
    );
    const shard = split.shards[0]!;
    await expect(
      program.run({
        shard,
        modelBlobId: shard.blobId,
        fuelLimit: shard.fuelLimit,
        params: { min: '0', max: '1' },
      }),
    ).rejects.toThrow(/needs params.publicKey/);
  });
});
